/**
 * The plugin API for plugins of your own, published as `uws-gateway/plugin`
 * (docs/plugins/writing-plugins.md is its guide):
 *
 *   import { definePlugin, Type } from 'uws-gateway/plugin';
 *   export default definePlugin({
 *     name: 'tenantHeader',
 *     phase: 'transform',
 *     schema: Type.Object({ header: Type.String({ default: 'x-tenant' }) }, { additionalProperties: false }),
 *     compile(conf, deps) {
 *       return { onRequest(ctx) { ctx.setHeader(conf.header, ctx.params.tenant ?? 'none'); } };
 *     },
 *   });
 *
 * This file is the stable surface: the descriptor a module exports (PluginDefinition), what its
 * compile() gets (ModuleCompileDeps) and returns (PluginHooks), and the request as a plugin sees
 * it (RequestContext). The built-in plugins use the wider internal contract of api.ts; what is
 * not here (body filters, onUpstream, preflight routing) is not for modules yet.
 */
import type { TSchema } from '@sinclair/typebox';
import type { CheckEnv, LocalReply, Phase, PluginFile, PluginScope, Reporter, Service, ServiceRole } from './api.js';
import type { Consumer } from './consumers.js';
import { moduleSlot, type Slot } from './context.js';
import type { TxSummary } from '../observability/access-log.js';
import type { Resolved } from '../util/schema-kit.js';
import type { Level } from '../observability/log.js';
import { GATEWAY_ERRORS, type GatewayErrorCode } from '../errors.js';
import { performance } from 'node:perf_hooks';

export { Type } from '@sinclair/typebox';
export type { Static, TSchema } from '@sinclair/typebox';
export { ConfigFault } from './api.js';
export { withDefault } from '../util/schema-kit.js';
export type { CheckEnv, LocalReply, Phase, PluginFile, PluginScope, Reporter, Service, ServiceContext, ServiceRole } from './api.js';
export type { Consumer } from './consumers.js';
export type { Slot } from './context.js';
export type { TxSummary } from '../observability/access-log.js';
export type { Resolved } from '../util/schema-kit.js';
export type { GatewayErrorCode } from '../errors.js';
export type { Level as LogLevel } from '../observability/log.js';

/**
 * One request as plugins see it. Everything was copied out of the HTTP request before the first
 * plugin ran, so hooks may be async. Header names are lower-case.
 */
export interface RequestContext {
  /** The method as the client sent it. */
  readonly method: string;
  /** The normalized, percent-decoded path the route matched (what the upstream receives unless rewritten). */
  readonly path: string;
  /** The raw query string without "?" ('' when none); assign to change what the upstream receives. */
  query: string;
  /** The Host header as the client sent it. */
  readonly hostHeader: string;
  /** The route's captures by name: `:id` as `id`, a trailing `*` as `*` (percent-decoded). */
  readonly params: Readonly<Record<string, string>>;
  /** The client's address: the TCP peer, or the nearest untrusted X-Forwarded-For hop when the peer is in trustedProxies. */
  readonly clientIp: string;
  /** The TCP peer's address. */
  readonly peer: string;
  /** The id of the route. */
  readonly routeId: string;
  /** The request id ('' when the requestId plugin is off for the route). */
  readonly requestId: string;
  /** performance.now() when the request arrived. */
  readonly startedAt: number;
  /** The authenticated consumer: set by an auth-phase plugin (built-in or yours), read by acl, rateLimit, the access log. */
  consumer: Consumer | null;
  /**
   * The request headers as they will be forwarded: flat [name, value, ...], hop-by-hop and
   * X-Forwarded-* already removed (the gateway adds its own). Change them with setHeader /
   * removeHeader.
   */
  readonly headers: readonly string[];
  /** The first value of a request header, or undefined. */
  header(name: string): string | undefined;
  /** Sets a header on the request to the upstream (replacing every value it had). */
  setHeader(name: string, value: string): void;
  /** Removes a header from the request to the upstream. */
  removeHeader(name: string): void;
  /** Adds a header to whatever answer the client gets (the upstream's, a plugin's, a gateway error). */
  addResponseHeader(name: string, value: string): void;
  /** Per-request state: a slot's value, undefined until set. */
  get<T>(slot: Slot<T>): T | undefined;
  set<T>(slot: Slot<T>, value: T): void;
}

