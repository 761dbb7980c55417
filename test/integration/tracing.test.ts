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
import { request } from 'undici';
import { fetchText, freePort, recordingUpstream, sleep, startGateway, type Gateway, type RecordingUpstream } from '../helpers/gateway.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
  events?: Array<{ name: string }>;
  status: { code: number };
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

async function until(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(50);
  }
  throw new Error('condition not met in time');
}
