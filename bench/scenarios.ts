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
import { JSON_1M_BYTES, JSON_1M_PATH, JSON_SIZES_KIB, OTLP_PATH, SMALL_RESPONSE_BYTES, jsonPath } from './upstream-api.js';

/**
 * `baseline` is another checkout of the gateway (--baseline DIR): before/after in the same run.
 * `reference` is this gateway with another scenario's config or another request
 * (Scenario.reference), alternating in the same rounds: a feature's cost measured against the
 * config without it. nginx, haproxy and caddy are the servers users pick instead of a Node
 * gateway (bench/contenders/servers.ts); `peer` is a popular Node proxy (fastify). The floors
 * (--with-floors, `proxy` only) are the gateway's upstream engine with nothing of the gateway
 * around it (bench/contenders/floor.ts).
 */
export type ContenderName = 'direct' | 'gateway' | 'reference' | 'baseline' | 'floor-engine' | 'floor-addon' | 'nginx' | 'haproxy' | 'caddy' | 'peer';

/** The reverse proxies measured beside the gateway when they are installed, in report order. */
export const SERVER_PEERS = ['nginx', 'haproxy', 'caddy'] as const;
export type ServerPeer = (typeof SERVER_PEERS)[number];

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
  /**
   * A response header the sanity check wants (case-insensitive value), e.g. `x-cache: HIT` or
   * `content-type: application/msgpack`; `primed`: asked again until it shows (a cache's misses first).
   */
  expect?: { header: string; value: string; primed?: boolean };
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
  /** The upstream process's OTLP/HTTP sink (POST /v1/traces), for `tracing`. */
  otlpPort: number;
  fixtures: Fixtures;
}

/** haproxy additions of a scenario (bench/contenders/haproxy.ts), as haproxy.cfg lines. */
export interface HaproxySpec {
  /** Sections after the proxies (a `cache` section). */
  sections?: string;
  /** Lines of the frontend, before its default_backend. */
  frontend?: string;
  /** Lines of the backend, before its servers. */
  backend?: string;
}

