/**
 * The encoding plugin (MessagePack <-> JSON) through the real gateway, checked against msgpackr
 * on the client side and a real JSON upstream: answers converted on Accept (with Vary), request
 * bodies converted for the upstream, malformed input refused before the upstream, what passes
 * untouched (non-JSON, compressed, HEAD, oversized), and the cache keeping both forms apart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { pack, unpack, Packr } from 'msgpackr';
import { request } from 'undici';
import { freePort, startGateway, startUpstream, type Gateway, type Upstream } from '../helpers/gateway.js';
import { MAX_CONVERTED_BYTES, OFFLOAD_ABOVE_BYTES } from '../../src/plugins/encoding/index.js';

const TOKEN = 'admin-token-for-encoding-tests-0123';
let adminPort: number;

let up: Upstream;
let gw: Gateway;
let echoed = 0;

const DOC = { id: 7, name: 'Zoë', tags: ['a', 'b'], nested: { ok: true, none: null, ratio: 0.25, neg: -3 } };
/** A document over OFFLOAD_ABOVE_BYTES both as JSON and as MessagePack: converted on the offload pool. */
const LARGE = { rows: Array.from({ length: 4000 }, (_, i) => ({ id: i, name: `row-${i}`, score: i / 8, on: i % 2 === 0 })) };

beforeAll(async () => {
  up = await startUpstream((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url!, 'http://x');
      const send = (status: number, headers: Record<string, string>, data: Buffer | string) => {
        res.writeHead(status, { 'content-length': Buffer.byteLength(data), ...headers });
        res.end(req.method === 'HEAD' ? undefined : data);
      };
      switch (url.pathname.replace(/^\/(e|cached)/, '')) {
        case '/doc': return send(200, { 'content-type': 'application/json; charset=utf-8' }, JSON.stringify(DOC));
        case '/problem': return send(422, { 'content-type': 'application/problem+json' }, JSON.stringify({ title: 'bad' }));
        case '/text': return send(200, { 'content-type': 'text/plain' }, 'plain words');
        case '/not-json': return send(200, { 'content-type': 'application/json' }, '{not json');
        case '/gzip': return send(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }, gzipSync(JSON.stringify(DOC)));
        case '/large': return send(200, { 'content-type': 'application/json' }, JSON.stringify(LARGE));
        case '/big': return send(200, { 'content-type': 'application/json' }, JSON.stringify({ pad: 'x'.repeat(MAX_CONVERTED_BYTES) }));
        case '/echo':
          echoed++;
          // Answers with what it received, as JSON: the body parsed, its type and length.
          return send(200, { 'content-type': 'application/json' }, JSON.stringify({
            contentType: req.headers['content-type'],
            contentLength: req.headers['content-length'],
            raw: body.toString('utf8'),
          }));
        case '/mirror': return send(200, { 'content-type': 'application/json' }, body);
        default: return send(404, { 'content-type': 'application/json' }, '{}');
      }
    });
  });
  adminPort = await freePort();
  gw = await startGateway({
    workers: 1,
    admin: { host: '127.0.0.1', port: adminPort, token: 'env:ENC_ADMIN_TOKEN' },
    upstreams: { app: { targets: [{ url: up.url }] } },
    routes: [
      { id: 'e', paths: ['/e/*'], upstream: 'app', plugins: { encoding: { msgpack: true } } },
      { id: 'cached', paths: ['/cached/*'], upstream: 'app', plugins: { encoding: {}, cache: { ttlMs: 60_000 } } },
      { id: 'off', paths: ['/off/*'], upstream: 'app', stripPrefix: '/off', plugins: { encoding: { msgpack: false } } },
    ],
  }, { env: { ENC_ADMIN_TOKEN: TOKEN } });
  await gw.waitForLog('"admin API listening"');
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

async function call(path: string, opts: { method?: 'GET' | 'POST' | 'HEAD'; headers?: Record<string, string>; body?: Buffer | string } = {}) {
  const r = await request(gw.url + path, { method: opts.method ?? 'GET', headers: opts.headers, body: opts.body });
  const body = Buffer.from(await r.body.arrayBuffer());
  return { status: r.statusCode, headers: r.headers as Record<string, string>, body };
}

const MSGPACK = { accept: 'application/msgpack' };

