/**
 * Compiles a validated config into what a worker's hot path needs: the router, one object per
 * route with everything precomputed (its action, body mode, status lines, header lists, rewrite
 * templates, the upstream cluster), and the request limits. Runs once per config version in each
 * worker (and as a dry run in the primary and in `gateway validate`); the request path never
 * looks at the raw config again. Every value read here has its default from the schema: nothing
 * is defaulted twice.
 */
import type { GatewayConfig, RouteConfig, UpstreamConfig } from '../config/schema.js';
import { effectivePluginEntries } from '../config/effective.js';
import { parsePath } from '../util/syntax.js';
import { createRouter } from '../native/router.js';
import { FORWARD_TRUSTS_PROXIES, FORWARD_UNDERSCORES, FORWARD_WRITE } from '../native/uws-head.js';
import type { RoutePattern, RouterEngine } from '../native/router-types.js';
import { compileCidrs, type AddressMatcher } from '../net/cidr.js';
import { engineFor, type EndpointRegistry, type EndpointSettings } from '../upstream/endpoint.js';
import { loadUpstreamTls } from '../upstream/tls.js';
import { Cluster, NO_RESILIENCE, clusterSignals, type ClusterResilience, type Member, type PickContext } from '../upstream/cluster.js';
import { CircuitBreaker } from '../upstream/breaker.js';
import { RetryPolicy } from '../upstream/retry.js';
import { keyHasher, parseHashOn } from '../upstream/lb/consistent-hash.js';
import { literalTargets, type ResolvedUpstreams } from '../primary/targets.js';
import type { SharedEndpointState } from '../native/shared-state.js';
import type { MirrorTarget } from '../worker/actions/mirror.js';
import { log } from '../observability/log.js';
import { timerList, type TimerList } from '../util/timer-lists.js';
import { createBalancer } from '../upstream/lb/index.js';
import { compilePipeline, type CompiledPipeline } from '../plugins/pipeline.js';
import { BUILTIN_PLUGINS, type PluginCatalog } from '../plugins/catalog.js';
import { ConsumerDirectory } from '../plugins/consumers.js';
import { ConfigFault, type LocalReply } from '../plugins/api.js';
import type { VersionScope } from './services.js';
import type { HttpResponse } from 'uWebSockets.js';
import type { BodyMode } from '../worker/request-body.js';
import type { RequestHead } from '../worker/head.js';
import type { Transaction, WorkerHost } from '../worker/transaction.js';
import { keyPrefix } from '../worker/actions/aggregate-merge.js';
import { OFFLOAD_POOL, type OffloadPool } from '../offload/pool.js';

/** What a route does after the access phase; the worker supplies one per kind. */
export interface RouteAction {
  /** Creates the request's transaction (synchronously: it attaches uWS's onAborted and onData). */
  create(res: HttpResponse, head: RequestHead, route: CompiledRoute, host: WorkerHost): Transaction;
}

export interface RouteActions {
  readonly proxy: RouteAction;
  readonly respond: RouteAction;
  readonly aggregate: RouteAction;
}

/** One upstream as a proxied route uses it. */
export interface UpstreamTarget {
  readonly cluster: Cluster;
  /** From dispatch to the response head, waiting for a connection included (0 = none). */
  readonly responseHeadersMs: number;
  /** Longest silence while the response body streams. */
  readonly idleMs: number;
}

/** A proxied route's view of its upstreams. */
export interface CompiledUpstreamRoute {
  readonly main: UpstreamTarget;
  /** A canary split: the sides and their cumulative weights (percent); the rest goes to `main`. */
  readonly split: { readonly sides: readonly UpstreamTarget[]; readonly upTo: readonly number[] } | null;
  /** Which upstream a request goes to (only called when there is a split). */
  chooseSide(ctx: PickContext): UpstreamTarget;
  readonly mirror: MirrorTarget | null;
  /** The route's deadline for the whole exchange, retries included (0 = none). */
  readonly timeoutMs: number;
  /** Its timer list (null when none): looked up once here, not per request. */
  readonly timeoutList: TimerList | null;
}

/** One piece of a rewrite template: literal text, or the index of a captured param. */
type TemplatePart = string | number;

/**
 * How a param value is percent-encoded into an aggregate backend's path: everything but
 * unreserved characters and the escapes already in it; a "*" capture in the path part keeps its
 * "/" (it spans segments); in the query part "/" is encoded too, and so are "&", "=", "+"...
 */
