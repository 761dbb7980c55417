/**
 * The load suite's report: medians with min–max over the rounds, the headline (gateway vs nginx
 * vs direct), and the three outputs: a terminal table, report.md and report.json.
 */
import { decode, newHistogram, summarize, type LatencySummary } from './histogram.js';
import type { MachineInfo } from './proc.js';
import { NOISE_CORES, type RunRecord, type ScenarioStatus, type SuiteResult } from './runner.js';
import type { ContenderName } from './scenarios.js';

export const REPORT_SCHEMA = 'uws-gateway-bench/1';

export interface Stat {
  median: number;
  min: number;
  max: number;
}

export interface Aggregate {
  scenario: string;
  connections: number;
  contender: ContenderName;
  label: string;
  rounds: number;
  requests: number;
  errors: number;
  non2xx: number;
  rps: Stat;
  /** Median over rounds of each percentile, microseconds. */
  latencyUs: Record<keyof LatencySummary, Stat>;
  /** Percentiles of all rounds' samples together, microseconds. */
  latencyMergedUs: LatencySummary;
  cpuUsPerReq: Stat | null;
  upstreamUsPerReq: Stat;
  loadgenUsPerReq: Stat;
  loadgenCores: Stat;
  /** Cores used by unrelated processes during the runs (noise). */
  otherCores: Stat;
  /** Ratios to nginx (same scenario and connections), medians: gateway/nginx. */
  vsNginx: { rps: number | null; cpuUsPerReq: number | null };
  /** Ratio to the direct run (same scenario if it has one, else the direct scenario) on req/s. */
  vsDirectRps: number | null;
}

export interface Headline {
  connections: number;
  direct: { rps: number; cpuUsPerReqUpstream: number } | null;
  gateway: { rps: number; cpuUsPerReq: number | null; p99Us: number } | null;
  nginx: { rps: number; cpuUsPerReq: number | null; p99Us: number } | null;
  /** gateway / nginx */
  rpsRatio: number | null;
  /** gateway / nginx: the headline figure (lower is better). */
  cpuRatio: number | null;
  /** gateway / direct */
  rpsOfDirect: number | null;
}

export interface ReportMeta {
  date: string;
  machine: MachineInfo;
  gateway: { version: string; commit: string };
  loadgen: { tool: 'wrk' | 'autocannon'; version: string; threads: number; why: string };
  upstream: { kind: 'uws' | 'http'; description: string };
  nginx: string | null;
  peer: string | null;
  options: Record<string, unknown>;
  durationS: number;
  /** 1-minute load average before the suite started (a busy machine disturbs every number). */
  loadAverageAtStart: number;
}

export interface Report {
  schema: typeof REPORT_SCHEMA;
  meta: ReportMeta;
  headline: Headline[];
  scenarios: ScenarioStatus[];
  aggregates: Aggregate[];
  runs: RunRecord[];
  micro: MicroResults;
  warnings: string[];
}

export interface MicroResults {
  router: { status: 'ran' | 'skipped' | 'failed'; reason?: string; result?: unknown; table?: string };
  tokenBucket: { status: 'ran' | 'skipped' | 'failed'; reason?: string; result?: unknown; table?: string };
  /** Absent in reports written before the balancers existed. */
  balancers?: { status: 'ran' | 'skipped' | 'failed'; reason?: string; result?: unknown; table?: string };
  /** Absent in reports written before plugin modules existed. */
  pluginModules?: { status: 'ran' | 'skipped' | 'failed'; reason?: string; result?: unknown; table?: string };
}

function stat(xs: number[]): Stat {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  const median = s.length === 0 ? 0 : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  return { median, min: s[0] ?? 0, max: s[s.length - 1] ?? 0 };
}

