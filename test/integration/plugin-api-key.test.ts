/**
 * apiKey end to end: keys from `gateway hash-key` accepted in the header or the query, every
 * rejection case, the key removed before forwarding (the rest of the query byte for byte), and
 * path tricks that must not reach a protected route without a key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoUpstream, rawRequest, startGateway, type Gateway, type Upstream, gatewayCli, fetchText } from '../helpers/gateway.js';

const KEY_ACME = 'acme-key-0123456789';
const KEY_BETA = 'beta key+with/odd=chars';

const hashKey = (key: string) => gatewayCli('hash-key', key + '\n');

let up: Upstream;
let gw: Gateway;

beforeAll(async () => {
  up = await echoUpstream();
  gw = await startGateway({
    upstreams: { app: { targets: [{ url: up.url }] } },
    consumers: [
      { id: 'acme', apiKeys: [hashKey(KEY_ACME)] },
      { id: 'beta', apiKeys: [hashKey(KEY_BETA)] },
    ],
    routes: [
      { id: 'private', paths: ['/private', '/private/*'], upstream: 'app', plugins: { apiKey: {} } },
      { id: 'public', paths: ['/public/*'], upstream: 'app' },
      { id: 'custom', paths: ['/custom'], upstream: 'app', plugins: { apiKey: { header: 'X-Token', query: 'token' } } },
      { id: 'no-query', paths: ['/no-query'], upstream: 'app', plugins: { apiKey: { query: false } } },
    ],
  });
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

const get = (path: string, headers: Record<string, string> = {}) => fetchText(gw.url + path, headers);

/** What the upstream received (echoUpstream body). */
function seen(r: { text: string }): { url: string; headers: Record<string, string> } {
  return JSON.parse(r.text);
}

function expectUnauthorized(r: Awaited<ReturnType<typeof get>>) {
  expect(r.status).toBe(401);
  expect(r.headers['content-type']).toBe('application/json');
  expect(r.headers['www-authenticate']).toBe('Key realm="gateway"');
  expect(r.json().error).toMatchObject({ status: 401, code: 'unauthorized' });
}

describe('apiKey rejections (the upstream is never called)', () => {
  it('no key, empty key, unknown key, a key of the right shape but not configured, a hash as key', async () => {
    const before = up.requests;
    expectUnauthorized(await get('/private'));
    expectUnauthorized(await get('/private', { 'x-api-key': '' }));
    expectUnauthorized(await get('/private', { 'x-api-key': 'nope' }));
    expectUnauthorized(await get('/private', { 'x-api-key': KEY_ACME + 'x' }));
    expectUnauthorized(await get('/private', { 'x-api-key': KEY_ACME.toUpperCase() }));
    // The stored value itself is not a key.
    expectUnauthorized(await get('/private', { 'x-api-key': hashKey(KEY_ACME) }));
    expectUnauthorized(await get('/private', { 'x-api-key': hashKey(KEY_ACME).slice('sha256:'.length) }));
    expectUnauthorized(await get('/private?api_key='));
    expectUnauthorized(await get('/private?api_key=wrong'));
    expectUnauthorized(await get('/private?api_key=%zz')); // undecodable
    expectUnauthorized(await get('/private?apikey=' + KEY_ACME)); // other parameter name
    expect(up.requests).toBe(before);
  });

  it('a bad header key is not rescued by a good query key (the header wins)', async () => {
    expectUnauthorized(await get('/private?api_key=' + KEY_ACME, { 'x-api-key': 'wrong' }));
  });

  it('query: false refuses keys in the query string', async () => {
    expectUnauthorized(await get('/no-query?api_key=' + KEY_ACME));
  });

  it('custom names: the default header and parameter do not count', async () => {
    expectUnauthorized(await get('/custom', { 'x-api-key': KEY_ACME }));
    expectUnauthorized(await get('/custom?api_key=' + KEY_ACME));
  });
});

