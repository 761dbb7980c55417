/**
 * The scenarios of the load suite: what request is sent, which contenders take part, and the
 * gateway / nginx configuration each one runs with.
 *
 * Whether a scenario runs is decided by the gateway itself: its generated config goes through
 * `gateway validate`, and a refusal that says "is not implemented in this version of the gateway
 * yet" turns the scenario into "skipped: <reason>". When the feature lands, the scenario runs,
 * with no change here.
 */
import { createHash, createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { JSON_MIB_BYTES } from './upstream-body.js';

/**
 * `baseline` is another checkout of the gateway (--baseline DIR): before/after in the same run.
 * `reference` is this gateway with another scenario's config (Scenario.reference), alternating in
 * the same rounds: a feature's cost measured against the config without it.
 */
export type ContenderName = 'direct' | 'gateway' | 'reference' | 'baseline' | 'nginx' | 'peer';

export interface RequestSpec {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  /** Request body size (POST), 0 for none. */
  bodyBytes: number;
  /** Expected response body size, for the sanity check before measuring. */
  responseBytes?: number;
  /**
   * A header whose value changes per request: `<name>: user-<n>`, n cycling 1..count (wrk:
   * bench/wrk-x-user.lua; autocannon: setupRequest). For consistent hashing on a header.
   */
  keyHeader?: { name: string; count: number };
}

/** Which of the upstream process's ports an upstream's targets are (bench/upstream-server.ts). */
export type TargetSet = 'single' | 'lb' | 'lb-slow';

/** The `app` upstream of a scenario, when it is not the one plain target. */
export interface UpstreamSpec {
  targets: TargetSet;
  /** Gateway upstream fields besides targets and connectionsPerWorker (balancer, hashOn, retries ...). */
  gateway?: Record<string, unknown>;
  /** nginx upstream-block directives; they go before `keepalive`, as nginx requires. */
  nginx?: string;
  /** Parameters appended to every nginx `server` line (max_fails=5 fail_timeout=10s). */
  nginxServer?: string;
  /** How the report names nginx's method ("least_conn", "random two least_conn"). */
  nginxMethod?: string;
}

/** What every scenario's configuration is built from. */
export interface BenchContext {
  workers: number;
  upstreamPort: number;
  /** The upstream process's ports per target set: 'single' = [upstreamPort]. */
  targetPorts: Record<TargetSet, number[]>;
  /** Upstream keep-alive connections per worker (gateway connectionsPerWorker = nginx keepalive). */
  upstreamPool: number;
  fixtures: Fixtures;
}

export interface Scenario {
  name: string;
  title: string;
  /** One sentence for the report and the docs. */
  measures: string;
  kind: 'http' | 'ws';
  request: RequestSpec;
  /** Fixed client connection counts (conns-5k); otherwise --connections. */
  connections?: number[];
  contenders: ContenderName[];
  /** Why a contender of the usual set does not take part (shown in the report). */
  notApplicable?: Partial<Record<ContenderName, string>>;
  /** The route as the gateway config wants it (paths, plugins, aggregate ...), minus id and upstream. */
  gatewayRoute: Record<string, unknown>;
  /** Top-level gateway config additions (consumers). */
  gatewayTop?: Record<string, unknown>;
  /** Extra nginx directives: http block, and the proxy location. */
  nginxHttp?: string;
  nginxLocation?: string;
  /** Environment the gateway needs for this config (env: secrets). */
  env?: Record<string, string>;
  /** The `app` upstream's targets and settings; absent: the one plain target. */
  upstream?: UpstreamSpec;
  /** The `reference` contender: the gateway with this other scenario's config, same rounds. */
  reference?: { scenario: string; label: string };
  /** Groups `--scenario` accepts for it besides its name (lb, lb-slow). */
  groups?: string[];
  /** Left out of the default selection (no --scenario, or `default`); `all` and its groups include it. */
  optIn?: boolean;
  /** More gateway routes beside the scenario's (the probe route). */
  gatewayExtraRoutes?: Record<string, unknown>[];
  /**
   * An event-loop probe (bench/probe.ts): a request to `path` every `intervalMs` on a fresh
   * connection while the load runs; its latency is reported next to the load's.
   */
  probe?: { path: string; intervalMs: number };
}

/** Targets of the lb-* scenarios: 4 ports of the one upstream process. */
export const LB_TARGETS = 4;
/** How late the slow target of the lb-slow-* scenarios answers. */
export const SLOW_TARGET_DELAY_MS = 50;
/** Distinct x-user values the lb-* scenarios cycle through (consistent-hash keys). */
export const LB_USERS = 1000;

/**
 * The upstream's extra ports (`--extra-port P[:DELAY_MS]`), in order: LB_TARGETS plain ones, then
 * the slow twin. 'lb' = the plain ones; 'lb-slow' = the first LB_TARGETS - 1 plain ones + the slow one.
 */
export function extraPortDelays(): number[] {
  return [...Array.from({ length: LB_TARGETS }, () => 0), SLOW_TARGET_DELAY_MS];
}

export function targetPortsOf(mainPort: number, extra: number[]): Record<TargetSet, number[]> {
  return {
    single: [mainPort],
    lb: extra.slice(0, LB_TARGETS),
    'lb-slow': [...extra.slice(0, LB_TARGETS - 1), extra[LB_TARGETS]],
  };
}

export interface Fixtures {
  dir: string;
  apiKey: string;
  jwtSecret: string;
  hs256Token: string;
  rsaPublicKeyFile: string;
  rs256Token: string;
  /** A plugin module whose one hook does nothing (the plugins-user scenario). */
  noopPluginFile: string;
}

const ISSUER = 'https://bench.gateway.local';
const AUDIENCE = 'bench';

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

function jwtSigningInput(alg: string): string {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ alg, typ: 'JWT' }));
  const payload = b64url(JSON.stringify({ sub: 'bench', iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 7 * 24 * 3600 }));
  return `${header}.${payload}`;
}