/** Caddy additions of a scenario (bench/contenders/caddy.ts), as Caddyfile lines. */
export interface CaddySpec {
  /** Directives of the site block, before reverse_proxy. */
  site?: string;
  /** Subdirectives of reverse_proxy. */
  proxy?: string;
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
  /** Top-level gateway config additions (consumers, tracing). */
  gatewayTop?: Record<string, unknown> | ((ctx: BenchContext) => Record<string, unknown>);
  /** Extra nginx directives: http block (given nginx's prefix directory, for cache paths), and the proxy location. */
  nginxHttp?: string | ((prefix: string) => string);
  nginxLocation?: string;
  haproxy?: HaproxySpec;
  caddy?: CaddySpec;
  /**
   * A table of this many routes (`/svc-<i>/*`, i = 1..n) instead of the one route, the same in every
   * contender (nginx locations, a haproxy map, Caddy `handle` blocks); the request names one in the
   * middle.
   */
  routeTable?: number;
  /** Load at a fixed request rate (--rate) from the open-loop client instead of wrk's closed loop. */
  openLoop?: boolean;
  /** Environment the gateway needs for this config (env: secrets). */
  env?: Record<string, string>;
  /** The `app` upstream's targets and settings; absent: the one plain target. */
  upstream?: UpstreamSpec;
  /**
   * The `reference` contender, alternating with the gateway in the same rounds: the gateway with
   * another scenario's config (`scenario`; default: this one) and/or another request (`request`;
   * default: this one's).
   */
  reference?: { scenario?: string; request?: RequestSpec; label: string };
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
  /** msgpack-*: the KiB of JSON converted per request (the report's µs per KiB). */
  convertedKiB?: number;
  /** tracing-*: the sampleRatio (the report's cost per request by ratio, and spans per request). */
  tracingRatio?: number;
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

/** {"a":<small>,"b":<small>,"c":<small>} */
const AGGREGATE_3_BYTES = 2 + 3 * '"a":'.length + 3 * SMALL_RESPONSE_BYTES + 2;
/** {"big":<JSON_1M_BYTES>,"small":<small>} */
const AGGREGATE_1M_BYTES = 2 + '"big":'.length + JSON_1M_BYTES + 1 + '"small":'.length + SMALL_RESPONSE_BYTES;

const plainGet: RequestSpec = { method: 'GET', path: '/', headers: {}, bodyBytes: 0, responseBytes: SMALL_RESPONSE_BYTES };

/** What a browser sends for a page (Chromium 131 on Linux): 14 header lines besides Host, about 700 bytes. */
const BROWSER_HEADERS: Record<string, string> = {
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7',
  'accept-language': 'en-US,en;q=0.9,de;q=0.8',
  'accept-encoding': 'gzip, deflate, br, zstd',
  cookie: 'session=3f9a8c7e6d5b4a3f2e1d0c9b8a7f6e5d; _ga=GA1.1.123456789.1700000000; theme=dark; consent=yes',
  referer: 'https://shop.example.com/catalog/items?page=2',
  'sec-ch-ua': '"Chromium";v="131", "Not_A Brand";v="24"',
  'sec-ch-ua-mobile': '?0',
  'sec-ch-ua-platform': '"Linux"',
  'sec-fetch-dest': 'document',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-site': 'same-origin',
  'upgrade-insecure-requests': '1',
  'cache-control': 'max-age=0',
};

export function scenarios(fx: Fixtures): Scenario[] {
  const jwtPlugin = (extra: Record<string, unknown>) => ({ ...extra, issuer: ISSUER, audience: AUDIENCE });
  const noNginxJwt = 'nginx (open source) cannot verify JWTs without njs or nginx Plus';
  const noCaddyJwt = 'the standard Caddy build cannot verify JWTs (it needs a plugin)';
  const notWiredJwt = 'haproxy 2.5+ can verify JWTs (jwt_verify), not measured by the suite yet';
  const peerPlainOnly = 'the peer runs as a plain proxy only';
  const gatewayOnly = (what: string): Partial<Record<ContenderName, string>> => ({
    nginx: `nginx has no ${what}`,
    haproxy: `haproxy has no ${what}`,
    caddy: `Caddy has no ${what}`,
    peer: peerPlainOnly,
  });
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
      contenders: ['gateway', 'floor-engine', 'floor-addon', 'nginx', 'haproxy', 'caddy', 'peer'],
      gatewayRoute: { paths: ['/*'] },
    },
    {
      name: 'browser-head',
      title: "plain proxy route, a browser's request head",
      measures:
        "The `proxy` route with the head a browser sends for a page (14 header lines and a cookie, about 700 bytes): the cost of reading, filtering and forwarding real-world request headers.",
      kind: 'http',
      request: { ...plainGet, headers: BROWSER_HEADERS },
      contenders: ['gateway', 'nginx', 'haproxy', 'caddy', 'peer'],
      gatewayRoute: { paths: ['/*'] },
    },
    {
      name: 'plugins',
      title: 'rate limit + apiKey + request id + header transforms',
      measures:
        'A route with a rate limit that is never hit, API-key authentication, a generated request id and request/response header transforms.',
      kind: 'http',
      request: { ...plainGet, headers: { 'x-api-key': fx.apiKey } },
      contenders: ['gateway', 'nginx', 'haproxy'],
      notApplicable: { caddy: 'the standard Caddy build has no rate limiter (it needs the caddy-ratelimit plugin)', peer: peerPlainOnly },
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
      // haproxy: a request-rate counter per source address in a stick table (shared by the
      // threads) checked against the limit, the key compared, a uuid request id both ways.
      haproxy: {
        frontend: `stick-table type ip size 100k expire 30s store http_req_rate(1s)
  http-request track-sc0 src
  http-request deny deny_status 429 if { sc_http_req_rate(0) gt 10000000 }
  http-request deny deny_status 401 unless { req.hdr(x-api-key) -m str ${fx.apiKey} }
  http-request set-var(txn.request_id) uuid
  http-request set-header X-Request-Id %[var(txn.request_id)]
  http-response set-header X-Request-Id %[var(txn.request_id)]
  http-request set-header X-Bench 1
  http-request del-header X-Internal
  http-response del-header X-Powered-By
  http-response set-header X-Served-By bench`,
      },
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
      notApplicable: { nginx: noNginxJwt, haproxy: notWiredJwt, caddy: noCaddyJwt, peer: peerPlainOnly },
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
      notApplicable: { nginx: noNginxJwt, haproxy: notWiredJwt, caddy: noCaddyJwt, peer: peerPlainOnly },
      gatewayRoute: { paths: ['/*'], plugins: { jwt: jwtPlugin({ publicKeyFile: fx.rsaPublicKeyFile, algorithms: ['RS256'] }) } },
    },
    {
      name: 'post-64k',
      title: 'POST 64 KiB bodies',
      measures: 'Request bodies of 64 KiB streamed to the upstream (small answers).',
      kind: 'http',
      request: { method: 'POST', path: '/upload', headers: { 'content-type': 'application/octet-stream' }, bodyBytes: 64 * 1024, responseBytes: SMALL_RESPONSE_BYTES },
      contenders: ['direct', 'gateway', 'nginx', 'haproxy', 'caddy', 'peer'],
      gatewayRoute: { paths: ['/*'] },
    },
    {
      name: 'download-1m',
      title: '1 MiB responses',
      measures: 'Responses of 1 MiB streamed back to the client with backpressure.',
      kind: 'http',
      request: { method: 'GET', path: '/1m', headers: {}, bodyBytes: 0, responseBytes: 1024 * 1024 },
      contenders: ['direct', 'gateway', 'nginx', 'haproxy', 'caddy', 'peer'],
      gatewayRoute: { paths: ['/*'] },
    },
    {
      name: 'conns-5k',
      title: '5,000 keep-alive connections',
      measures: '5,000 concurrent keep-alive client connections on the plain route (memory, epoll, fairness).',
      kind: 'http',
      request: plainGet,
      connections: [5000],
      contenders: ['direct', 'gateway', 'nginx', 'haproxy', 'caddy', 'peer'],
      gatewayRoute: { paths: ['/*'] },
    },
    {
      name: 'aggregate-3',
      title: 'aggregate of 3 backends',
      measures: 'One client call answered by three parallel upstream calls merged into one JSON object (compare with `proxy`: one upstream call).',
      kind: 'http',
      request: { method: 'GET', path: '/agg', headers: {}, bodyBytes: 0, responseBytes: AGGREGATE_3_BYTES },
      contenders: ['gateway'],
      notApplicable: gatewayOnly('response aggregation'),
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
            { upstream: 'app', path: JSON_1M_PATH, as: 'big' },
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
      contenders: ['direct', 'gateway', 'nginx', 'haproxy', 'caddy'],
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
        haproxy: 'the gateway against itself here (haproxy is in `proxy`)',
        caddy: 'the gateway against itself here (Caddy is in `proxy`)',
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
    {
      name: 'open-loop',
      title: 'plain proxy route at a fixed request rate',
      measures:
        `The \`proxy\` route under a fixed request rate (\`--rate\`, default ${DEFAULT_OPEN_LOOP_RATE.toLocaleString('en-US')} req/s) from the suite's open-loop client over the given connections: ` +
        'requests leave on a schedule whatever the answers do, and each latency is counted from its scheduled send time, so a stall shows as the queue it builds (no coordinated omission); ' +
        'wrk\'s closed loop measures latency at saturation only. CPU µs/req here is at that rate, not at saturation.',
      kind: 'http',
      request: plainGet,
      openLoop: true,
      contenders: ['direct', 'gateway', 'nginx', 'haproxy', 'caddy', 'peer'],
      gatewayRoute: { paths: ['/*'] },
    },
    ...ROUTE_TABLE_SIZES.map((n): Scenario => ({
      name: `routes-${n}`,
      title: `${n.toLocaleString('en-US')} route${n === 1 ? '' : 's'}, the request for one in the middle`,
      measures:
        `A table of ${n.toLocaleString('en-US')} prefix route${n === 1 ? '' : 's'} \`/svc-<i>/*\` to the one upstream; every request is for route ${routeTableMiddle(n)}, in the middle. ` +
        'nginx has as many prefix locations, haproxy a map looked up with map_beg, Caddy as many `handle` blocks; compare each contender with its own routes-1.',
      kind: 'http',
      request: { ...plainGet, path: `/svc-${routeTableMiddle(n)}/item` },
      routeTable: n,
      contenders: ['gateway', 'nginx', 'haproxy', 'caddy'],
      notApplicable: { peer: peerPlainOnly },
      gatewayRoute: {},
      groups: ['routes'],
    })),
    {
      name: 'cache-hit',
      title: 'response cache, every request a hit on one key',
      measures:
        'The plain route with the `cache` plugin (ttlMs 1 h), every request for the one cached key after a first miss: answered without the upstream. ' +
        'Against "reference", the gateway with the `proxy` config (every request proxied), in the same rounds; nginx with `proxy_cache` (a proxy_cache_path in the temp dir, proxy_cache_valid 200 1h); ' +
        'haproxy with its `cache` (the backend gives the answer `Cache-Control: max-age=3600`: haproxy stores only answers with a lifetime or a validator).',
      kind: 'http',
      request: { ...plainGet, expect: { header: 'x-cache', value: 'HIT', primed: true } },
      contenders: ['gateway', 'reference', 'nginx', 'haproxy'],
      reference: { scenario: 'proxy', request: plainGet, label: 'gateway, proxy config (every request proxied)' },
      notApplicable: { caddy: 'the standard Caddy build has no response cache (it needs the cache-handler plugin)', peer: peerPlainOnly },
      gatewayRoute: { paths: ['/*'], plugins: { cache: { ttlMs: 3_600_000 } } },
      nginxHttp: (prefix) => `proxy_cache_path ${join(prefix, 'cache')} levels=1:2 keys_zone=bench:10m max_size=64m inactive=1h use_temp_path=off;`,
      nginxLocation: `proxy_cache bench;
      proxy_cache_valid 200 1h;
      proxy_cache_lock on;
      add_header X-Cache $upstream_cache_status always;`,
      haproxy: {
        sections: 'cache bench\n  total-max-size 64\n  max-age 3600',
        frontend: 'http-request cache-use bench\n  http-response cache-store bench\n  http-response set-header X-Cache HIT if { res.cache_hit }',
        backend: 'http-response set-header Cache-Control "max-age=3600"',
      },
    },
    ...JSON_SIZES_KIB.map((kib): Scenario => {
      const json: RequestSpec = { method: 'GET', path: jsonPath(kib), headers: {}, bodyBytes: 0, responseBytes: kib * 1024 };
      return {
        name: `msgpack-${kib}k`,
        title: `a ${kib} KiB JSON answer converted to MessagePack`,
        measures:
          `The route with the \`encoding\` plugin; the upstream answers a ${kib} KiB JSON document, the client sends \`Accept: application/msgpack\` and gets MessagePack. ` +
          'Against "reference": the same gateway, route and answer without that Accept (the JSON passed through), in the same rounds; the CPU difference ÷ KiB is the conversion cost per KiB.',
        kind: 'http',
        request: { ...json, headers: { accept: 'application/msgpack' }, responseBytes: undefined, expect: { header: 'content-type', value: 'application/msgpack' } },
        contenders: ['gateway', 'reference'],
        reference: { request: json, label: 'gateway, same route, JSON (no Accept)' },
        notApplicable: gatewayOnly('JSON to MessagePack conversion'),
        gatewayRoute: { paths: ['/*'], plugins: { encoding: { msgpack: true } } },
        convertedKiB: kib,
        groups: ['msgpack'],
      };
    }),
    ...TRACING_RATIOS.map((ratio): Scenario => ({
      name: `tracing-${ratio}`,
      title: `tracing at sampleRatio ${ratio}`,
      measures:
        `The plain route with \`tracing\` set (sampleRatio ${ratio}, OTLP/HTTP JSON to the upstream process's sink on its own port): every request a new trace (wrk sends no traceparent), ` +
        `${ratio === 0 ? 'none' : ratio === 1 ? 'every one' : `${ratio * 100} %`} of them recorded (a server and an upstream span: the route has no plugins) and exported in batches. ` +
        'Against "reference", the gateway with the `proxy` config (trace context propagated, no `tracing`), in the same rounds; the sink counts the spans it received.',
      kind: 'http',
      request: plainGet,
      contenders: ['gateway', 'reference'],
      reference: { scenario: 'proxy', label: 'gateway, proxy config (no tracing)' },
      notApplicable: {
        nginx: 'nginx 1.22 (Debian) has no OpenTelemetry module',
        haproxy: 'the Debian haproxy 2.6 build has no OpenTelemetry filter',
        caddy: "Caddy's `tracing` exports OTLP over gRPC, not to this OTLP/HTTP JSON sink: not measured",
        peer: peerPlainOnly,
      },
      gatewayTop: (ctx) => ({ tracing: { sampleRatio: ratio, otlp: { url: `http://127.0.0.1:${ctx.otlpPort}${OTLP_PATH}` }, serviceName: 'gateway-bench' } }),
      gatewayRoute: { paths: ['/*'] },
      tracingRatio: ratio,
      groups: ['tracing'],
    })),
    ...lbScenarios(),
  ];
}

