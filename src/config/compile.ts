/**
 * Compiles a validated config into what a worker's hot path needs: the router, one object per
 * route with everything precomputed (status lines, header lists, rewrite templates, the
 * upstream balancer), and the request limits. Runs once per config version in each worker;
 * the request path never looks at the raw config again.
 */
import type { GatewayConfig, RouteConfig, UpstreamConfig } from './schema.js';
import { createRouter } from '../native/router.js';
import type { RoutePattern, RouterEngine } from '../native/router-types.js';
import { compileCidrs, type AddressMatcher } from '../net/cidr.js';
import { PoolRegistry } from '../upstream/pools.js';
import { createBalancer, type Balancer, type Target } from '../upstream/balancer.js';
import { statusLine } from '../errors.js';
import { effectivePlugins } from './load.js';
import { compilePipeline, type CompiledPipeline } from '../plugins/pipeline.js';
import { ConsumerDirectory } from '../plugins/consumers.js';

export interface CompiledUpstream {
  readonly name: string;
  readonly balancer: Balancer;
  readonly targets: readonly Target[];
  readonly responseHeadersMs: number;
}

/** One piece of a rewrite template: literal text, or the index of a captured param. */
type TemplatePart = string | number;

export interface CompiledRoute {
  readonly id: string;
  readonly index: number;
  /** Exact header matches (lower-case name, lower-cased value compare) or null. */
  readonly headerMatch: ReadonlyArray<readonly [string, string]> | null;
  readonly upstream: CompiledUpstream | null;
  readonly respond: CompiledRespond | null;
  readonly stripPrefix: string | null;
  readonly preserveHost: boolean;
  /** Upstream response-headers timeout for this route (min of route and upstream). */
  readonly headersTimeoutMs: number;
  /** Idle time allowed between response body chunks. */
  readonly bodyTimeoutMs: number;
  /** The route's plugins (global merged with its own), or null when it has none. */
  readonly pipeline: CompiledPipeline | null;
}

export interface CompiledRespond {
  readonly status: number;
  readonly statusLine: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
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
  /** Time allowed to receive a request body (0 = none). */
  readonly requestTimeoutMs: number;
  readonly isTrustedProxy: AddressMatcher;
  readonly trustsAnyProxy: boolean;
  readonly accessLog: boolean;
  /** Pool keys this config uses, so the registry can close the others after a swap. */
  readonly poolKeys: Set<string>;
  /** Header of the global requestId plugin (lower-case), for answers given before routing; null if off. */
  readonly unroutedRequestIdHeader: string | null;
}

const DEFAULT_CONNECTIONS = 64;

function compileUpstream(name: string, up: UpstreamConfig, pools: PoolRegistry, poolKeys: Set<string>): CompiledUpstream {
  const timeouts = up.timeouts ?? {};
  const settings = {
    connections: up.connectionsPerWorker ?? DEFAULT_CONNECTIONS,
    connectMs: timeouts.connectMs ?? 2000,
    idleMs: timeouts.idleMs ?? 60000,
  };
  const targets: Target[] = up.targets.map((t) => {
    const url = new URL(t.url);
    const pool = pools.acquire(url.origin, settings);
    poolKeys.add(pool.key);
    return { url: t.url, origin: url.origin, hostHeader: url.host, weight: t.weight ?? 1, pool, current: 0 };
  });
  return { name, targets, balancer: createBalancer(targets), responseHeadersMs: timeouts.responseHeadersMs ?? 15000 };
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

function compileRespond(r: NonNullable<RouteConfig['respond']>): CompiledRespond {
  const body = Buffer.from(r.body ?? '');
  const headers = Object.entries(r.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)] as const);
  return { status: r.status ?? 200, statusLine: statusLine(r.status ?? 200), headers, body };
}

export function compileConfig(
  config: GatewayConfig,
  version: number,
  pools: PoolRegistry,
  services: Map<string, unknown> = new Map(),
): CompiledConfig {
  const poolKeys = new Set<string>();
  const consumers = new ConsumerDirectory(config.consumers ?? []);
  const trusted = config.trustedProxies ?? [];
  const isTrustedProxy = compileCidrs(trusted);
  const upstreams = new Map<string, CompiledUpstream>();
  for (const [name, up] of Object.entries(config.upstreams)) {
    upstreams.set(name, compileUpstream(name, up, pools, poolKeys));
  }

  const routes: CompiledRoute[] = [];
  const patterns: CompiledPattern[] = [];
  const table: RoutePattern[] = [];
  config.routes.forEach((r, index) => {
    const upstream = r.upstream !== undefined ? upstreams.get(r.upstream) ?? null : null;
    const routeTimeout = r.timeoutMs ?? Infinity;
    const headerEntries = Object.entries(r.headers ?? {});
    const route: CompiledRoute = {
      id: r.id,
      index,
      headerMatch: headerEntries.length ? headerEntries.map(([k, v]) => [k.toLowerCase(), String(v).toLowerCase()] as const) : null,
      upstream,
      respond: r.respond ? compileRespond(r.respond) : null,
      stripPrefix: r.stripPrefix && r.stripPrefix !== '/' ? r.stripPrefix.replace(/\/$/, '') : null,
      preserveHost: r.preserveHost ?? false,
      headersTimeoutMs: Math.min(routeTimeout, upstream?.responseHeadersMs ?? 15000),
      bodyTimeoutMs: Number.isFinite(routeTimeout) ? routeTimeout : 300_000,
      pipeline: compilePipeline(effectivePlugins(config, r), { consumers, isTrustedProxy, routeId: r.id, services }),
    };
    routes.push(route);
    let methods = r.methods ? r.methods.map((m) => m.toUpperCase()) : null;
    // A GET route answers HEAD too, as every HTTP server does.
    if (methods && methods.includes('GET') && !methods.includes('HEAD')) methods = [...methods, 'HEAD'];
    const hosts = r.hosts ? r.hosts.map((h) => h.toLowerCase()) : null;
    for (const path of r.paths) {
      // headerMatches: the router lists this pattern before the same path's unconditional ones,
      // and goes on to less specific patterns when only conditional ones matched.
      table.push({ hosts, methods, path, priority: r.priority ?? 0, headerMatches: headerEntries.length });
      patterns.push({ route, rewrite: r.rewrite ? compileRewrite(r.rewrite, path) : null });
    }
  });

  const globalRequestId = config.plugins?.requestId;
  return {
    version,
    router: createRouter(table),
    patterns,
    routes,
    maxBodyBytes: config.limits?.maxBodyBytes ?? 10 * 1024 * 1024,
    requestTimeoutMs: config.limits?.requestTimeoutMs ?? 30000,
    isTrustedProxy,
    unroutedRequestIdHeader: globalRequestId ? (globalRequestId.header ?? 'x-request-id').toLowerCase() : null,
    trustsAnyProxy: trusted.length > 0,
    accessLog: config.accessLog !== undefined && config.accessLog !== false,
    poolKeys,
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
