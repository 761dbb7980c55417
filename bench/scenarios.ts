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

/** `baseline` is another checkout of the gateway (--baseline DIR): before/after in the same run. */
export type ContenderName = 'direct' | 'gateway' | 'baseline' | 'nginx' | 'peer';

export interface RequestSpec {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  /** Request body size (POST), 0 for none. */
  bodyBytes: number;
  /** Expected response body size, for the sanity check before measuring. */
  responseBytes?: number;
}

/** What every scenario's configuration is built from. */
export interface BenchContext {
  workers: number;
  upstreamPort: number;
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
      measures: 'One client call answered by three parallel upstream calls merged into one JSON object.',
      kind: 'http',
      request: { method: 'GET', path: '/agg', headers: {}, bodyBytes: 0 },
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
  ];
}

export const SCENARIO_NAMES = [
  'direct', 'proxy', 'plugins', 'plugins-user', 'jwt-hs256', 'jwt-rs256', 'post-64k', 'download-1m', 'conns-5k', 'aggregate-3', 'websocket',
];

/** The gateway config a scenario runs with. */
export function gatewayConfig(s: Scenario, ctx: BenchContext, port: number): Record<string, unknown> {
  return {
    listen: { host: '127.0.0.1', port },
    workers: ctx.workers,
    accessLog: false,
    upstreams: {
      app: { targets: [{ url: `http://127.0.0.1:${ctx.upstreamPort}` }], connectionsPerWorker: ctx.upstreamPool },
    },
    ...s.gatewayTop,
    routes: [{ id: s.name, upstream: s.gatewayRoute.aggregate ? undefined : 'app', ...s.gatewayRoute }],
  };
}