/** Requests per second of the open-loop scenario unless --rate says otherwise. */
export const DEFAULT_OPEN_LOOP_RATE = 5000;
/** Route table sizes of the routes-* scenarios. */
export const ROUTE_TABLE_SIZES = [1, 100, 10_000];
/** sampleRatio of the tracing-* scenarios. */
export const TRACING_RATIOS = [0, 0.01, 1];
/** Spans a recorded request of the tracing-* route gives: server + upstream (no plugins, so no `plugins` span). */
export const TRACING_SPANS_PER_SAMPLED_REQUEST = 2;

/** The prefixes of a route table of `n` routes: `/svc-1/` ... `/svc-<n>/`. */
export function routeTablePaths(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `/svc-${i + 1}/`);
}

/** The route a routes-* request is for: the one in the middle of the table. */
export function routeTableMiddle(n: number): number {
  return Math.ceil(n / 2);
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

const lbNotApplicable: Partial<Record<ContenderName, string>> = {
  haproxy: 'not in the balancer scenarios (nginx stands for the servers there)',
  caddy: 'not in the balancer scenarios (nginx stands for the servers there)',
  peer: 'the peer runs as a plain proxy to one target only',
};

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
      notApplicable: lbNotApplicable,
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
      notApplicable: lbNotApplicable,
      upstream: { targets: 'lb-slow', gateway: { balancer: k.kind, ...k.gateway }, nginx: k.nginx, nginxMethod: k.nginxMethod },
      gatewayRoute: { paths: ['/*'] },
      groups: ['lb', 'lb-slow'],
      optIn: true,
    });
  }
  return out;
}

