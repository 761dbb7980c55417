/**
 * Compiles a validated config into what a worker's hot path needs: the router, one object per
 * route with everything precomputed (its action, body mode, status lines, header lists, rewrite
 * templates, the upstream cluster), and the request limits. Runs once per config version in each
 * worker (and as a dry run in the primary and in `gateway validate`); the request path never
 * looks at the raw config again. Every value read here has its default from the schema: nothing
 * is defaulted twice.
 */
import type { GatewayConfig, RouteConfig, UpstreamConfig } from '../config/schema.js';
import { effectivePlugins } from '../config/load.js';
import { createRouter } from '../native/router.js';
import type { RoutePattern, RouterEngine } from '../native/router-types.js';
import { compileCidrs, type AddressMatcher } from '../net/cidr.js';
import type { EndpointRegistry, EndpointSettings } from '../upstream/endpoint.js';
import { Cluster, type Member } from '../upstream/cluster.js';
import { roundRobin } from '../upstream/lb/round-robin.js';
import { compilePipeline, type CompiledPipeline } from '../plugins/pipeline.js';
import { ConsumerDirectory } from '../plugins/consumers.js';
import type { LocalReply } from '../plugins/types.js';
import type { HttpResponse } from 'uWebSockets.js';
import type { BodyMode } from '../worker/request-body.js';
import type { RequestHead } from '../worker/head.js';
import type { Transaction, WorkerHost } from '../worker/transaction.js';

/** What a route does after the access phase; the worker supplies one per kind. */
export interface RouteAction {
  /** Creates the request's transaction (synchronously: it attaches uWS's onAborted and onData). */
  create(res: HttpResponse, head: RequestHead, route: CompiledRoute, host: WorkerHost): Transaction;
}

export interface RouteActions {
  readonly proxy: RouteAction;
  readonly respond: RouteAction;
}

/** A proxied route's view of its upstream. */
export interface CompiledUpstreamRoute {
  readonly cluster: Cluster;
  /** From dispatch to the response head, waiting for a connection included (0 = none). */
  readonly responseHeadersMs: number;
  /** Longest silence while the response body streams. */
  readonly idleMs: number;
  /** The route's deadline for the whole exchange (0 = none). */
  readonly timeoutMs: number;
}

/** One piece of a rewrite template: literal text, or the index of a captured param. */
type TemplatePart = string | number;

export interface CompiledRoute {
  readonly id: string;
  readonly index: number;
  /** Exact header matches (lower-case name, lower-cased value compare) or null. */
  readonly headerMatch: ReadonlyArray<readonly [string, string]> | null;
  readonly action: RouteAction;
  readonly bodyMode: BodyMode;
  readonly proxy: CompiledUpstreamRoute | null;
  readonly respond: LocalReply | null;
  readonly stripPrefix: string | null;
  readonly preserveHost: boolean;
  /** The route's plugins (global merged with its own), or null when it has none. */
  readonly pipeline: CompiledPipeline | null;
  /** Upstream response headers the gateway owns on this route (plugins', the request id), or null. */
  readonly removeResponseHeaders: readonly string[] | null;
  /** Request id header (lower-case), '' when request ids are off for this route. */
  readonly requestIdHeader: string;
}

/** A pattern of the router table: which route, and how to build its rewritten path. */
export interface CompiledPattern {
  readonly route: CompiledRoute;
  /** Rewrite template with param references resolved to capture indexes, or null. */
  readonly rewrite: readonly TemplatePart[] | null;
}