/** Keys and tokens for the auth scenarios, written under `dir`. */
export function makeFixtures(dir: string): Fixtures {
  const jwtSecret = 'bench-secret-0123456789abcdef0123456789abcdef';
  const hsInput = jwtSigningInput('HS256');
  const hs256Token = `${hsInput}.${b64url(createHmac('sha256', jwtSecret).update(hsInput).digest())}`;
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rsaPublicKeyFile = join(dir, 'jwt-rs256.pub.pem');
  writeFileSync(rsaPublicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));
  const rsInput = jwtSigningInput('RS256');
  const rs256Token = `${rsInput}.${b64url(sign('sha256', Buffer.from(rsInput), privateKey))}`;
  const noopPluginFile = join(dir, 'noop-plugin.mjs');
  writeFileSync(noopPluginFile, `export default { name: 'noop', phase: 'transform', schema: { type: 'object' }, compile: () => ({ onRequest() {} }) };\n`);
  return { dir, apiKey: 'bench-api-key-7f3a9c', jwtSecret, hs256Token, rsaPublicKeyFile, rs256Token, noopPluginFile };
}

export const SMALL_RESPONSE_BYTES = 17; // '{"hello":"world"}' (bench/upstream-server.ts)
/** {"a":<small>,"b":<small>,"c":<small>} */
const AGGREGATE_3_BYTES = 2 + 3 * '"a":'.length + 3 * SMALL_RESPONSE_BYTES + 2;
/** {"big":<JSON_MIB_BYTES>,"small":<small>} */
const AGGREGATE_1M_BYTES = 2 + '"big":'.length + JSON_MIB_BYTES + 1 + '"small":'.length + SMALL_RESPONSE_BYTES;

const plainGet: RequestSpec = { method: 'GET', path: '/', headers: {}, bodyBytes: 0, responseBytes: SMALL_RESPONSE_BYTES };