describe('answers', () => {
  it('a JSON answer becomes MessagePack for a client that asks for it, with Vary: Accept', async () => {
    const r = await call('/e/doc', { headers: MSGPACK });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/msgpack');
    expect(r.headers.vary.toLowerCase()).toContain('accept');
    expect(Number(r.headers['content-length'])).toBe(r.body.length);
    expect(unpack(r.body)).toEqual(DOC);
  });

  it('+json types and error statuses are converted too', async () => {
    const r = await call('/e/problem', { headers: { accept: 'application/x-msgpack' } });
    expect(r.status).toBe(422);
    expect(unpack(r.body)).toEqual({ title: 'bad' });
  });

  it('stays JSON without the ask (with Vary: Accept), or when JSON is preferred by q', async () => {
    for (const accept of [undefined, '*/*', 'application/json, application/msgpack;q=0.5', 'application/msgpack;q=0']) {
      const r = await call('/e/doc', { headers: accept === undefined ? {} : { accept } });
      expect(r.headers['content-type'], accept).toBe('application/json; charset=utf-8');
      expect(r.headers.vary.toLowerCase()).toContain('accept');
      expect(JSON.parse(r.body.toString())).toEqual(DOC);
    }
    const preferred = await call('/e/doc', { headers: { accept: 'application/json;q=0.5, application/msgpack' } });
    expect(preferred.headers['content-type']).toBe('application/msgpack');
  });

  it('what is not plain JSON passes untouched: other types, compressed JSON, JSON that does not parse, HEAD', async () => {
    const text = await call('/e/text', { headers: MSGPACK });
    expect(text.headers['content-type']).toBe('text/plain');
    expect(text.body.toString()).toBe('plain words');
    const gz = await call('/e/gzip', { headers: MSGPACK });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.body.length).toBeGreaterThan(0);
    const bad = await call('/e/not-json', { headers: MSGPACK });
    expect(bad.headers['content-type']).toBe('application/json');
    expect(bad.body.toString()).toBe('{not json');
    const head = await call('/e/doc', { method: 'HEAD', headers: MSGPACK });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });

  it(`a JSON answer over ${MAX_CONVERTED_BYTES} bytes streams through unconverted`, async () => {
    const r = await call('/e/big', { headers: MSGPACK });
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.body.length).toBe(MAX_CONVERTED_BYTES + 10);
    expect(JSON.parse(r.body.toString()).pad.length).toBe(MAX_CONVERTED_BYTES);
  });

  it('a route with msgpack false converts nothing', async () => {
    const r = await call('/off/e/doc', { headers: MSGPACK });
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
  });
});

describe('request bodies', () => {
  const post = (body: Buffer | string, contentType = 'application/msgpack', extra: Record<string, string> = {}) =>
    call('/e/echo', { method: 'POST', headers: { 'content-type': contentType, ...extra }, body });

  it('a MessagePack body reaches the upstream as JSON, with its type and length', async () => {
    const r = await post(pack(DOC));
    const seen = JSON.parse(r.body.toString());
    expect(seen.contentType).toBe('application/json');
    expect(JSON.parse(seen.raw)).toEqual(DOC);
    expect(Number(seen.contentLength)).toBe(Buffer.byteLength(seen.raw));
  });

  it('keeps integers beyond 2^53 exact and writes timestamps as ISO strings', async () => {
    const big = Buffer.from([0x82, 0xa3, 0x62, 0x69, 0x67, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xa2, 0x61, 0x74]);
    const withDate = Buffer.concat([big, new Packr({ useRecords: false }).pack(new Date(Date.UTC(2026, 0, 2)))]);
    const r = await post(withDate);
    expect(JSON.parse(r.body.toString()).raw).toBe('{"big":18446744073709551615,"at":"2026-01-02T00:00:00.000Z"}');
  });

  it('a body over limits.bodyBufferBytes (spooled to disk) is converted whole', async () => {
    const doc = { rows: Array.from({ length: 5000 }, (_, i) => ({ i, s: 'row-' + i })) };
    const body = pack(doc);
    expect(body.length).toBeGreaterThan(64 * 1024);
    const r = await post(body);
    expect(JSON.parse(JSON.parse(r.body.toString()).raw)).toEqual(doc);
  });

  it('malformed MessagePack, or values JSON cannot carry, are 400 bad_body and never reach the upstream', async () => {
    const before = echoed;
    const cases: Array<[string, Buffer]> = [
      ['truncated', pack(DOC).subarray(0, 10)],
      ['trailing bytes', Buffer.concat([pack(1), pack(2)])],
      ['the byte 0xc1', Buffer.from([0x91, 0xc1])],
      ['bin', Buffer.from([0xc4, 0x02, 0x01, 0x02])],
      ['NaN', Buffer.from([0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0])],
      ['unknown extension', Buffer.from([0xd4, 0x55, 0x01])],
    ];
    for (const [what, body] of cases) {
      const r = await post(body);
      expect(r.status, what).toBe(400);
      expect(r.headers['content-type']).toBe('application/json');
      const err = JSON.parse(r.body.toString()).error;
      expect(err.code, what).toBe('bad_body');
      expect(err.message).toMatch(/MessagePack/);
    }
    expect(echoed).toBe(before);
  });

  it('other bodies pass untouched', async () => {
    const r = await post('{"already":"json"}', 'application/json');
    const seen = JSON.parse(r.body.toString());
    expect(seen.raw).toBe('{"already":"json"}');
    expect(seen.contentType).toBe('application/json');
  });

  it('round trip: MessagePack in, MessagePack out, through a JSON-only upstream', async () => {
    const r = await call('/e/mirror', { method: 'POST', headers: { 'content-type': 'application/vnd.msgpack', ...MSGPACK }, body: pack(DOC) });
    expect(r.headers['content-type']).toBe('application/msgpack');
    expect(unpack(r.body)).toEqual(DOC);
  });
});

