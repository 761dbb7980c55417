/**
 * cors end to end: preflights answered by the gateway (also for routes whose `methods` do not
 * list OPTIONS: the http-server re-routes them with the requested method), allowed vs refused
 * origins (exact, wildcard subdomain, "*"), the credentials rule, Vary: Origin, headers on the
 * upstream's answer, the upstream's own CORS headers replaced.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { echoUpstream, startGateway, startUpstream, type Gateway, type Upstream } from '../helpers/gateway.js';

let up: Upstream;
let corsUp: Upstream;
let gw: Gateway;

const APP = 'https://app.example';

beforeAll(async () => {
  up = await echoUpstream({ 'x-total': '42' });
  corsUp = await startUpstream((_req, res) => {
    res.writeHead(200, { 'access-control-allow-origin': '*', 'access-control-allow-credentials': 'true', 'content-type': 'text/plain' });
    res.end('hi');
  });
  gw = await startGateway({
    upstreams: { app: { targets: [{ url: up.url }] }, corsy: { targets: [{ url: corsUp.url }] } },
    plugins: { requestId: {} },
    routes: [
      {
        id: 'api', paths: ['/api/*'], methods: ['GET', 'POST', 'PUT'], upstream: 'app',
        plugins: {
          cors: {
            origins: [APP, 'https://*.example.com', 'http://localhost:3000'],
            methods: ['GET', 'POST', 'PUT'],
            headers: ['content-type', 'x-custom'],
            exposeHeaders: ['x-total', 'x-request-id'],
            credentials: true,
            maxAgeMs: 60_500,
          },
        },
      },
      { id: 'open', paths: ['/open'], upstream: 'app', plugins: { cors: {} } },
      { id: 'echo', paths: ['/echo'], methods: ['GET'], upstream: 'app', plugins: { cors: { origins: [APP] } } },
      { id: 'corsy', paths: ['/corsy'], upstream: 'corsy', plugins: { cors: { origins: [APP] } } },
      { id: 'no-cors', paths: ['/no-cors'], methods: ['GET'], upstream: 'app' },
      { id: 'stub', paths: ['/stub'], methods: ['GET'], respond: { status: 200, body: 'stub' }, plugins: { cors: { origins: [APP] } } },
    ],
  });
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
  await corsUp?.close();
});

async function call(method: string, path: string, headers: Record<string, string> = {}) {
  const res = await request(gw.url + path, { method: method as 'GET', headers });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text };
}

function preflight(path: string, origin: string, method = 'PUT', extra: Record<string, string> = {}) {
  return call('OPTIONS', path, { origin, 'access-control-request-method': method, ...extra });
}

function corsHeaders(h: Record<string, unknown>): string[] {
  return Object.keys(h).filter((k) => k.startsWith('access-control-')).sort();
}

function varyOf(h: Record<string, unknown>): string {
  const v = h.vary;
  return Array.isArray(v) ? v.join(', ') : String(v ?? '');
}

describe('preflight', () => {
  it('allowed origin on a route without OPTIONS in methods: 204 from the gateway, full policy, upstream not called', async () => {
    const before = up.requests;
    const r = await preflight('/api/items', APP, 'PUT', { 'access-control-request-headers': 'content-type' });
    expect(r.status).toBe(204);
    expect(r.text).toBe('');
    expect(r.headers['access-control-allow-origin']).toBe(APP);
    expect(r.headers['access-control-allow-methods']).toBe('GET, POST, PUT');
    expect(r.headers['access-control-allow-headers']).toBe('content-type, x-custom');
    expect(r.headers['access-control-allow-credentials']).toBe('true');
    expect(r.headers['access-control-max-age']).toBe('60');
    expect(varyOf(r.headers)).toContain('Origin');
    expect(r.headers['x-request-id']).toBeTruthy(); // the route's requestId ran before cors
    expect(up.requests).toBe(before);
  });

  it('wildcard subdomain and an explicit port', async () => {
    for (const origin of ['https://a.example.com', 'https://deep.sub.example.com', 'https://A.Example.COM', 'http://localhost:3000']) {
      const r = await preflight('/api/x', origin);
      expect(r.status).toBe(204);
      expect(r.headers['access-control-allow-origin']).toBe(origin);
    }
  });

  it('refused origins: 204 without any Access-Control-* header', async () => {
    for (const origin of [
      'https://evil.example',
      'https://example.com', // the wildcard needs a label before .example.com
      'https://a.example.com.evil.net',
      'https://evilexample.com',
      'http://a.example.com', // scheme differs
      'https://a.example.com:8443', // port differs
      'http://localhost:3001',
      'https://app.example.evil',
      'null',
    ]) {
      const r = await preflight('/api/x', origin);
      expect(r.status, origin).toBe(204);
      expect(corsHeaders(r.headers), origin).toEqual([]);
      expect(varyOf(r.headers)).toContain('Origin');
    }
  });

  it('without headers configured, the requested headers are echoed (and Vary names them)', async () => {
    const r = await preflight('/echo', APP, 'GET', { 'access-control-request-headers': 'x-foo, x-bar' });
    expect(r.status).toBe(204);
    expect(r.headers['access-control-allow-headers']).toBe('x-foo, x-bar');
    expect(varyOf(r.headers)).toBe('Origin, Access-Control-Request-Headers');
    expect(r.headers['access-control-allow-credentials']).toBeUndefined();
    expect(r.headers['access-control-max-age']).toBe('600');
  });

  it('"*" without credentials: Access-Control-Allow-Origin: *; on a route accepting OPTIONS, still answered here', async () => {
    const before = up.requests;
    const r = await preflight('/open', 'https://anyone.example', 'DELETE');
    expect(r.status).toBe(204);
    expect(r.headers['access-control-allow-origin']).toBe('*');
    expect(r.headers['access-control-allow-credentials']).toBeUndefined();
    expect(r.headers['access-control-allow-methods']).toBe('GET, HEAD, PUT, PATCH, POST, DELETE');
    expect(up.requests).toBe(before);
  });

  it('a respond route is preflighted too', async () => {
    const r = await preflight('/stub', APP, 'GET');
    expect(r.status).toBe(204);
    expect(r.headers['access-control-allow-origin']).toBe(APP);
  });

  it('not a preflight, or no CORS on the route: the router\'s 405 / 404 stand (Allow kept)', async () => {
    const noAcrm = await call('OPTIONS', '/api/x', { origin: APP });
    expect(noAcrm.status).toBe(405);
    expect(noAcrm.headers.allow).toBe('GET, HEAD, POST, PUT');
    const noOrigin = await call('OPTIONS', '/api/x', { 'access-control-request-method': 'GET' });
    expect(noOrigin.status).toBe(405);
    const noCors = await preflight('/no-cors', APP, 'GET');
    expect(noCors.status).toBe(405);
    expect(noCors.headers.allow).toBe('GET, HEAD');
    const wrongMethod = await preflight('/api/x', APP, 'DELETE'); // no route for DELETE: looked up, not found
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe('GET, HEAD, POST, PUT');
    const nowhere = await preflight('/nowhere', APP, 'GET');
    expect(nowhere.status).toBe(404);
  });
});

describe('actual requests', () => {
  it('allowed origin: CORS headers added to the upstream answer, with credentials and exposed headers', async () => {
    const r = await call('GET', '/api/x', { origin: APP });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text).url).toBe('/api/x');
    expect(r.headers['access-control-allow-origin']).toBe(APP);
    expect(r.headers['access-control-allow-credentials']).toBe('true');
    expect(r.headers['access-control-expose-headers']).toBe('x-total, x-request-id');
    expect(r.headers['access-control-allow-methods']).toBeUndefined(); // preflight-only
    expect(r.headers['x-total']).toBe('42');
    expect(varyOf(r.headers)).toContain('Origin');
  });

  it('refused origin and no Origin: no CORS headers, Vary: Origin all the same', async () => {
    const refused = await call('GET', '/api/x', { origin: 'https://evil.example' });
    expect(refused.status).toBe(200);
    expect(corsHeaders(refused.headers)).toEqual([]);
    expect(varyOf(refused.headers)).toContain('Origin');
    const none = await call('GET', '/api/x');
    expect(none.status).toBe(200);
    expect(corsHeaders(none.headers)).toEqual([]);
    expect(varyOf(none.headers)).toContain('Origin');
  });

  it('"*": Access-Control-Allow-Origin: * and never credentials', async () => {
    const r = await call('GET', '/open', { origin: 'https://anyone.example' });
    expect(r.headers['access-control-allow-origin']).toBe('*');
    expect(r.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('a non-preflight OPTIONS on a route that accepts it goes to the upstream', async () => {
    const r = await call('OPTIONS', '/open', { origin: APP });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text).method).toBe('OPTIONS');
    expect(r.headers['access-control-allow-origin']).toBe('*');
  });

  it("the upstream's own CORS headers are replaced by the gateway's policy", async () => {
    const refused = await call('GET', '/corsy', { origin: 'https://evil.example' });
    expect(refused.status).toBe(200);
    expect(corsHeaders(refused.headers)).toEqual([]);
    const allowed = await call('GET', '/corsy', { origin: APP });
    expect(allowed.headers['access-control-allow-origin']).toBe(APP);
    expect(allowed.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('on respond answers', async () => {
    const r = await call('GET', '/stub', { origin: APP });
    expect(r.text).toBe('stub');
    expect(r.headers['access-control-allow-origin']).toBe(APP);
  });
});