export function aggregate(runs: RunRecord[]): Aggregate[] {
  const groups = new Map<string, RunRecord[]>();
  for (const r of runs) {
    const k = `${r.scenario}|${r.connections}|${r.contender}`;
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  const out: Aggregate[] = [];
  for (const g of groups.values()) {
    const first = g[0];
    const merged = newHistogram();
    for (const r of g) merged.add(decode(r.hist));
    const lat = (k: keyof LatencySummary) => stat(g.map((r) => r.latencyUs[k]));
    const cpu = g.map((r) => r.cpuUsPerReq.contender).filter((x): x is number => x !== null);
    out.push({
      scenario: first.scenario,
      connections: first.connections,
      contender: first.contender,
      label: first.label,
      rounds: g.length,
      requests: g.reduce((a, r) => a + r.requests, 0),
      errors: g.reduce((a, r) => a + r.errors, 0),
      non2xx: g.reduce((a, r) => a + r.non2xx, 0),
      rps: stat(g.map((r) => r.rps)),
      latencyUs: { p50: lat('p50'), p90: lat('p90'), p99: lat('p99'), p999: lat('p999'), max: lat('max'), mean: lat('mean') },
      latencyMergedUs: summarize(merged),
      cpuUsPerReq: cpu.length ? stat(cpu) : null,
      upstreamUsPerReq: stat(g.map((r) => r.cpuUsPerReq.upstream)),
      loadgenUsPerReq: stat(g.map((r) => r.cpuUsPerReq.loadgen)),
      loadgenCores: stat(g.map((r) => r.loadgenCores)),
      otherCores: stat(g.map((r) => r.machine?.otherCores ?? 0)),
      vsNginx: { rps: null, cpuUsPerReq: null },
      vsDirectRps: null,
    });
  }
  for (const a of out) {
    const ng = out.find((b) => b.scenario === a.scenario && b.connections === a.connections && b.contender === 'nginx');
    if (ng && a.contender !== 'direct') {
      a.vsNginx.rps = ng.rps.median > 0 ? a.rps.median / ng.rps.median : null;
      a.vsNginx.cpuUsPerReq = a.cpuUsPerReq && ng.cpuUsPerReq && ng.cpuUsPerReq.median > 0 ? a.cpuUsPerReq.median / ng.cpuUsPerReq.median : null;
    }
    const direct =
      out.find((b) => b.scenario === a.scenario && b.connections === a.connections && b.contender === 'direct') ??
      (sameRequest(a.scenario) ? out.find((b) => b.scenario === 'direct' && b.connections === a.connections) : undefined);
    if (direct && a.contender !== 'direct' && direct.rps.median > 0) a.vsDirectRps = a.rps.median / direct.rps.median;
  }
  return out;
}

/** Scenarios that send the same request as `direct` (GET / with a small answer). */
function sameRequest(scenario: string): boolean {
  return ['proxy', 'plugins', 'jwt-hs256', 'jwt-rs256'].includes(scenario);
}

export function headline(aggs: Aggregate[]): Headline[] {
  const conns = [...new Set(aggs.filter((a) => a.scenario === 'proxy').map((a) => a.connections))].sort((a, b) => a - b);
  return conns.map((c) => {
    const find = (scenario: string, contender: ContenderName) => aggs.find((a) => a.scenario === scenario && a.connections === c && a.contender === contender);
    const d = find('direct', 'direct');
    const g = find('proxy', 'gateway');
    const n = find('proxy', 'nginx');
    return {
      connections: c,
      direct: d ? { rps: d.rps.median, cpuUsPerReqUpstream: d.upstreamUsPerReq.median } : null,
      gateway: g ? { rps: g.rps.median, cpuUsPerReq: g.cpuUsPerReq?.median ?? null, p99Us: g.latencyUs.p99.median } : null,
      nginx: n ? { rps: n.rps.median, cpuUsPerReq: n.cpuUsPerReq?.median ?? null, p99Us: n.latencyUs.p99.median } : null,
      rpsRatio: g && n && n.rps.median > 0 ? g.rps.median / n.rps.median : null,
      cpuRatio: g?.cpuUsPerReq && n?.cpuUsPerReq && n.cpuUsPerReq.median > 0 ? g.cpuUsPerReq.median / n.cpuUsPerReq.median : null,
      rpsOfDirect: g && d && d.rps.median > 0 ? g.rps.median / d.rps.median : null,
    };
  });
}

export function buildReport(meta: ReportMeta, suite: SuiteResult, micro: MicroResults): Report {
  const aggs = aggregate(suite.runs);
  return {
    schema: REPORT_SCHEMA,
    meta,
    headline: headline(aggs),
    scenarios: suite.scenarios,
    aggregates: aggs,
    runs: suite.runs,
    micro,
    warnings: suite.warnings,
  };
}

// ---------------------------------------------------------------- formatting

export function fmtRps(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(2)}k`;
  return n.toFixed(n >= 100 ? 0 : 1);
}

export function fmtMs(us: number): string {
  const ms = us / 1000;
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

function fmtUs(us: number): string {
  return us >= 100 ? us.toFixed(0) : us.toFixed(1);
}

function range(s: Stat, f: (n: number) => string): string {
  return `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}