export const SCENARIO_NAMES = [
  'direct', 'proxy', 'browser-head', 'plugins', 'plugins-user', 'jwt-hs256', 'jwt-rs256', 'post-64k', 'download-1m', 'conns-5k', 'aggregate-3', 'aggregate-1m', 'aggregate-1m-inline',
  'websocket',
  'resilience-on', 'open-loop',
  ...ROUTE_TABLE_SIZES.map((n) => `routes-${n}`),
  'cache-hit',
  ...JSON_SIZES_KIB.map((k) => `msgpack-${k}k`),
  ...TRACING_RATIOS.map((r) => `tracing-${r}`),
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
  const routes =
    s.routeTable !== undefined
      ? routeTablePaths(s.routeTable).map((p, i) => ({ id: `svc-${i + 1}`, paths: [`${p}*`], upstream: 'app' }))
      : [{ id: s.name, upstream: s.gatewayRoute.aggregate ? undefined : 'app', ...s.gatewayRoute }, ...(s.gatewayExtraRoutes ?? [])];
  return {
    listen: { host: '127.0.0.1', port },
    workers: ctx.workers,
    accessLog: false,
    upstreams: { app },
    ...(typeof s.gatewayTop === 'function' ? s.gatewayTop(ctx) : s.gatewayTop),
    routes,
  };
}