export function scenarios(fx: Fixtures): Scenario[] {
  const jwtPlugin = (extra: Record<string, unknown>) => ({ ...extra, issuer: ISSUER, audience: AUDIENCE });
  const noNginxJwt = 'nginx (open source) cannot verify JWTs without njs or nginx Plus';
  const peerPlainOnly = 'the peer runs as a plain proxy only';
  return [
    {
      name: 'direct',
      title: 'direct to the upstream',
      measures: 'The ceiling: the load generator straight to the upstream, no proxy in between.',
      kind: 'http',
      request: plainGet,
      contenders: ['direct'],
      gatewayRoute: {},
    },
    {
      name: 'proxy',
      title: 'plain proxy route',
      measures: 'One route `/*` to one upstream, no plugins: the cost of the proxy path itself.',
      kind: 'http',
      request: plainGet,
      contenders: ['gateway', 'nginx', 'peer'],
      gatewayRoute: { paths: ['/*'] },
    },
    {
      name: 'plugins',
      title: 'rate limit + apiKey + request id + header transforms',
      measures:
        'A route with a rate limit that is never hit, API-key authentication, a generated request id and request/response header transforms.',
      kind: 'http',
      request: { ...plainGet, headers: { 'x-api-key': fx.apiKey } },
      contenders: ['gateway', 'nginx'],
      notApplicable: { peer: peerPlainOnly },
      gatewayTop: {
        consumers: [{ id: 'bench', apiKeys: [`sha256:${createHash('sha256').update(fx.apiKey).digest('hex')}`] }],
      },
      gatewayRoute: {
        paths: ['/*'],
        plugins: {
          apiKey: { header: 'x-api-key' },
          rateLimit: { requestsPerSecond: 10_000_000, burst: 10_000_000, key: 'ip', scope: 'local' },
          requestId: { header: 'x-request-id' },
          requestHeaders: { set: { 'x-bench': '1' }, remove: ['x-internal'] },
          responseHeaders: { set: { 'x-served-by': 'bench' }, remove: ['x-powered-by'] },
        },
      },
      // The same work in nginx: limit_req in shared memory (exact across workers), a key check,
      // $request_id forwarded and echoed, header set/remove both ways.
      nginxHttp: `limit_req_zone $binary_remote_addr zone=bench:10m rate=1000000r/s;
  map $http_x_api_key $bench_key_ok { default 0; "${fx.apiKey}" 1; }`,
      nginxLocation: `limit_req zone=bench burst=1000000 nodelay;
      if ($bench_key_ok = 0) { return 401; }
      proxy_set_header X-Request-Id $request_id;
      add_header X-Request-Id $request_id always;
      proxy_set_header X-Bench 1;
      proxy_set_header X-Internal "";
      proxy_hide_header X-Powered-By;
      add_header X-Served-By bench always;`,
    },
    {
      name: 'plugins-user',
      title: 'a plugin module that does nothing',
      measures: 'The plain route with one plugin of your own (pluginModules) whose onRequest does nothing: compare with `proxy`.',
      kind: 'http',
      request: plainGet,
      contenders: ['gateway'],
      notApplicable: { nginx: 'nginx runs no plugin modules of the gateway (compare the gateway with its own proxy scenario)', peer: peerPlainOnly },
      gatewayTop: { pluginModules: [fx.noopPluginFile] },
      gatewayRoute: { paths: ['/*'], plugins: { noop: {} } },
    },
    {
      name: 'jwt-hs256',
      title: 'JWT HS256',
      measures: 'A route that verifies an HS256 JWT (signature, iss, aud, exp) on every request.',
      kind: 'http',
      request: { ...plainGet, headers: { authorization: `Bearer ${fx.hs256Token}` } },
      contenders: ['gateway'],
      notApplicable: { nginx: noNginxJwt, peer: peerPlainOnly },
      env: { BENCH_JWT_SECRET: fx.jwtSecret },
      gatewayRoute: { paths: ['/*'], plugins: { jwt: jwtPlugin({ secret: 'env:BENCH_JWT_SECRET', algorithms: ['HS256'] }) } },
    },
    {
      name: 'jwt-rs256',
      title: 'JWT RS256',
      measures: 'A route that verifies an RS256 (2048-bit) JWT on every request.',
      kind: 'http',
      request: { ...plainGet, headers: { authorization: `Bearer ${fx.rs256Token}` } },
      contenders: ['gateway'],
      notApplicable: { nginx: noNginxJwt, peer: peerPlainOnly },
      gatewayRoute: { paths: ['/*'], plugins: { jwt: jwtPlugin({ publicKeyFile: fx.rsaPublicKeyFile, algorithms: ['RS256'] }) } },
    },
    {
      name: 'post-64k',
      title: 'POST 64 KiB bodies',
      measures: 'Request bodies of 64 KiB streamed to the upstream (small answers).',
      kind: 'http',
      request: { method: 'POST', path: '/upload', headers: { 'content-type': 'application/octet-stream' }, bodyBytes: 64 * 1024, responseBytes: SMALL_RESPONSE_BYTES },
      contenders: ['direct', 'gateway', 'nginx', 'peer'],
      gatewayRoute: { paths: ['/*'] },
    },
    {
      name: 'download-1m',
      title: '1 MiB responses',
      measures: 'Responses of 1 MiB streamed back to the client with backpressure.',
      kind: 'http',
      request: { method: 'GET', path: '/1m', headers: {}, bodyBytes: 0, responseBytes: 1024 * 1024 },
      contenders: ['direct', 'gateway', 'nginx', 'peer'],
      gatewayRoute: { paths: ['/*'] },
    },
    {
      name: 'conns-5k',
      title: '5,000 keep-alive connections',
      measures: '5,000 concurrent keep-alive client connections on the plain route (memory, epoll, fairness).',
      kind: 'http',
      request: plainGet,
      connections: [5000],
      contenders: ['direct', 'gateway', 'nginx', 'peer'],
      gatewayRoute: { paths: ['/*'] },
    },
    {
      name: 'aggregate-3',
      title: 'aggregate of 3 backends',
      measures: 'One client call answered by three parallel upstream calls merged into one JSON object (compare with `proxy`: one upstream call).',
      kind: 'http',
      request: { method: 'GET', path: '/agg', headers: {}, bodyBytes: 0, responseBytes: AGGREGATE_3_BYTES },
      contenders: ['gateway'],
      notApplicable: { nginx: 'nginx has no response aggregation', peer: peerPlainOnly },
      gatewayRoute: {
        paths: ['/agg'],
        aggregate: {
          backends: [
            { upstream: 'app', path: '/a', as: 'a' },
            { upstream: 'app', path: '/b', as: 'b' },
            { upstream: 'app', path: '/c', as: 'c' },
          ],
          timeoutMs: 5000,
        },
      },
    },
    ...[true, false].map((pool): Scenario => ({
      name: pool ? 'aggregate-1m' : 'aggregate-1m-inline',
      title: pool ? '1 MiB aggregate, merged on the offload pool' : '1 MiB aggregate, merged on the event loop',
      measures: pool
        ? 'Aggregates of a 1 MiB and a small JSON answer (the default offloadAboveBytes: the merge runs on the offload pool); a probe request every 10 ms to a `respond` route shows the event-loop delay other requests see.'
        : 'The same with offloadAboveBytes set so high that the merge runs on the event loop: the probe shows what the pool saves.',
      kind: 'http',
      request: { method: 'GET', path: '/agg-1m', headers: {}, bodyBytes: 0, responseBytes: AGGREGATE_1M_BYTES },
      connections: [16],
      contenders: ['gateway'],
      notApplicable: { nginx: 'nginx has no response aggregation', peer: peerPlainOnly },
      gatewayRoute: {
        paths: ['/agg-1m'],
        aggregate: {
          backends: [
            { upstream: 'app', path: '/json-1m', as: 'big' },
            { upstream: 'app', path: '/a', as: 'small' },
          ],
          timeoutMs: 10_000,
          maxBackendBytes: 2 * 1024 * 1024,
          ...(pool ? {} : { offloadAboveBytes: 1024 * 1024 * 1024 }),
        },
      },
      gatewayExtraRoutes: [{ id: 'probe', paths: ['/probe'], respond: { status: 200, body: 'ok' } }],
      probe: { path: '/probe', intervalMs: 10 },
    })),
    {
      name: 'websocket',
      title: 'WebSocket echo relay',
      measures: 'Messages of 64 bytes echoed through a WebSocket relay, one in flight per connection.',
      kind: 'ws',
      request: { method: 'GET', path: '/ws', headers: {}, bodyBytes: 64 },
      contenders: ['direct', 'gateway', 'nginx'],
      notApplicable: { peer: peerPlainOnly },
      gatewayRoute: { paths: ['/ws'] },
      nginxLocation: `proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 300s;`,
    },
    {
      name: 'resilience-on',
      title: 'plain proxy route, retries + circuit breaker + passive health on',
      measures:
        'The `proxy` route and target with `retries` (1 attempt on connect-failure/reset/502/503/504), `circuitBreaker` and `healthCheck.passive` configured, every request succeeding: the success-path cost of the resilience features. ' +
        'Measured against "reference", the gateway with the `proxy` config, in the same alternating rounds; the goal is under 1 µs CPU per request extra.',
      kind: 'http',
      request: plainGet,
      contenders: ['gateway', 'reference'],
      reference: { scenario: 'proxy', label: 'gateway, proxy config' },
      notApplicable: {
        nginx: 'the gateway against itself here (nginx is in `proxy`, where it already retries with proxy_next_upstream and counts max_fails by default)',
        peer: peerPlainOnly,
      },
      upstream: {
        targets: 'single',
        gateway: {
          retries: { attempts: 1, on: ['connect-failure', 'reset', '502', '503', '504'], idempotentOnly: true, budgetPercent: 20 },
          healthCheck: { passive: { consecutiveFailures: 5, ejectMs: 10_000 } },
          circuitBreaker: { maxPendingPerWorker: 1024, failureRatio: 0.5, minRequests: 20, windowMs: 10_000, openMs: 5000 },
        },
      },
      gatewayRoute: { paths: ['/*'] },
    },
    ...lbScenarios(),
  ];
}