export type ParamEncoding = 'segment' | 'wildcard' | 'query';

/** One piece of an aggregate backend's path template: literal text, or a captured param and its encoding. */
export type BackendPathPart = string | { readonly param: number; readonly encoding: ParamEncoding };

/** One backend of an aggregate route. */
export interface CompiledBackend {
  /** Its key in the answer. */
  readonly as: string;
  readonly optional: boolean;
  readonly target: UpstreamTarget;
}

/** An aggregate route's backends and limits (CONFIG.md "Aggregation", docs/aggregation.md). */
export interface CompiledAggregate {
  readonly backends: readonly CompiledBackend[];
  /** Deadline of the whole fan-out (0 = none: the upstreams' responseHeadersMs still apply). */
  readonly timeoutMs: number;
  readonly maxBackendBytes: number;
  /** Bodies adding up to more than this are merged on `pool`. */
  readonly offloadAboveBytes: number;
  /** The worker's offload pool, or null when this route can never need it. */
  readonly pool: OffloadPool | null;
  /** Per backend, for the merge: its `"<as>":` bytes, and whether it is required. */
  readonly prefixes: readonly Uint8Array[];
  readonly required: readonly boolean[];
}

export interface CompiledRoute {
  readonly id: string;
  readonly index: number;
  /** Exact header matches (lower-case name, lower-cased value compare) or null. */
  readonly headerMatch: ReadonlyArray<readonly [string, string]> | null;
  readonly action: RouteAction;
  readonly bodyMode: BodyMode;
  readonly proxy: CompiledUpstreamRoute | null;
  readonly aggregate: CompiledAggregate | null;
  readonly respond: LocalReply | null;
  readonly stripPrefix: string | null;
  readonly preserveHost: boolean;
  /** The route's plugins (global merged with its own), or null when it has none. */
  readonly pipeline: CompiledPipeline | null;
  /** Upstream response headers the gateway owns on this route (plugins', the request id), or null. */
  readonly removeResponseHeaders: readonly string[] | null;
  /** Request id header (lower-case), '' when request ids are off for this route. */
  readonly requestIdHeader: string;
  /** How a WebSocket upgrade is relayed; null: refused with 400 (`websocket: false`, or no upstream). */
  readonly websocket: WebSocketSettings | null;
  /**
   * A proxied route without mirror whose upstreams all run on the native engine, which writes
   * header lines given as bytes as they are: its forwarding headers go as serialized lines
   * (head.ts forwardingLines), and the client's header lines as the addon copied them from the
   * raw head (RequestHead.rawHeaders; plugins read and edit them through RequestContext).
   */
  readonly forwardsLines: boolean;
}

/** A route's WebSocket relay settings (src/worker/ws-relay.ts). */
export interface WebSocketSettings {
  readonly maxMessageBytes: number;
  /** 0 = no idle timeout. */
  readonly idleTimeoutMs: number;
}

/**
 * A preflight-only pattern: an OPTIONS pattern added for a route whose pipeline answers CORS
 * preflights but whose `methods` do not list OPTIONS. It is taken only for a preflight
 * (Origin + Access-Control-Request-Method, no body) asking for a method the route accepts, and
 * only when no ordinary candidate holds; any other OPTIONS request gets the 405 it got before
 * the pattern existed (`allow`: the methods of the ordinary patterns with this host set and path
 * shape).
 */
export interface PreflightOnly {
  /** The methods the route accepts (HEAD included for GET). */
  readonly methods: ReadonlySet<string>;
  /** The Allow value of the 405 a non-preflight OPTIONS gets. */
  readonly allow: string;
}

/** A pattern of the router table: which route, and how to build its rewritten path. */
export interface CompiledPattern {
  readonly route: CompiledRoute;
  /** Rewrite template with param references resolved to capture indexes, or null. */
  readonly rewrite: readonly TemplatePart[] | null;
  /** Aggregate routes: each backend's path template for this pattern's captures; else null. */
  readonly backendPaths: ReadonlyArray<readonly BackendPathPart[]> | null;
  /** The names of the path's captures in order (ctx.params for plugin modules). */
  readonly paramNames: readonly string[];
  /** Non-null for the preflight-only OPTIONS patterns (see PreflightOnly). */
  readonly preflight: PreflightOnly | null;
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
  /** `tracing.sampleRatio`, or -1 without `tracing` (trace context is propagated, nothing recorded). */
  readonly traceSampleRatio: number;
  /** Endpoint keys this config uses, so the registry can close the others after a swap. */
  readonly endpointKeys: Set<string>;
  /** Header of the global request id, for answers given before routing; '' if off. */
  readonly unroutedRequestIdHeader: string;
  /** inspectHead's forwarding options (src/native/uws-head.ts); 0 when no route forwards raw heads. */
  readonly forwardOptions: number;
  /** The largest websocket.maxMessageBytes of the routes (0: no route relays WebSockets). */
  readonly maxWebSocketMessageBytes: number;
}

