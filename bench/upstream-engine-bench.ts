/**
 * Micro-benchmark of the JS request path of the two upstream engines (src/upstream/native.ts,
 * src/upstream/undici.ts) through the upstream contract: requests/s from one process with 16 in
 * flight, and the JS heap bytes allocated per request (new space, measured in windows with no
 * scavenge: the child runs with a 256 MiB semi-space), against a raw upstream in another process
 * that answers every request with a fixed 200 (6 headers, 13-byte body). Also the request-head
 * serializer of the native engine alone (ns and bytes per head of 14 fields).
 *
 *   node dist/bench/upstream-engine-bench.js        (also part of `gateway bench`'s micro-benchmarks)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { getHeapSpaceStatistics } from 'node:v8';
import { PerformanceObserver } from 'node:perf_hooks';
import type { UpstreamDispatcher, UpstreamHandler, UpstreamRequest } from '../src/upstream/dispatch.js';

export interface EngineBenchRow {
  engine: 'native' | 'undici';
  requestsPerSec: number;
  /** JS heap bytes allocated per request (handler included: it only counts bytes). */
  heapBytesPerRequest: number;
}

export interface UpstreamEngineBenchResult {
  rows: EngineBenchRow[];
  serializer: { nsPerHead: number; heapBytesPerHead: number };
}

const RESPONSE =
  'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Tue, 01 Dec 2026 10:00:00 GMT\r\nServer: bench\r\nX-Request-Id: 0123456789abcdef\r\nCache-Control: no-store\r\nContent-Length: 13\r\n\r\nHello, world!';

const SERVER = `
const net = require('node:net');
const answer = Buffer.from(${JSON.stringify(RESPONSE)}, 'latin1');
const s = net.createServer((sock) => {
  let pending = '';
  sock.on('data', (c) => {
    pending += c.toString('latin1');
    let n = 0, i;
    while ((i = pending.indexOf('\\r\\n\\r\\n')) !== -1) { pending = pending.slice(i + 4); n++; }
    for (let k = 0; k < n; k++) sock.write(answer);
  });
  sock.on('error', () => {});
});
s.listen(0, '127.0.0.1', () => process.stdout.write(s.address().port + '\\n'));
`;

const HEADERS = [
  'host', 'app.internal:8080', 'user-agent', 'bench/1.0', 'accept', '*/*', 'accept-encoding', 'gzip, br',
  'x-request-id', '5b1e7f0c9d2a4e6f', 'x-forwarded-for', '127.0.0.1', 'x-forwarded-proto', 'http',
  'x-forwarded-host', 'gateway.local', 'x-forwarded-port', '8080', 'x-real-ip', '127.0.0.1', 'via', '1.1 gateway',
  'cookie', 'session=abcdef0123456789', 'accept-language', 'en', 'x-b3-traceid', '80f198ee56343ba864fe8b2a57d3eff7',
];

function newSpaceUsed(): number {
  for (const s of getHeapSpaceStatistics()) if (s.space_name === 'new_space') return s.space_used_size;
  return 0;
}

/** Counts the garbage collections (any kind) that happen while `fn` runs. */
let gcs = 0;
const obs = new PerformanceObserver((list) => (gcs += list.getEntries().length));

async function measureEngine(engine: 'native' | 'undici', origin: string, seconds: number): Promise<EngineBenchRow> {
  const { NativeEndpoint } = await import('../src/upstream/native.js');
  const { UndiciEndpoint } = await import('../src/upstream/undici.js');
  const settings = { keepAlive: 16, maxConnections: 16, connectMs: 1000, idleMs: 60_000, tls: null };
  const d: UpstreamDispatcher = engine === 'native' ? new NativeEndpoint(origin, settings) : new UndiciEndpoint(origin, settings);
  let done = 0;
  let bytes = 0;
  let stopAt = 0;
  let inflight = 0;
  let finished: () => void = () => {};
  // One handler object per slot, reused (the proxy's transaction is allocated per request anyway;
  // here we count the engine's own cost).
  class Slot implements UpstreamHandler {
    readonly req: UpstreamRequest = { method: 'GET', path: '/api/items?page=2', headers: HEADERS, body: null, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 };
    onConnect(): void {}
    onInformational(): void {}
    onHeaders(): boolean {
      return true;
    }
    onData(c: Buffer): boolean {
      bytes += c.length;
      return true;
    }
    onComplete(): void {
      done++;
      this.next();
    }
    onError(e: Error): void {
      throw e;
    }
    next(): void {
      if (performance.now() >= stopAt) {
        if (--inflight === 0) finished();
        return;
      }
      d.dispatch(this.req, this);
    }
  }
  const run = (ms: number) =>
    new Promise<void>((resolve) => {
      finished = resolve;
      stopAt = performance.now() + ms;
      inflight = 16;
      for (let i = 0; i < 16; i++) new Slot().next();
    });
  await run(500); // warm-up (connections, JIT)
  // Throughput (in the child with the default heap; the allocation child has a huge nursery,
  // which costs locality).
  let rps = NaN;
  if (!ALLOC) {
    done = 0;
    const t0 = performance.now();
    await run(seconds * 1000);
    rps = done / ((performance.now() - t0) / 1000);
  }
  // Allocation: windows with no GC in them.
  const samples: number[] = [];
  for (let i = 0; ALLOC && i < 12 && samples.length < 5; i++) {
    gcs = 0;
    const before = newSpaceUsed();
    done = 0;
    await run(100);
    const after = newSpaceUsed();
    const n = done;
    await new Promise((r) => setTimeout(r, 20)); // GC entries are delivered asynchronously
    if (gcs === 0 && after >= before && n > 0) samples.push((after - before) / n);
  }
  await d.close();
  samples.sort((a, b) => a - b);
  return { engine, requestsPerSec: rps, heapBytesPerRequest: samples.length ? samples[samples.length >> 1] : NaN };
}