describe('apiKey accepted', () => {
  it('in the header: forwarded without the key', async () => {
    const r = await get('/private/x', { 'x-api-key': KEY_ACME, 'x-other': 'kept' });
    expect(r.status).toBe(200);
    const s = seen(r);
    expect(s.url).toBe('/private/x');
    expect(s.headers['x-api-key']).toBeUndefined();
    expect(s.headers['x-other']).toBe('kept');
  });

  it('in the query: the key is removed, the rest of the query is forwarded byte for byte', async () => {
    const r = await get(`/private/x?a=1&api_key=${KEY_ACME}&b=%2F+c&&d&e=%C3%A9`);
    expect(r.status).toBe(200);
    expect(seen(r).url).toBe('/private/x?a=1&b=%2F+c&&d&e=%C3%A9');
    const only = await get(`/private?api_key=${KEY_ACME}`);
    expect(only.status).toBe(200);
    expect(seen(only).url).toBe('/private');
  });

  it('a key with reserved characters, percent-encoded in the query or raw in the header', async () => {
    expect((await get('/private', { 'x-api-key': KEY_BETA })).status).toBe(200);
    const r = await get('/private?z=9&api_key=' + encodeURIComponent(KEY_BETA));
    expect(r.status).toBe(200);
    expect(seen(r).url).toBe('/private?z=9');
    // form encoding: "+" is a space
    expect((await get('/private?api_key=' + encodeURIComponent(KEY_BETA).replace(/%20/g, '+'))).status).toBe(200);
  });

  it('every copy of the parameter is removed, also under an encoded name', async () => {
    const r = await get(`/private?api%5Fkey=${KEY_ACME}&x=1&api_key=other`);
    expect(r.status).toBe(200);
    expect(seen(r).url).toBe('/private?x=1');
  });

  it('both header and query: header used, both removed', async () => {
    const r = await get(`/private?api_key=whatever&q=2`, { 'x-api-key': KEY_ACME });
    expect(r.status).toBe(200);
    expect(seen(r).url).toBe('/private?q=2');
    expect(seen(r).headers['x-api-key']).toBeUndefined();
  });

  it('custom header (case-insensitive name) and parameter', async () => {
    const h = await get('/custom', { 'x-token': KEY_ACME });
    expect(h.status).toBe(200);
    expect(seen(h).headers['x-token']).toBeUndefined();
    const q = await get('/custom?token=' + KEY_ACME + '&keep=1');
    expect(q.status).toBe(200);
    expect(seen(q).url).toBe('/custom?keep=1');
  });

  it('query: false leaves a parameter of that name alone', async () => {
    const r = await get('/no-query?api_key=not-ours', { 'x-api-key': KEY_ACME });
    expect(r.status).toBe(200);
    expect(seen(r).url).toBe('/no-query?api_key=not-ours');
  });
});

describe('path tricks cannot reach the protected route without a key', () => {
  async function raw(target: string): Promise<{ status: number; text: string }> {
    const out = await rawRequest(gw.port, `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 0), text: out };
  }

  it.each([
    ['/public/../private', 401],
    ['/public/%2e%2e/private', 401],
    ['/public/%2E%2E/private/x', 401],
    ['/public/./../private', 401],
    ['/private/', 401],
    ['/private/./', 401],
    ['//private', 401],
    ['/%70rivate', 401],
    ['/PRIVATE', 404], // matching is case-sensitive: no route, not the public one
    ['/Private/x', 404],
    ['/public/../../private', 400], // climbs above /
  ])('%s -> %i', async (target, expected) => {
    const before = up.requests;
    const r = await raw(target);
    expect(r.status).toBe(expected);
    expect(up.requests).toBe(before);
  });

  it('the same tricks with a key do reach it (so the statuses above are the auth check)', async () => {
    const out = await rawRequest(gw.port, `GET /public/%2e%2e/private HTTP/1.1\r\nHost: localhost\r\nx-api-key: ${KEY_ACME}\r\nConnection: close\r\n\r\n`);
    expect(out).toMatch(/^HTTP\/1\.1 200/);
    expect(out).toContain('"url":"/private"');
  });
});