export interface CompileDeps {
  readonly endpoints: EndpointRegistry;
  readonly actions: RouteActions;
  /** The services of this config version (src/runtime/services.ts). */
  readonly services: VersionScope;
  /** The upstreams' targets as addresses, from the primary's resolver; default: the URLs as written. */
  readonly targets?: ResolvedUpstreams;
  /** Machine-wide endpoint state (workers), or none (dry runs). */
  readonly shared?: SharedEndpointState | null;
  /** This worker's index (its column in the shared state). */
  readonly worker?: number;
  /** The plugins the config can use (its LoadResult's); default: the built-ins. */
  readonly plugins?: PluginCatalog;
}

/** Every ConfigFault the plugins raised, with absolute pointers (compileConfig throws it). */
export class ConfigFaults extends Error {
  constructor(readonly faults: readonly ConfigFault[]) {
    super(faults.map((f) => `${f.pointer === '' ? '(root)' : f.pointer}: ${f.message}`).join('\n'));
    this.name = 'ConfigFaults';
  }
}

/** Every target of the upstream is served by the native engine. */
function onNativeEngine(up: UpstreamConfig): boolean {
  return up.targets.every((t) => engineFor(t.url, up.engine) === 'native');
}

/** The connection settings of an upstream's endpoints (also how admin finds their reports). */
export function endpointSettings(up: UpstreamConfig): EndpointSettings {
  return {
    keepAlive: up.connectionsPerWorker,
    maxConnections: Math.max(up.maxConnectionsPerWorker, up.connectionsPerWorker),
    connectMs: up.timeouts.connectMs,
    idleMs: up.timeouts.idleMs,
    tls: loadUpstreamTls(up.tls),
    engine: up.engine,
  };
}

function resilienceOf(up: UpstreamConfig, deps: CompileDeps): ClusterResilience {
  const hc = up.healthCheck;
  const cb = up.circuitBreaker;
  if (hc === undefined && cb === undefined && up.retries === undefined && (deps.shared ?? null) === null) return NO_RESILIENCE;
  return {
    shared: deps.shared ?? null,
    worker: deps.worker ?? 0,
    activeHealth: hc?.active !== undefined,
    passive: hc?.passive !== undefined ? { consecutiveFailures: hc.passive.consecutiveFailures, ejectMs: hc.passive.ejectMs } : null,
    breaker: cb !== undefined ? { failureRatio: cb.failureRatio, minRequests: cb.minRequests, windowMs: cb.windowMs, openMs: cb.openMs } : null,
    maxPending: cb !== undefined ? cb.maxPendingPerWorker : Infinity,
    retry: up.retries !== undefined ? new RetryPolicy(up.retries) : null,
  };
}

/** An upstream's cluster over its targets as addresses; endpoints (and their breakers) kept across reloads. */
function compileCluster(name: string, up: UpstreamConfig, deps: CompileDeps, targets: ResolvedUpstreams, keys: Set<string>): Cluster {
  const settings = endpointSettings(up);
  const resilience = resilienceOf(up, deps);
  const members: Member[] = (targets[name] ?? []).map((t, index) => {
    const ep = deps.endpoints.acquire(name, t.origin, t.hostHeader, t.slot, settings);
    keys.add(ep.key);
    const b = resilience.breaker;
    if (b === null) ep.breaker = null;
    else if (ep.breaker === null) {
      ep.breaker = new CircuitBreaker(b, (from, to) => log(to === 'open' ? 'warn' : 'info', `upstream target breaker ${to}`, { upstream: name, target: t.url, address: t.origin, from }));
    } else ep.breaker.settings = b;
    return { endpoint: ep, weight: t.weight, index };
  });
  return new Cluster(name, members, createBalancer(up.balancer, members, { hashOn: up.hashOn, signals: clusterSignals(resilience.shared) }), resilience);
}

