/**
 * W3C trace context and OTLP export through the real gateway: what the upstream receives (a valid
 * traceparent always; the client's trace kept, its tracestate passed; invalid ones replaced), the
 * trace id in error bodies and the access log, and, with `tracing`, the spans a real OTLP/HTTP
 * receiver (written here) gets: their parent/child relation to the client's trace and to the
 * traceparent the upstream saw, the attributes CONFIG.md requires, sampling, and the drop counter
 * when the collector is down.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { request } from 'undici';
import { fetchText, freePort, recordingUpstream, sleep, startGateway, type Gateway, type RecordingUpstream } from '../helpers/gateway.js';
import { startWsUpstream, type WsUpstream } from '../helpers/ws-upstream.js';
import { openWs } from '../helpers/ws-client.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
  events?: Array<{ name: string; timeUnixNano: string }>;
  status: { code: number; message?: string };
}

/** A minimal OTLP/HTTP JSON receiver. */
async function collector(): Promise<{ server: Server; url: string; spans: OtlpSpan[]; posts: number; close(): Promise<void> }> {
  const c = { server: null as unknown as Server, url: '', spans: [] as OtlpSpan[], posts: 0, close: async () => {} };
  c.server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      c.posts++;
      expect(req.url).toBe('/v1/traces');
      expect(req.headers['content-type']).toBe('application/json');
      expect(req.headers['x-collector-key']).toBe('k1');
      const body = JSON.parse(Buffer.concat(chunks).toString());
      for (const rs of body.resourceSpans) {
        expect(rs.resource.attributes).toContainEqual({ key: 'service.name', value: { stringValue: 'edge' } });
        for (const ss of rs.scopeSpans) c.spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => c.server.listen(0, '127.0.0.1', () => r()));
  c.url = `http://127.0.0.1:${(c.server.address() as { port: number }).port}/v1/traces`;
  c.close = () => new Promise((r) => { c.server.closeAllConnections(); c.server.close(() => r()); });
  return c;
}

const attrs = (s: OtlpSpan) => Object.fromEntries(s.attributes.map((a) => [a.key, Object.values(a.value)[0]]));
const TP = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;
const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';

let up: RecordingUpstream;
let col: Awaited<ReturnType<typeof collector>>;
let plain: Gateway;
let traced: Gateway;
let adminPort: number;
const TOKEN = 'tracing-admin-token-0123456789';

beforeAll(async () => {
  up = await recordingUpstream();
  col = await collector();
  const deadPort = await freePort();
  plain = await startGateway({
    upstreams: { app: { targets: [{ url: up.url }] }, dead: { targets: [{ url: `http://127.0.0.1:${deadPort}` }] } },
    plugins: { requestId: {} },
    routes: [
      { id: 'app', paths: ['/app/*'], upstream: 'app' },
      { id: 'dead', paths: ['/dead'], upstream: 'dead' },
    ],
  });
  adminPort = await freePort();
  traced = await startGateway({
    admin: { host: '127.0.0.1', port: adminPort, token: TOKEN },
    tracing: { sampleRatio: 0, otlp: { url: col.url, headers: { 'x-collector-key': 'k1' }, timeoutMs: 500 }, serviceName: 'edge' },
    upstreams: { app: { targets: [{ url: up.url }] }, dead: { targets: [{ url: `http://127.0.0.1:${deadPort}` }] } },
    routes: [
      { id: 'traced', paths: ['/t/*'], upstream: 'app', plugins: { requestHeaders: { set: { 'x-a': '1' } } } },
      { id: 'dead', paths: ['/dead'], upstream: 'dead' },
    ],
  });
});

afterAll(async () => {
  await plain?.stop();
  await traced?.stop();
  await up?.close();
  await col?.close();
});

/** The traceparent the upstream got for the last request to `path`. */
function upstreamSaw(path: string): { traceparent: string; tracestate: string | undefined } {
  const seen = up.seen.filter((r) => r.url === path).at(-1)!;
  const h = seen.rawHeaders;
  const all = (name: string) => h.filter((_, i) => i % 2 === 1 && h[i - 1].toLowerCase() === name);
  expect(all('traceparent')).toHaveLength(1);
  return { traceparent: all('traceparent')[0], tracestate: all('tracestate')[0] };
}

