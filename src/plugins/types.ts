/**
 * The plugin contract. A plugin is one file under src/plugins/ exporting a PluginDefinition:
 * its config name, its phase, and `compile(conf, deps)`, which validates nothing (the config
 * loader already did) and returns closures over the plugin's config. Compile runs once per
 * config version per route (global plugins are compiled per route too, so a route-level
 * override is just another compile); the request path only calls the returned closures.
 *
 * Control flow on the request path uses return values, not exceptions: an access handler
 * returns `undefined` to continue or a LocalReply to answer the client now. A handler that
 * throws is a bug; the pipeline turns it into a 500 `internal_error` and logs it.
 */
import type { GatewayErrorCode } from '../errors.js';
import type { RequestContext } from './context.js';
import type { ConsumerDirectory } from './consumers.js';
import type { AddressMatcher } from '../net/cidr.js';

/**
 * Phases run in this fixed order (CONFIG.md "Smaller rules"); plugins within one phase run in
 * the order of PHASE_ORDER's plugin list in registry.ts.
 *   requestId -> cors (preflight answered here) -> ip -> auth -> acl -> rateLimit -> transform
 */
export type Phase = 'requestId' | 'cors' | 'ip' | 'auth' | 'acl' | 'rateLimit' | 'transform';

/** An answer the gateway gives instead of proxying. */
export interface LocalReply {
  status: number;
  /** Set for errors: the body is the standard JSON error with this code. */
  code?: GatewayErrorCode;
  /** Overrides the code's default message (keep it free of details that help an attacker). */
  message?: string;
  /** Extra headers, flat [name, value, ...], lower-case names. */
  headers?: string[];
  /** Raw body for non-error replies (e.g. an empty CORS preflight answer, a respond route's body). */
  body?: string | Buffer;
}

export type AccessResult = LocalReply | undefined;
export type AccessHandler = (ctx: RequestContext) => AccessResult | Promise<AccessResult>;

/**
 * Runs on every answer the client gets once the route is known (the upstream's, a plugin's
 * LocalReply, or a gateway error), before headers are written: adds to ctx.responseHeaders.
 */
export type ResponseHook = (ctx: RequestContext, status: number) => void;

export interface PluginInstance {
  access?: AccessHandler;
  onResponse?: ResponseHook;
  /** Upstream response header names (lower-case) this plugin removes. */
  removeResponseHeaders?: readonly string[];
}

/** What plugins may use besides their own config. Built once per config version per worker. */
export interface PluginDeps {
  readonly consumers: ConsumerDirectory;
  readonly isTrustedProxy: AddressMatcher;
  /** Route id, or null for the global instance used before routing (requestId on 404s). */
  readonly routeId: string | null;
  /** Shared services (token buckets, Redis, piscina pool...) registered by name. */
  readonly services: Map<string, unknown>;
}

export interface PluginDefinition<Conf = unknown> {
  /** The key in "plugins" (CONFIG.md). */
  readonly name: string;
  readonly phase: Phase;
  compile(conf: Conf, deps: PluginDeps): PluginInstance;
}
