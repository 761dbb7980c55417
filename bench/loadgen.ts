/**
 * The load generators, each run as a child process of the harness so that its CPU is measured
 * apart from everything else (cutime + cstime of the harness across the child's life):
 * - wrk (default when installed): C, ~3x cheaper per request than autocannon; its exact
 *   microsecond latency counts come back through a Lua `done()` as a fine percentile grid.
 * - autocannon (programmatic API, in bench/loadgen-autocannon.ts): every response's latency is
 *   recorded in microseconds into an HdrHistogram (autocannon's own histogram has 1 ms steps).
 * - ws (bench/loadgen-ws.ts): WebSocket echo round trips, for the websocket scenario.
 * - open (bench/loadgen-open.ts): a fixed request rate, latency from each request's scheduled
 *   time (open loop, no coordinated omission), for the open-loop scenario.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode, fromPercentiles, summarize, undoWrkCorrection, wrkCorrectionInterval, wrkPercentileGrid, type Histogram, type LatencySummary } from './histogram.js';
import { benchScript, ROOT } from './paths.js';
import { reapedChildrenCpuSeconds } from './proc.js';
import { start, type Managed } from './spawn.js';

export type LoadTool = 'wrk' | 'autocannon' | 'ws' | 'open';

export interface LoadSpec {
  port: number;
  path: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  bodyBytes: number;
  connections: number;
  durationS: number;
  /** A request slower than this is counted as a timeout error. */
  timeoutS: number;
  /** wrk threads (-t). */
  threads: number;
  /** A header whose value cycles per request (`<name>: user-<n>`, n = 1..count); see bench/wrk-x-user.lua. */
  keyHeader?: { name: string; count: number };
  /** The open-loop client only: requests per second, on schedule. */
  rate?: number;
}

/** What the open-loop client reports beside the latencies. */
export interface OpenLoopFigures {
  /** Offered requests per second. */
  rate: number;
  /** How late requests left after their scheduled time (the client's timer resolution, and its own stalls). */
  sendLagUs: LatencySummary;
  /** Most requests waiting at once for a free connection. */
  maxQueued: number;
}

/** The wrk script that varies a header per request (in the source tree: .lua files are not compiled). */
export const WRK_KEY_HEADER_SCRIPT = join(ROOT, 'bench', 'wrk-x-user.lua');

export interface LoadResult {
  tool: LoadTool;
  /** Responses received (any status). */
  requests: number;
  durationS: number;
  rps: number;
  /** Socket errors and timeouts (connect, read, write, reset, timeout). */
  errors: number;
  errorDetail: Record<string, number>;
  /** Responses whose status is not 2xx (wrk: >= 400). */
  non2xx: number;
  /** Latency of every response, microseconds. */
  hist: Histogram;
  /** wrk only: the percentiles wrk itself reports, with the samples its latency correction adds (see undoWrkCorrection). */
  wrkCorrected?: LatencySummary;
  /** CPU seconds the load generator process used. */
  cpuS: number;
  openLoop?: OpenLoopFigures;
}

/** Serialized form the Node load generators print on stdout, one line: `BENCH-RESULT {...}`. */
export interface ChildResult {
  requests: number;
  durationS: number;
  errors: number;
  errorDetail: Record<string, number>;
  non2xx: number;
  hist: string;
  openLoop?: OpenLoopFigures;
}

function luaString(s: string): string {
  return JSON.stringify(s); // a JSON string literal is a valid Lua string literal for ASCII text
}

function wrkScript(spec: LoadSpec): string {
  const lines = [`wrk.method = ${luaString(spec.method)}`];
  if (spec.bodyBytes > 0) lines.push(`wrk.body = string.rep("x", ${spec.bodyBytes})`);
  for (const [k, v] of Object.entries(spec.headers)) lines.push(`wrk.headers[${luaString(k)}] = ${luaString(v)}`);
  if (spec.keyHeader) {
    lines.push(`bench_key_header = { name = ${luaString(spec.keyHeader.name)}, count = ${Math.max(1, Math.floor(spec.keyHeader.count))} }`);
    lines.push(readFileSync(WRK_KEY_HEADER_SCRIPT, 'utf8'));
  }
  lines.push(`local grid = { ${wrkPercentileGrid().join(', ')} }`);
  lines.push(`done = function(summary, latency, requests)
  local e = summary.errors
  io.stderr:write(string.format("BENCH-SUMMARY %d %d %d %d %d %d %d %d %d\\n", summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout, latency.max))
  if summary.requests > 0 then
    for _, p in ipairs(grid) do
      io.stderr:write(string.format("BENCH-P %.4f %d\\n", p, latency:percentile(p)))
    end
  end
end`);
  return `${lines.join('\n')}\n`;
}