describe('trace context, without tracing configured', () => {
  it('a valid traceparent keeps its trace id and gets a new span id for the hop; tracestate passes', async () => {
    await fetchText(plain.url + '/app/keep', { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`, tracestate: 'vendor=abc' });
    const saw = upstreamSaw('/app/keep');
    const m = TP.exec(saw.traceparent)!;
    expect(m[1]).toBe(CLIENT_TRACE);
    expect(m[2]).not.toBe(CLIENT_SPAN);
    expect(saw.traceparent.endsWith('-01')).toBe(true); // the client's decision is followed
    expect(saw.tracestate).toBe('vendor=abc');
  });

  it('without one, or with an invalid one, the upstream gets a new valid traceparent (and no tracestate)', async () => {
    const bad = [
      undefined,
      'garbage',
      `00-${'0'.repeat(32)}-${CLIENT_SPAN}-01`, // all-zero trace id
      `00-${CLIENT_TRACE}-${'0'.repeat(16)}-01`, // all-zero parent id
      `ff-${CLIENT_TRACE}-${CLIENT_SPAN}-01`, // version ff
      `00-${CLIENT_TRACE.toUpperCase()}-${CLIENT_SPAN}-01`, // upper-case hex
      `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01-extra`, // version 00 is exactly 55 characters
    ];
    const traceIds = new Set<string>();
    for (const [i, tp] of bad.entries()) {
      await fetchText(plain.url + `/app/bad${i}`, tp === undefined ? { tracestate: 'v=1' } : { traceparent: tp, tracestate: 'v=1' });
      const saw = upstreamSaw(`/app/bad${i}`);
      const m = TP.exec(saw.traceparent);
      expect(m, String(tp)).not.toBeNull();
      expect(m![1]).not.toBe(CLIENT_TRACE);
      expect(saw.tracestate, String(tp)).toBeUndefined();
      traceIds.add(m![1]);
    }
    expect(traceIds.size).toBe(bad.length);
    // A later version is read by its first four fields.
    await fetchText(plain.url + '/app/v1', { traceparent: `01-${CLIENT_TRACE}-${CLIENT_SPAN}-01-more` });
    expect(TP.exec(upstreamSaw('/app/v1').traceparent)![1]).toBe(CLIENT_TRACE);
  });

  it('the trace id is in gateway error bodies next to the request id, and in the access log', async () => {
    const r = await fetchText(plain.url + '/dead', { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-00`, 'x-request-id': 'trace-test-1' });
    expect(r.status).toBe(502);
    const err = JSON.parse(r.text).error;
    expect(err.requestId).toBe('trace-test-1');
    expect(err.traceId).toBe(CLIENT_TRACE);
    await sleep(300);
    const line = plain.stdout.split('\n').find((l) => l.includes('trace-test-1'))!;
    expect(JSON.parse(line).traceId).toBe(CLIENT_TRACE);
  });
});

describe('spans exported over OTLP/HTTP', () => {
  it('a sampled request: a server span under the client\'s, a plugins span, and an upstream span whose id the upstream saw', async () => {
    const trace = 'aaaabbbbccccddddeeeeffff00001111';
    const r = await fetchText(traced.url + '/t/sampled', { traceparent: `00-${trace}-${CLIENT_SPAN}-01` });
    expect(r.status).toBe(200);
    const sawSpan = TP.exec(upstreamSaw('/t/sampled').traceparent)![2];
    await until(() => col.spans.filter((s) => s.traceId === trace).length >= 3);
    const spans = col.spans.filter((s) => s.traceId === trace);
    const server = spans.find((s) => s.kind === 2)!;
    const client = spans.find((s) => s.kind === 3)!;
    const plugins = spans.find((s) => s.name === 'plugins')!;
    expect(server.parentSpanId).toBe(CLIENT_SPAN);
    expect(client.spanId).toBe(sawSpan);
    expect(client.parentSpanId).toBe(server.spanId);
    expect(plugins.parentSpanId).toBe(server.spanId);
    for (const s of [server, client]) {
      const a = attrs(s);
      expect(a['http.request.method']).toBe('GET');
      expect(a['http.route']).toBe('traced');
      expect(a['http.response.status_code']).toBe('200');
      expect(a['server.address']).toBe(`127.0.0.1:${up.port}`);
      expect(BigInt(s.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(s.startTimeUnixNano));
      // Nanoseconds since the epoch, today.
      expect(Math.abs(Number(BigInt(s.startTimeUnixNano) / 1_000_000n) - Date.now())).toBeLessThan(60_000);
    }
    expect(client.events?.map((e) => e.name)).toContain('response headers');
    expect(server.status.code).toBe(0);
  });

  it('sampleRatio 0 records no new trace and no trace whose parent says not sampled; a failure is an error span', async () => {
    const before = col.spans.length;
    await fetchText(traced.url + '/t/new');
    await fetchText(traced.url + '/t/unsampled', { traceparent: `00-${'1'.repeat(32)}-${CLIENT_SPAN}-00` });
    const failing = '2'.repeat(32);
    const r = await fetchText(traced.url + '/dead', { traceparent: `00-${failing}-${CLIENT_SPAN}-01` });
    expect(r.status).toBe(502);
    await until(() => col.spans.some((s) => s.traceId === failing && s.kind === 2));
    const server = col.spans.find((s) => s.traceId === failing && s.kind === 2)!;
    expect(server.status.code).toBe(2);
    expect(attrs(server)['http.response.status_code']).toBe('502');
    expect(attrs(server)['error.type']).toBe('upstream_unavailable');
    expect(col.spans.slice(before).every((s) => s.traceId === failing)).toBe(true);
  });

  it('with the collector down, requests are served as before and the spans are counted dropped', async () => {
    await col.close();
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => fetchText(traced.url + '/t/down', { traceparent: `00-${'3'.repeat(31)}${i % 10}-${CLIENT_SPAN}-01` })));
    expect(rs.every((r) => r.status === 200)).toBe(true);
    await until(async () => {
      const m = await request(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const text = await m.body.text();
      const line = text.split('\n').find((l) => l.startsWith('gateway_tracing_spans_dropped_total{reason="export_failed"}'));
      return line !== undefined && Number(line.split(' ')[1]) >= 40; // server + client span per request
    }, 8000);
  });
});

