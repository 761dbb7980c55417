/**
 * Token-bucket micro-benchmark: takes per second of the shared-memory table (native addon) and
 * of its pure-TS reference, in one process, and of the native table with every worker process
 * hammering one key at once (the contended case: one 16-byte CAS word).
 *
 *   node dist/bench/token-bucket-bench.js [--json]     (prints a table, or the result as JSON)
 *   import { runTokenBucketBench } from './token-bucket-bench.js'   (the load suite)
 */
import { fork } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createTokenBuckets, openTokenBuckets, newSegmentName, unlinkTokenBuckets, type TokenBucketTable } from '../src/native/token-buckets.js';

export interface TokenBucketBenchOptions {
  /** Duration of one timed round, ms (default 300). */
  roundMs?: number;
  /** Timed rounds; the median is reported (default 5). */
  rounds?: number;
  /** Processes taking from one key at once (default 2: the bench's worker count). */
  processes?: number;
  /** Distinct keys of the "many keys" set (default 10,000). */
  keys?: number;
}

export interface TokenBucketBenchRow {
  engine: 'native' | 'reference';
  case: 'one key' | 'many keys' | 'one key, all processes';
  processes: number;
  /** Median takes per second (all processes together). */
  takesPerSec: number;
  nsPerTake: number;
}

export interface TokenBucketBenchResult {
  node: string;
  rows: TokenBucketBenchRow[];
  /** native / reference, one process, one key. */
  speedup: number | null;
}

// Admit everything: every take writes the bucket (a CAS), the expensive path.
const RPS = 1e9;
const BURST = 1e9;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Takes per second over `roundMs`, cycling through `keys`. */
function timeTakes(t: TokenBucketTable, policy: number, keys: string[], roundMs: number): number {
  let sink = 0;
  let n = 0;
  const start = performance.now();
  let now = start;
  const k = keys.length;
  do {
    for (let i = 0; i < 1000; i++) sink += t.take(policy, keys[(n + i) % k]) > 0 ? 1 : 0;
    n += 1000;
    now = performance.now();
  } while (now - start < roundMs);
  if (sink === -1) console.log(sink);
  return (n * 1000) / (now - start);
}

function measure(t: TokenBucketTable, keys: string[], opts: Required<TokenBucketBenchOptions>): number {
  const policy = t.policy(`bench|${RPS}|${BURST}|${keys.length}`, RPS, BURST);
  timeTakes(t, policy, keys, Math.min(300, opts.roundMs)); // warm-up
  const rs: number[] = [];
  for (let r = 0; r < opts.rounds; r++) rs.push(timeTakes(t, policy, keys, opts.roundMs));
  return median(rs);
}

/** A child process: open the segment, take from one key for `ms`, send the count. */
async function child(name: string, ms: number): Promise<void> {
  const t = openTokenBuckets(name);
  const policy = t.policy(`bench|${RPS}|${BURST}|1`, RPS, BURST);
  timeTakes(t, policy, ['one'], 100);
  // start together: wait for the go message
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  const rate = timeTakes(t, policy, ['one'], ms);
  process.send?.({ rate }, undefined, undefined, () => {
    t.close();
    process.exit(0);
  });
}

async function allProcesses(opts: Required<TokenBucketBenchOptions>): Promise<number> {
  const name = newSegmentName();
  const table = createTokenBuckets(name, 1024, 'native');
  const self = fileURLToPath(import.meta.url);
  const rounds: number[] = [];
  try {
    for (let r = 0; r < opts.rounds; r++) {
      const kids = Array.from({ length: opts.processes }, () => fork(self, ['--child', name, String(opts.roundMs)], { stdio: 'inherit' }));
      const rates = kids.map(
        (k) =>
          new Promise<number>((resolve, reject) => {
            k.once('message', (m: { rate: number }) => resolve(m.rate));
            k.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`token-bucket bench child exited with ${code}`))));
          }),
      );
      await new Promise((resolve) => setTimeout(resolve, 400)); // children warm up
      for (const k of kids) k.send('go');
      const all = await Promise.all(rates);
      rounds.push(all.reduce((a, b) => a + b, 0));
    }
  } finally {
    table.close();
    unlinkTokenBuckets(name);
  }
  return median(rounds);
}

export async function runTokenBucketBench(options: TokenBucketBenchOptions = {}): Promise<TokenBucketBenchResult> {
  const opts: Required<TokenBucketBenchOptions> = {
    roundMs: options.roundMs ?? 300,
    rounds: options.rounds ?? 5,
    processes: options.processes ?? 2,
    keys: options.keys ?? 10_000,
  };
  const manyKeys = Array.from({ length: opts.keys }, (_, i) => `10.0.${(i >> 8) & 255}.${i & 255}`);
  const rows: TokenBucketBenchRow[] = [];
  const row = (engine: 'native' | 'reference', c: TokenBucketBenchRow['case'], processes: number, takesPerSec: number) =>
    rows.push({ engine, case: c, processes, takesPerSec, nsPerTake: (1e9 * processes) / takesPerSec });

  let native: TokenBucketTable | null = null;
  let nativeName = '';
  try {
    nativeName = newSegmentName();
    native = createTokenBuckets(nativeName, opts.keys * 2, 'native');
  } catch {
    native = null; // no addon: the reference alone
  }
  try {
    if (native) {
      row('native', 'one key', 1, measure(native, ['one'], opts));
      row('native', 'many keys', 1, measure(native, manyKeys, opts));
    }
    const ref = createTokenBuckets('', opts.keys * 2, 'reference');
    row('reference', 'one key', 1, measure(ref, ['one'], opts));
    row('reference', 'many keys', 1, measure(ref, manyKeys, opts));
  } finally {
    if (native) {
      native.close();
      unlinkTokenBuckets(nativeName);
    }
  }
  if (native) row('native', 'one key, all processes', opts.processes, await allProcesses(opts));
  const n = rows.find((r) => r.engine === 'native' && r.case === 'one key')?.takesPerSec;
  const r = rows.find((x) => x.engine === 'reference' && x.case === 'one key')?.takesPerSec;
  return { node: process.version, rows, speedup: n !== undefined && r !== undefined ? n / r : null };
}

function fmt(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(0);
}

export function formatTokenBucketBench(r: TokenBucketBenchResult): string {
  const lines = [
    `token-bucket bench: takes that all admit (every take writes the bucket), node ${r.node}`,
    '',
    'engine     case                     procs   takes/s   ns/take (per process)',
    '---------  -----------------------  -----  --------  ---------------------',
  ];
  for (const row of r.rows) {
    lines.push(`${row.engine.padEnd(9)}  ${row.case.padEnd(23)}  ${String(row.processes).padStart(5)}  ${fmt(row.takesPerSec).padStart(8)}  ${row.nsPerTake.toFixed(0).padStart(21)}`);
  }
  if (r.speedup !== null) lines.push('', `native is ${r.speedup.toFixed(1)}x the reference (one process, one key)`);
  return lines.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--child');
  if (i >= 0) {
    await child(process.argv[i + 1], Number(process.argv[i + 2]));
  } else {
    const result = await runTokenBucketBench();
    console.log(process.argv.includes('--json') ? JSON.stringify(result, null, 2) : formatTokenBucketBench(result));
  }
}
