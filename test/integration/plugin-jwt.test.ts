/**
 * jwt end to end against the real gateway (primary + 2 workers): tokens minted here with jose
 * (RS256, ES256, EdDSA, HS256; keys from a secret, PEM and JWK files, and a real JWKS server),
 * every rejection case and what the client sees, forwardClaims, consumer mapping, JWKS key
 * rotation, refresh rate limit, the JWKS host down or hanging (stale keys keep serving, nobody
 * waits), and path tricks. Plus in-process checks of the verifier against jose's jwtVerify and
 * of the token cache bounds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPublicKey, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { exportSPKI, jwtVerify, SignJWT } from 'jose';
import { echoUpstream, freePort, rawRequest, sleep, startGateway, type Gateway, type Upstream } from '../helpers/gateway.js';
import { b64json, mint, newKey, nowSec, startJwksServer, type JwksServer, type TestKey } from '../helpers/jwt-jwks.js';
import { keyEntry, StaticKeySource, secretKeySource } from '../../src/plugins/jwt/keys.js';
import { TokenCache, Verifier } from '../../src/plugins/jwt/verify.js';
import { bearerToken, claimHeaderValue } from '../../src/plugins/jwt/index.js';

const ISS = 'https://issuer.test';
const AUD = 'api';
const SECRET = randomBytes(32).toString('base64url');
const secretBytes = new TextEncoder().encode(SECRET);
const GENERIC = 'Missing or invalid credentials.';

let up: Upstream;
let gw: Gateway;
let jwks: JwksServer;
let rs: TestKey; // publicKeyFile PEM (RS256)
let es: TestKey; // publicKeyFile JWK (ES256)
let ed: TestKey; // publicKeyFile PEM (EdDSA)
let k1: TestKey; // JWKS RS256, kid k1
let e1: TestKey; // JWKS ES256, kid e1
let k2: TestKey; // JWKS RS256, kid k2 (added by the rotation test)
let rsPem: string;
let other: TestKey; // a key the gateway does not know

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: ISS, aud: AUD, sub: 'acme-sub', iat: nowSec(), exp: nowSec() + 600, ...extra };
}
const hs = (extra?: Record<string, unknown>, header: Record<string, unknown> = {}) =>
  mint(secretBytes, { alg: 'HS256', ...header } as never, claims(extra));

beforeAll(async () => {
  [rs, es, ed, k1, e1, k2, other] = await Promise.all([
    newKey('RS256', 'rs'), newKey('ES256', 'es'), newKey('EdDSA', 'ed'),
    newKey('RS256', 'k1'), newKey('ES256', 'e1'), newKey('RS256', 'k2'), newKey('RS256', 'rs'),
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'gw-jwt-'));
  rsPem = await exportSPKI(rs.publicKey as CryptoKey);
  writeFileSync(join(dir, 'rs.pem'), rsPem);
  writeFileSync(join(dir, 'es.jwk.json'), JSON.stringify(es.jwk));
  writeFileSync(join(dir, 'ed.pem'), await exportSPKI(ed.publicKey as CryptoKey));
  jwks = await startJwksServer([k1.jwk, e1.jwk]);
  up = await echoUpstream();
  const hsConf = {
    secret: 'env:JWT_TEST_SECRET', algorithms: ['HS256'], issuer: ISS, audience: [AUD, 'api2'],
    forwardClaims: { sub: 'x-user-id', scope: 'x-scope', roles: 'x-roles', name: 'x-user-name', evil: 'x-evil' },
  };
  gw = await startGateway(
    {
      upstreams: { app: { targets: [{ url: up.url }] } },
      consumers: [{ id: 'acme', groups: ['gold'], jwtSubject: 'acme-sub' }],
      plugins: { requestId: {} },
      routes: [
        { id: 'hs', paths: ['/hs/*'], upstream: 'app', plugins: { jwt: hsConf } },
        { id: 'rs', paths: ['/rs/*'], upstream: 'app', plugins: { jwt: { publicKeyFile: join(dir, 'rs.pem'), algorithms: ['RS256'], issuer: ISS } } },
        { id: 'es', paths: ['/es/*'], upstream: 'app', plugins: { jwt: { publicKeyFile: join(dir, 'es.jwk.json'), algorithms: ['ES256'] } } },
        { id: 'ed', paths: ['/ed/*'], upstream: 'app', plugins: { jwt: { publicKeyFile: join(dir, 'ed.pem'), algorithms: ['EdDSA'] } } },
        { id: 'jwks', paths: ['/jwks/*'], upstream: 'app', plugins: { jwt: { jwksUrl: jwks.url, algorithms: ['RS256', 'ES256'], audience: AUD } } },
        { id: 'public', paths: ['/public/*'], upstream: 'app' },
        { id: 'private', paths: ['/private', '/private/*'], upstream: 'app', plugins: { jwt: hsConf } },
        { id: 'stub', paths: ['/stub'], respond: { status: 200, body: 'stub' }, plugins: { jwt: hsConf } },
      ],
    },
    {
      env: {
        JWT_TEST_SECRET: SECRET,
        GATEWAY_LOG_LEVEL: 'debug',
        GATEWAY_JWKS_COOLDOWN_MS: '1000',
        GATEWAY_JWKS_TIMEOUT_MS: '3000',
        GATEWAY_JWKS_REFRESH_MS: '2000',
      },
    },
  );
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
  await jwks?.close();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  ms: number;
}

async function get(path: string, token?: string | null, headers: Record<string, string> = {}): Promise<Answer> {
  const t0 = performance.now();
  const res = await request(gw.url + path, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, ms: performance.now() - t0 };
}

function seen(a: Answer): Record<string, string> {
  expect(a.status).toBe(200);
  return JSON.parse(a.text).headers;
}

function expectMissing(a: Answer): void {
  expect(a.status).toBe(401);
  expect(a.headers['www-authenticate']).toBe('Bearer');
  expect(a.headers['content-type']).toBe('application/json');
  const body = JSON.parse(a.text);
  expect(body.error).toMatchObject({ status: 401, code: 'unauthorized', message: GENERIC });
  expect(body.error.requestId).toBe(a.headers['x-request-id']);
}

function expectInvalid(a: Answer): void {
  expect(a.status).toBe(401);
  expect(a.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
  expect(a.headers['content-type']).toBe('application/json');
  const body = JSON.parse(a.text);
  expect(body.error).toMatchObject({ status: 401, code: 'unauthorized', message: GENERIC });
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'requestId', 'status', 'traceId']);
}

describe('accepted tokens', () => {
  it('HS256 (secret), RS256 (PEM), ES256 (JWK file), EdDSA (PEM), RS256 and ES256 from a JWKS', async () => {
    seen(await get('/hs/a', await hs()));
    seen(await get('/rs/a', await mint(rs.privateKey, { alg: 'RS256' }, claims())));
    seen(await get('/es/a', await mint(es.privateKey, { alg: 'ES256' }, claims())));
    seen(await get('/ed/a', await mint(ed.privateKey, { alg: 'EdDSA' }, claims())));
    seen(await get('/jwks/a', await mint(k1.privateKey, { alg: 'RS256', kid: 'k1' }, claims())));
    seen(await get('/jwks/a', await mint(e1.privateKey, { alg: 'ES256', kid: 'e1' }, claims())));
    // A respond route runs the plugin too.
    expect((await get('/stub', await hs())).status).toBe(200);
    expectMissing(await get('/stub'));
  });

  it('the scheme is case-insensitive; the token is forwarded upstream as sent', async () => {
    const t = await hs();
    for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
      const s = seen(await get('/hs/a', null, { authorization: `${scheme} ${t}` }));
      expect(s.authorization).toBe(`${scheme} ${t}`);
    }
  });

  it('a token within the clock tolerance (5 s) passes: exp just past, nbf just ahead', async () => {
    seen(await get('/hs/a', await hs({ exp: nowSec() - 2 })));
    seen(await get('/hs/a', await hs({ nbf: nowSec() + 2 })));
  });

  it('audience: any of the configured ones, in a string or an array', async () => {
    seen(await get('/hs/a', await hs({ aud: 'api2' })));
    seen(await get('/hs/a', await hs({ aud: ['other', 'api'] })));
  });

  it('without kid, a JWKS key that fits the algorithm is used', async () => {
    seen(await get('/jwks/a', await mint(k1.privateKey, { alg: 'RS256' }, claims())));
  });
});

describe('rejections: 401 JSON, WWW-Authenticate, nothing that helps an attacker', () => {
  it('no token, or another scheme: WWW-Authenticate: Bearer (no error code)', async () => {
    expectMissing(await get('/hs/a'));
    expectMissing(await get('/hs/a', null, { authorization: 'Basic ' + Buffer.from('a:b').toString('base64') }));
    expectMissing(await get('/hs/a', null, { authorization: 'Bearerxyz' }));
    expect(up.requests).toBeGreaterThan(0);
  });

  const cases: [string, () => Promise<[string, string]>][] = [
    ['Bearer with no token', async () => ['/hs/a', '']],
    ['garbage', async () => ['/hs/a', 'not-a-jwt']],
    ['two parts', async () => ['/hs/a', (await hs()).split('.').slice(0, 2).join('.')]],
    ['JWE-shaped (five parts)', async () => ['/hs/a', `${b64json({ alg: 'dir', enc: 'A256GCM' })}..aaaa.bbbb.cccc`]],
    ['alg none, empty signature', async () => ['/hs/a', `${b64json({ alg: 'none', typ: 'JWT' })}.${b64json(claims())}.`]],
    ['alg none with a signature part', async () => ['/rs/a', `${b64json({ alg: 'none' })}.${b64json(claims())}.${b64json('x')}`]],
    ['alg NONE (letter case)', async () => ['/hs/a', `${b64json({ alg: 'NONE' })}.${b64json(claims())}.`]],
    // The classic confusion attack: HS256 with the RSA public key (PEM text) as the HMAC secret.
    ['HS256 signed with the RSA public key as secret (PEM route)', async () => ['/rs/a', await mint(new TextEncoder().encode(rsPem), { alg: 'HS256' }, claims())]],
    ['HS256 signed with the JWKS RSA key as secret', async () => ['/jwks/a', await mint(new TextEncoder().encode(JSON.stringify(k1.jwk)), { alg: 'HS256', kid: 'k1' }, claims())]],
    ['unlisted alg: RS384 with the right key', async () => ['/rs/a', await mint(rs.privateKey, { alg: 'RS384' }, claims())]],
    ['unlisted alg: HS512 with the right secret', async () => ['/hs/a', await mint(secretBytes, { alg: 'HS512' }, claims())]],
    ['unlisted alg: PS256 with the JWKS key', async () => ['/jwks/a', await mint(k1.privateKey, { alg: 'PS256', kid: 'k1' }, claims())]],
    ['expired', async () => ['/hs/a', await hs({ exp: nowSec() - 60 })]],
    ['exp not a number', async () => ['/hs/a', await hs({ exp: String(nowSec() + 600) })]],
    ['not yet valid (nbf)', async () => ['/hs/a', await hs({ nbf: nowSec() + 60 })]],
    ['issued in the future (iat)', async () => ['/hs/a', await hs({ iat: nowSec() + 600 })]],
    ['wrong iss', async () => ['/hs/a', await hs({ iss: 'https://evil.test' })]],
    ['no iss when one is required', async () => ['/rs/a', await mint(rs.privateKey, { alg: 'RS256' }, { ...claims(), iss: undefined })]],
    ['wrong aud', async () => ['/hs/a', await hs({ aud: 'other' })]],
    ['wrong aud in an array', async () => ['/hs/a', await hs({ aud: ['x', 'y'] })]],
    ['no aud when one is required', async () => ['/jwks/a', await mint(k1.privateKey, { alg: 'RS256', kid: 'k1' }, { ...claims(), aud: undefined })]],
    ['tampered payload', async () => {
      const [h, , s] = (await hs()).split('.');
      return ['/hs/a', `${h}.${b64json(claims({ sub: 'admin' }))}.${s}`];
    }],
    ['signed with another secret', async () => ['/hs/a', await mint(randomBytes(32), { alg: 'HS256' }, claims())]],
    ['signed with another RSA key', async () => ['/rs/a', await mint(other.privateKey, { alg: 'RS256' }, claims())]],
    ['ES256 with another key', async () => ['/es/a', await mint((await newKey('ES256', 'x')).privateKey, { alg: 'ES256' }, claims())]],
    ['EdDSA with another key', async () => ['/ed/a', await mint((await newKey('EdDSA', 'x')).privateKey, { alg: 'EdDSA' }, claims())]],
    ['unknown kid at the JWKS', async () => ['/jwks/a', await mint(other.privateKey, { alg: 'RS256', kid: 'nope' }, claims())]],
    ['known kid, wrong key', async () => ['/jwks/a', await mint(other.privateKey, { alg: 'RS256', kid: 'k1' }, claims())]],
    ['kid of an ES key on an RS256 token', async () => ['/jwks/a', await mint(k1.privateKey, { alg: 'RS256', kid: 'e1' }, claims())]],
    ['crit header (no extension is understood)', async () => ['/hs/a', await mint(secretBytes, { alg: 'HS256', b64: true, crit: ['b64'] } as never, claims())]],
    ['sub not a string', async () => ['/hs/a', await hs({ sub: 42 })]],
  ];
  it.each(cases)('%s: 401 Bearer error="invalid_token", upstream not called', async (_name, make) => {
    const [path, token] = await make();
    const before = up.requests;
    const a = await get(path, null, { authorization: `Bearer ${token}` });
    expectInvalid(a);
    expect(up.requests).toBe(before);
  });

  it('two Authorization headers are refused', async () => {
    const t = await hs();
    const out = await rawRequest(gw.port, `GET /hs/a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t}\r\nAuthorization: Bearer ${t}\r\nConnection: close\r\n\r\n`);
    expect(out).toMatch(/^HTTP\/1\.1 401/);
    expect(out.toLowerCase()).toContain('www-authenticate: bearer error="invalid_token"');
  });

  it('the reason is in the debug log only, never in the answer', async () => {
    const a = await get('/hs/a', await hs({ exp: nowSec() - 60 }), { 'x-request-id': 'jwt-reason-1' });
    expectInvalid(a);
    expect(a.text).not.toMatch(/expire|exp|claim|signature/i);
    await gw.waitForLog(/"msg":"jwt refused".*"requestId":"jwt-reason-1".*"reason":"expired"/, 5000);
  });
});

describe('forwardClaims and consumers', () => {
  it('sets headers from verified claims and removes client-sent copies, claim or not', async () => {
    const t = await hs({ scope: 'read write', roles: ['a', 'b'], name: 'José Ñ', evil: 'x\r\nx-injected: 1' });
    const s = seen(await get('/hs/a', t, { 'x-user-id': 'forged', 'x-scope': 'admin', 'x-evil': 'client' }));
    expect(s['x-user-id']).toBe('acme-sub');
    expect(s['x-scope']).toBe('read write');
    expect(s['x-roles']).toBe('["a","b"]');
    expect(Buffer.from(s['x-user-name'], 'latin1').toString('utf8')).toBe('José Ñ'); // UTF-8 bytes on the wire
    expect(s['x-evil']).toBeUndefined(); // control characters: not forwarded, and the client's copy is gone
    expect(s['x-injected']).toBeUndefined();
    // A token without the claim: the client's header is still removed.
    const s2 = seen(await get('/hs/a', await hs({ sub: undefined }), { 'x-user-id': 'forged', 'X-Scope': 'admin' }));
    expect(s2['x-user-id']).toBeUndefined();
    expect(s2['x-scope']).toBeUndefined();
  });

  it('a sub equal to a consumer jwtSubject makes it the consumer (access log); another sub leaves none', async () => {
    await get('/hs/a', await hs(), { 'x-request-id': 'jwt-consumer-1' });
    await get('/hs/a', await hs({ sub: 'nobody' }), { 'x-request-id': 'jwt-consumer-2' });
    await sleep(300);
    const lines = gw.stdout.split('\n');
    const l1 = lines.find((l) => l.includes('jwt-consumer-1'));
    const l2 = lines.find((l) => l.includes('jwt-consumer-2'));
    expect(JSON.parse(l1!)).toMatchObject({ consumer: 'acme', status: 200 });
    expect(JSON.parse(l2!).consumer).toBeUndefined();
  });

  it('a cached token still honours exp (re-checked on every use)', async () => {
    const t = await hs({ exp: nowSec() - 3 }); // inside the 5 s tolerance for 2 s at most
    seen(await get('/hs/a', t));
    seen(await get('/hs/a', t));
    await sleep(3100);
    expectInvalid(await get('/hs/a', t));
  });
});

describe('path tricks cannot reach the protected route without credentials', () => {
  async function raw(target: string, auth?: string): Promise<number> {
    const out = await rawRequest(gw.port, `GET ${target} HTTP/1.1\r\nHost: localhost\r\n${auth ? `Authorization: ${auth}\r\n` : ''}Connection: close\r\n\r\n`);
    return Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 0);
  }

  it.each([
    ['/public/../private', 401],
    ['/public/../private/x', 401],
    ['/public/%2e%2e/private', 401],
    ['/public/%2E%2E/private/x', 401],
    ['/public/.%2e/private/x', 401],
    ['/private/', 401],
    ['/private//x', 401],
    ['/private/./x', 401],
    ['//private', 401],
    ['/%70rivate/x', 401],
    ['/PRIVATE/x', 404], // matching is case-sensitive: no route, and nothing proxied
    ['/Private', 404],
    ['/public/../../private', 400],
  ])('%s -> %i', async (target, expected) => {
    const before = up.requests;
    expect(await raw(target)).toBe(expected);
    expect(up.requests).toBe(before);
  });

  it('the same paths with a valid token reach the route (the tricks are normalized, not blocked)', async () => {
    const auth = `Bearer ${await hs()}`;
    expect(await raw('/public/../private/x', auth)).toBe(200);
    expect(await raw('/public/%2e%2e/private', auth)).toBe(200);
    expect(await raw('/private/', auth)).toBe(200);
  });
});

describe('JWKS: rotation, refresh limits, host down', () => {
  it('a new kid is fetched on first sight (rotation), on every worker', async () => {
    await sleep(1100); // past the refresh cooldown since the start-up fetch
    jwks.keys = [k1.jwk, e1.jwk, k2.jwk];
    const t = await mint(k2.privateKey, { alg: 'RS256', kid: 'k2' }, claims());
    const answers = await Promise.all(Array.from({ length: 8 }, () => get('/jwks/a', t)));
    for (const a of answers) seen(a);
  });

  it('unknown kids trigger at most one fetch per cooldown per worker, and are refused', async () => {
    await sleep(1100);
    const before = jwks.fetches;
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < 800) {
      const batch = await Promise.all(
        Array.from({ length: 10 }, async () => get('/jwks/a', await mint(other.privateKey, { alg: 'RS256', kid: `rand-${n++}` }, claims()))),
      );
      for (const a of batch) expectInvalid(a);
    }
    const elapsed = performance.now() - t0;
    expect(n).toBeGreaterThan(20);
    // 2 workers, at most one fetch each per 1 s cooldown (whatever asked for it).
    expect(jwks.fetches - before).toBeLessThanOrEqual(2 * (Math.floor(elapsed / 1000) + 1));
  });

  it('a key removed from the set stops working after the next refresh (and its cached verdicts go)', async () => {
    const t = await mint(k1.privateKey, { alg: 'RS256', kid: 'k1' }, claims());
    seen(await get('/jwks/a', t));
    jwks.keys = [e1.jwk, k2.jwk];
    // The periodic refresh (2 s here) happens in the background of a request; poll until both
    // workers have the new set.
    const deadline = Date.now() + 8000;
    let refusedInARow = 0;
    while (Date.now() < deadline && refusedInARow < 6) {
      const a = await get('/jwks/a', t);
      refusedInARow = a.status === 401 ? refusedInARow + 1 : 0;
      await sleep(100);
    }
    expect(refusedInARow).toBe(6);
    seen(await get('/jwks/a', await mint(k2.privateKey, { alg: 'RS256', kid: 'k2' }, claims())));
  });

  it('JWKS host hanging: known kids never wait; an unknown kid waits at most the timeout, once', async () => {
    const known = await mint(k2.privateKey, { alg: 'RS256', kid: 'k2' }, claims());
    jwks.mode = 'hang';
    await sleep(2100); // the key set is now older than the refresh interval, past the cooldown
    const unknown = get('/jwks/a', await mint(other.privateKey, { alg: 'RS256', kid: 'rotated-away' }, claims()));
    // Meanwhile (a fetch hanging in each worker that got a request), known-kid requests answer at once.
    const fast = await Promise.all(Array.from({ length: 20 }, () => get('/jwks/a', known)));
    for (const a of fast) {
      seen(a);
      expect(a.ms).toBeLessThan(1000);
    }
    const u = await unknown;
    expectInvalid(u);
    expect(u.ms).toBeLessThan(3000 + 1500);
    // The host is now known to be down: unknown kids are refused without waiting.
    await sleep(500);
    const again = await get('/jwks/a', await mint(other.privateKey, { alg: 'RS256', kid: 'rotated-away-2' }, claims()));
    expectInvalid(again);
    expect(again.ms).toBeLessThan(1000);
    jwks.mode = 'ok';
  });

  it('JWKS host down (connection refused): the last good set keeps serving', async () => {
    await jwks.down();
    await sleep(2100);
    const t = await mint(k2.privateKey, { alg: 'RS256', kid: 'k2' }, claims());
    for (let i = 0; i < 10; i++) {
      const a = await get('/jwks/a', t);
      seen(a);
      expect(a.ms).toBeLessThan(1000);
    }
    await gw.waitForLog(/jwks fetch failed; the last good key set keeps serving.*ECONNREFUSED/, 5000);
    await jwks.up();
  });
});

describe('JWKS stale limit and cold start', () => {
  it('after GATEWAY_JWKS_MAX_STALE_MS without a good fetch the set is dropped; it comes back with the host', async () => {
    const server = await startJwksServer([k1.jwk]);
    const g = await startGateway(
      {
        upstreams: { app: { targets: [{ url: up.url }] } },
        routes: [{ id: 'j', paths: ['/j'], upstream: 'app', plugins: { jwt: { jwksUrl: server.url, algorithms: ['RS256'] } } }],
      },
      { env: { GATEWAY_JWKS_COOLDOWN_MS: '500', GATEWAY_JWKS_MAX_STALE_MS: '2000', GATEWAY_JWKS_TIMEOUT_MS: '1000' } },
    );
    try {
      const t = await mint(k1.privateKey, { alg: 'RS256', kid: 'k1' }, claims());
      const call = async () => {
        const t0 = performance.now();
        const res = await request(g.url + '/j', { headers: { authorization: `Bearer ${t}` } });
        await res.body.text();
        return { status: res.statusCode, ms: performance.now() - t0 };
      };
      expect((await call()).status).toBe(200);
      await server.down();
      await sleep(2500);
      for (let i = 0; i < 6; i++) {
        const r = await call();
        expect(r.status).toBe(401);
        expect(r.ms).toBeLessThan(1000);
      }
      await server.up();
      const deadline = Date.now() + 6000;
      let okInARow = 0;
      while (Date.now() < deadline && okInARow < 6) {
        okInARow = (await call()).status === 200 ? okInARow + 1 : 0;
        await sleep(100);
      }
      expect(okInARow).toBe(6);
    } finally {
      await g.stop();
      await server.close();
    }
  });

  it('a JWKS host that is down at start-up: tokens refused at once, no request waits', async () => {
    const dead = await freePort();
    const g = await startGateway(
      {
        upstreams: { app: { targets: [{ url: up.url }] } },
        routes: [{ id: 'j', paths: ['/j'], upstream: 'app', plugins: { jwt: { jwksUrl: `http://127.0.0.1:${dead}/jwks`, algorithms: ['RS256'] } } }],
      },
      { env: { GATEWAY_JWKS_COOLDOWN_MS: '60000' } },
    );
    try {
      await sleep(300);
      const t = await mint(k1.privateKey, { alg: 'RS256', kid: 'k1' }, claims());
      for (let i = 0; i < 6; i++) {
        const t0 = performance.now();
        const res = await request(g.url + '/j', { headers: { authorization: `Bearer ${t}` } });
        await res.body.text();
        expect(res.statusCode).toBe(401);
        expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
        expect(performance.now() - t0).toBeLessThan(1000);
      }
    } finally {
      await g.stop();
    }
  });

  it('an unreadable publicKeyFile is refused at start with its pointer', async () => {
    const g = await startGateway(
      {
        upstreams: { app: { targets: [{ url: up.url }] } },
        routes: [{ id: 'j', paths: ['/j'], upstream: 'app', plugins: { jwt: { publicKeyFile: '/nonexistent/key.pem', algorithms: ['RS256'] } } }],
      },
      { noWait: true },
    );
    const exit = await Promise.race([g.exited, sleep(20_000).then(() => null)]);
    if (exit === null) await g.stop();
    expect(exit).not.toBeNull();
    expect(exit!.code).toBe(1);
    expect(g.stderr).toContain('/routes/0/plugins/jwt/publicKeyFile: cannot read "/nonexistent/key.pem": ENOENT');
  });
});

describe('verifier (in process)', () => {
  it('agrees with jose jwtVerify on valid and invalid tokens, for every algorithm family', async () => {
    for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA'] as const) {
      const k = await newKey(alg, 'k');
      const source = new StaticKeySource([keyEntry(createPublicKey(await exportSPKI(k.publicKey as CryptoKey)), undefined)], true);
      const v = new Verifier(source, { algorithms: [alg], issuer: ISS, audience: AUD, clockToleranceMs: 5000 }, null);
      const tokens = [
        await mint(k.privateKey, { alg }, claims()),
        await mint(k.privateKey, { alg }, claims({ exp: nowSec() - 60 })),
        await mint(k.privateKey, { alg }, claims({ aud: 'x' })),
        await mint((await newKey(alg, 'o')).privateKey, { alg }, claims()),
      ];
      for (const t of tokens) {
        const mine = v.verify(t);
        expect(mine).not.toBeInstanceOf(Promise); // synchronous with a key at hand
        const theirs = await jwtVerify(t, k.publicKey, { algorithms: [alg], issuer: ISS, audience: AUD, clockTolerance: 5 }).then(
          () => true,
          () => false,
        );
        expect(typeof mine !== 'string', `${alg} ${t.slice(-8)}`).toBe(theirs);
      }
    }
  });

  it('jose mode gives the same verdicts (async)', async () => {
    const v = new Verifier(secretKeySource(SECRET), { algorithms: ['HS256'], issuer: ISS, clockToleranceMs: 5000, mode: 'jose' }, null);
    const ok = v.verify(await hs());
    expect(ok).toBeInstanceOf(Promise);
    expect(typeof (await ok)).toBe('object');
    expect(typeof (await v.verify(await hs({ exp: nowSec() - 60 })))).toBe('string');
  });

  it('the token cache is bounded by entries and by total token length, and is only fed valid tokens', async () => {
    const cache = new TokenCache(100, 20_000, 1000);
    const v = new Verifier(secretKeySource(SECRET), { algorithms: ['HS256'], clockToleranceMs: 0 }, cache);
    for (let i = 0; i < 300; i++) expect(typeof v.verify(await mint(secretBytes, { alg: 'HS256' }, { n: i, exp: nowSec() + 60 }))).toBe('object');
    expect(cache.size).toBeLessThanOrEqual(100);
    const big = await mint(secretBytes, { alg: 'HS256' }, { pad: 'x'.repeat(2000) });
    v.verify(big);
    expect(cache.size).toBeLessThanOrEqual(100); // longer than maxTokenChars: verified, not kept
    const sizeBefore = cache.size;
    for (let i = 0; i < 50; i++) v.verify(await mint(randomBytes(32), { alg: 'HS256' }, { n: i }));
    expect(cache.size).toBe(sizeBefore); // failures never cached
    const t = await mint(secretBytes, { alg: 'HS256' }, { exp: nowSec() + 60 });
    v.verify(t);
    const hits = cache.hits;
    v.verify(t);
    expect(cache.hits).toBe(hits + 1);
  });

  it('a token expiring soon is dropped from the cache at exp + tolerance', async () => {
    const cache = new TokenCache();
    const v = new Verifier(secretKeySource(SECRET), { algorithms: ['HS256'], clockToleranceMs: 0 }, cache);
    const t = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(nowSec() + 1).sign(secretBytes);
    expect(typeof v.verify(t)).toBe('object');
    await sleep(2100);
    expect(v.verify(t)).toBe('expired');
  });

  it('parses Bearer credentials and formats claim header values', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer   abc  ')).toBe('abc');
    expect(bearerToken('Bearer')).toBe('');
    expect(bearerToken('Basic abc')).toBeNull();
    expect(bearerToken('Bearerabc')).toBeNull();
    expect(claimHeaderValue(12)).toBe('12');
    expect(claimHeaderValue(true)).toBe('true');
    expect(claimHeaderValue({ a: 1 })).toBe('{"a":1}');
    expect(claimHeaderValue(null)).toBeNull();
    expect(claimHeaderValue('a\nb')).toBeNull();
  });
});
