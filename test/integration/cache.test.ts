/**
 * The cache plugin through the real gateway (one worker: the store is per worker) against a real
 * upstream that counts its calls: hits and misses, the caching rules of CONFIG.md
 * (no-store/private/no-cache, Set-Cookie, max-age/s-maxage, Authorization, Vary), Age, HEAD from
 * a cached GET, 304 on If-None-Match, per-consumer keys, the LRU bound, expiry, and request
 * coalescing (50 concurrent misses = one upstream call; an error is shared, never stored).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { fetchText, sleep, startGateway, startUpstream, type Gateway, type Upstream } from '../helpers/gateway.js';

let up: Upstream;
let gw: Gateway;
/** Upstream calls by path (without query). */
const calls = new Map<string, number>();
const count = (path: string) => calls.get(path) ?? 0;

function handler(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url!, 'http://x');
  const p = url.pathname.replace(/^\/(c|short|small|auth|getonly|timeout)/, '');
  calls.set(url.pathname, count(url.pathname) + 1);
  const n = count(url.pathname);
  const json = (status: number, headers: Record<string, string | string[]>, body: unknown) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(req.method === 'HEAD' ? undefined : text);
  };
  switch (p) {
    case '/plain':
      return json(200, { etag: '"v1"', 'x-cache': 'FROM-UPSTREAM' }, { n, q: url.search });
    case '/cc':
      return json(200, { 'cache-control': url.searchParams.get('cc')! }, { n });
    case '/cookie':
      return json(200, { 'set-cookie': 'session=abc' }, { n });
    case '/vary':
      return json(200, { vary: 'Accept-Language' }, { n, lang: req.headers['accept-language'] ?? '' });
    case '/age':
      return json(200, { age: '100' }, { n });
    case '/who':
      return json(200, {}, { n });
    case '/slow':
      return void setTimeout(() => json(200, {}, { n }), 300);
    case '/fail':
      return void setTimeout(() => json(503, { 'retry-after': '1' }, { down: true, n }), 200);
    case '/hang':
      return void setTimeout(() => json(200, {}, { n }), 2000);
    case '/sized': {
      const size = Number(url.searchParams.get('size'));
      return json(200, {}, JSON.stringify({ n, pad: 'x'.repeat(size) }));
    }
    default:
      return json(200, {}, { n });
  }
}

const sha = (s: string) => 'sha256:' + createHash('sha256').update(s).digest('hex');

