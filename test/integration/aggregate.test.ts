/**
 * Aggregation end to end: the real gateway (primary + 2 workers), real node:http backends on
 * loopback that are slow, fail, answer garbage or too much, and undici as the client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { freePort, startGateway, startUpstream, sleep, type Gateway, type Upstream } from '../helpers/gateway.js';

const TOKEN = 'admin-token-for-aggregate-tests-0123';

/** A record of what one backend request looked like. */
interface Seen {
  url: string;
  method: string;
  headers: IncomingMessage['headers'];
}

let app: Upstream;
const seen: Seen[] = [];
/** /slow/*: requests in flight right now, and the most at once. */
let slowInflight = 0;
let slowMaxInflight = 0;

/** A JSON body of about `bytes`, an array of records; deterministic. */
function bigJson(bytes: number, tag: string): string {
  const items: string[] = [];
  let size = 2;
  for (let i = 0; size < bytes; i++) {
    const item = JSON.stringify({ id: i, tag, name: `item-${i}-é`, n: i * 1.5, ok: i % 2 === 0 });
    items.push(item);
    size += Buffer.byteLength(item) + 1;
  }
  return `[${items.join(',')}]`;
}
const BIG_A = bigJson(300_000, 'a');
const BIG_B = bigJson(200_000, 'b');
const HUGE = bigJson(2_500_000, 'h');

function json(res: ServerResponse, body: string, status = 200, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function backend(req: IncomingMessage, res: ServerResponse): void {
  seen.push({ url: req.url!, method: req.method!, headers: req.headers });
  const url = new URL(req.url!, 'http://x');
  const p = url.pathname;
  if (p.startsWith('/slow/')) {
    slowInflight++;
    slowMaxInflight = Math.max(slowMaxInflight, slowInflight);
    setTimeout(() => {
      slowInflight--;
      json(res, JSON.stringify({ slow: p }));
    }, 200);
    return;
  }
  switch (p) {
    case '/echo': // what the backend saw, as JSON
    case '/users/echo':
      return json(res, JSON.stringify({ url: req.url, via: req.headers.via }));
    case '/big-id':
      return json(res, '{"id":12345678901234567890,"f":1.0}\n'); // a double would round the id
    case '/fail':
      return json(res, '{"error":"boom"}', 500);
    case '/not-found':
      return json(res, '{"error":"nope"}', 404);
    case '/never':
      return; // never answers
    case '/garbage':
      return json(res, '{"a": [1, 2');
    case '/bad-utf8': {
      const body = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]); // {"a":"\xff\xfe"}
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      return res.end(body);
    }
    case '/text':
      return json(res, '"hello"', 200, 'text/plain');
    case '/problem':
      return json(res, '{"type":"about:blank"}', 200, 'application/problem+json; charset=utf-8');
    case '/gzip':
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': 2 });
      return res.end('{}');
    case '/big-a':
      return json(res, BIG_A);
    case '/big-b':
      return json(res, BIG_B);
    case '/huge':
      return json(res, HUGE);
    case '/big-chunked': // no Content-Length: the limit is found while reading
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('[');
      res.write(`${'1,'.repeat(3000)}`);
      return res.end('1]');
    default:
      return json(res, JSON.stringify({ path: p, query: url.search }));
  }
}

let gw: Gateway;
let adminPort: number;