function parseWrk(out: string, connections: number): Omit<LoadResult, 'cpuS' | 'tool'> {
  const m = /BENCH-SUMMARY (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(out);
  if (!m) throw new Error(`wrk gave no summary:\n${out.slice(-2000)}`);
  const [durUs, requests, , connect, read, write, status, timeout, max] = m.slice(1).map(Number);
  const points: Array<{ p: number; v: number }> = [];
  for (const pm of out.matchAll(/BENCH-P (\S+) (\d+)/g)) points.push({ p: Number(pm[1]), v: Number(pm[2]) });
  const durationS = durUs / 1e6;
  return {
    requests,
    durationS,
    rps: requests / durationS,
    errors: connect + read + write + timeout,
    errorDetail: { connect, read, write, timeout },
    non2xx: status,
    hist: undoWrkCorrection(points, requests, max, wrkCorrectionInterval(durUs, requests, connections)),
    wrkCorrected: summarize(fromPercentiles(points, requests, max)),
  };
}

/** Runs one load and waits for it. `onChild` gets the child (for Ctrl-C). */
export async function runLoad(tool: LoadTool, spec: LoadSpec, dir: string, onChild?: (m: Managed | null) => void): Promise<LoadResult> {
  let m: Managed;
  if (tool === 'wrk') {
    const key = spec.keyHeader ? `-key_${spec.keyHeader.name}_${spec.keyHeader.count}` : '';
    const script = join(dir, `wrk-${spec.method}-${spec.bodyBytes}-${Object.keys(spec.headers).join('_') || 'plain'}${key}.lua`);
    writeFileSync(script, wrkScript(spec));
    const args = [
      `-t${Math.min(spec.threads, spec.connections)}`,
      `-c${spec.connections}`,
      `-d${spec.durationS}s`,
      '--timeout', `${spec.timeoutS}s`,
      '-s', script,
      `http://127.0.0.1:${spec.port}${spec.path}`,
    ];
    const cpu0 = reapedChildrenCpuSeconds();
    m = start('wrk', 'wrk', args, { cwd: ROOT });
    onChild?.(m);
    const code = await m.exited;
    onChild?.(null);
    const cpuS = reapedChildrenCpuSeconds() - cpu0;
    if (code !== 0) throw new Error(`wrk exited with ${code}:\n${m.output().slice(-3000)}`);
    return { tool, cpuS, ...parseWrk(m.output(), spec.connections) };
  }
  const script = tool === 'ws' ? 'loadgen-ws.js' : tool === 'open' ? 'loadgen-open.js' : 'loadgen-autocannon.js';
  const cpu0 = reapedChildrenCpuSeconds();
  m = start(tool, process.execPath, [benchScript(script), JSON.stringify(spec)], { cwd: ROOT });
  onChild?.(m);
  const code = await m.exited;
  onChild?.(null);
  const cpuS = reapedChildrenCpuSeconds() - cpu0;
  const line = m.output().split('\n').find((l) => l.startsWith('BENCH-RESULT '));
  if (code !== 0 || !line) throw new Error(`${tool} exited with ${code}:\n${m.output().slice(-3000)}`);
  const r = JSON.parse(line.slice('BENCH-RESULT '.length)) as ChildResult;
  return {
    tool,
    requests: r.requests,
    durationS: r.durationS,
    rps: r.requests / r.durationS,
    errors: r.errors,
    errorDetail: r.errorDetail,
    non2xx: r.non2xx,
    hist: decode(r.hist),
    cpuS,
    ...(r.openLoop ? { openLoop: r.openLoop } : {}),
  };
}
