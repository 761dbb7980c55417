/**
 * The admin API on the real gateway: token required (except /healthz), readiness, the config
 * in force with secrets redacted, reload over HTTP (good and bad), Prometheus metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { request } from 'undici';
import { echoUpstream, freePort, sleep, startGateway, type Gateway, type Upstream } from '../helpers/gateway.js';

const TOKEN = 'admin-token-for-tests-0123456789';
let up: Upstream;
let gw: Gateway;
let adminPort: number;

function configFor(body: string) {
  return {
    workers: 2,
    listen: { host: '127.0.0.1', port: gw?.port },
    admin: { host: '127.0.0.1', port: adminPort, token: 'env:TEST_ADMIN_TOKEN' },
    upstreams: { app: { targets: [{ url: up.url }] } },
    // Header values the operator sets may be credentials under any name: all are redacted.
    plugins: {
      requestHeaders: { set: { 'x-auth': 'HDR-SECRET-auth', 'x-access-key': 'HDR-SECRET-access', 'x-private-key': 'HDR-SECRET-private' } },
      responseHeaders: { set: { 'x-signature': 'HDR-SECRET-signature' } },
    },
    routes: [
      { id: 'app', paths: ['/app/*'], upstream: 'app', plugins: { requestHeaders: { set: { 'x-jwt': 'HDR-SECRET-jwt', 'x-pass': 'HDR-SECRET-pass' } } } },
      { id: 'v', paths: ['/v'], respond: { status: 200, body, headers: { 'x-stub-token': 'HDR-SECRET-respond' } } },
      { id: 'h', paths: ['/h'], headers: { 'x-tenant': 'HDR-SECRET-match' }, respond: { status: 200 } },
    ],
  };
}

beforeAll(async () => {
  up = await echoUpstream();
  adminPort = await freePort();
  const cfg = configFor('one');
  gw = await startGateway(cfg as never, { env: { TEST_ADMIN_TOKEN: TOKEN } });
  await gw.waitForLog('"admin API listening"');
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

async function admin(method: 'GET' | 'POST', path: string, token: string | null = TOKEN) {
  const res = await request(`http://127.0.0.1:${adminPort}${path}`, {
    method,
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

describe('admin API', () => {
  it('/healthz needs no token; everything else does', async () => {
    expect((await admin('GET', '/healthz', null)).status).toBe(200);
    const noToken = await admin('GET', '/config', null);
    expect(noToken.status).toBe(401);
    expect(noToken.json().error.code).toBe('unauthorized');
    expect((await admin('GET', '/config', 'wrong-token')).status).toBe(401);
  });

  it('/readyz is 200 once every worker serves', async () => {
    const r = await admin('GET', '/readyz');
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ status: 'ready', workers: 2 });
  });

  it('/config shows the config in force with the token redacted', async () => {
    const r = await admin('GET', '/config');
    expect(r.status).toBe(200);
    expect(r.text).not.toContain(TOKEN);
    expect(r.json().config.admin.token).toBe('[redacted]');
    expect(r.json().config.routes[0].id).toBe('app');
  });

  it('/config redacts every header value the operator sets or matches, whatever the header is called', async () => {
    const r = await admin('GET', '/config');
    expect(r.status).toBe(200);
    expect(r.text).not.toContain('HDR-SECRET');
    const c = r.json().config;
    expect(c.plugins.requestHeaders.set).toEqual({ 'x-auth': '[redacted]', 'x-access-key': '[redacted]', 'x-private-key': '[redacted]' });
    expect(c.plugins.responseHeaders.set).toEqual({ 'x-signature': '[redacted]' });
    expect(c.routes[0].plugins.requestHeaders.set).toEqual({ 'x-jwt': '[redacted]', 'x-pass': '[redacted]' });
    expect(c.routes[1].respond.headers).toEqual({ 'x-stub-token': '[redacted]' });
    expect(c.routes[2].headers).toEqual({ 'x-tenant': '[redacted]' });
    // The names stay readable, and the gateway still uses the values.
    const v = await request(`${gw.url}/v`);
    await v.body.dump();
    expect(v.headers['x-stub-token']).toBe('HDR-SECRET-respond');
  });

  it('POST /reload applies a valid file and refuses an invalid one, keeping the old config', async () => {
    writeFileSync(gw.configPath, JSON.stringify(configFor('two')));
    const ok = await admin('POST', '/reload');
    expect(ok.status).toBe(200);
    expect(ok.json().version).toBe(2);
    const v = await request(gw.url + '/v');
    expect(await v.body.text()).toBe('two');

    const bad = configFor('three') as Record<string, unknown>;
    (bad.routes as Array<Record<string, unknown>>)[0].upstream = 'missing';
    writeFileSync(gw.configPath, JSON.stringify(bad));
    const refused = await admin('POST', '/reload');
    expect(refused.status).toBe(400);
    expect(refused.json().version).toBe(2);
    expect(refused.json().errors).toContainEqual(expect.objectContaining({ pointer: '/routes/0/upstream' }));
    const still = await request(gw.url + '/v');
    expect(await still.body.text()).toBe('two');
  });

  it('/metrics counts requests by route and status, with latency histograms', async () => {
    for (let i = 0; i < 5; i++) await (await request(gw.url + '/app/x')).body.text();
    await (await request(gw.url + '/missing')).body.text();
    await sleep(1500); // workers flush every second
    const r = await admin('GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toContain('text/plain');
    const appCount = /gateway_requests_total\{route="app",status="200"\} (\d+)/.exec(r.text);
    expect(Number(appCount?.[1])).toBeGreaterThanOrEqual(5);
    expect(r.text).toMatch(/gateway_requests_total\{route="",status="404"\} [1-9]/);
    expect(r.text).toMatch(/gateway_request_duration_seconds_bucket\{route="app",le="\+Inf"\} [1-9]/);
    expect(r.text).toMatch(/gateway_request_duration_hdr_seconds\{route="app",quantile="0.99"\} /);
    expect(r.text).toContain('gateway_worker_restarts_total 0');
  });

  it('/upstreams lists targets with the workers\' open connections, in flight and waiting requests', async () => {
    // Keep-alive traffic through both workers, then the next report (every second) shows it.
    await Promise.all(Array.from({ length: 20 }, () => request(gw.url + '/app/x').then((r) => r.body.text())));
    let t: { url: string; weight: number; openConnections: number; inflight: number; queued: number; stuckConnections: number } | undefined;
    for (let i = 0; i < 30; i++) {
      t = (await admin('GET', '/upstreams')).json().app.targets[0];
      // (A report taken while the requests were still running shows them in flight: wait for the next.)
      if (t!.openConnections > 0 && t!.inflight === 0) break;
      await sleep(100);
    }
    expect(t).toMatchObject({ url: up.url, weight: 1, inflight: 0, queued: 0, stuckConnections: 0 });
    expect(t!.openConnections).toBeGreaterThanOrEqual(1);
    expect((await admin('GET', '/readyz')).json().status).toBe('ready');
  });
});
