/**
 * Aggregation merge micro-benchmark: what merging three backend answers costs the event loop,
 * by total answer size, for each way of doing it:
 *   - splice (the gateway's): validate each body with the byte validator, copy into one object;
 *   - parse+stringify: JSON.parse each body, JSON.stringify the combined object;
 *   - parse+splice: JSON.parse as the validator, then the same splice;
 *   - pool: the splice on the offload pool (piscina, bodies transferred, result transferred back):
 *     "loop µs" is the event loop's share (posting, receiving: event-loop utilization's active
 *     time), "latency µs" the wall time of one round trip.
 * The threshold where the pool pays is where the inline splice costs the loop more than handing
 * the job to the pool does (AGGREGATE_OFFLOAD_ABOVE_BYTES, src/runtime/compile.ts).
 *
 *   npm run build && node dist/bench/merge-bench.js [--json]
 *   import { runMergeBench } from './merge-bench.js'   (the load suite's micro section)
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { keyPrefix, mergeJson } from '../src/worker/actions/aggregate-merge.js';
import { OffloadPool } from '../src/offload/pool.js';

export interface MergeBenchRow {
  totalBytes: number;
  spliceUs: number;
  parseStringifyUs: number;
  parseSpliceUs: number;
  poolLoopUs: number;
  poolLatencyUs: number;
}

export interface MergeBenchResult {
  node: string;
  backends: number;
  rows: MergeBenchRow[];
  /** The smallest measured size at which the inline splice costs the loop more than the pool does. */
  crossoverBytes: number | null;
}

/** A realistic JSON body of about `bytes`: an array of records with strings, numbers, booleans. */
export function sampleBody(bytes: number, seed = 1): Buffer {
  const items: string[] = [];
  let size = 2;
  for (let i = 0; size < bytes; i++) {
    const id = seed * 1_000_000 + i;
    const item = JSON.stringify({ id, name: `user-${id}`, email: `user${id}@example.com`, score: (id % 1000) / 7, active: i % 3 === 0, tags: ['a', 'bb', `t${i % 17}`] });
    items.push(item);
    size += item.length + 1;
  }
  return Buffer.from(`[${items.join(',')}]`);
}

/** An own ArrayBuffer (transferable), as the aggregate action keeps backend bodies. */
function own(b: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(b.length);
  b.copy(out);
  return out;
}

export function timeUs(fn: () => void, minMs = 150): number {
  fn(); // warm-up (JIT)
  let n = 0;
  const start = performance.now();
  let now = start;
  do {
    fn();
    n++;
    now = performance.now();
  } while (now - start < minMs);
  return ((now - start) * 1000) / n;
}

const SIZES = [1024, 4096, 16 * 1024, 32 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024];
const NAMES = ['user', 'orders', 'profile'];

export async function runMergeBench(sizes = SIZES): Promise<MergeBenchResult> {
  const prefixes = NAMES.map(keyPrefix);
  const required = NAMES.map(() => true);
  const pool = new OffloadPool(1);
  const rows: MergeBenchRow[] = [];
  let sink = 0;
  try {
    // Let the thread boot before anything is timed.
    await pool.run('aggregateMerge', { prefixes, bodies: [Buffer.from('1'), Buffer.from('2'), Buffer.from('3')], required });
    for (const total of sizes) {
      const bodies = NAMES.map((_, k) => own(sampleBody(Math.floor(total / NAMES.length), k + 1)));
      const spliceUs = timeUs(() => {
        sink += mergeJson({ prefixes, bodies, required }).merged!.length;
      });
      const parseStringifyUs = timeUs(() => {
        const o: Record<string, unknown> = {};
        for (let k = 0; k < bodies.length; k++) o[NAMES[k]] = JSON.parse(bodies[k].toString());
        sink += Buffer.from(JSON.stringify(o)).length;
      });
      const parseSpliceUs = timeUs(() => {
        for (const b of bodies) JSON.parse(b.toString());
        sink += mergeJson({ prefixes, bodies, required }).merged!.length;
      });
      // The pool: fresh copies each time (transferred buffers are gone afterwards), copied
      // outside the timed part; the loop's share is event-loop utilization's active time.
      const rounds = Math.max(8, Math.min(200, Math.floor((64 * 1024 * 1024) / total)));
      const copies = Array.from({ length: rounds + 1 }, () => bodies.map(own));
      const once = async (bs: Buffer[]) => {
        const r = await pool.run('aggregateMerge', { prefixes, bodies: bs, required }, bs.map((b) => b.buffer as ArrayBuffer));
        sink += r.merged!.length;
      };
      await once(copies[rounds]);
      const elu0 = performance.eventLoopUtilization();
      const t0 = performance.now();
      for (let r = 0; r < rounds; r++) await once(copies[r]);
      const wallMs = performance.now() - t0;
      const elu = performance.eventLoopUtilization(elu0);
      rows.push({
        totalBytes: bodies.reduce((s, b) => s + b.length, 0),
        spliceUs,
        parseStringifyUs,
        parseSpliceUs,
        poolLoopUs: (elu.active * 1000) / rounds,
        poolLatencyUs: (wallMs * 1000) / rounds,
      });
    }
  } finally {
    await pool.close();
  }
  if (sink === -1) console.log(sink);
  const cross = rows.find((r) => r.spliceUs > r.poolLoopUs);
  return { node: process.version, backends: NAMES.length, rows, crossoverBytes: cross?.totalBytes ?? null };
}

function kib(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

export function formatMergeBench(r: MergeBenchResult): string {
  const lines = [
    `aggregation merge bench: ${r.backends} backends, realistic JSON, node ${r.node} (µs per merge; the event loop's cost unless noted)`,
    '',
    'total size   splice  parse+stringify  parse+splice  pool: loop  pool: latency',
    '-----------  ------  ---------------  ------------  ----------  -------------',
  ];
  for (const row of r.rows) {
    lines.push(
      `${kib(row.totalBytes).padStart(11)}  ${row.spliceUs.toFixed(1).padStart(6)}  ${row.parseStringifyUs.toFixed(1).padStart(15)}  ${row.parseSpliceUs.toFixed(1).padStart(12)}  ${row.poolLoopUs.toFixed(1).padStart(10)}  ${row.poolLatencyUs.toFixed(1).padStart(13)}`,
    );
  }
  lines.push('', `the inline splice costs the loop more than the pool from ${r.crossoverBytes === null ? '(never, in these sizes)' : kib(r.crossoverBytes)} on`);
  return lines.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runMergeBench();
  console.log(process.argv.includes('--json') ? JSON.stringify(result, null, 2) : formatMergeBench(result));
}
