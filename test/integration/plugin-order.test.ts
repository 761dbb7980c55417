/**
 * The fixed plugin order (docs/plugins/README.md): CORS preflight first (no credentials
 * needed), then ipRestriction -> auth (jwt / apiKey / basicAuth) -> acl -> rateLimit ->
 * transforms; CORS headers on every answer, gateway errors included; route plugins replace
 * global ones by name; `false` turns a global plugin off; several auth plugins must all pass.
 * Plugins are written in the config in the reverse of their run order on purpose.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { echoUpstream, freePort, startGateway, type Gateway, type Upstream, gatewayCli } from '../helpers/gateway.js';

const APP = 'https://app.example';

const cli = gatewayCli;

let up: Upstream;
let gw: Gateway;

beforeAll(async () => {
  up = await echoUpstream();
  const dead = await freePort();
  gw = await startGateway({
    upstreams: { app: { targets: [{ url: up.url }] }, dead: { targets: [{ url: `http://127.0.0.1:${dead}` }] } },
    consumers: [
      { id: 'gold', groups: ['gold'], apiKeys: [cli('hash-key', 'k-gold')], basicAuth: { username: 'gold', passwordHash: cli('hash-password', 'pw-gold') } },
      { id: 'silver', groups: ['silver'], apiKeys: [cli('hash-key', 'k-silver')], basicAuth: { username: 'silver', passwordHash: cli('hash-password', 'pw-silver') } },
    ],
    // Reverse of the run order: the order in the file does not matter.
    plugins: {
      apiKey: {},
      cors: { origins: [APP], credentials: true, exposeHeaders: ['x-request-id'] },
      requestId: {},
    },
    routes: [
      { id: 'acl', paths: ['/acl'], methods: ['GET'], upstream: 'app', plugins: { acl: { allowGroups: ['gold'] } } },
      { id: 'ip-denied', paths: ['/ip-denied'], methods: ['GET'], upstream: 'app', plugins: { acl: { allowGroups: ['gold'] }, ipRestriction: { deny: ['127.0.0.1'] } } },
      { id: 'dead', paths: ['/dead'], upstream: 'dead' },
      { id: 'other-key', paths: ['/other-key'], upstream: 'app', plugins: { apiKey: { header: 'x-other-key', query: false } } },
      { id: 'public', paths: ['/public'], upstream: 'app', plugins: { apiKey: false } },
      { id: 'no-cors', paths: ['/no-cors'], upstream: 'app', plugins: { apiKey: false, cors: false } },
      { id: 'both', paths: ['/both'], upstream: 'app', plugins: { basicAuth: {} } },
    ],
  });
}, 30_000);

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

async function call(method: string, path: string, headers: Record<string, string> = {}) {
  const res = await request(gw.url + path, { method: method as 'GET', headers });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

function basic(user: string, pass: string): string {
  return 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
}

function expectCors(r: Awaited<ReturnType<typeof call>>) {
  expect(r.headers['access-control-allow-origin']).toBe(APP);
  expect(r.headers['access-control-allow-credentials']).toBe('true');
  expect(r.headers['access-control-expose-headers']).toBe('x-request-id');
  expect(String(r.headers.vary)).toContain('Origin');
}

describe('a CORS preflight is answered first', () => {
  it('without credentials, on a route with auth + acl that does not list OPTIONS', async () => {
    const before = up.requests;
    const r = await call('OPTIONS', '/acl', { origin: APP, 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-api-key' });
    expect(r.status).toBe(204);
    expect(r.headers['access-control-allow-origin']).toBe(APP);
    expect(r.headers['access-control-allow-headers']).toBe('x-api-key');
    expect(r.headers['www-authenticate']).toBeUndefined();
    expect(r.headers['x-request-id']).toBeTruthy();
    expect(up.requests).toBe(before);
  });

  it('before ipRestriction too (a preflight carries nothing to check)', async () => {
    const r = await call('OPTIONS', '/ip-denied', { origin: APP, 'access-control-request-method': 'GET' });
    expect(r.status).toBe(204);
    expect(r.headers['access-control-allow-origin']).toBe(APP);
  });
});

describe('ip -> auth -> acl', () => {
  it('a denied IP gets 403 even with good credentials, and 403 (not 401) without any', async () => {
    const before = up.requests;
    const good = await call('GET', '/ip-denied', { 'x-api-key': 'k-gold', origin: APP });
    expect(good.status).toBe(403);
    expect(good.json().error.code).toBe('forbidden');
    expectCors(good);
    const none = await call('GET', '/ip-denied');
    expect(none.status).toBe(403);
    expect(none.headers['www-authenticate']).toBeUndefined(); // auth never ran
    expect(up.requests).toBe(before);
  });

  it('auth before acl: no credentials is 401, not 403; wrong group 403; right group 200', async () => {
    const none = await call('GET', '/acl', { origin: APP });
    expect(none.status).toBe(401);
    expect(none.json().error).toMatchObject({ status: 401, code: 'unauthorized', requestId: none.headers['x-request-id'] });
    expectCors(none); // CORS headers on a 401
    const silver = await call('GET', '/acl', { 'x-api-key': 'k-silver', origin: APP });
    expect(silver.status).toBe(403);
    expectCors(silver);
    const gold = await call('GET', '/acl', { 'x-api-key': 'k-gold', origin: APP });
    expect(gold.status).toBe(200);
    expectCors(gold);
    expect(JSON.parse(gold.text).headers['x-api-key']).toBeUndefined();
  });
});

describe('CORS headers on gateway errors', () => {
  it('on a 502 from an unreachable upstream', async () => {
    const r = await call('GET', '/dead', { 'x-api-key': 'k-gold', origin: APP });
    expect(r.status).toBe(502);
    expect(r.json().error.code).toBe('upstream_unavailable');
    expectCors(r);
  });

  it('not for a refused origin, even on errors', async () => {
    const r = await call('GET', '/acl', { origin: 'https://evil.example' });
    expect(r.status).toBe(401);
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('global and route plugins', () => {
  it("a route's plugin replaces the global one of the same name (not merged)", async () => {
    expect((await call('GET', '/other-key', { 'x-api-key': 'k-gold' })).status).toBe(401);
    expect((await call('GET', '/other-key?api_key=k-gold')).status).toBe(401); // query: false here
    const r = await call('GET', '/other-key', { 'x-other-key': 'k-gold' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text).headers['x-other-key']).toBeUndefined();
  });

  it('false turns a global plugin off for the route; the other global plugins stay', async () => {
    const r = await call('GET', '/public', { origin: APP });
    expect(r.status).toBe(200);
    expectCors(r);
    expect(r.headers['x-request-id']).toBeTruthy();
    const noCors = await call('GET', '/no-cors', { origin: APP });
    expect(noCors.status).toBe(200);
    expect(noCors.headers['access-control-allow-origin']).toBeUndefined();
    expect(noCors.headers.vary).toBeUndefined();
  });
});

describe('several auth plugins on a route: each must pass, for the same consumer', () => {
  it('apiKey (global) + basicAuth (route)', async () => {
    const before = up.requests;
    const keyOnly = await call('GET', '/both', { 'x-api-key': 'k-gold' });
    expect(keyOnly.status).toBe(401);
    expect(keyOnly.headers['www-authenticate']).toMatch(/^Basic /);
    const basicOnly = await call('GET', '/both', { authorization: basic('gold', 'pw-gold') });
    expect(basicOnly.status).toBe(401);
    expect(basicOnly.headers['www-authenticate']).toMatch(/^Key /); // apiKey runs first
    const mixed = await call('GET', '/both', { 'x-api-key': 'k-gold', authorization: basic('silver', 'pw-silver') });
    expect(mixed.status).toBe(401);
    expect(up.requests).toBe(before);
    const both = await call('GET', '/both', { 'x-api-key': 'k-gold', authorization: basic('gold', 'pw-gold') });
    expect(both.status).toBe(200);
    const seen = JSON.parse(both.text).headers;
    expect(seen.authorization).toBeUndefined();
    expect(seen['x-api-key']).toBeUndefined();
  });
});
