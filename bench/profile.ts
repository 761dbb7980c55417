/**
 * `--profile`: runs the gateway under `--cpu-prof` (primary and workers, through NODE_OPTIONS) for
 * one load run per selected scenario, then summarizes the workers' profiles: self time by
 * function, restricted to the measured window, as a share of busy time and as CPU µs per
 * request. The .cpuprofile files stay in bench/profiles/<stamp>-<scenario>/ for Chrome DevTools
 * or speedscope.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { startGateway } from './contenders/gateway.js';
import { startUpstream } from './contenders/upstream.js';
import { runLoad } from './loadgen.js';
import { ROOT } from './paths.js';
import { descendants, TreeCpu } from './proc.js';
import { planScenarios, current, toolFor, type SuiteOptions } from './runner.js';
import type { Fixtures } from './scenarios.js';
import { sleep } from './spawn.js';

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  function: string;
  location: string;
  category: string;
  selfMs: number;
  /** Share of the workers' busy (non-idle) samples. */
  pctBusy: number;
  usPerReq: number;
}

export interface ProfileSummary {
  scenario: string;
  connections: number;
  dir: string;
  requests: number;
  rps: number;
  workerProfiles: number;
  windowed: boolean;
  busyMs: number;
  idleMs: number;
  /** CPU of the gateway's processes (primary + workers) from /proc in the same window (all threads, kernel time included). */
  procCpuUsPerReq: number;
  /** The same for the workers alone: what the per-function µs/req figures are scaled to. */
  workersCpuUsPerReq: number;
  /** Busy (non-idle) main-thread wall time of the workers per request, from the profiles' samples. */
  profileUsPerReq: number;
  top: ProfileEntry[];
  categories: Array<{ category: string; pctBusy: number; usPerReq: number }>;
}

function category(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return 'native, not attributed (program)';
  if (url === '') return 'native (V8 builtins / bindings)';
  if (url.includes('/node_modules/undici/')) return 'undici';
  if (url.includes('/node_modules/uWebSockets.js/') || url.includes('uws')) return 'uWebSockets.js (JS side)';
  if (url.includes('/node_modules/')) return 'other dependencies';
  if (url.startsWith('node:')) return 'Node core (JS)';
  if (url.includes('/dist/src/')) return 'gateway (dist/src)';
  return 'other';
}

function shortUrl(url: string): string {
  const i = url.indexOf('/node_modules/');
  if (i >= 0) return url.slice(i + '/node_modules/'.length);
  const j = url.indexOf('/dist/');
  if (j >= 0) return url.slice(j + 1);
  return url.replace(/^file:\/\//, '');
}

/** Self time per (function, location) over samples within [fromUs, toUs] (V8 monotonic µs). */
export function summarizeProfiles(
  files: string[],
  window: { fromUs: number; toUs: number } | null,
  requests: number,
  topN: number,
): { entries: ProfileEntry[]; busyMs: number; idleMs: number; windowed: boolean; categories: ProfileSummary['categories'] } {
  const self = new Map<string, { fn: string; loc: string; cat: string; us: number }>();
  let idleUs = 0;
  let busyUs = 0;
  let windowed = window !== null;
  const accumulate = (useWindow: boolean) => {
    self.clear();
    idleUs = 0;
    busyUs = 0;
    for (const f of files) {
      const p = JSON.parse(readFileSync(f, 'utf8')) as CpuProfile;
      const byId = new Map(p.nodes.map((n) => [n.id, n]));
      let t = p.startTime;
      for (let i = 0; i < p.samples.length; i++) {
        t += p.timeDeltas[i] ?? 0;
        const weight = p.timeDeltas[i + 1] ?? 0;
        if (useWindow && window && (t < window.fromUs || t > window.toUs)) continue;
        const node = byId.get(p.samples[i]);
        if (!node) continue;
        const { functionName, url, lineNumber } = node.callFrame;
        if (functionName === '(idle)') {
          idleUs += weight;
          continue;
        }
        if (functionName === '(root)') continue;
        busyUs += weight;
        const fn = functionName || '(anonymous)';
        const loc = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
        const key = `${fn}\u0000${loc}`;
        const e = self.get(key);
        if (e) e.us += weight;
        else self.set(key, { fn, loc, cat: category(url, functionName), us: weight });
      }
    }
  };
  accumulate(windowed);
  if (windowed && busyUs === 0) {
    // the profile's clock did not line up with ours: take the whole profile
    windowed = false;
    accumulate(false);
  }
  const perReq = (us: number) => (requests > 0 ? us / requests : 0);
  const entries = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, topN)
    .map((e) => ({ function: e.fn, location: e.loc, category: e.cat, selfMs: e.us / 1000, pctBusy: busyUs ? (100 * e.us) / busyUs : 0, usPerReq: perReq(e.us) }));
  const cats = new Map<string, number>();
  for (const e of self.values()) cats.set(e.cat, (cats.get(e.cat) ?? 0) + e.us);
  const categories = [...cats.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([c, us]) => ({ category: c, pctBusy: busyUs ? (100 * us) / busyUs : 0, usPerReq: perReq(us) }));
  return { entries, busyMs: busyUs / 1000, idleMs: idleUs / 1000, windowed, categories };
}