interface LbKind {
  kind: 'round-robin' | 'least-connections' | 'consistent-hash' | 'p2c-ewma';
  gateway?: Record<string, unknown>;
  nginx: string;
  nginxMethod: string;
  nginxNote: string;
}

// nginx keeps least_conn / random counts per worker unless the upstream has a `zone`; the
// gateway's least-connections and p2c-ewma in-flight counts are machine-wide (shared memory),
// so nginx gets a zone there. Its round-robin stays per worker, like the gateway's.
const LB_KINDS: LbKind[] = [
  { kind: 'round-robin', nginx: '', nginxMethod: 'round-robin', nginxNote: 'nginx: its default (smooth weighted round-robin, per worker).' },
  {
    kind: 'least-connections',
    nginx: 'zone app 256k;\n    least_conn;',
    nginxMethod: 'least_conn',
    nginxNote: 'nginx: `least_conn` with a `zone`, so its counts are machine-wide like the gateway\'s.',
  },
  {
    kind: 'consistent-hash',
    gateway: { hashOn: 'header:x-user' },
    nginx: 'hash $http_x_user consistent;',
    nginxMethod: 'hash $http_x_user consistent',
    nginxNote: 'Gateway `hashOn: "header:x-user"` (Maglev); nginx: `hash $http_x_user consistent` (ketama).',
  },
  {
    kind: 'p2c-ewma',
    nginx: 'zone app 256k;\n    random two least_conn;',
    nginxMethod: 'random two least_conn',
    nginxNote:
      'nginx open source has no latency-aware balancer: `random two least_conn` (two random targets, the one with fewer active connections, counts in a `zone`) is the closest and stands in; it sees connections, not latency.',
  },
];

