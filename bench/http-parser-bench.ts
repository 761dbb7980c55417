/**
 * HTTP/1.1 response parser microbenchmark: native addon vs TS reference.
 *
 *   npm run build && npm run bench:http-parser        (prints a table)
 *   node dist/bench/http-parser-bench.js --json       (prints the result object as JSON)
 *   import { runHttpParserBench } from './http-parser-bench.js'
 *
 * Workloads (deterministic, seeded), each parsed with realistic handlers (onHead keeps the header
 * array, onBody adds up lengths) and one expect() per response:
 *   small      a typical API response: 9 headers, Content-Length body of 80-600 bytes, one
 *              execute() per response (one socket read = one response)
 *   chunked    chunked JSON of 1-3 KiB in 3-6 chunks, with a trailer now and then, one execute()
 *   tiny-chunks  8 KiB as 128 chunks of 64 bytes, fed in 4 KiB slices (framing-heavy)
 *   pipelined  32 small responses in one buffer, one execute() (boundary crossings amortized)
 *   large      256 KiB Content-Length body fed in 16 KiB slices (body passthrough)
 * Each engine is warmed up, then measured over several timed rounds; the median is reported.
 */
import { pathToFileURL } from 'node:url';
import { REQUEST_OTHER, createResponseParser, type ResponseParserEngine, type ResponseParserEngineKind } from '../src/native/http-response-parser.js';
import { mulberry32 } from '../src/util/prng.js';

export interface HttpParserBenchOptions {
  rounds?: number;
  roundMs?: number;
  warmupMs?: number;
  engines?: ResponseParserEngineKind[];
  workloads?: WorkloadName[];
  seed?: number;
}

export type WorkloadName = 'small' | 'chunked' | 'tiny-chunks' | 'pipelined' | 'large';

export interface HttpParserBenchRow {
  engine: ResponseParserEngineKind;
  workload: WorkloadName;
  responsesPerSec: number;
  mbPerSec: number;
  nsPerResponse: number;
  rounds: number[];
}

export interface HttpParserBenchResult {
  node: string;
  rows: HttpParserBenchRow[];
  /** native / reference responses/s per workload (when both ran). */
  speedup: Partial<Record<WorkloadName, number>>;
}

interface Workload {
  /** One "unit": the slices fed to execute() and how many responses they hold. */
  units: Array<{ slices: Buffer[]; responses: number; bytes: number }>;
}

const HEADERS = (len: number, i: number) => [
  'HTTP/1.1 200 OK',
  'Date: Tue, 01 Dec 2026 09:42:00 GMT',
  'Content-Type: application/json; charset=utf-8',
  `Content-Length: ${len}`,
  'Connection: keep-alive',
  'Keep-Alive: timeout=5',
  'Server: upstream/1.4',
  'Cache-Control: private, max-age=0',
  `ETag: W/"${(i * 2654435761) >>> 0}"`,
  `X-Request-Id: ${((i * 40503) >>> 0).toString(16)}-${i}`,
];

function json(rnd: () => number, n: number): string {
  let s = '{"items":[';
  while (s.length < n - 2) s += `{"id":${Math.floor(rnd() * 1e6)},"name":"item-${Math.floor(rnd() * 1e4)}"},`;
  return (s.slice(0, n - 2) + ']}').slice(0, n);
}

function small(rnd: () => number, i: number): string {
  const body = json(rnd, 80 + Math.floor(rnd() * 520));
  return HEADERS(body.length, i).join('\r\n') + '\r\n\r\n' + body;
}

function chunked(rnd: () => number, i: number): string {
  const head = HEADERS(0, i).filter((l) => !l.startsWith('Content-Length')).concat('Transfer-Encoding: chunked');
  const body = json(rnd, 1024 + Math.floor(rnd() * 2048));
  const parts = 3 + Math.floor(rnd() * 4);
  let s = head.join('\r\n') + '\r\n\r\n';
  const step = Math.ceil(body.length / parts);
  for (let k = 0; k < body.length; k += step) {
    const c = body.slice(k, k + step);
    s += `${c.length.toString(16)}\r\n${c}\r\n`;
  }
  return s + (i % 4 === 0 ? '0\r\nX-Checksum: abc\r\n\r\n' : '0\r\n\r\n');
}