/** What the request path calls; each hook is optional. */
export interface PluginHooks {
  /**
   * Before the request goes upstream, in the plugin's phase: return nothing (or null) to go on, a
   * reply to answer now. May be async. A throw or a rejection answers 500 `plugin_error`.
   */
  onRequest?(ctx: RequestContext): LocalReply | undefined | null | void | Promise<LocalReply | undefined | null | void>;
  /**
   * Every answer of the route, before its headers are written (the upstream's, a plugin's reply,
   * a gateway error): add headers with ctx.addResponseHeader. Synchronous; a throw answers 500.
   */
  onResponseHeaders?(ctx: RequestContext, status: number): void;
  /** Once the answer ended or the client went away (access-log facts in tx). Failures are logged only. */
  onComplete?(ctx: RequestContext, tx: TxSummary): void | Promise<void>;
  /** Upstream response headers (lower-case names) this plugin owns: the upstream's copies are dropped. */
  readonly removeResponseHeaders?: readonly string[];
}

/** What compile() gets besides the plugin's config. */
export interface ModuleCompileDeps {
  /** Where the config being compiled is: global plugins are compiled once per route (then routeId says which). */
  readonly scope: PluginScope;
  /** The route being compiled. */
  readonly routeId: string;
  /** 'worker' (serves requests), 'primary' (the dry run at start and reload) or 'probe' (gateway validate: make nothing that talks to the network). */
  readonly role: ServiceRole;
  /** A typed dependency with a lifetime ('process' or 'version'), made once and shared (see Service). */
  use<T>(service: Service<T>): T;
  /** A consumer of the config by id (an auth plugin of yours sets ctx.consumer to it). */
  consumer(id: string): Consumer | undefined;
  /** The gateway's operational log (JSON on stderr), with the plugin and route added to every line. */
  log(level: Level, msg: string, fields?: Record<string, unknown>): void;
}

/** A plugin module's descriptor: its default export (or its export named `plugin`). */
export interface PluginDefinition<N extends string = string, S extends TSchema = TSchema> {
  /** The key under `plugins` (letters, digits, "_", "-", "."; not a built-in's name). */
  readonly name: N;
  /** When it runs: after the built-ins of the same phase, in pluginModules order. */
  readonly phase: Phase;
  /** Its config's schema: TypeBox, or a plain JSON Schema (draft-07) object of type "object". */
  readonly schema: S;
  /** Files its config names, checked readable at load (pointers relative to its config). */
  files?(conf: Resolved<S>): readonly PluginFile[];
  /** Rules the schema cannot express; report with r.error(pointer, message). Read-only. */
  check?(conf: Resolved<S>, r: Reporter, env: CheckEnv): void;
  /** After the checks passed: return the config as compile() should see it. */
  normalize?(conf: Resolved<S>): Resolved<S>;
  /** Once per config version per route, in every process that compiles the config. May throw ConfigFault. */
  compile(conf: Resolved<S>, deps: ModuleCompileDeps): PluginHooks;
}

/** Keeps the name's literal type and types `conf` from the schema; returns the descriptor as it is. */
export function definePlugin<const N extends string, S extends TSchema>(d: PluginDefinition<N, S>): PluginDefinition<N, S> {
  return d;
}

/**
 * A per-request state cell: call once at module level, then ctx.set(SLOT, v) / ctx.get(SLOT).
 * The same name gives the same slot (a reload re-imports a changed module); prefix it with your
 * plugin's name.
 */
export function slot<T>(name: string): Slot<T> {
  return moduleSlot<T>(name);
}

/**
 * A refusal with the standard JSON error body ({ error: { status, code, message, requestId } })
 * and the code's status: errorReply('forbidden', 'tenant suspended').
 */
export function errorReply(code: GatewayErrorCode, message?: string, headers?: string[]): LocalReply {
  return { status: GATEWAY_ERRORS[code].status, code, ...(message !== undefined ? { message } : {}), ...(headers !== undefined ? { headers } : {}) };
}