function lbScenarios(): Scenario[] {
  const out: Scenario[] = [];
  const lbRequest: RequestSpec = { ...plainGet, keyHeader: { name: 'x-user', count: LB_USERS } };
  for (const k of LB_KINDS) {
    out.push({
      name: `lb-${k.kind}`,
      title: `${k.kind} over ${LB_TARGETS} targets`,
      measures:
        `The plain route over ${LB_TARGETS} equal targets (${LB_TARGETS} ports of the one upstream process) balanced by \`${k.kind}\`` +
        (k.kind === 'round-robin' ? ': the reference of the lb-* scenarios. ' : '; compare with `lb-round-robin` of the same run. ') +
        `Every lb-* request carries \`x-user: user-<n>\`, n cycling 1..${LB_USERS} (bench/wrk-x-user.lua), so the balancer is the only difference between them. ${k.nginxNote}`,
      kind: 'http',
      request: lbRequest,
      contenders: ['gateway', 'nginx'],
      notApplicable: { peer: 'the peer runs as a plain proxy to one target only' },
      upstream: { targets: 'lb', gateway: { balancer: k.kind, ...k.gateway }, nginx: k.nginx, nginxMethod: k.nginxMethod },
      gatewayRoute: { paths: ['/*'] },
      groups: ['lb'],
      optIn: true,
    });
  }
  for (const k of LB_KINDS) {
    if (k.kind === 'consistent-hash') continue; // a hash cannot steer around a slow target by design
    out.push({
      name: `lb-slow-${k.kind}`,
      title: `${k.kind} over ${LB_TARGETS} targets, one ${SLOW_TARGET_DELAY_MS} ms slow`,
      measures:
        `${LB_TARGETS} targets of which one answers ${SLOW_TARGET_DELAY_MS} ms late (a timer in the upstream: it is slow, not busy), balanced by \`${k.kind}\`. ` +
        (k.kind === 'round-robin'
          ? `Round-robin gives it 1/${LB_TARGETS} of the requests whatever it costs, so its ${SLOW_TARGET_DELAY_MS} ms show from p${100 - 100 / LB_TARGETS} up. `
          : k.kind === 'least-connections'
            ? 'Least-connections gives it as many concurrent requests as any other target, i.e. few of the requests but never none. '
            : 'p2c-ewma learns its latency and sends it almost nothing (a probe now and then as its estimate decays). ') +
        `Read p50/p99 and the slow target's share of requests. ${k.nginxNote}`,
      kind: 'http',
      request: plainGet,
      contenders: ['gateway', 'nginx'],
      notApplicable: { peer: 'the peer runs as a plain proxy to one target only' },
      upstream: { targets: 'lb-slow', gateway: { balancer: k.kind, ...k.gateway }, nginx: k.nginx, nginxMethod: k.nginxMethod },
      gatewayRoute: { paths: ['/*'] },
      groups: ['lb', 'lb-slow'],
      optIn: true,
    });
  }
  return out;
}