it(`bodies over ${OFFLOAD_ABOVE_BYTES} bytes are converted on the offload pool, both ways; smaller ones on the event loop`, async () => {
  // What the workers flushed (every second) to the primary's /metrics.
  const count = async (direction: string, where: string) => {
    const r = await request(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const m = new RegExp(`^gateway_encoding_conversions_total\\{direction="${direction}",where="${where}"\\} (\\d+)$`, 'm').exec(await r.body.text());
    return m ? Number(m[1]) : 0;
  };
  const settled = async (expected: Record<string, number>) => {
    const read = async () => Object.fromEntries(await Promise.all(Object.keys(expected).map(async (k) => [k, await count(...(k.split('/') as [string, string]))])));
    for (let i = 0; i < 40; i++) {
      const now = await read();
      if (Object.entries(expected).every(([k, v]) => now[k] >= v)) return now;
      await new Promise((r) => setTimeout(r, 100));
    }
    return read();
  };
  // The earlier tests' conversions reach /metrics with the workers' next flush: wait it out.
  await new Promise((r) => setTimeout(r, 1500));
  const before = await settled({ 'to_msgpack/pool': 0, 'to_json/pool': 0, 'to_msgpack/loop': 0 });
  const json = Buffer.from(JSON.stringify(LARGE));
  const packed = pack(LARGE);
  expect(json.length).toBeGreaterThan(OFFLOAD_ABOVE_BYTES);
  expect(packed.length).toBeGreaterThan(OFFLOAD_ABOVE_BYTES);

  const answer = await call('/e/large', { headers: MSGPACK });
  expect(answer.headers['content-type']).toBe('application/msgpack');
  expect(unpack(answer.body)).toEqual(LARGE);
  const echoedBack = await call('/e/echo', { method: 'POST', headers: { 'content-type': 'application/msgpack' }, body: packed });
  expect(JSON.parse(JSON.parse(echoedBack.body.toString()).raw)).toEqual(LARGE);
  const small = await call('/e/doc', { headers: MSGPACK });
  expect(unpack(small.body)).toEqual(DOC);

  const after = await settled({ 'to_msgpack/pool': before['to_msgpack/pool'] + 1, 'to_json/pool': before['to_json/pool'] + 1, 'to_msgpack/loop': before['to_msgpack/loop'] + 1 });
  expect(after['to_msgpack/pool'] - before['to_msgpack/pool']).toBe(1);
  expect(after['to_json/pool'] - before['to_json/pool']).toBe(1);
  expect(after['to_msgpack/loop'] - before['to_msgpack/loop']).toBe(1);
});

it('with the cache on the route, MessagePack and JSON clients get their own stored form (Vary: Accept)', async () => {
  const a = await call('/cached/doc', { headers: MSGPACK });
  expect(a.headers['x-cache']).toBe('MISS');
  const j = await call('/cached/doc');
  expect(j.headers['x-cache']).toBe('MISS');
  const a2 = await call('/cached/doc', { headers: MSGPACK });
  const j2 = await call('/cached/doc');
  expect(a2.headers['x-cache']).toBe('HIT');
  expect(j2.headers['x-cache']).toBe('HIT');
  expect(a2.headers['content-type']).toBe('application/msgpack');
  expect(unpack(a2.body)).toEqual(DOC);
  expect(j2.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(JSON.parse(j2.body.toString())).toEqual(DOC);
});