export interface CompiledConfig {
  readonly version: number;
  readonly router: RouterEngine;
  readonly patterns: readonly CompiledPattern[];
  readonly routes: readonly CompiledRoute[];
  readonly maxBodyBytes: number;
  readonly maxHeaderBytes: number;
  readonly bodyBufferBytes: number;
  /** Time allowed to receive a request body (0 = none). */
  readonly requestTimeoutMs: number;
  readonly isTrustedProxy: AddressMatcher;
  readonly trustsAnyProxy: boolean;
  readonly allowUnderscores: boolean;
  readonly tls: boolean;
  /** The listen port, as sent in X-Forwarded-Port. */
  readonly listenPort: string;
  /** Endpoint keys this config uses, so the registry can close the others after a swap. */
  readonly endpointKeys: Set<string>;
  /** Header of the global request id, for answers given before routing; '' if off. */
  readonly unroutedRequestIdHeader: string;
}

export interface CompileDeps {
  readonly endpoints: EndpointRegistry;
  readonly actions: RouteActions;
  readonly services: Map<string, unknown>;
}

/** The connection settings of an upstream's endpoints (also how admin finds their reports). */
export function endpointSettings(up: UpstreamConfig): EndpointSettings {
  return {
    keepAlive: up.connectionsPerWorker,
    maxConnections: Math.max(up.maxConnectionsPerWorker, up.connectionsPerWorker),
    connectMs: up.timeouts.connectMs,
    idleMs: up.timeouts.idleMs,
    engine: up.engine,
  };
}

function compileCluster(name: string, up: UpstreamConfig, endpoints: EndpointRegistry, keys: Set<string>): Cluster {
  const settings = endpointSettings(up);
  const members: Member[] = up.targets.map((t) => {
    const ep = endpoints.acquire(new URL(t.url), settings);
    keys.add(ep.key);
    return { endpoint: ep, weight: t.weight };
  });
  return new Cluster(name, members, roundRobin(members));
}

/** Names of the ":param" / "*" captures of a path pattern, in order ("*" is named "*"). */
export function captureNames(path: string): string[] {
  const names: string[] = [];
  for (const seg of path.split('/')) {
    if (seg.startsWith(':')) names.push(seg.slice(1));
    else if (seg === '*') names.push('*');
  }
  return names;
}

function compileRewrite(template: string, path: string): TemplatePart[] {
  const names = captureNames(path);
  const parts: TemplatePart[] = [];
  const re = /\{([^}]+)\}/g;
  let last = 0;
  for (let m = re.exec(template); m !== null; m = re.exec(template)) {
    if (m.index > last) parts.push(template.slice(last, m.index));
    const idx = names.indexOf(m[1]);
    if (idx === -1) throw new Error(`rewrite "${template}": "{${m[1]}}" is not a param of "${path}"`);
    parts.push(idx);
    last = m.index + m[0].length;
  }
  if (last < template.length) parts.push(template.slice(last));
  return parts;
}

function compileRespond(r: NonNullable<RouteConfig['respond']>): LocalReply {
  const headers: string[] = [];
  for (const [k, v] of Object.entries(r.headers)) headers.push(k.toLowerCase(), String(v));
  return { status: r.status, headers, body: Buffer.from(r.body) };
}

/** The request id header in force for these plugins ('' = off). */
function requestIdHeaderOf(plugins: Record<string, unknown>): string {
  const rid = plugins.requestId as { header: string } | false | undefined;
  return rid === undefined || rid === false ? '' : rid.header.toLowerCase();
}