const ALLOC = process.argv[4] === 'alloc';

async function measureSerializer(): Promise<{ nsPerHead: number; heapBytesPerHead: number }> {
  const { serializeHead } = await import('../src/upstream/native.js');
  const req: UpstreamRequest = { method: 'GET', path: '/api/items?page=2', headers: HEADERS, body: null, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 };
  for (let i = 0; i < 200_000; i++) serializeHead(req);
  const n = 1_000_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) serializeHead(req);
  const ns = Number(process.hrtime.bigint() - t0) / n;
  const samples: number[] = [];
  for (let k = 0; k < 5; k++) {
    gcs = 0;
    const before = newSpaceUsed();
    const m = 20_000;
    for (let i = 0; i < m; i++) serializeHead(req);
    const after = newSpaceUsed();
    await new Promise((r) => setTimeout(r, 20));
    if (gcs === 0 && after >= before) samples.push((after - before) / m);
  }
  samples.sort((a, b) => a - b);
  return { nsPerHead: ns, heapBytesPerHead: samples.length ? samples[samples.length >> 1] : NaN };
}

/** Runs the measurement in a child process (its own heap settings), the upstream in another. */
export async function runUpstreamEngineBench(seconds = 3): Promise<UpstreamEngineBenchResult> {
  const self = fileURLToPath(import.meta.url);
  const runChild = async (flags: string[], mode: string): Promise<UpstreamEngineBenchResult> => {
    const child = spawn(process.execPath, [...flags, self, '--child', String(seconds), mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    if (code !== 0) throw new Error(`upstream engine bench child exited ${code}`);
    return JSON.parse(out.trim().split('\n').pop()!) as UpstreamEngineBenchResult;
  };
  const speed = await runChild([], 'speed');
  const alloc = await runChild(['--min-semi-space-size=256', '--max-semi-space-size=256'], 'alloc');
  return {
    rows: speed.rows.map((r, i) => ({ ...r, heapBytesPerRequest: alloc.rows[i].heapBytesPerRequest })),
    serializer: { nsPerHead: speed.serializer.nsPerHead, heapBytesPerHead: alloc.serializer.heapBytesPerHead },
  };
}

export function formatUpstreamEngineBench(r: UpstreamEngineBenchResult): string {
  const lines = [
    'Upstream engines, JS request path (one process, 16 in flight, raw upstream in another process):',
    '  engine    requests/s   JS heap bytes/request',
  ];
  for (const row of r.rows) lines.push(`  ${row.engine.padEnd(8)}  ${Math.round(row.requestsPerSec).toString().padStart(10)}   ${Number.isNaN(row.heapBytesPerRequest) ? 'n/a' : Math.round(row.heapBytesPerRequest).toString().padStart(8)}`);
  lines.push(`  native request-head serializer (14 fields): ${r.serializer.nsPerHead.toFixed(0)} ns, ${Math.round(r.serializer.heapBytesPerHead)} heap bytes per head`);
  return lines.join('\n');
}

async function child(seconds: number): Promise<void> {
  obs.observe({ entryTypes: ['gc'] });
  const server: ChildProcess = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((r) => server.stdout!.once('data', (d: Buffer) => r(Number(d.toString().trim()))));
  const origin = `http://127.0.0.1:${port}`;
  try {
    const rows = [await measureEngine('native', origin, seconds), await measureEngine('undici', origin, seconds)];
    const serializer = await measureSerializer();
    process.stdout.write(`${JSON.stringify({ rows, serializer })}\n`);
  } finally {
    server.kill();
    obs.disconnect();
  }
}

if (process.argv[2] === '--child') {
  void child(Number(process.argv[3] ?? '3'));
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runUpstreamEngineBench().then((r) => process.stdout.write(`${formatUpstreamEngineBench(r)}\n`));
}