beforeAll(async () => {
  up = await startUpstream(handler);
  gw = await startGateway({
    workers: 1,
    upstreams: { app: { targets: [{ url: up.url }] } },
    consumers: [
      { id: 'alice', apiKeys: [sha('key-alice')] },
      { id: 'bob', apiKeys: [sha('key-bob')] },
    ],
    plugins: { cache: { ttlMs: 60_000, maxBytes: 1 << 20 } },
    routes: [
      { id: 'c', paths: ['/c/*'], upstream: 'app' },
      { id: 'short', paths: ['/short/*'], upstream: 'app', plugins: { cache: { ttlMs: 300 } } },
      { id: 'small', paths: ['/small/*'], upstream: 'app', plugins: { cache: { maxBytes: 64 * 1024 } } },
      { id: 'auth', paths: ['/auth/*'], upstream: 'app', plugins: { apiKey: { header: 'x-api-key' } } },
      { id: 'getonly', paths: ['/getonly/*'], upstream: 'app', plugins: { cache: { methods: ['GET'] } } },
      { id: 'timeout', paths: ['/timeout/*'], upstream: 'app', timeoutMs: 300, plugins: { requestId: {} } },
      { id: 'nocache', paths: ['/nocache/*'], upstream: 'app', plugins: { cache: false } },
    ],
  });
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

const get = (path: string, headers: Record<string, string> = {}) => fetchText(gw.url + path, headers);
const head = (path: string, headers: Record<string, string> = {}) => fetchText(gw.url + path, headers, 'HEAD');

describe('hits and misses', () => {
  it('stores a GET: the next one is a HIT with the same status, headers and body, and never reaches the upstream', async () => {
    const miss = await get('/c/plain?a=1');
    expect(miss.status).toBe(200);
    expect(miss.headers['x-cache']).toBe('MISS');
    const hit = await get('/c/plain?a=1');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.text).toBe(miss.text);
    expect(hit.headers['content-type']).toBe('application/json');
    expect(hit.headers.etag).toBe('"v1"');
    expect(hit.headers.age).toMatch(/^\d+$/);
    expect(count('/c/plain')).toBe(1);
    // The upstream's own X-Cache never reaches the client: ours is the only one.
    expect(miss.headers['x-cache']).toBe('MISS');
    // The query string is part of the key.
    const other = await get('/c/plain?a=2');
    expect(other.headers['x-cache']).toBe('MISS');
    expect(JSON.parse(other.text).q).toBe('?a=2');
    expect(count('/c/plain')).toBe(2);
  });

  it('answers HEAD from the cached GET (Content-Length, no body); an uncached HEAD goes upstream and stores nothing', async () => {
    const got = await get('/c/for-head');
    const h = await head('/c/for-head');
    expect(h.headers['x-cache']).toBe('HIT');
    expect(h.text).toBe('');
    expect(Number(h.headers['content-length'])).toBe(Buffer.byteLength(got.text));
    expect(count('/c/for-head')).toBe(1);

    const first = await head('/c/head-first');
    expect(first.headers['x-cache']).toBe('MISS');
    expect(count('/c/head-first')).toBe(1);
    expect((await get('/c/head-first')).headers['x-cache']).toBe('MISS');
    expect(count('/c/head-first')).toBe(2);
  });

  it('HEAD is not served from the cache on a route whose methods are only GET', async () => {
    await get('/getonly/x');
    expect((await get('/getonly/x')).headers['x-cache']).toBe('HIT');
    const h = await head('/getonly/x');
    expect(h.headers['x-cache']).toBe('MISS');
    expect(count('/getonly/x')).toBe(2);
  });

  it('does not cache other methods, Range requests, or routes that turn it off', async () => {
    const post = await fetchText(gw.url + '/c/posted', {}, 'POST');
    expect(post.headers['x-cache']).toBe('MISS');
    await fetchText(gw.url + '/c/posted', {}, 'POST');
    expect(count('/c/posted')).toBe(2);
    await get('/c/ranged', { range: 'bytes=0-3' });
    await get('/c/ranged', { range: 'bytes=0-3' });
    expect(count('/c/ranged')).toBe(2);
    await get('/nocache/x');
    const again = await get('/nocache/x');
    expect(again.headers['x-cache']).toBeUndefined();
    expect(count('/nocache/x')).toBe(2);
  });

  it('answers 304 to If-None-Match on a stored ETag', async () => {
    await get('/c/plain?etag');
    const r = await get('/c/plain?etag', { 'if-none-match': 'W/"v1", "other"' });
    expect(r.status).toBe(304);
    expect(r.text).toBe('');
    expect(r.headers.etag).toBe('"v1"');
    expect(r.headers['x-cache']).toBe('HIT');
  });

  it('an expired entry is a MISS and is filled again', async () => {
    await get('/short/x');
    expect((await get('/short/x')).headers['x-cache']).toBe('HIT');
    await sleep(400);
    expect((await get('/short/x')).headers['x-cache']).toBe('MISS');
    expect(count('/short/x')).toBe(2);
  });

  it('Age counts from the upstream\'s Age', async () => {
    await get('/c/age');
    const hit = await get('/c/age');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(Number(hit.headers.age)).toBeGreaterThanOrEqual(100);
  });
});

describe('the caching rules', () => {
  it.each(['no-store', 'private', 'no-cache', 'max-age=0', 'private, max-age=60'])('never stores Cache-Control: %s', async (cc) => {
    const path = '/c/cc?cc=' + encodeURIComponent(cc);
    await get(path);
    const second = await get(path);
    expect(second.headers['x-cache']).toBe('MISS');
    expect(JSON.parse(second.text).n).toBeGreaterThan(JSON.parse((await get(path)).text).n - 2);
  });

  it('never stores an answer with Set-Cookie', async () => {
    await get('/c/cookie');
    const second = await get('/c/cookie');
    expect(second.headers['x-cache']).toBe('MISS');
    expect(second.headers['set-cookie']).toBeDefined();
    expect(count('/c/cookie')).toBe(2);
  });

  it('max-age shortens ttlMs, and s-maxage wins over max-age', async () => {
    const path = '/c/cc?cc=' + encodeURIComponent('max-age=1');
    await get(path);
    expect((await get(path)).headers['x-cache']).toBe('HIT');
    const both = '/c/cc?cc=' + encodeURIComponent('max-age=60, s-maxage=1');
    await get(both);
    expect((await get(both)).headers['x-cache']).toBe('HIT');
    await sleep(1100);
    expect((await get(path)).headers['x-cache']).toBe('MISS');
    expect((await get(both)).headers['x-cache']).toBe('MISS');
  });

  it('stores the answer to a request with Authorization only when it says public (or s-maxage)', async () => {
    const auth = { authorization: 'Bearer t' };
    await get('/c/with-auth', auth);
    expect((await get('/c/with-auth', auth)).headers['x-cache']).toBe('MISS');
    const pub = '/c/cc?cc=public';
    await get(pub, auth);
    expect((await get(pub, auth)).headers['x-cache']).toBe('HIT');
  });

  it('keeps the variants Vary names apart', async () => {
    const en = await get('/c/vary', { 'accept-language': 'en' });
    expect(JSON.parse(en.text).lang).toBe('en');
    const de = await get('/c/vary', { 'accept-language': 'de' });
    expect(de.headers['x-cache']).toBe('MISS');
    expect(JSON.parse(de.text).lang).toBe('de');
    const enAgain = await get('/c/vary', { 'accept-language': 'en' });
    expect(enAgain.headers['x-cache']).toBe('HIT');
    expect(JSON.parse(enAgain.text).lang).toBe('en');
    const deAgain = await get('/c/vary', { 'accept-language': 'de' });
    expect(deAgain.headers['x-cache']).toBe('HIT');
    expect(JSON.parse(deAgain.text).lang).toBe('de');
    expect(count('/c/vary')).toBe(2);
  });

  it('never gives one consumer\'s cached answer to another', async () => {
    const a = await get('/auth/who', { 'x-api-key': 'key-alice' });
    expect(a.status).toBe(200);
    const b = await get('/auth/who', { 'x-api-key': 'key-bob' });
    expect(b.headers['x-cache']).toBe('MISS');
    expect(JSON.parse(b.text).n).toBe(JSON.parse(a.text).n + 1);
    expect((await get('/auth/who', { 'x-api-key': 'key-bob' })).headers['x-cache']).toBe('HIT');
    expect((await get('/auth/who', { 'x-api-key': 'key-alice' })).headers['x-cache']).toBe('HIT');
    // A refused request never sees the cache: auth runs first.
    expect((await get('/auth/who')).status).toBe(401);
  });
});

describe('the store is bounded', () => {
  it('evicts the least recently used entry first, and does not store an answer over a quarter of maxBytes', async () => {
    // maxBytes 64 KiB: six ~10 KiB answers fit, the seventh pushes out the least recently used.
    for (let i = 0; i < 6; i++) await get(`/small/sized?size=10000&e=${i}`);
    expect((await get('/small/sized?size=10000&e=0')).headers['x-cache']).toBe('HIT'); // e0 is now the most recent
    await get('/small/sized?size=10000&e=6');
    expect((await get('/small/sized?size=10000&e=1')).headers['x-cache']).toBe('MISS'); // the oldest went
    expect((await get('/small/sized?size=10000&e=0')).headers['x-cache']).toBe('HIT');
    await get('/small/sized?size=20000&e=huge');
    expect((await get('/small/sized?size=20000&e=huge')).headers['x-cache']).toBe('MISS');
  });
});

describe('request coalescing', () => {
  it('50 concurrent misses of one key make one upstream call; all get the same answer', async () => {
    const rs = await Promise.all(Array.from({ length: 50 }, () => get('/c/slow?k=1')));
    expect(count('/c/slow')).toBe(1);
    expect(new Set(rs.map((r) => r.text)).size).toBe(1);
    expect(rs.every((r) => r.status === 200)).toBe(true);
    expect(rs.filter((r) => r.headers['x-cache'] === 'MISS')).toHaveLength(1);
    expect(rs.filter((r) => r.headers['x-cache'] === 'HIT')).toHaveLength(49);
  });

  it('an upstream error is shared by every waiter and not stored', async () => {
    const rs = await Promise.all(Array.from({ length: 50 }, () => get('/c/fail')));
    expect(count('/c/fail')).toBe(1);
    expect(rs.every((r) => r.status === 503)).toBe(true);
    expect(new Set(rs.map((r) => r.text)).size).toBe(1);
    expect(JSON.parse(rs[0].text).down).toBe(true);
    const next = await get('/c/fail');
    expect(next.headers['x-cache']).toBe('MISS');
    expect(count('/c/fail')).toBe(2);
  });

  it('a gateway error (the route timeout) is shared too: one upstream call, 50 JSON 504s with their own request ids', async () => {
    const rs = await Promise.all(Array.from({ length: 50 }, () => get('/timeout/hang')));
    expect(count('/timeout/hang')).toBe(1);
    expect(rs.every((r) => r.status === 504)).toBe(true);
    const bodies = rs.map((r) => JSON.parse(r.text).error);
    expect(bodies.every((e) => e.code === 'upstream_timeout')).toBe(true);
    expect(new Set(bodies.map((e) => e.requestId)).size).toBe(50);
  });

  it('waiters of an answer that cannot be stored ask the upstream themselves', async () => {
    const path = '/c/cc?cc=private&k=coalesce';
    const rs = await Promise.all(Array.from({ length: 5 }, () => get(path)));
    expect(rs.every((r) => r.status === 200)).toBe(true);
    expect(new Set(rs.map((r) => JSON.parse(r.text).n)).size).toBe(5);
  });
});

it('the cache key does not leak between routes or hosts', async () => {
  await get('/c/hosted', { host: 'a.test' });
  expect((await get('/c/hosted', { host: 'b.test' })).headers['x-cache']).toBe('MISS');
  expect((await get('/c/hosted', { host: 'A.test' })).headers['x-cache']).toBe('HIT');
});
