/**
 * MessagePack conversion micro-benchmark: what the `encoding` plugin's conversions cost the event
 * loop by body size, inline and on the offload pool (piscina: the body copied to the thread, the
 * answer transferred back). "loop µs" is the event loop's share of a pool round trip (event-loop
 * utilization's active time), "latency µs" its wall time. The threshold where the pool pays is
 * where converting inline costs the loop more than the round trip does
 * (OFFLOAD_ABOVE_BYTES, src/plugins/encoding/index.ts).
 *
 *   npm run build && node dist/bench/msgpack-bench.js [--json]
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { jsonToMsgpack, msgpackToJson } from '../src/plugins/encoding/msgpack.js';
import { OffloadPool } from '../src/offload/pool.js';
import { sampleBody, timeUs } from './merge-bench.js';

export interface MsgpackBenchRow {
  jsonBytes: number;
  toMsgpackUs: number;
  toMsgpackPoolLoopUs: number;
  toMsgpackPoolLatencyUs: number;
  toJsonUs: number;
  toJsonPoolLoopUs: number;
  toJsonPoolLatencyUs: number;
}

export interface MsgpackBenchResult {
  node: string;
  rows: MsgpackBenchRow[];
  /** The smallest measured JSON size at which converting inline costs the loop more than the pool (both directions). */
  crossoverBytes: number | null;
}

const SIZES = [4096, 16 * 1024, 32 * 1024, 64 * 1024, 128 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024];

async function poolCost(pool: OffloadPool, task: 'toMsgpack' | 'toJson', body: Buffer, total: number): Promise<{ loopUs: number; latencyUs: number }> {
  const rounds = Math.max(8, Math.min(200, Math.floor((32 * 1024 * 1024) / total)));
  await pool.run(task, body);
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) await pool.run(task, body);
  const wallMs = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  return { loopUs: (elu.active * 1000) / rounds, latencyUs: (wallMs * 1000) / rounds };
}

export async function runMsgpackBench(sizes = SIZES): Promise<MsgpackBenchResult> {
  const pool = new OffloadPool(1);
  const rows: MsgpackBenchRow[] = [];
  let sink = 0;
  try {
    await pool.run('toMsgpack', Buffer.from('{}')); // the thread boots before anything is timed
    for (const size of sizes) {
      const json = sampleBody(size);
      const packed = jsonToMsgpack(json);
      if (!packed.ok) throw new Error(packed.reason);
      const msgpack = Buffer.from(packed.body);
      const toMsgpackUs = timeUs(() => {
        sink += (jsonToMsgpack(json) as { body: Buffer }).body.length;
      });
      const toJsonUs = timeUs(() => {
        sink += (msgpackToJson(msgpack) as { body: Buffer }).body.length;
      });
      const a = await poolCost(pool, 'toMsgpack', json, json.length);
      const b = await poolCost(pool, 'toJson', msgpack, json.length);
      rows.push({
        jsonBytes: json.length,
        toMsgpackUs,
        toMsgpackPoolLoopUs: a.loopUs,
        toMsgpackPoolLatencyUs: a.latencyUs,
        toJsonUs,
        toJsonPoolLoopUs: b.loopUs,
        toJsonPoolLatencyUs: b.latencyUs,
      });
    }
  } finally {
    await pool.close();
  }
  if (sink === -1) console.log(sink);
  const cross = rows.find((r) => r.toMsgpackUs > r.toMsgpackPoolLoopUs && r.toJsonUs > r.toJsonPoolLoopUs);
  return { node: process.version, rows, crossoverBytes: cross?.jsonBytes ?? null };
}

function kib(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

export function formatMsgpackBench(r: MsgpackBenchResult): string {
  const f = (x: number, w: number) => x.toFixed(1).padStart(w);
  const lines = [
    `MessagePack conversion bench: realistic JSON, node ${r.node} (µs per body; the event loop's cost unless noted)`,
    '',
    ' JSON size   to msgpack  pool: loop  pool: latency   to JSON  pool: loop  pool: latency',
    '----------  -----------  ----------  -------------  --------  ----------  -------------',
  ];
  for (const row of r.rows) {
    lines.push(
      `${kib(row.jsonBytes).padStart(10)}  ${f(row.toMsgpackUs, 11)}  ${f(row.toMsgpackPoolLoopUs, 10)}  ${f(row.toMsgpackPoolLatencyUs, 13)}  ${f(row.toJsonUs, 8)}  ${f(row.toJsonPoolLoopUs, 10)}  ${f(row.toJsonPoolLatencyUs, 13)}`,
    );
  }
  lines.push('', `converting inline costs the loop more than the pool (both ways) from ${r.crossoverBytes === null ? '(never, in these sizes)' : kib(r.crossoverBytes)} on`);
  return lines.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runMsgpackBench();
  console.log(process.argv.includes('--json') ? JSON.stringify(result, null, 2) : formatMsgpackBench(result));
}