function pct(r: number | null): string {
  return r === null ? '–' : `${(r * 100).toFixed(0)}%`;
}

function ratio(r: number | null): string {
  return r === null ? '–' : `${r.toFixed(2)}×`;
}

function mdTable(head: string[], rows: string[][], align: Array<'l' | 'r'>): string {
  const sep = align.map((a) => (a === 'r' ? '---:' : '---'));
  return [head, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

export function headlineMarkdown(r: Report): string {
  if (r.headline.length === 0) return '_No headline: the `proxy` scenario did not run._';
  const rows: string[][] = [];
  for (const h of r.headline) {
    if (h.direct) rows.push([`${h.connections}`, 'direct to the upstream (ceiling)', fmtRps(h.direct.rps), '–', '–', '–', '–']);
    if (h.nginx) rows.push([`${h.connections}`, `nginx ${r.meta.nginx ?? ''}`.trim(), fmtRps(h.nginx.rps), fmtMs(h.nginx.p99Us), h.nginx.cpuUsPerReq === null ? '–' : fmtUs(h.nginx.cpuUsPerReq), '100%', '1.00×']);
    if (h.gateway) {
      rows.push([
        `${h.connections}`,
        '**gateway**',
        `**${fmtRps(h.gateway.rps)}**`,
        fmtMs(h.gateway.p99Us),
        h.gateway.cpuUsPerReq === null ? '–' : `**${fmtUs(h.gateway.cpuUsPerReq)}**`,
        pct(h.rpsRatio),
        `**${ratio(h.cpuRatio)}**`,
      ]);
    }
  }
  return mdTable(['conns', 'proxy scenario', 'req/s', 'p99 ms', 'CPU µs/req', 'req/s ÷ nginx', 'CPU/req ÷ nginx'], rows, ['r', 'l', 'r', 'r', 'r', 'r', 'r']);
}

function scenarioTable(aggs: Aggregate[]): string {
  const rows = aggs.map((a) => [
    a.label,
    `${a.connections}`,
    range(a.rps, fmtRps),
    fmtMs(a.latencyUs.p50.median),
    fmtMs(a.latencyUs.p90.median),
    fmtMs(a.latencyUs.p99.median),
    fmtMs(a.latencyUs.p999.median),
    fmtMs(a.latencyUs.max.median),
    `${a.errors}`,
    `${a.non2xx}`,
    a.cpuUsPerReq ? range(a.cpuUsPerReq, fmtUs) : '–',
    ratio(a.vsNginx.cpuUsPerReq),
    pct(a.vsDirectRps),
    fmtUs(a.upstreamUsPerReq.median),
    a.loadgenCores.median.toFixed(2),
    a.otherCores.max.toFixed(2),
  ]);
  return mdTable(
    ['contender', 'conns', 'req/s median (min–max)', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'errors', 'non-2xx', 'CPU µs/req (min–max)', 'CPU ÷ nginx', 'req/s ÷ direct', 'upstream µs/req', 'loadgen cores', 'other procs cores (max)'],
    rows,
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
}

/** The compact results table (README / docs): one row per scenario, connections and contender. */
export function compactTable(r: Report): string {
  const rows: string[][] = [];
  for (const s of r.scenarios) {
    if (s.status !== 'ran') continue;
    for (const a of r.aggregates.filter((x) => x.scenario === s.name)) {
      rows.push([
        s.name,
        `${a.connections}`,
        a.label,
        range(a.rps, fmtRps),
        `${fmtMs(a.latencyUs.p50.median)} / ${fmtMs(a.latencyUs.p99.median)}`,
        a.cpuUsPerReq ? range(a.cpuUsPerReq, fmtUs) : '–',
        ratio(a.vsNginx.cpuUsPerReq),
        `${a.errors + a.non2xx}`,
      ]);
    }
  }
  return mdTable(['scenario', 'conns', 'contender', 'req/s median (min–max)', 'p50 / p99 ms', 'CPU µs/req', 'CPU ÷ nginx', 'errors'], rows, ['l', 'r', 'l', 'r', 'r', 'r', 'r', 'r']);
}

export function renderMarkdown(r: Report, charts: { rps?: string; cpu?: string; latency: Array<{ file: string; title: string }> }): string {
  const m = r.meta;
  const out: string[] = [];
  out.push(`# Load suite report, ${m.date}`);
  out.push('');
  out.push(
    `${m.machine.cores} cores (${m.machine.cpuModel}), ${m.machine.memoryGiB} GiB, ${m.machine.os}, Linux ${m.machine.kernel}, Node ${m.machine.node}. ` +
      `Gateway ${m.gateway.version} at \`${m.gateway.commit}\`.`,
  );
  out.push('');
  out.push(`- Load generator: **${m.loadgen.tool} ${m.loadgen.version}**${m.loadgen.tool === 'wrk' ? `, ${m.loadgen.threads} thread(s)` : ''} (${m.loadgen.why}), in its own process, CPU measured.`);
  out.push(`- Upstream: ${m.upstream.description}.`);
  out.push(`- Reference: ${m.nginx ? `nginx ${m.nginx}` : 'nginx not on PATH (no reference)'}${m.peer ? `; peer: ${m.peer}` : ''}.`);
  const o = m.options;
  out.push(
    `- Rounds: ${o.rounds} alternating (A B C A B C ...), ${o.durationS} s each after a ${o.warmupS} s warm-up; workers: ${o.workers}; ` +
      `total ${Math.round(m.durationS)} s. Figures are medians over the rounds, (min–max) in brackets.`,
  );
  out.push(`- Load average before the start: ${m.loadAverageAtStart.toFixed(2)}. "other procs cores" is the CPU used by processes outside the suite during a run (per-process /proc sums); above ${NOISE_CORES} the run is flagged.`);
  out.push('- CPU µs/req = CPU seconds (utime + stime from /proc) of the contender\'s processes (primary + workers, or nginx master + workers) during the run ÷ responses. Upstream and load generator are measured the same way, separately.');
  out.push('');
  out.push('## Headline');
  out.push('');
  out.push(headlineMarkdown(r));
  out.push('');
  if (r.warnings.length) {
    out.push('## Warnings');
    out.push('');
    for (const w of r.warnings) out.push(`- ${w}`);
    out.push('');
  }
  out.push('## Scenarios');
  out.push('');
  for (const s of r.scenarios) {
    out.push(`### ${s.name}: ${s.title}`);
    out.push('');
    out.push(s.measures);
    out.push('');
    if (s.status !== 'ran') {
      out.push(`**${s.status}**: ${s.reason}`);
      out.push('');
      continue;
    }
    const aggs = r.aggregates.filter((a) => a.scenario === s.name);
    if (aggs.length) out.push(scenarioTable(aggs));
    const others = s.contenders.filter((c) => c.status !== 'ran');
    if (others.length) {
      out.push('');
      for (const c of others) out.push(`- ${c.label}: ${c.status}: ${c.reason}`);
    }
    out.push('');
    out.push(`Upstream keep-alive pool per worker: ${s.upstreamPool} (gateway \`connectionsPerWorker\` = nginx \`keepalive\`).`);
    out.push('');
  }
  out.push('## Micro-benchmarks');
  out.push('');
  for (const [name, mres] of [
    ['Router lookups (1,000 routes, native vs TS reference)', r.micro.router],
    ['Token bucket takes', r.micro.tokenBucket],
    ['Balancer picks (4 members)', r.micro.balancers ?? { status: 'skipped', reason: 'not in this report' }],
    ['Plugin modules (per request, through the pipeline)', r.micro.pluginModules ?? { status: 'skipped', reason: 'not in this report' }],
  ] as const) {
    out.push(`### ${name}`);
    out.push('');
    if (mres.status === 'ran' && mres.table) out.push('```\n' + mres.table + '\n```');
    else out.push(`**${mres.status}**${mres.reason ? `: ${mres.reason}` : ''}`);
    out.push('');
  }
  out.push('## Charts');
  out.push('');
  if (charts.rps) out.push(`![requests/s per contender per scenario](${charts.rps})`, '');
  if (charts.cpu) out.push(`![CPU µs per request per contender per scenario](${charts.cpu})`, '');
  for (const l of charts.latency) out.push(`![${l.title}](${l.file})`, '');
  out.push('## Reproduce');
  out.push('');
  out.push('```sh');
  out.push(`npm run bench -- ${String(o.argv ?? '').trim()}`.trim());
  out.push('```');
  out.push('');
  return out.join('\n');
}

/** The terminal table: scenario, conns, contender, req/s, p50/p99, CPU µs/req, CPU ÷ nginx, errors. */
export function terminalTable(r: Report): string {
  const head = ['scenario', 'conns', 'contender', 'req/s (min–max)', 'p50 ms', 'p99 ms', 'p99.9 ms', 'CPU µs/req', '÷ nginx', 'upstr µs', 'lg cores', 'err', 'non2xx'];
  const rows: string[][] = [];
  for (const s of r.scenarios) {
    if (s.status !== 'ran') {
      rows.push([s.name, '', `${s.status}: ${s.reason ?? ''}`, '', '', '', '', '', '', '', '', '', '']);
      continue;
    }
    for (const a of r.aggregates.filter((x) => x.scenario === s.name)) {
      rows.push([
        s.name,
        `${a.connections}`,
        a.label,
        range(a.rps, fmtRps),
        fmtMs(a.latencyUs.p50.median),
        fmtMs(a.latencyUs.p99.median),
        fmtMs(a.latencyUs.p999.median),
        a.cpuUsPerReq ? fmtUs(a.cpuUsPerReq.median) : '–',
        ratio(a.vsNginx.cpuUsPerReq),
        fmtUs(a.upstreamUsPerReq.median),
        a.loadgenCores.median.toFixed(2),
        `${a.errors}`,
        `${a.non2xx}`,
      ]);
    }
  }
  const measured = rows.filter((r) => r[1] !== '');
  const widths = head.map((h, i) => Math.max(h.length, ...measured.map((r) => (r[i] ?? '').length), i === 0 ? Math.max(...rows.map((r) => r[0].length)) : 0));
  const line = (cells: string[]) => cells.map((c, i) => (i <= 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  const lines = [line(head), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const row of rows) {
    // a skipped scenario's reason spans the columns after the name
    if (row[1] === '' && row[2] !== '') lines.push(`${row[0].padEnd(widths[0])}  ${row[2]}`);
    else lines.push(line(row));
  }
  const h = r.headline.map((x) => {
    const parts = [`@${x.connections} conns:`];
    if (x.gateway) parts.push(`gateway ${fmtRps(x.gateway.rps)} req/s, ${x.gateway.cpuUsPerReq === null ? '–' : fmtUs(x.gateway.cpuUsPerReq)} µs/req`);
    if (x.nginx) parts.push(`nginx ${fmtRps(x.nginx.rps)} req/s, ${x.nginx.cpuUsPerReq === null ? '–' : fmtUs(x.nginx.cpuUsPerReq)} µs/req`);
    if (x.direct) parts.push(`direct ${fmtRps(x.direct.rps)} req/s`);
    if (x.cpuRatio !== null) parts.push(`=> CPU/req gateway ÷ nginx ${ratio(x.cpuRatio)}, req/s ${pct(x.rpsRatio)} of nginx`);
    return parts.join('  ');
  });
  return [...lines, '', ...h].join('\n');
}
