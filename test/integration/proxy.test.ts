/**
 * The proxy engine end to end: real gateway (primary + 2 workers), real upstreams, real clients.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, Agent } from 'undici';
import { echoUpstream, startGateway, startUpstream, rawRequest, rawSequence, type Gateway, type Upstream, fetchText } from '../helpers/gateway.js';

let users: Upstream;
let orders: Upstream;
let weighted: [Upstream, Upstream];
let special: Upstream;
let gw: Gateway;

beforeAll(async () => {
  users = await echoUpstream({ 'x-from': 'users' });
  orders = await echoUpstream({ 'x-from': 'orders' });
  weighted = [await echoUpstream({ 'x-target': 'a' }), await echoUpstream({ 'x-target': 'b' })];
  special = await startUpstream((req, res) => {
    const url = new URL(req.url!, 'http://x');
    switch (url.pathname) {
      case '/hop':
        res.writeHead(200, {
          connection: 'keep-alive, x-hop-secret',
          'x-hop-secret': 'must not leak',
          'keep-alive': 'timeout=5',
          'proxy-authenticate': 'Basic',
          'x-kept': 'yes',
          'content-length': 2,
        });
        return res.end('ok');
      case '/no-content':
        res.writeHead(204);
        return res.end();
      case '/not-modified':
        res.writeHead(304, { etag: '"v1"' });
        return res.end();
      case '/chunked':
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('chunk-one,');
        setTimeout(() => res.end('chunk-two'), 20);
        return;
      case '/status/418':
        res.writeHead(418, { 'content-type': 'text/plain', 'content-length': 6 });
        return res.end('teapot');
      default:
        res.writeHead(200, { 'content-length': 4 });
        return res.end(req.method === 'HEAD' ? undefined : 'body');
    }
  });
  gw = await startGateway({
    trustedProxies: [],
    upstreams: {
      users: { targets: [{ url: users.url }], connectionsPerWorker: 4 },
      orders: { targets: [{ url: orders.url }] },
      weighted: { targets: [{ url: weighted[0].url, weight: 3 }, { url: weighted[1].url, weight: 1 }] },
      special: { targets: [{ url: special.url }] },
    },
    routes: [
      { id: 'users', methods: ['GET', 'POST'], paths: ['/api/users', '/api/users/:id'], upstream: 'users', stripPrefix: '/api' },
      { id: 'user-orders', methods: ['GET'], paths: ['/api/users/:id/orders'], upstream: 'orders', rewrite: '/orders/by-user/{id}' },
      { id: 'host-kept', paths: ['/preserve'], upstream: 'users', preserveHost: true },
      { id: 'weighted', paths: ['/weighted'], upstream: 'weighted' },
      { id: 'special', paths: ['/special/*'], upstream: 'special', stripPrefix: '/special' },
      { id: 'v2-by-header', paths: ['/versioned'], headers: { 'x-api-version': '2' }, upstream: 'orders' },
      { id: 'v1-default', paths: ['/versioned'], upstream: 'users' },
      { id: 'stub', paths: ['/stub'], respond: { status: 201, headers: { 'content-type': 'text/plain', 'x-stub': '1' }, body: 'hello' } },
    ],
  });
});

afterAll(async () => {
  await gw?.stop();
  await Promise.all([users, orders, special, ...weighted].map((u) => u?.close()));
});

const get = (path: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' | 'POST' | 'DELETE' = 'GET') =>
  fetchText(gw.url + path, headers, method);

describe('routing and forwarding', () => {
  it('proxies with stripPrefix, keeps the query byte for byte, and sets the target Host', async () => {
    const r = await get('/api/users/42?b=2&a=%20x&a=1');
    expect(r.status).toBe(200);
    expect(r.headers['x-from']).toBe('users');
    const seen = r.json();
    expect(seen.url).toBe('/users/42?b=2&a=%20x&a=1');
    expect(seen.headers.host).toBe(`127.0.0.1:${users.port}`);
  });

  it('rewrites with {param}', async () => {
    const r = await get('/api/users/7/orders?x=1');
    expect(r.headers['x-from']).toBe('orders');
    expect(r.json().url).toBe('/orders/by-user/7?x=1');
  });

  it('forwards the client Host with preserveHost', async () => {
    const r = await get('/preserve', { host: 'client.example:8443' });
    expect(r.json().headers.host).toBe('client.example:8443');
  });

  it('adds X-Forwarded-For/-Proto/-Host and Via, and ignores spoofed X-Forwarded-* from untrusted peers', async () => {
    const r = await get('/api/users', { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil', via: '1.0 client-proxy' });
    const h = r.json().headers;
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-forwarded-host']).toBe(`127.0.0.1:${gw.port}`);
    expect(h.via).toBe('1.0 client-proxy, 1.1 gateway');
    expect(r.headers.via).toMatch(/1\.1 gateway/);
  });

  it('strips hop-by-hop request headers, including those named in Connection', async () => {
    const raw = await rawRequest(
      gw.port,
      `GET /api/users HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, x-drop-me\r\nX-Drop-Me: secret\r\nKeep-Alive: 5\r\nTE: trailers\r\nProxy-Authorization: Basic abc\r\nX-Keep: 1\r\n\r\n`,
      800,
    );
    const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
    expect(body.headers['x-keep']).toBe('1');
    for (const h of ['x-drop-me', 'keep-alive', 'te', 'proxy-authorization']) expect(body.headers[h]).toBeUndefined();
  });

  it('strips hop-by-hop response headers, including those named in Connection', async () => {
    const r = await get('/special/hop');
    expect(r.status).toBe(200);
    expect(r.text).toBe('ok');
    expect(r.headers['x-kept']).toBe('yes');
    expect(r.headers['x-hop-secret']).toBeUndefined();
    expect(r.headers['keep-alive']).toBeUndefined();
    expect(r.headers['proxy-authenticate']).toBeUndefined();
  });

  it('chooses between routes on one path by header match', async () => {
    expect((await get('/versioned', { 'x-api-version': '2' })).headers['x-from']).toBe('orders');
    expect((await get('/versioned', { 'x-api-version': '1' })).headers['x-from']).toBe('users');
    expect((await get('/versioned')).headers['x-from']).toBe('users');
  });

  it('answers respond routes directly', async () => {
    const r = await get('/stub');
    expect(r.status).toBe(201);
    expect(r.text).toBe('hello');
    expect(r.headers['x-stub']).toBe('1');
  });

  it('spreads over weighted targets 3:1', async () => {
    const counts = { a: 0, b: 0 };
    for (let i = 0; i < 80; i++) counts[(await get('/weighted')).headers['x-target'] as 'a' | 'b']++;
    // Each worker runs its own smooth WRR, so every 4 picks per worker are a,a,b,a in some order.
    expect(counts.a).toBeGreaterThanOrEqual(54);
    expect(counts.a).toBeLessThanOrEqual(66);
    expect(counts.a + counts.b).toBe(80);
  });
});

describe('gateway errors are JSON with the right status', () => {
  it('404 for no route', async () => {
    const r = await get('/nope');
    expect(r.status).toBe(404);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.json()).toEqual({ error: { status: 404, code: 'not_found', message: expect.any(String) } });
  });

  it('405 with Allow for a known path and another method', async () => {
    const r = await get('/api/users', {}, 'DELETE');
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('GET, HEAD, POST');
    expect(r.json().error.code).toBe('method_not_allowed');
  });
});

describe('HTTP/1.1 semantics', () => {
  it('HEAD keeps the upstream Content-Length and sends no body', async () => {
    const raw = await rawRequest(gw.port, 'HEAD /special/x HTTP/1.1\r\nHost: x\r\n\r\n', 600);
    expect(raw).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(raw.toLowerCase()).toContain('content-length: 4\r\n');
    expect(raw.endsWith('\r\n\r\n')).toBe(true);
  });

  it('HEAD answered by the gateway itself (an error, a respond route) has no body, so the next response on the connection parses', async () => {
    for (const headPath of ['/nowhere', '/stub']) {
      const raw = await rawSequence(gw.port, [`HEAD ${headPath} HTTP/1.1\r\nHost: x\r\n\r\n`, 'GET /stub HTTP/1.1\r\nHost: x\r\n\r\n']);
      const [first, ...rest] = raw.split(/(?=HTTP\/1\.1 )/);
      expect(first).toMatch(/^HTTP\/1\.1 (404|201) /);
      expect(first.toLowerCase()).toMatch(/content-length: \d+\r\n/);
      expect(first.endsWith('\r\n\r\n')).toBe(true); // headers only
      expect(rest).toHaveLength(1);
      expect(rest[0]).toMatch(/^HTTP\/1\.1 201 Created\r\n/);
      expect(rest[0].endsWith('\r\n\r\nhello')).toBe(true);
    }
  });

  it('204 and 304 carry no body', async () => {
    const r204 = await rawRequest(gw.port, 'GET /special/no-content HTTP/1.1\r\nHost: x\r\n\r\n', 600);
    expect(r204).toMatch(/^HTTP\/1\.1 204 No Content\r\n/);
    expect(r204.endsWith('\r\n\r\n')).toBe(true);
    expect(r204.toLowerCase()).not.toContain('transfer-encoding');
    expect(r204.toLowerCase()).not.toContain('content-length');
    const r304 = await rawRequest(gw.port, 'GET /special/not-modified HTTP/1.1\r\nHost: x\r\n\r\n', 600);
    expect(r304).toMatch(/^HTTP\/1\.1 304 Not Modified\r\n/);
    expect(r304.toLowerCase()).toContain('etag: "v1"');
    expect(r304.endsWith('\r\n\r\n')).toBe(true);
    expect(r304.toLowerCase()).not.toContain('content-length');
  });

  it('relays chunked responses as chunked', async () => {
    const raw = await rawRequest(gw.port, 'GET /special/chunked HTTP/1.1\r\nHost: x\r\n\r\n', 800);
    expect(raw.toLowerCase()).toContain('transfer-encoding: chunked');
    const r = await get('/special/chunked');
    expect(r.text).toBe('chunk-one,chunk-two');
  });

  it('passes upstream statuses through', async () => {
    const r = await get('/special/status/418');
    expect(r.status).toBe(418);
    expect(r.text).toBe('teapot');
  });

  it('Expect: 100-continue gets a 100 and then the answer', async () => {
    const raw = await rawRequest(
      gw.port,
      'POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello',
      800,
    );
    expect(raw).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK/);
    const body = JSON.parse(raw.slice(raw.lastIndexOf('\r\n\r\n') + 4));
    expect(body.bodyBytes).toBe(5);
    expect(body.headers.expect).toBeUndefined();
  });

  it('reuses upstream connections (keep-alive), never one per request', async () => {
    const before = { conns: users.connections, reqs: users.requests };
    const agent = new Agent({ connections: 8 });
    await Promise.all(Array.from({ length: 200 }, () => request(gw.url + '/api/users', { dispatcher: agent }).then((r) => r.body.text())));
    await agent.close();
    const reqs = users.requests - before.reqs;
    const conns = users.connections - before.conns;
    expect(reqs).toBe(200);
    // 8 client connections: a worker never has more than 8 requests in flight, so never more
    // than 8 upstream connections (2 workers: 16), reused request after request; beyond the
    // keep-alive pool (4) they stay open a short while instead of churning.
    expect(conns).toBeLessThanOrEqual(16);
    expect(reqs / Math.max(1, conns)).toBeGreaterThanOrEqual(12);
  });
});