export function formatProfile(s: ProfileSummary): string {
  const lines = [
    `# CPU profile: ${s.scenario} @ ${s.connections} connections`,
    '',
    `${s.requests} requests (${Math.round(s.rps)} req/s under --cpu-prof), ${s.workerProfiles} worker profile(s) in \`${s.dir}\`.`,
    `CPU per request from /proc (profiler overhead included): workers ${s.workersCpuUsPerReq.toFixed(1)} µs, primary + workers ${s.procCpuUsPerReq.toFixed(1)} µs. ` +
      `The profiles' busy samples (${s.windowed ? 'measured window only' : 'whole profile'}) come to ${s.profileUsPerReq.toFixed(1)} µs of wall time per request; ` +
      'the µs/req below are each function\'s share of the busy samples times the workers\' CPU per request.',
    '',
    '## Top functions by self time',
    '',
    '| # | function | location | category | % of busy | µs/req |',
    '|---:|---|---|---|---:|---:|',
    ...s.top.map((e, i) => `| ${i + 1} | \`${e.function}\` | ${e.location || '–'} | ${e.category} | ${e.pctBusy.toFixed(1)}% | ${e.usPerReq.toFixed(2)} |`),
    '',
    '## By category',
    '',
    '| category | % of busy | µs/req |',
    '|---|---:|---:|',
    ...s.categories.map((c) => `| ${c.category} | ${c.pctBusy.toFixed(1)}% | ${c.usPerReq.toFixed(2)} |`),
    '',
    'Self time of a native binding (e.g. a socket write) includes the system call it makes; `(program)` is native code V8 cannot attribute to a JS function (uWS C++, libuv).',
    '',
  ];
  return lines.join('\n');
}

function pidOfProfile(file: string): number {
  // CPU.<yyyymmdd>.<hhmmss>.<pid>.<tid>.<seq>.cpuprofile
  const parts = basename(file).split('.');
  return Number(parts[3]);
}

export async function runProfiles(opts: SuiteOptions, fx: Fixtures, topN: number, note: (m: string) => void): Promise<ProfileSummary[]> {
  const out: ProfileSummary[] = [];
  const upstream = await startUpstream(opts.upstreamKind);
  try {
    const plan = await planScenarios(opts, fx, upstream);
    for (const { s, status, ctx } of plan) {
      if (!s.contenders.includes('gateway')) {
        note(`profile: ${s.name} has no gateway in it; nothing to profile`);
        continue;
      }
      if (status.status !== 'ran') {
        note(`profile: ${s.name}: ${status.status}: ${status.reason}`);
        continue;
      }
      const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
      const dir = join(ROOT, 'bench', 'profiles', `${stamp}-${s.name}`);
      mkdirSync(dir, { recursive: true });
      const conns = status.connections[0];
      note(`profile: ${s.name} @ ${conns} conns: gateway under --cpu-prof, ${opts.warmupS} s warm-up + ${opts.durationS} s measured`);
      const gw = await startGateway(s, ctx, opts.workDir, { profileDir: dir, engine: opts.engine ?? null });
      const spec = {
        port: gw.port, path: s.request.path, method: s.request.method, headers: s.request.headers, bodyBytes: s.request.bodyBytes,
        connections: conns, durationS: opts.durationS, timeoutS: opts.timeoutS, threads: opts.wrkThreads,
        keyHeader: s.request.keyHeader,
        ...(s.openLoop ? { rate: opts.rate } : {}),
      };
      const tool = toolFor(s, opts);
      let requests = 0;
      let rps = 0;
      let procS = 0;
      let workersS = 0;
      let window: { fromUs: number; toUs: number } | null = null;
      try {
        if (opts.warmupS > 0) await runLoad(tool, { ...spec, durationS: opts.warmupS }, opts.workDir, (m) => (current.loadgen = m));
        await sleep(300);
        const tree = new TreeCpu(gw.pid!);
        const workerTrees = descendants(gw.pid!).map((pid) => new TreeCpu(pid));
        tree.begin();
        for (const w of workerTrees) w.begin();
        const from = Number(process.hrtime.bigint() / 1000n);
        const r = await runLoad(tool, spec, opts.workDir, (m) => (current.loadgen = m));
        const to = Number(process.hrtime.bigint() / 1000n);
        procS = tree.end();
        workersS = workerTrees.reduce((a, w) => a + w.end(), 0);
        window = { fromUs: from, toUs: to };
        requests = r.requests;
        rps = r.rps;
      } finally {
        await gw.stop();
      }
      await sleep(500);
      const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f));
      const workers = files.filter((f) => pidOfProfile(f) !== gw.pid);
      if (workers.length === 0) {
        note(`profile: no worker profile was written to ${dir} (did the workers exit normally?)`);
        continue;
      }
      const sum = summarizeProfiles(workers, window, requests, topN);
      // The profiler samples wall time: on a busy machine a preempted thread still collects
      // samples. Shares of busy samples are robust to that; µs per request are scaled to the
      // workers' CPU time from /proc.
      const workersUsPerReq = requests ? (workersS * 1e6) / requests : 0;
      for (const e of sum.entries) e.usPerReq = (e.pctBusy / 100) * workersUsPerReq;
      for (const c of sum.categories) c.usPerReq = (c.pctBusy / 100) * workersUsPerReq;
      const summary: ProfileSummary = {
        scenario: s.name,
        connections: conns,
        dir: dir.slice(ROOT.length + 1),
        requests,
        rps,
        workerProfiles: workers.length,
        windowed: sum.windowed,
        busyMs: sum.busyMs,
        idleMs: sum.idleMs,
        procCpuUsPerReq: requests ? (procS * 1e6) / requests : 0,
        workersCpuUsPerReq: workersUsPerReq,
        profileUsPerReq: requests ? (sum.busyMs * 1000) / requests : 0,
        top: sum.entries,
        categories: sum.categories,
      };
      writeFileSync(join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
      writeFileSync(join(dir, 'summary.md'), formatProfile(summary));
      out.push(summary);
    }
  } finally {
    await upstream.stop();
  }
  return out;
}
