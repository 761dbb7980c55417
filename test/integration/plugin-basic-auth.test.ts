/**
 * basicAuth end to end: hashes from `gateway hash-password`, the challenge, every rejection,
 * Authorization not forwarded, the verification cache (failures never cached), the bound on
 * concurrent scrypt runs (429 at once, a flood does not stall the worker), the dummy
 * verification for unknown users, and path tricks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { echoUpstream, rawRequest, startGateway, type Gateway, type Upstream, gatewayCli } from '../helpers/gateway.js';

const hashPassword = (password: string) => gatewayCli('hash-password', password);

const ALICE = { user: 'alice', pass: 'wonderland' };
const BOB = { user: 'bob', pass: 'p:a:s:s wörd ✓' }; // colons after the first one belong to the password; UTF-8

function basic(user: string, pass: string): string {
  return 'Basic ' + Buffer.from(`${user}:${pass}`, 'utf8').toString('base64');
}

const FRESH = Array.from({ length: 4 }, (_, i) => ({ user: `fresh${i}`, pass: `fresh-pass-${i}` }));

let up: Upstream;
let gw: Gateway;

beforeAll(async () => {
  up = await echoUpstream();
  gw = await startGateway({
    upstreams: { app: { targets: [{ url: up.url }] } },
    consumers: [
      { id: 'alice', basicAuth: { username: ALICE.user, passwordHash: hashPassword(ALICE.pass) } },
      { id: 'bob', basicAuth: { username: BOB.user, passwordHash: hashPassword(BOB.pass) } },
      // Used once each by the interleaving test, so each one's first verification is async.
      ...FRESH.map((u) => ({ id: u.user, basicAuth: { username: u.user, passwordHash: hashPassword(u.pass) } })),
    ],
    routes: [
      { id: 'private', paths: ['/private', '/private/*'], upstream: 'app', plugins: { basicAuth: { realm: 'test "realm"' } } },
      { id: 'default-realm', paths: ['/default'], upstream: 'app', plugins: { basicAuth: {} } },
      { id: 'public', paths: ['/public/*'], upstream: 'app' },
      { id: 'ping', paths: ['/ping'], respond: { status: 200, body: 'pong' } },
    ],
  });
}, 30_000);

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

async function get(path: string, headers: Record<string, string> = {}) {
  const started = performance.now();
  const res = await request(gw.url + path, { headers });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, ms: performance.now() - started, json: () => JSON.parse(text) };
}

function expectChallenge(r: Awaited<ReturnType<typeof get>>, realm = '"test \\"realm\\""') {
  expect(r.status).toBe(401);
  expect(r.headers['www-authenticate']).toBe(`Basic realm=${realm}, charset="UTF-8"`);
  expect(r.json().error).toMatchObject({ status: 401, code: 'unauthorized' });
}

describe('basicAuth rejections (the upstream is never called)', () => {
  it('missing or malformed Authorization', async () => {
    const before = up.requests;
    expectChallenge(await get('/private'));
    expectChallenge(await get('/default'), '"gateway"');
    expectChallenge(await get('/private', { authorization: 'Basic' }));
    expectChallenge(await get('/private', { authorization: 'Basic ' }));
    expectChallenge(await get('/private', { authorization: 'Basic !!!notbase64' }));
    expectChallenge(await get('/private', { authorization: 'Basic ' + Buffer.from('alice-without-colon').toString('base64') }));
    expectChallenge(await get('/private', { authorization: 'Bearer ' + Buffer.from('alice:wonderland').toString('base64') }));
    expectChallenge(await get('/private', { authorization: Buffer.from('alice:wonderland').toString('base64') }));
    expect(up.requests).toBe(before);
  });

  it('wrong password, empty password, unknown user, wrong-case user, swapped passwords', async () => {
    const before = up.requests;
    expectChallenge(await get('/private', { authorization: basic('alice', 'wrong') }));
    expectChallenge(await get('/private', { authorization: basic('alice', '') }));
    expectChallenge(await get('/private', { authorization: basic('alice', ALICE.pass + ' ') }));
    expectChallenge(await get('/private', { authorization: basic('mallory', ALICE.pass) }));
    expectChallenge(await get('/private', { authorization: basic('Alice', ALICE.pass) }));
    expectChallenge(await get('/private', { authorization: basic('bob', ALICE.pass) }));
    expectChallenge(await get('/private', { authorization: basic('', '') }));
    expect(up.requests).toBe(before);
  });
});

describe('basicAuth accepted', () => {
  it('right password: forwarded without Authorization; scheme name is case-insensitive', async () => {
    const r = await get('/private/x', { authorization: basic(ALICE.user, ALICE.pass) });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text).headers.authorization).toBeUndefined();
    const lower = await get('/private', { authorization: basic(ALICE.user, ALICE.pass).replace('Basic', 'basic') });
    expect(lower.status).toBe(200);
  });

  it('password with colons and non-ASCII characters (UTF-8)', async () => {
    expect((await get('/private', { authorization: basic(BOB.user, BOB.pass) })).status).toBe(200);
  });

  it('a cached success does not let a wrong password in (failures are never cached)', async () => {
    expect((await get('/private', { authorization: basic(ALICE.user, ALICE.pass) })).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      expectChallenge(await get('/private', { authorization: basic(ALICE.user, 'wonderlanD') }));
    }
    expect((await get('/private', { authorization: basic(ALICE.user, ALICE.pass) })).status).toBe(200);
  });
});

describe('requests forwarded after an async verification', () => {
  it('keep their own Content-Length while other requests are handled meanwhile', async () => {
    const agent = new Agent({ connections: 16 });
    const body = 'x'.repeat(20);
    for (const u of FRESH) {
      const authed = request(gw.url + '/private/upload', {
        method: 'POST', body, dispatcher: agent,
        headers: { authorization: basic(u.user, u.pass), 'content-type': 'text/plain' },
      });
      // While scrypt runs, other POSTs with other lengths go through the same workers.
      const others = Array.from({ length: 12 }, () =>
        request(gw.url + '/public/x', { method: 'POST', body: 'abc', dispatcher: agent }).then((r) => r.body.text()));
      const res = await authed;
      const seen = (await res.body.json()) as { bodyBytes: number; headers: Record<string, string> };
      await Promise.all(others);
      expect(res.statusCode).toBe(200);
      expect(seen.headers['content-length']).toBe('20');
      expect(seen.bodyBytes).toBe(20);
    }
    await agent.close();
  });
});

describe('scrypt stays off the event loop and bounded', () => {
  it('an unknown user costs a verification like a wrong password (no enumeration by timing)', async () => {
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const wrong: number[] = [];
    const unknown: number[] = [];
    const noAuth: number[] = [];
    for (let i = 0; i < 7; i++) {
      wrong.push((await get('/private', { authorization: basic('alice', 'bad' + i) })).ms);
      unknown.push((await get('/private', { authorization: basic('nobody' + i, 'bad') })).ms);
      noAuth.push((await get('/private')).ms);
    }
    // scrypt N=16384 takes tens of ms; a 401 without it ~1 ms.
    expect(median(wrong)).toBeGreaterThan(5 * median(noAuth));
    expect(median(unknown)).toBeGreaterThan(0.5 * median(wrong));
  });

  it('a flood of wrong passwords: 429 + Retry-After beyond the bound, other requests still fast, cached clients unaffected', async () => {
    // Warm the cache for alice in both workers (connections land on either).
    for (let i = 0; i < 6; i++) expect((await get('/private', { authorization: basic(ALICE.user, ALICE.pass) })).status).toBe(200);

    const flood = Array.from({ length: 60 }, (_, i) => get('/private', { authorization: basic('alice', 'guess' + i) }));
    // While the flood is in progress:
    const side: Array<Awaited<ReturnType<typeof get>>> = [];
    for (let i = 0; i < 5; i++) {
      side.push(await get('/ping'));
      side.push(await get('/private', { authorization: basic(ALICE.user, ALICE.pass) }));
    }
    const results = await Promise.all(flood);

    const statuses = results.map((r) => r.status);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    const busy = results.filter((r) => r.status === 429);
    expect(busy.length).toBeGreaterThan(0); // 60 at once > 2 workers x the per-worker bound
    expect(busy[0].headers['retry-after']).toBe('1');
    expect(busy[0].json().error).toMatchObject({ status: 429, code: 'rate_limited' });
    expect(results.filter((r) => r.status === 401).length).toBeGreaterThan(0);

    // The cached client and the no-auth route were served during the flood, never 429.
    expect(side.map((r) => r.status)).toEqual(Array(10).fill(200));
    // Each was answered without waiting for the queue of scrypt runs (60 x ~30 ms of CPU).
    const slowest = Math.max(...side.map((r) => r.ms));
    expect(slowest).toBeLessThan(500);
  }, 30_000);
});

describe('path tricks cannot reach the protected route without credentials', () => {
  async function raw(target: string): Promise<number> {
    const out = await rawRequest(gw.port, `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    return Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 0);
  }

  it.each([
    ['/public/../private', 401],
    ['/public/%2e%2e/private', 401],
    ['/public/%2E%2e/private/x', 401],
    ['/private/', 401],
    ['/private//', 401],
    ['/private/./', 401],
    ['//private', 401],
    ['/%70rivate', 401],
    ['/PRIVATE', 404], // case-sensitive matching: no route matches
    ['/public/../../private', 400],
  ])('%s -> %i', async (target, expected) => {
    const before = up.requests;
    expect(await raw(target)).toBe(expected);
    expect(up.requests).toBe(before);
  });
});