/** The traceparent and tracestate a recording upstream got for the last request to `path`. */
function sawAt(u: RecordingUpstream, path: string): { traceparent: string; tracestate: string | undefined } {
  const seen = u.seen.filter((r) => r.url === path).at(-1)!;
  expect(seen, path).toBeDefined();
  const h = seen.rawHeaders;
  const all = (name: string) => h.filter((_, i) => i % 2 === 1 && h[i - 1].toLowerCase() === name);
  expect(all('traceparent')).toHaveLength(1);
  return { traceparent: all('traceparent')[0], tracestate: all('tracestate')[0] };
}

async function metric(port: number, line: string): Promise<number> {
  const m = await request(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const text = await m.body.text();
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

describe('client spans of aggregates, WebSocket upgrades and new upstream connections', () => {
  let col2: Awaited<ReturnType<typeof collector>>;
  let backends: RecordingUpstream;
  let ws: WsUpstream;
  let connNative: RecordingUpstream;
  let connUndici: RecordingUpstream;
  let gw: Gateway;

  beforeAll(async () => {
    col2 = await collector();
    backends = await recordingUpstream();
    ws = await startWsUpstream();
    connNative = await recordingUpstream();
    connUndici = await recordingUpstream();
    const deadPort = await freePort();
    const b = (path: string, as: string, upstream = 'backends', optional = false) => ({ upstream, path, as, optional });
    gw = await startGateway({
      workers: 1, // one connection pool per target: the second request reuses the first's connection
      tracing: { sampleRatio: 0, otlp: { url: col2.url, headers: { 'x-collector-key': 'k1' }, timeoutMs: 2000 }, serviceName: 'edge' },
      upstreams: {
        backends: { targets: [{ url: backends.url }] },
        dead: { targets: [{ url: `http://127.0.0.1:${deadPort}` }] },
        ws: { targets: [{ url: ws.url }] },
        connNative: { targets: [{ url: connNative.url }], engine: 'native', connectionsPerWorker: 1 },
        connUndici: { targets: [{ url: connUndici.url }], engine: 'undici', connectionsPerWorker: 1 },
      },
      routes: [
        { id: 'agg', paths: ['/agg'], aggregate: { backends: [b('/b/one', 'one'), b('/b/two', 'two'), b('/b/gone', 'gone', 'dead', true)] } },
        { id: 'ws', paths: ['/ws', '/refuse'], upstream: 'ws' },
        { id: 'conn-native', paths: ['/cn/*'], upstream: 'connNative' },
        { id: 'conn-undici', paths: ['/cu/*'], upstream: 'connUndici' },
      ],
    });
  });

  afterAll(async () => {
    await gw?.stop();
    await Promise.all([col2?.close(), backends?.close(), ws?.close(), connNative?.close(), connUndici?.close()]);
  });

  it('an aggregate: one CLIENT span per backend call under the server span, each backend saw its own span id, tracestate passed', async () => {
    const trace = 'abcdef0123456789abcdef0123456789';
    const r = await fetchText(gw.url + '/agg', { traceparent: `00-${trace}-${CLIENT_SPAN}-01`, tracestate: 'vendor=agg,other=1' });
    expect(r.status).toBe(200);
    expect(r.headers['x-gateway-partial']).toBe('gone');
    const saw = { one: sawAt(backends, '/b/one'), two: sawAt(backends, '/b/two') };
    const ids: Record<string, string> = {};
    for (const [as, s] of Object.entries(saw)) {
      const m = TP.exec(s.traceparent)!;
      expect(m, as).not.toBeNull();
      expect(m[1]).toBe(trace);
      expect(s.traceparent.endsWith('-01')).toBe(true);
      expect(s.tracestate).toBe('vendor=agg,other=1');
      ids[as] = m[2];
    }
    expect(ids.one).not.toBe(ids.two);
    await until(() => col2.spans.filter((s) => s.traceId === trace).length >= 4);
    const spans = col2.spans.filter((s) => s.traceId === trace);
    expect(spans).toHaveLength(4);
    const server = spans.find((s) => s.kind === 2)!;
    expect(server.parentSpanId).toBe(CLIENT_SPAN);
    const clients = spans.filter((s) => s.kind === 3);
    expect(clients.map((s) => s.name).sort()).toEqual(['backend gone', 'backend one', 'backend two']);
    expect(new Set(clients.map((s) => s.spanId)).size).toBe(3);
    for (const c of clients) expect(c.parentSpanId).toBe(server.spanId);
    for (const as of ['one', 'two']) {
      const c = clients.find((s) => s.name === `backend ${as}`)!;
      expect(c.spanId).toBe(ids[as]);
      const a = attrs(c);
      expect(a['http.request.method']).toBe('GET');
      expect(a['http.route']).toBe('agg');
      expect(a['server.address']).toBe(`127.0.0.1:${backends.port}`);
      expect(a['gateway.upstream.status_code']).toBe('200');
      expect(a['gateway.aggregate.backend']).toBe(as);
      expect(a['gateway.aggregate.result']).toBe('ok');
      expect(c.events?.map((e) => e.name)).toContain('response headers');
      expect(c.status.code).toBe(0);
      expect(BigInt(c.startTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(server.startTimeUnixNano));
      expect(BigInt(c.endTimeUnixNano)).toBeLessThanOrEqual(BigInt(server.endTimeUnixNano));
    }
    // The optional backend nobody listens for: its call is an error span.
    const gone = clients.find((s) => s.name === 'backend gone')!;
    expect(gone.status.code).toBe(2);
    expect(gone.status.message).toMatch(/^failed: connect/);
    expect(attrs(gone)['gateway.upstream.status_code']).toBe('0');
    expect(attrs(gone)['gateway.aggregate.result']).toBe('failed');
  });

  it('a WebSocket upgrade: the handshake is a CLIENT span whose id the upstream saw, ended when the upgrade was answered', async () => {
    const trace = 'fedcba9876543210fedcba9876543210';
    const c = await openWs(`ws://127.0.0.1:${gw.port}/ws`, [], { headers: { traceparent: `00-${trace}-${CLIENT_SPAN}-01`, tracestate: 'ws=1' } });
    c.ws.send('hi');
    expect((await c.next()).data.toString()).toBe('hi');
    const seen = ws.upgrades.at(-1)!;
    const m = TP.exec(String(seen.headers.traceparent))!;
    expect(m[1]).toBe(trace);
    expect(seen.headers.tracestate).toBe('ws=1');
    await sleep(300); // the relay stays open a while after the handshake
    const closedAt = BigInt(Date.now()) * 1_000_000n;
    c.ws.close(1000);
    await c.closed;
    await until(() => col2.spans.filter((s) => s.traceId === trace).length >= 2);
    const spans = col2.spans.filter((s) => s.traceId === trace);
    const server = spans.find((s) => s.kind === 2)!;
    const client = spans.find((s) => s.kind === 3)!;
    expect(client.name).toBe('upstream websocket');
    expect(client.spanId).toBe(m[2]);
    expect(client.parentSpanId).toBe(server.spanId);
    expect(attrs(client)['gateway.upstream.status_code']).toBe('101');
    expect(attrs(client)['server.address']).toBe(`127.0.0.1:${ws.port}`);
    expect(client.status.code).toBe(0);
    // The handshake's span ended before the client closed; the server span lasted the relay.
    expect(BigInt(client.endTimeUnixNano)).toBeLessThan(closedAt);
    expect(BigInt(server.endTimeUnixNano)).toBeGreaterThan(closedAt);
  });

  it('a refused WebSocket upgrade: the handshake span ends with the upstream\'s status', async () => {
    const trace = '0123456789abcdef0123456789abcdef';
    await expect(openWs(`ws://127.0.0.1:${gw.port}/refuse`, [], { headers: { traceparent: `00-${trace}-${CLIENT_SPAN}-01` } })).rejects.toMatchObject({ refusal: { status: 403 } });
    await until(() => col2.spans.filter((s) => s.traceId === trace).length >= 2);
    const client = col2.spans.find((s) => s.traceId === trace && s.kind === 3)!;
    expect(client.name).toBe('upstream websocket');
    expect(TP.exec(String(ws.upgrades.at(-1)!.headers.traceparent))![2]).toBe(client.spanId);
    expect(attrs(client)['gateway.upstream.status_code']).toBe('403');
  });

  for (const [engine, prefix, upstream] of [['native', '/cn', () => connNative], ['undici', '/cu', () => connUndici]] as const) {
    it(`${engine} engine: the attempt that opened a new upstream connection has a "connected" event; one on a reused connection has none`, async () => {
      const traces = ['c'.repeat(31) + (engine === 'native' ? '1' : '2'), 'd'.repeat(31) + (engine === 'native' ? '1' : '2')];
      for (const [i, trace] of traces.entries()) {
        const r = await fetchText(gw.url + `${prefix}/${i}`, { traceparent: `00-${trace}-${CLIENT_SPAN}-01` });
        expect(r.status).toBe(200);
      }
      expect(upstream().connections).toBe(1); // the second request reused the first's connection
      await until(() => traces.every((t) => col2.spans.some((s) => s.traceId === t && s.kind === 3)));
      const [first, second] = traces.map((t) => col2.spans.find((s) => s.traceId === t && s.kind === 3)!);
      const names = (s: OtlpSpan) => (s.events ?? []).map((e) => e.name);
      expect(names(first)).toEqual(['connected', 'response headers']);
      expect(names(second)).toEqual(['response headers']);
      // Within the span, before the response head.
      const connected = BigInt(first.events![0].timeUnixNano);
      expect(connected).toBeGreaterThanOrEqual(BigInt(first.startTimeUnixNano));
      expect(connected).toBeLessThanOrEqual(BigInt(first.events![1].timeUnixNano));
    });
  }
});

describe('a collector that never answers', () => {
  const QUEUE = 16;
  let hung: { port: number; sockets: Socket[]; close(): Promise<void> };
  let gw: Gateway;
  let admin: number;

  beforeAll(async () => {
    // Accepts connections and reads, never answers: the export in flight hangs for its timeoutMs.
    const sockets: Socket[] = [];
    const server = createNetServer((sock) => {
      sockets.push(sock);
      sock.on('data', () => {});
      sock.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    hung = {
      port: (server.address() as { port: number }).port,
      sockets,
      close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
    };
    admin = await freePort();
    gw = await startGateway(
      {
        workers: 1,
        admin: { host: '127.0.0.1', port: admin, token: TOKEN },
        tracing: { sampleRatio: 1, otlp: { url: `http://127.0.0.1:${hung.port}/v1/traces`, timeoutMs: 60_000 }, serviceName: 'edge' },
        upstreams: { app: { targets: [{ url: up.url }] } },
        routes: [{ id: 'q', paths: ['/q/*'], upstream: 'app' }],
      },
      { env: { GATEWAY_TRACING_QUEUE_SPANS: String(QUEUE) } },
    );
  });

  afterAll(async () => {
    await hung?.close();
    await gw?.stop();
  });

  it('the queue fills: further spans are dropped and counted queue_full, and every request is still served', async () => {
    const N = 40; // 2 spans each: 80 spans, at most 2 x QUEUE of them queued or in the hanging export
    for (let i = 0; i < N; i += 10) {
      const rs = await Promise.all(Array.from({ length: 10 }, (_, k) => fetchText(gw.url + `/q/${i + k}`)));
      expect(rs.map((r) => r.status)).toEqual(Array(10).fill(200));
    }
    await until(async () => (await metric(admin, 'gateway_tracing_spans_dropped_total{reason="queue_full"}')) >= 2 * N - 2 * QUEUE, 8000);
    await until(() => hung.sockets.length > 0); // an export did go out, and hangs
    expect(await metric(admin, 'gateway_tracing_spans_exported_total')).toBe(0);
  });

  it('SIGTERM with the export still hanging: the gateway exits by itself (the export is abandoned, not awaited for its timeoutMs)', async () => {
    expect(hung.sockets.length).toBeGreaterThan(0);
    await gw.stop(); // SIGTERM; the harness would SIGKILL after 15 s
    expect(await gw.exited).toEqual({ code: 0, signal: null });
  });
});

async function until(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(50);
  }
  throw new Error('condition not met in time');
}