beforeAll(async () => {
  app = await startUpstream(backend);
  adminPort = await freePort();
  const b = (path: string, as: string, optional = false) => ({ upstream: 'app', path, as, optional });
  gw = await startGateway(
    {
      admin: { host: '127.0.0.1', port: adminPort, token: 'env:AGG_ADMIN_TOKEN' },
      upstreams: {
        app: { targets: [{ url: app.url }], timeouts: { responseHeadersMs: 30_000 } },
      },
      routes: [
        {
          id: 'profile',
          paths: ['/profile/:id', '/v2/:id/profile'],
          aggregate: { backends: [b('/users/{id}', 'user'), b('/orders?user={id}&limit=5', 'orders', true)] },
        },
        { id: 'files', paths: ['/files/*'], aggregate: { backends: [b('/meta/{*}', 'meta'), b('/find?path={*}', 'search')] } },
        { id: 'parallel', paths: ['/parallel'], aggregate: { backends: [b('/slow/a', 'a'), b('/slow/b', 'b'), b('/slow/c', 'c')] } },
        {
          id: 'partial',
          paths: ['/partial'],
          aggregate: {
            backends: [
              b('/ok', 'ok'),
              b('/fail', 'fail', true),
              b('/never', 'late', true),
              b('/garbage', 'garbage', true),
              b('/text', 'text', true),
              b('/big-chunked', 'big', true),
              b('/problem', 'problem', true),
            ],
            timeoutMs: 600,
            maxBackendBytes: 4000,
          },
        },
        { id: 'req-fail', paths: ['/req/fail'], aggregate: { backends: [b('/ok', 'ok'), b('/fail', 'orders')] } },
        { id: 'req-404', paths: ['/req/404'], aggregate: { backends: [b('/not-found', 'orders'), b('/ok', 'ok')] } },
        { id: 'req-late', paths: ['/req/late'], aggregate: { backends: [b('/ok', 'ok'), b('/never', 'orders')], timeoutMs: 400 } },
        { id: 'req-garbage', paths: ['/req/garbage'], aggregate: { backends: [b('/garbage', 'orders'), b('/ok', 'ok')] } },
        { id: 'req-utf8', paths: ['/req/utf8'], aggregate: { backends: [b('/bad-utf8', 'orders')] } },
        { id: 'req-text', paths: ['/req/text'], aggregate: { backends: [b('/text', 'orders')] } },
        { id: 'req-gzip', paths: ['/req/gzip'], aggregate: { backends: [b('/gzip', 'orders')] } },
        { id: 'req-big', paths: ['/req/big'], aggregate: { backends: [b('/big-a', 'orders')], maxBackendBytes: 100_000 } },
        { id: 'req-big-chunked', paths: ['/req/big-chunked'], aggregate: { backends: [b('/big-chunked', 'orders')], maxBackendBytes: 4000 } },
        { id: 'exact', paths: ['/exact'], aggregate: { backends: [b('/big-id', 'x')] } },
        {
          id: 'headers',
          paths: ['/headers/:id'],
          aggregate: { backends: [b('/echo', 'one'), b('/users/echo', 'two')] },
          plugins: { requestId: { header: 'x-request-id' }, requestHeaders: { set: { 'x-added': 'by-plugin' } } },
        },
        {
          id: 'limited',
          paths: ['/limited'],
          aggregate: { backends: [b('/ok', 'a'), b('/ok', 'b'), b('/ok', 'c')] },
          plugins: { rateLimit: { requestsPerSecond: 0.001, burst: 3, key: 'route' } },
        },
        { id: 'pool', paths: ['/pool'], aggregate: { backends: [b('/big-a', 'a'), b('/big-b', 'b'), b('/fail', 'c', true)], offloadAboveBytes: 0 } },
        {
          id: 'loop',
          paths: ['/loop'],
          aggregate: { backends: [b('/big-a', 'a'), b('/big-b', 'b'), b('/fail', 'c', true)], offloadAboveBytes: 10_000_000 },
        },
        { id: 'huge', paths: ['/huge'], aggregate: { backends: [b('/huge', 'a'), b('/huge', 'b')], maxBackendBytes: 3_000_000 } },
        { id: 'pool-garbage', paths: ['/pool/garbage'], aggregate: { backends: [b('/big-a', 'a'), b('/garbage', 'g', true)], offloadAboveBytes: 0 } },
        { id: 'pool-garbage-req', paths: ['/pool/garbage-req'], aggregate: { backends: [b('/big-a', 'a'), b('/garbage', 'g')], offloadAboveBytes: 0 } },
      ],
    },
    { env: { AGG_ADMIN_TOKEN: TOKEN } },
  );
  await gw.waitForLog('"admin API listening"');
});

afterAll(async () => {
  await gw?.stop();
  await app?.close();
});

async function get(path: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') {
  const res = await request(gw.url + path, { method, headers });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body, text: body.toString(), json: () => JSON.parse(body.toString()) };
}

/** The backend requests whose URL starts with `prefix`, seen since `from`. */
function seenSince(from: number, prefix: string): Seen[] {
  return seen.slice(from).filter((s) => s.url.startsWith(prefix));
}

/** GET on a raw connection that reads nothing for `pauseMs`, then everything: the head and the body. */
function slowRead(port: number, path: string, pauseMs: number): Promise<{ head: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let total = 0;
    sock.pause();
    setTimeout(() => sock.resume(), pauseMs);
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      total += c.length;
      const all = Buffer.concat(chunks, total);
      const end = all.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = all.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? -1);
      if (all.length - end - 4 >= length) {
        sock.destroy();
        resolve({ head, body: all.subarray(end + 4) });
      }
    });
    sock.on('error', reject);
    sock.on('close', () => reject(new Error(`closed after ${total} bytes`)));
    sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  });
}