export const SCENARIO_NAMES = [
  'direct', 'proxy', 'plugins', 'plugins-user', 'jwt-hs256', 'jwt-rs256', 'post-64k', 'download-1m', 'conns-5k', 'aggregate-3', 'aggregate-1m', 'aggregate-1m-inline',
  'websocket',
  'resilience-on',
  'lb-round-robin', 'lb-least-connections', 'lb-consistent-hash', 'lb-p2c-ewma',
  'lb-slow-round-robin', 'lb-slow-least-connections', 'lb-slow-p2c-ewma',
];

/** Scenario groups `--scenario` accepts: `default` (what runs without --scenario), `all`, and the scenarios' groups. */
export function scenarioGroups(): Record<string, string[]> {
  const list = scenarios(STUB_FIXTURES);
  const groups: Record<string, string[]> = {
    default: list.filter((s) => !s.optIn).map((s) => s.name),
    all: list.map((s) => s.name),
  };
  for (const s of list) for (const g of s.groups ?? []) (groups[g] ??= []).push(s.name);
  return groups;
}

/** Expands `--scenario` words (names and groups) into scenario names, in the suite's order; unknown words are returned apart. */
export function selectScenarios(words: string[]): { selected: string[]; unknown: string[] } {
  const groups = scenarioGroups();
  const want = new Set<string>();
  const unknown: string[] = [];
  for (const w of words.length === 0 ? ['default'] : words) {
    if (groups[w]) for (const n of groups[w]) want.add(n);
    else if (SCENARIO_NAMES.includes(w)) want.add(w);
    else unknown.push(w);
  }
  return { selected: SCENARIO_NAMES.filter((n) => want.has(n)), unknown };
}

/** Fixtures for listing scenarios (names, groups); nothing is written. */
const STUB_FIXTURES: Fixtures = { dir: '', apiKey: '', jwtSecret: '', hs256Token: '', rsaPublicKeyFile: '', rs256Token: '', noopPluginFile: '' };

/** The gateway config a scenario runs with. */
export function gatewayConfig(s: Scenario, ctx: BenchContext, port: number, engine: 'native' | 'undici' | null = null): Record<string, unknown> {
  const ports = ctx.targetPorts[s.upstream?.targets ?? 'single'];
  const app: Record<string, unknown> = { targets: ports.map((p) => ({ url: `http://127.0.0.1:${p}` })), connectionsPerWorker: ctx.upstreamPool, ...s.upstream?.gateway };
  // `engine` only when asked for: a baseline checkout from before the field would refuse it.
  if (engine !== null) app.engine = engine;
  return {
    listen: { host: '127.0.0.1', port },
    workers: ctx.workers,
    accessLog: false,
    upstreams: { app },
    ...s.gatewayTop,
    routes: [{ id: s.name, upstream: s.gatewayRoute.aggregate ? undefined : 'app', ...s.gatewayRoute }, ...(s.gatewayExtraRoutes ?? [])],
  };
}