function build(name: WorkloadName, seed: number): Workload {
  const rnd = mulberry32(seed);
  const units: Workload['units'] = [];
  const one = (text: string, responses = 1, sliceSize = 0) => {
    const buf = Buffer.from(text, 'latin1');
    const slices: Buffer[] = [];
    if (sliceSize === 0) slices.push(buf);
    else for (let k = 0; k < buf.length; k += sliceSize) slices.push(buf.subarray(k, k + sliceSize));
    units.push({ slices, responses, bytes: buf.length });
  };
  switch (name) {
    case 'small':
      for (let i = 0; i < 256; i++) one(small(rnd, i));
      break;
    case 'chunked':
      for (let i = 0; i < 256; i++) one(chunked(rnd, i));
      break;
    case 'tiny-chunks':
      for (let i = 0; i < 16; i++) {
        const head = HEADERS(0, i).filter((l) => !l.startsWith('Content-Length')).concat('Transfer-Encoding: chunked');
        let s = head.join('\r\n') + '\r\n\r\n';
        for (let k = 0; k < 128; k++) s += '40\r\n' + json(rnd, 64) + '\r\n';
        one(s + '0\r\n\r\n', 1, 4096);
      }
      break;
    case 'pipelined':
      for (let i = 0; i < 32; i++) {
        let s = '';
        for (let k = 0; k < 32; k++) s += small(rnd, i * 32 + k);
        one(s, 32);
      }
      break;
    case 'large':
      for (let i = 0; i < 4; i++) {
        const body = 'x'.repeat(256 * 1024);
        one(HEADERS(body.length, i).join('\r\n') + '\r\n\r\n' + body, 1, 16 * 1024);
      }
      break;
  }
  return { units };
}

function timeRounds(engine: ResponseParserEngineKind, w: Workload, rounds: number, roundMs: number, warmupMs: number): { rps: number[]; mbps: number[] } {
  let headers = 0;
  let bodyBytes = 0;
  let completes = 0;
  const p: ResponseParserEngine = createResponseParser(
    {
      onHead: (_s, _m, _f, _cl, _k, h) => {
        headers += h.length;
      },
      onBody: (_d, s, e) => {
        bodyBytes += e - s;
      },
      onMessageComplete: () => {
        completes++;
      },
    },
    undefined,
    engine,
  );
  const pass = () => {
    let responses = 0;
    let bytes = 0;
    for (const u of w.units) {
      for (let k = 0; k < u.responses; k++) p.expect(REQUEST_OTHER);
      for (const s of u.slices) {
        if (p.execute(s) !== 0) throw new Error(`bench input rejected: error ${p.errorCode}`);
      }
      responses += u.responses;
      bytes += u.bytes;
    }
    return [responses, bytes];
  };
  const warmEnd = performance.now() + warmupMs;
  while (performance.now() < warmEnd) pass();
  const rps: number[] = [];
  const mbps: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let responses = 0;
    let bytes = 0;
    const start = performance.now();
    let now = start;
    do {
      const [n, b] = pass();
      responses += n;
      bytes += b;
      now = performance.now();
    } while (now - start < roundMs);
    const secs = (now - start) / 1000;
    rps.push(responses / secs);
    mbps.push(bytes / secs / 1e6);
  }
  if (headers + bodyBytes + completes === 0.5) console.log('unreachable'); // keep the handlers observable
  return { rps, mbps };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function runHttpParserBench(opts: HttpParserBenchOptions = {}): HttpParserBenchResult {
  const rounds = opts.rounds ?? 7;
  const roundMs = opts.roundMs ?? 200;
  const warmupMs = opts.warmupMs ?? 300;
  const engines = opts.engines ?? ['native', 'reference'];
  const workloads = opts.workloads ?? ['small', 'chunked', 'tiny-chunks', 'pipelined', 'large'];
  const rows: HttpParserBenchRow[] = [];
  for (const name of workloads) {
    const w = build(name, opts.seed ?? 0x9a95e);
    for (const engine of engines) {
      const { rps, mbps } = timeRounds(engine, w, rounds, roundMs, warmupMs);
      const r = median(rps);
      rows.push({ engine, workload: name, responsesPerSec: r, mbPerSec: median(mbps), nsPerResponse: 1e9 / r, rounds: rps });
    }
  }
  const speedup: HttpParserBenchResult['speedup'] = {};
  for (const name of workloads) {
    const n = rows.find((r) => r.engine === 'native' && r.workload === name);
    const ref = rows.find((r) => r.engine === 'reference' && r.workload === name);
    if (n && ref) speedup[name] = n.responsesPerSec / ref.responsesPerSec;
  }
  return { node: process.version, rows, speedup };
}

function fmt(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(0);
}

export function formatHttpParserBench(r: HttpParserBenchResult): string {
  const lines = [
    `HTTP/1.1 response parser bench, node ${r.node}`,
    '',
    'workload     engine     responses/s   ns/response    MB/s   speedup',
    '-----------  ---------  -----------  ------------  ------  -------',
  ];
  for (const row of r.rows) {
    const sp = row.engine === 'native' && r.speedup[row.workload] !== undefined ? `${r.speedup[row.workload]!.toFixed(1)}x` : '';
    lines.push(
      `${row.workload.padEnd(11)}  ${row.engine.padEnd(9)}  ${fmt(row.responsesPerSec).padStart(11)}  ${row.nsPerResponse.toFixed(0).padStart(12)}  ${row.mbPerSec.toFixed(0).padStart(6)}  ${sp.padStart(7)}`,
    );
  }
  return lines.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = runHttpParserBench();
  console.log(process.argv.includes('--json') ? JSON.stringify(result, null, 2) : formatHttpParserBench(result));
}