async function metrics(): Promise<string> {
  const r = await request(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return r.body.text();
}

/** A counter's value for one label set, summed over what the workers flushed (every second). */
async function counterValue(line: RegExp): Promise<number> {
  const m = line.exec(await metrics());
  return m ? Number(m[1]) : 0;
}

describe('aggregation', () => {
  it('merges the backends into one JSON object with {param} substituted, the client query not forwarded', async () => {
    const r = await get('/profile/42?debug=1');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['x-gateway-partial']).toBeUndefined();
    expect(r.json()).toEqual({ user: { path: '/users/42', query: '' }, orders: { path: '/orders', query: '?user=42&limit=5' } });
    // The second path pattern of the route names its param elsewhere: its own template indexes.
    expect((await get('/v2/7/profile')).json().user.path).toBe('/users/7');
  });

  it('percent-encodes param values: a value cannot add query parameters or path segments', async () => {
    const from = seen.length;
    const r = await get("/profile/a&admin=1+b;c'd%2Fe");
    expect(r.status).toBe(200);
    const urls = seenSince(from, '/').map((s) => s.url).sort();
    expect(urls).toEqual(['/orders?user=a%26admin%3D1%2Bb%3Bc%27d%2Fe&limit=5', '/users/a%26admin%3D1%2Bb%3Bc%27d%2Fe']);
    // A wildcard keeps its "/" in the path part, not in the query part.
    const before = seen.length;
    await get('/files/docs/a%20b%3F.txt');
    expect(seenSince(before, '/').map((s) => s.url).sort()).toEqual(['/find?path=docs%2Fa%20b%3F.txt', '/meta/docs/a%20b%3F.txt']);
    const after = seen.length;
    await get('/files/q&a/list');
    expect(seenSince(after, '/').map((s) => s.url).sort()).toEqual(['/find?path=q%26a%2Flist', '/meta/q%26a/list']);
  });

  it('calls the backends in parallel: all three are in flight at once', async () => {
    slowMaxInflight = 0;
    const r = await get('/parallel');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ a: { slow: '/slow/a' }, b: { slow: '/slow/b' }, c: { slow: '/slow/c' } });
    expect(slowMaxInflight).toBe(3);
  });

  it('leaves failed, late, non-JSON and oversized optional backends out and names them in X-Gateway-Partial', async () => {
    const r = await get('/partial');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ ok: { path: '/ok', query: '' }, problem: { type: 'about:blank' } });
    expect(r.headers['x-gateway-partial']).toBe('fail,late,garbage,text,big');
  });

  it('a failed required backend is a 502 naming it; a 4xx counts as failed too', async () => {
    for (const path of ['/req/fail', '/req/404']) {
      const r = await get(path);
      expect(r.status).toBe(502);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.json().error).toMatchObject({ status: 502, code: 'aggregate_backend_failed', message: 'A required backend of the aggregation failed: "orders".' });
    }
  });

  it('a required backend still out at the deadline is a 504', async () => {
    const r = await get('/req/late');
    expect(r.status).toBe(504);
    expect(r.json().error).toMatchObject({ code: 'aggregate_backend_timeout', message: expect.stringContaining('"orders"') });
    // The route's deadline decided (the upstream's responseHeadersMs is 30 s).
    await gw.waitForLog(/"msg":"required aggregate backend failed","route":"req-late","backend":"orders".*"detail":"aggregate timeoutMs reached"/);
  });

  it('non-JSON required answers are 502 aggregate_backend_not_json: invalid JSON, invalid UTF-8, a text/plain type, a Content-Encoding', async () => {
    for (const path of ['/req/garbage', '/req/utf8', '/req/text', '/req/gzip']) {
      const r = await get(path);
      expect(r.status, path).toBe(502);
      expect(r.json().error, path).toMatchObject({ code: 'aggregate_backend_not_json', message: expect.stringContaining('"orders"') });
    }
  });

  it('an answer over maxBackendBytes is 502 aggregate_backend_too_large, by Content-Length or while reading a chunked body', async () => {
    for (const path of ['/req/big', '/req/big-chunked']) {
      const r = await get(path);
      expect(r.status, path).toBe(502);
      expect(r.json().error, path).toMatchObject({ code: 'aggregate_backend_too_large', message: expect.stringContaining('"orders"') });
    }
  });

  it('keeps the backend bytes as sent (a 64-bit id keeps its digits), whitespace around them dropped', async () => {
    const r = await get('/exact');
    expect(r.text).toBe('{"x":{"id":12345678901234567890,"f":1.0}}');
  });

  it('HEAD gets the headers and the length of the GET answer, no body', async () => {
    const g = await get('/profile/1');
    const h = await get('/profile/1', {}, 'HEAD');
    expect(h.status).toBe(200);
    expect(Number(h.headers['content-length'])).toBe(g.body.length);
    expect(h.body.length).toBe(0);
  });

  it('sends every backend the headers a proxied request gets, GET with JSON accepted and no conditionals', async () => {
    const from = seen.length;
    const r = await get('/headers/9?q=1', {
      'x-client': 'c1',
      'if-none-match': '"abc"',
      'accept-encoding': 'gzip, br',
      accept: 'application/msgpack',
      range: 'bytes=0-1',
    });
    expect(r.status).toBe(200);
    const rid = r.headers['x-request-id'] as string;
    expect(rid).toBeTruthy();
    const calls = seenSince(from, '/');
    expect(calls.map((c) => c.url).sort()).toEqual(['/echo', '/users/echo']);
    for (const c of calls) {
      expect(c.method).toBe('GET');
      expect(c.headers).toMatchObject({
        'x-forwarded-for': '127.0.0.1',
        'x-forwarded-proto': 'http',
        'x-forwarded-host': `127.0.0.1:${gw.port}`,
        'x-forwarded-port': String(gw.port),
        'x-real-ip': '127.0.0.1',
        via: '1.1 gateway',
        'x-request-id': rid,
        'x-added': 'by-plugin',
        'x-client': 'c1',
        accept: 'application/json',
        'accept-encoding': 'identity',
        host: `127.0.0.1:${app.port}`,
      });
      for (const h of ['if-none-match', 'range']) expect(c.headers[h]).toBeUndefined();
    }
    expect(r.headers.via).toBe('1.1 gateway');
  });

  it('runs the route plugins once per client call: a burst of 3 admits 3 calls of 3 backends each', async () => {
    const from = seen.length;
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await get('/limited')).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(seenSince(from, '/ok').length).toBe(9);
  });

  it('merges large answers on the offload pool with the same bytes as on the event loop', async () => {
    const poolRe = /gateway_aggregate_merges_total\{route="pool",where="pool"\} (\d+)/;
    const loopRe = /gateway_aggregate_merges_total\{route="loop",where="loop"\} (\d+)/;
    const [onPool, onLoop] = await Promise.all([get('/pool'), get('/loop')]);
    expect(onPool.status).toBe(200);
    expect(onPool.headers['x-gateway-partial']).toBe('c');
    expect(onPool.body.equals(onLoop.body)).toBe(true);
    expect(onPool.text).toBe(`{"a":${BIG_A},"b":${BIG_B}}`);
    // The workers flush their counters every second.
    let pool = 0;
    let loop = 0;
    for (let i = 0; i < 30 && (pool === 0 || loop === 0); i++) {
      await sleep(200);
      pool = await counterValue(poolRe);
      loop = await counterValue(loopRe);
    }
    expect(pool).toBeGreaterThanOrEqual(1);
    expect(loop).toBeGreaterThanOrEqual(1);
    expect(await counterValue(/gateway_aggregate_merges_total\{route="pool",where="loop"\} (\d+)/)).toBe(0);
  });

  it('writes a 5 MB answer whole to a client that stops reading for a while (backpressure, not a truncation)', async () => {
    const { head, body } = await slowRead(gw.port, '/huge', 700);
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(body.length).toBe(2 * Buffer.byteLength(HUGE) + 11);
    expect(body.equals(Buffer.from(`{"a":${HUGE},"b":${HUGE}}`))).toBe(true);
  });

  it('on the pool too, a non-JSON optional body is left out and a required one is a 502', async () => {
    const opt = await get('/pool/garbage');
    expect(opt.status).toBe(200);
    expect(opt.headers['x-gateway-partial']).toBe('g');
    expect(opt.text).toBe(`{"a":${BIG_A}}`);
    const req = await get('/pool/garbage-req');
    expect(req.status).toBe(502);
    expect(req.json().error).toMatchObject({ code: 'aggregate_backend_not_json', message: expect.stringContaining('"g"') });
  });

  it('counts every backend call by result', async () => {
    const re = /gateway_aggregate_backend_results_total\{route="partial",backend="late",result="timeout"\} (\d+)/;
    let n = 0;
    for (let i = 0; i < 30 && n === 0; i++) {
      await sleep(200);
      n = await counterValue(re);
    }
    expect(n).toBeGreaterThanOrEqual(1);
  });
});