function targetOf(cluster: Cluster, up: UpstreamConfig): UpstreamTarget {
  return { cluster, responseHeadersMs: up.timeouts.responseHeadersMs, idleMs: up.timeouts.idleMs };
}

/**
 * A route's upstreams: its own, a canary split (per request by weight, or by the consistent-hash
 * key when its upstream balances that way, so one key stays on one side), a mirror.
 */
function compileUpstreamRoute(r: RouteConfig, config: GatewayConfig, clusters: Map<string, Cluster>): CompiledUpstreamRoute {
  const up = config.upstreams[r.upstream!];
  const main = targetOf(clusters.get(r.upstream!)!, up);
  let split: CompiledUpstreamRoute['split'] = null;
  let chooseSide: CompiledUpstreamRoute['chooseSide'] = () => main;
  if (r.split !== undefined) {
    const sides = r.split.map((sp) => targetOf(clusters.get(sp.upstream)!, config.upstreams[sp.upstream]));
    const upTo: number[] = [];
    let sum = 0;
    for (const sp of r.split) upTo.push((sum += sp.weight));
    split = { sides, upTo };
    const hash = up.balancer === 'consistent-hash' ? keyHasher(parseHashOn(up.hashOn)) : null;
    chooseSide = (ctx) => {
      // 0..99: the key's bucket (sticky), or a random one.
      const bucket = hash !== null ? (hash(ctx) >>> 0) % 100 : Math.floor(Math.random() * 100);
      for (let i = 0; i < upTo.length; i++) if (bucket < upTo[i]) return sides[i];
      return main;
    };
  }
  let mirror: MirrorTarget | null = null;
  if (r.mirror !== undefined) {
    const mu = config.upstreams[r.mirror.upstream];
    mirror = { target: targetOf(clusters.get(r.mirror.upstream)!, mu), percent: r.mirror.percent, timeoutMs: r.timeoutMs > 0 ? r.timeoutMs : 10_000 };
  }
  return { main, split, chooseSide, mirror, timeoutMs: r.timeoutMs, timeoutList: r.timeoutMs > 0 ? timerList(r.timeoutMs) : null };
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

/** An aggregate backend's path template against one of the route's path patterns. */
function compileBackendPath(template: string, path: string): BackendPathPart[] {
  const names = captureNames(path);
  const queryAt = template.indexOf('?');
  const parts: BackendPathPart[] = [];
  const re = /\{([^}]+)\}/g;
  let last = 0;
  for (let m = re.exec(template); m !== null; m = re.exec(template)) {
    if (m.index > last) parts.push(template.slice(last, m.index));
    const param = names.indexOf(m[1]);
    if (param === -1) throw new Error(`aggregate path "${template}": "{${m[1]}}" is not a param of "${path}"`);
    const encoding: ParamEncoding = queryAt !== -1 && m.index > queryAt ? 'query' : m[1] === '*' ? 'wildcard' : 'segment';
    parts.push({ param, encoding });
    last = m.index + m[0].length;
  }
  if (last < template.length) parts.push(template.slice(last));
  return parts;
}

function compileAggregate(a: NonNullable<RouteConfig['aggregate']>, config: GatewayConfig, clusters: Map<string, Cluster>, services: VersionScope): CompiledAggregate {
  const backends = a.backends.map((b) => ({
    as: b.as,
    optional: b.optional,
    target: targetOf(clusters.get(b.upstream)!, config.upstreams[b.upstream]),
  }));
  // The most the bodies can add up to: at or under the threshold, the pool is never needed.
  const mayOffload = a.offloadAboveBytes < a.maxBackendBytes * backends.length;
  return {
    backends,
    timeoutMs: a.timeoutMs,
    maxBackendBytes: a.maxBackendBytes,
    offloadAboveBytes: a.offloadAboveBytes,
    pool: mayOffload ? services.use(OFFLOAD_POOL) : null,
    prefixes: backends.map((b) => keyPrefix(b.as)),
    required: backends.map((b) => !b.optional),
  };
}

function compileRespond(r: NonNullable<RouteConfig['respond']>): LocalReply {
  const headers: string[] = [];
  for (const [k, v] of Object.entries(r.headers)) headers.push(k.toLowerCase(), String(v));
  return { status: r.status, headers, body: Buffer.from(r.body) };
}

/** The request id header in force for these plugins ('' = off): a core feature configured under `plugins`. */
function requestIdHeaderOf(plugins: { readonly requestId?: { readonly header: string } | false }): string {
  const rid = plugins.requestId;
  return rid === undefined || rid === false ? '' : rid.header.toLowerCase();
}