export function compileConfig(config: GatewayConfig, version: number, deps: CompileDeps): CompiledConfig {
  const endpointKeys = new Set<string>();
  const consumers = new ConsumerDirectory(config.consumers);
  const isTrustedProxy = compileCidrs(config.trustedProxies);
  const clusters = new Map<string, Cluster>();
  for (const [name, up] of Object.entries(config.upstreams)) clusters.set(name, compileCluster(name, up, deps.endpoints, endpointKeys));

  const routes: CompiledRoute[] = [];
  const patterns: CompiledPattern[] = [];
  const table: RoutePattern[] = [];
  config.routes.forEach((r, index) => {
    const plugins = effectivePlugins(config, r);
    const requestIdHeader = requestIdHeaderOf(plugins as Record<string, unknown>);
    const pipeline = compilePipeline(plugins, { consumers, isTrustedProxy, routeId: r.id, services: deps.services });
    const remove = [...(pipeline?.removeResponseHeaders ?? []), ...(requestIdHeader !== '' ? [requestIdHeader] : [])];
    const headerEntries = Object.entries(r.headers);
    const cluster = r.upstream !== undefined ? clusters.get(r.upstream) ?? null : null;
    const up = r.upstream !== undefined ? config.upstreams[r.upstream] : undefined;
    const route: CompiledRoute = {
      id: r.id,
      index,
      headerMatch: headerEntries.length ? headerEntries.map(([k, v]) => [k.toLowerCase(), String(v).toLowerCase()] as const) : null,
      action: cluster !== null ? deps.actions.proxy : deps.actions.respond,
      bodyMode: cluster !== null ? (r.requestBuffering ? 'buffer' : 'stream') : 'discard',
      proxy:
        cluster !== null && up !== undefined
          ? { cluster, responseHeadersMs: up.timeouts.responseHeadersMs, idleMs: up.timeouts.idleMs, timeoutMs: r.timeoutMs }
          : null,
      respond: r.respond ? compileRespond(r.respond) : null,
      stripPrefix: r.stripPrefix && r.stripPrefix !== '/' ? r.stripPrefix.replace(/\/$/, '') : null,
      preserveHost: r.preserveHost,
      pipeline,
      removeResponseHeaders: remove.length > 0 ? remove : null,
      requestIdHeader,
    };
    routes.push(route);
    let methods = r.methods ? r.methods.map((m) => m.toUpperCase()) : null;
    // A GET route answers HEAD too, as every HTTP server does.
    if (methods && methods.includes('GET') && !methods.includes('HEAD')) methods = [...methods, 'HEAD'];
    const hosts = r.hosts ? r.hosts.map((h) => h.toLowerCase()) : null;
    for (const path of r.paths) {
      // headerMatches: the router lists this pattern before the same path's unconditional ones,
      // and goes on to less specific patterns when only conditional ones matched.
      table.push({ hosts, methods, path, priority: r.priority, headerMatches: headerEntries.length });
      patterns.push({ route, rewrite: r.rewrite ? compileRewrite(r.rewrite, path) : null });
    }
  });

  return {
    version,
    router: createRouter(table),
    patterns,
    routes,
    maxBodyBytes: config.limits.maxBodyBytes,
    maxHeaderBytes: config.limits.maxHeaderBytes,
    bodyBufferBytes: config.limits.bodyBufferBytes,
    requestTimeoutMs: config.limits.requestTimeoutMs,
    isTrustedProxy,
    trustsAnyProxy: config.trustedProxies.length > 0,
    allowUnderscores: config.http.underscoresInHeaders,
    tls: config.tls !== undefined,
    listenPort: String(config.listen.port),
    endpointKeys,
    unroutedRequestIdHeader: requestIdHeaderOf(config.plugins as Record<string, unknown>),
  };
}

/**
 * Builds the upstream path: rewrite template or stripPrefix applied to the normalized path.
 * `params` are the router's capture pairs; the pattern's own start at pair `first` (its
 * candidateParams entry).
 */
export function upstreamPath(pattern: CompiledPattern, path: string, params: Int32Array, first = 0): string {
  const route = pattern.route;
  if (pattern.rewrite !== null) {
    let out = '';
    for (const part of pattern.rewrite) {
      out += typeof part === 'string' ? part : path.slice(params[2 * (first + part)], params[2 * (first + part) + 1]);
    }
    return out;
  }
  const prefix = route.stripPrefix;
  if (prefix !== null && path.startsWith(prefix)) {
    const next = path.charCodeAt(prefix.length);
    if (Number.isNaN(next)) return '/';
    if (next === 0x2f) return path.slice(prefix.length);
  }
  return path;
}