/** The methods of a route's patterns as the router gets them (null = any): GET answers HEAD too. */
function routeMethods(r: RouteConfig): string[] | null {
  if (r.methods === undefined) return null;
  // A GET route answers HEAD too, as every HTTP server does.
  return r.methods.includes('GET') && !r.methods.includes('HEAD') ? [...r.methods, 'HEAD'] : r.methods;
}

/**
 * The preflight-only patterns of routes that answer preflights and do not list OPTIONS, with
 * the Allow value the router would give without them: the sorted methods of the ordinary
 * patterns of the same host set and path shape.
 */
function preflightPatterns(table: RoutePattern[], patterns: CompiledPattern[], needs: readonly boolean[]): void {
  const group = (p: RoutePattern): string => {
    const parsed = parsePath(p.path);
    const shape = 'shape' in parsed ? parsed.shape : p.path;
    return `${p.hosts === null ? '*' : [...p.hosts].sort().join(',')} ${shape}`;
  };
  const allowOf = new Map<string, Set<string>>();
  table.forEach((p) => {
    const key = group(p);
    const set = allowOf.get(key) ?? new Set<string>();
    for (const m of p.methods ?? []) set.add(m);
    allowOf.set(key, set);
  });
  const n = table.length;
  for (let i = 0; i < n; i++) {
    const pattern = patterns[i];
    if (!needs[pattern.route.index]) continue;
    const base = table[i];
    table.push({ ...base, methods: ['OPTIONS'] });
    patterns.push({
      route: pattern.route,
      rewrite: pattern.rewrite,
      backendPaths: pattern.backendPaths,
      paramNames: pattern.paramNames,
      preflight: { methods: new Set(base.methods), allow: [...allowOf.get(group(base))!].sort().join(', ') },
    });
  }
}

export function compileConfig(config: GatewayConfig, version: number, deps: CompileDeps): CompiledConfig {
  const endpointKeys = new Set<string>();
  const consumers = new ConsumerDirectory(config.consumers);
  const isTrustedProxy = compileCidrs(config.trustedProxies);
  const clusters = new Map<string, Cluster>();
  const targets = deps.targets ?? literalTargets(config);
  for (const [name, up] of Object.entries(config.upstreams)) clusters.set(name, compileCluster(name, up, deps, targets, endpointKeys));

  const routes: CompiledRoute[] = [];
  const patterns: CompiledPattern[] = [];
  const table: RoutePattern[] = [];
  const faults: ConfigFault[] = [];
  const needsPreflight: boolean[] = [];
  const services = deps.services;
  const use = services.use.bind(services);
  config.routes.forEach((r, index) => {
    const plugins = effectivePluginEntries(config, index);
    const requestIdHeader = requestIdHeaderOf(Object.fromEntries(plugins.map((p) => [p.name, p.conf])));
    let pipeline: CompiledPipeline | null = null;
    try {
      pipeline = compilePipeline(plugins, { consumers, isTrustedProxy, routeId: r.id, role: services.ctx.role, use }, deps.plugins ?? BUILTIN_PLUGINS);
    } catch (err) {
      if (!(err instanceof ConfigFault)) throw err;
      if (!faults.some((f) => f.pointer === err.pointer && f.message === err.message)) faults.push(err);
    }
    const remove = [...(pipeline !== null && pipeline.removeResponseHeaders !== null ? pipeline.removeResponseHeaders : []), ...(requestIdHeader !== '' ? [requestIdHeader] : [])];
    const headerEntries = Object.entries(r.headers);
    const cluster = r.upstream !== undefined ? clusters.get(r.upstream)! : null;
    const up = r.upstream !== undefined ? config.upstreams[r.upstream] : undefined;
    const forwardsLines =
      cluster !== null && r.mirror === undefined && [r.upstream!, ...(r.split ?? []).map((sp) => sp.upstream)].every((name) => onNativeEngine(config.upstreams[name]));
    const route: CompiledRoute = {
      id: r.id,
      index,
      headerMatch: headerEntries.length ? headerEntries.map(([k, v]) => [k.toLowerCase(), String(v).toLowerCase()] as const) : null,
      action: cluster !== null ? deps.actions.proxy : r.aggregate !== undefined ? deps.actions.aggregate : deps.actions.respond,
      // A plugin that rewrites request bodies (encoding) needs them whole: requestBuffering false
      // does not stream them on such a route (docs/plugins/encoding.md). Aggregate routes send
      // GETs without a body: the client's is read and dropped.
      bodyMode: cluster !== null ? (r.requestBuffering || (pipeline !== null && pipeline.rewritesBodies) ? 'buffer' : 'stream') : 'discard',
      proxy: cluster !== null && up !== undefined ? compileUpstreamRoute(r, config, clusters) : null,
      aggregate: r.aggregate !== undefined ? compileAggregate(r.aggregate, config, clusters, services) : null,
      respond: r.respond ? compileRespond(r.respond) : null,
      stripPrefix: r.stripPrefix && r.stripPrefix !== '/' ? r.stripPrefix.replace(/\/$/, '') : null,
      preserveHost: r.preserveHost,
      pipeline,
      removeResponseHeaders: remove.length > 0 ? remove : null,
      requestIdHeader,
      websocket: cluster !== null && r.websocket !== false ? { maxMessageBytes: r.websocket.maxMessageBytes, idleTimeoutMs: r.websocket.idleTimeoutMs } : null,
      forwardsLines,
    };
    routes.push(route);
    // Methods are upper-cased and hosts lower-cased by the loader's normalization.
    const methods = routeMethods(r);
    const hosts = r.hosts ?? null;
    needsPreflight[index] = pipeline !== null && pipeline.answersPreflight && methods !== null && !methods.includes('OPTIONS');
    for (const path of r.paths) {
      // headerMatches: the router lists this pattern before the same path's unconditional ones,
      // and goes on to less specific patterns when only conditional ones matched.
      table.push({ hosts, methods, path, priority: r.priority, headerMatches: headerEntries.length });
      patterns.push({
        route,
        rewrite: r.rewrite ? compileRewrite(r.rewrite, path) : null,
        backendPaths: r.aggregate !== undefined ? r.aggregate.backends.map((b) => compileBackendPath(b.path, path)) : null,
        paramNames: captureNames(path),
        preflight: null,
      });
    }
  });
  if (faults.length > 0) throw new ConfigFaults(faults);
  preflightPatterns(table, patterns, needsPreflight);

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
    traceSampleRatio: config.tracing !== undefined ? config.tracing.sampleRatio : -1,
    endpointKeys,
    unroutedRequestIdHeader: requestIdHeaderOf(config.plugins),
    forwardOptions: routes.some((r) => r.forwardsLines)
      ? FORWARD_WRITE | (config.http.underscoresInHeaders ? FORWARD_UNDERSCORES : 0) | (config.trustedProxies.length > 0 ? FORWARD_TRUSTS_PROXIES : 0)
      : 0,
    maxWebSocketMessageBytes: routes.reduce((max, r) => Math.max(max, r.websocket?.maxMessageBytes ?? 0), 0),
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

/**
 * The paths of an aggregate route's backends for one request: each template with the captured
 * params percent-encoded into it (see ParamEncoding). `params`/`first` as for upstreamPath.
 */
export function backendPaths(templates: ReadonlyArray<readonly BackendPathPart[]>, path: string, params: Int32Array, first = 0): string[] {
  const out: string[] = new Array(templates.length);
  for (let k = 0; k < templates.length; k++) {
    let p = '';
    for (const part of templates[k]) {
      if (typeof part === 'string') p += part;
      else p += encodeParam(path.slice(params[2 * (first + part.param)], params[2 * (first + part.param) + 1]), part.encoding);
    }
    out[k] = p;
  }
  return out;
}

const HEX = '0123456789ABCDEF';

/** Unreserved (RFC 3986 §2.3): ALPHA / DIGIT / "-" / "." / "_" / "~". */
function unreserved(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e;
}

/**
 * A param value (a piece of the normalized path: printable ASCII, escapes canonical) with every
 * byte but unreserved ones, "%" of its existing escapes and, for a wildcard in the path, "/"
 * percent-encoded. Returns the value itself when nothing needs encoding.
 */
export function encodeParam(value: string, encoding: ParamEncoding): string {
  let i = 0;
  for (; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (!unreserved(c) && c !== 0x25 && !(c === 0x2f && encoding === 'wildcard')) break;
  }
  if (i === value.length) return value;
  let out = value.slice(0, i);
  for (; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (unreserved(c) || c === 0x25 || (c === 0x2f && encoding === 'wildcard')) out += value[i];
    else out += '%' + HEX[c >> 4] + HEX[c & 15];
  }
  return out;
}
