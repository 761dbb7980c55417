/**
 * The load suite's report: medians with min–max over the rounds, the headline (gateway vs nginx
 * vs direct), and the three outputs: a terminal table, report.md and report.json.
 */
import { decode, newHistogram, summarize, type LatencySummary } from './histogram.js';
import type { MachineInfo } from './proc.js';
import { NOISE_CORES, type RunRecord, type ScenarioStatus, type SuiteResult } from './runner.js';
import { cpuCell, fmtMs, fmtRps, fmtUs, mdTable, pct, pctFine, range, ratio, signedPct, signedUs, stat, textTable, type Stat } from './format.js';
import { featureComparisons, featuresMarkdown, featuresText, type FeatureComparisons } from './report-features.js';
import type { ContenderName, ServerPeer } from './scenarios.js';

export { fmtMs, fmtRps, type Stat };

export const REPORT_SCHEMA = 'uws-gateway-bench/1';

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
  /** The same CPU as user and system (kernel) time, medians over the rounds (null: no process of its own, or a report from before the split). */
  cpuUserUsPerReq: Stat | null;
  cpuSystemUsPerReq: Stat | null;
  upstreamUsPerReq: Stat;
  loadgenUsPerReq: Stat;
  loadgenCores: Stat;
  /** Cores used by unrelated processes during the runs (noise). */
  otherCores: Stat;
  /** Scenarios with an event-loop probe: the probe's p99 and max latency (µs), medians over rounds. */
  probeUs?: { p99: Stat; max: Stat };
  /** Ratios to nginx (same scenario and connections), medians: gateway/nginx. */
  vsNginx: { rps: number | null; cpuUsPerReq: number | null };
  /** Ratio to the direct run (same scenario if it has one, else the direct scenario) on req/s. */
  vsDirectRps: number | null;
  /** Scenarios over several targets: each target's share of the requests (all rounds), and its answer delay (ms). */
  targets?: { shares: number[]; delayMs: number[] };
  /**
   * What the upstream saw, medians over the rounds: new TCP connections per second and per 1,000
   * client requests (the upstream connection reuse), and requests it answered per client request
   * (below 1: a cache answered the rest).
   */
  upstreamSeen?: { newConnectionsPerS: Stat; newConnectionsPer1kRequests: Stat; upstreamRequestsPerRequest: Stat };
  /** tracing-*: spans the OTLP sink received, all rounds. */
  otlp?: { exports: number; spans: number; spansPerRequest: number };
  /** open-loop: the offered rate and the client's send lag (medians over rounds of each run's p50 / p99), the deepest queue. */
  openLoop?: { rate: number; sendLagP50Us: Stat; sendLagP99Us: Stat; maxQueued: number };
}

/**
 * The gateway with a feature on against the `reference` contender of the same rounds (the same
 * gateway without it: another scenario's config, or the same config with another request):
 * resilience-on, cache-hit, msgpack-*, tracing-*.
 */
export interface ReferenceComparison {
  scenario: string;
  /** The scenario whose config the `reference` contender ran (proxy, or this scenario itself). */
  reference: string;
  connections: number;
  on: ContenderFigures;
  /** The reference contender: same rounds, alternating with `on`. */
  off: ContenderFigures;
  /** on − off, medians of CPU µs/request. */
  cpuDeltaUs: number | null;
  /** on − off per round (round r of each), median and min–max. */
  pairedCpuDeltaUs: Stat | null;
  /** on ÷ off − 1 on req/s medians. */
  rpsChange: number | null;
  /** The gateway of the reference scenario of the same run (not alternated with `on`), if it ran and is another scenario. */
  proxyScenario: (ContenderFigures & { cpuDeltaUs: number | null }) | null;
  /** The CPU goal of the feature, µs per request (resilience-on: 1), or null. */
  goalUs: number | null;
}

/** resilience-on's comparison (its name before the other reference scenarios existed). */
export type ResilienceComparison = ReferenceComparison & { goalUs: number };

export interface ContenderFigures {
  label: string;
  rps: number;
  cpuUsPerReq: number | null;
  p50Us: number;
  p99Us: number;
}

/** One contender of one lb-* scenario, next to round-robin of the same contender and run. */
export interface BalancerRow extends ContenderFigures {
  scenario: string;
  connections: number;
  contender: ContenderName;
  /** The gateway's balancer or nginx's method. */
  balancer: string;
  /** Requests/s ÷ the same contender's in lb-round-robin. */
  rpsVsRoundRobin: number | null;
  /** CPU µs/request − the same contender's in lb-round-robin. */
  cpuDeltaVsRoundRobinUs: number | null;
  loadgenUsPerReq: number;
  /** Share of the requests per target. */
  targetShares: number[] | null;
}

/** One contender of one lb-slow-* scenario. */
export interface SlowTargetRow extends ContenderFigures {
  scenario: string;
  connections: number;
  contender: ContenderName;
  balancer: string;
  p90Us: number;
  p999Us: number;
  /** Share of the requests the slow target answered. */
  slowShare: number | null;
  slowDelayMs: number;
}

export interface UpstreamComparisons {
  /** resilience-on against its reference. */
  resilience: ResilienceComparison[];
  balancers: BalancerRow[];
  slowTarget: SlowTargetRow[];
  /** What the slow-target rows show, one sentence per connection count. */
  slowTargetFindings: string[];
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
  /** haproxy, Caddy and the Node peer in the same scenario, with their ratios to nginx (absent in older reports). */
  others?: Array<{ contender: ContenderName; label: string; rps: number; cpuUsPerReq: number | null; p99Us: number; rpsVsNginx: number | null; cpuVsNginx: number | null }>;
}

export interface ReportMeta {
  date: string;
  machine: MachineInfo;
  gateway: { version: string; commit: string };
  loadgen: { tool: 'wrk' | 'autocannon'; version: string; threads: number; why: string };
  upstream: { kind: 'uws' | 'http'; description: string };
  nginx: string | null;
  /** Versions of nginx, haproxy and Caddy, null when not measured (absent in older reports). */
  servers?: Record<ServerPeer, string | null>;
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
  /** resilience-on vs its reference, lb-* vs lb-round-robin, lb-slow-*; absent in older reports. */
  upstream?: UpstreamComparisons;
  /** Connection reuse, open loop, route tables, cache, MessagePack, tracing; absent in older reports. */
  features?: FeatureComparisons;
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
  /** Absent in reports written before aggregation existed. */
  aggregateMerge?: { status: 'ran' | 'skipped' | 'failed'; reason?: string; result?: unknown; table?: string };
  /** The upstream engines' JS request path (bench/upstream-engine-bench.ts); absent in older reports. */
  upstreamEngine?: { status: 'ran' | 'skipped' | 'failed'; reason?: string; result?: unknown; table?: string };
  /** Absent in reports written before plugin modules existed. */
  pluginModules?: { status: 'ran' | 'skipped' | 'failed'; reason?: string; result?: unknown; table?: string };
  /** The encoding plugin's conversions, inline vs the offload pool (bench/msgpack-bench.ts); absent in older reports. */
  msgpackConversion?: { status: 'ran' | 'skipped' | 'failed'; reason?: string; result?: unknown; table?: string };
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
    const split = g.map((r) => r.cpuSplitUsPerReq).filter((x): x is { user: number; system: number } => x != null);
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
      cpuUserUsPerReq: split.length ? stat(split.map((x) => x.user)) : null,
      cpuSystemUsPerReq: split.length ? stat(split.map((x) => x.system)) : null,
      upstreamUsPerReq: stat(g.map((r) => r.cpuUsPerReq.upstream)),
      loadgenUsPerReq: stat(g.map((r) => r.cpuUsPerReq.loadgen)),
      loadgenCores: stat(g.map((r) => r.loadgenCores)),
      otherCores: stat(g.map((r) => r.machine?.otherCores ?? 0)),
      ...(g.every((r) => r.probeUs) ? { probeUs: { p99: stat(g.map((r) => r.probeUs!.p99)), max: stat(g.map((r) => r.probeUs!.max)) } } : {}),
      vsNginx: { rps: null, cpuUsPerReq: null },
      vsDirectRps: null,
      ...targetShares(g),
      ...upstreamSeen(g),
      ...otlpTotals(g),
      ...openLoopFigures(g),
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
  return ['proxy', 'plugins', 'jwt-hs256', 'jwt-rs256', 'resilience-on', 'cache-hit'].includes(scenario) || scenario.startsWith('tracing-');
}

function upstreamSeen(g: RunRecord[]): Pick<Aggregate, 'upstreamSeen'> {
  const rs = g.filter((r) => r.upstreamSeen);
  if (rs.length === 0) return {};
  return {
    upstreamSeen: {
      newConnectionsPerS: stat(rs.map((r) => r.upstreamSeen!.newConnectionsPerS)),
      newConnectionsPer1kRequests: stat(rs.map((r) => r.upstreamSeen!.newConnectionsPer1kRequests)),
      upstreamRequestsPerRequest: stat(rs.map((r) => (r.requests > 0 ? r.upstreamSeen!.requests / r.requests : 0))),
    },
  };
}

function otlpTotals(g: RunRecord[]): Pick<Aggregate, 'otlp'> {
  const rs = g.filter((r) => r.otlp);
  if (rs.length === 0) return {};
  const spans = rs.reduce((a, r) => a + r.otlp!.spans, 0);
  const requests = rs.reduce((a, r) => a + r.requests, 0);
  return { otlp: { exports: rs.reduce((a, r) => a + r.otlp!.exports, 0), spans, spansPerRequest: requests > 0 ? spans / requests : 0 } };
}

function openLoopFigures(g: RunRecord[]): Pick<Aggregate, 'openLoop'> {
  const rs = g.filter((r) => r.openLoop);
  if (rs.length === 0) return {};
  return {
    openLoop: {
      rate: rs[0].openLoop!.rate,
      sendLagP50Us: stat(rs.map((r) => r.openLoop!.sendLagUs.p50)),
      sendLagP99Us: stat(rs.map((r) => r.openLoop!.sendLagUs.p99)),
      maxQueued: Math.max(...rs.map((r) => r.openLoop!.maxQueued)),
    },
  };
}

function targetShares(g: RunRecord[]): { targets?: { shares: number[]; delayMs: number[] } } {
  const withTargets = g.filter((r) => r.targets);
  if (withTargets.length === 0) return {};
  const first = withTargets[0].targets!;
  const sums = first.ports.map((_, i) => withTargets.reduce((a, r) => a + (r.targets!.requests[i] ?? 0), 0));
  const total = sums.reduce((a, b) => a + b, 0);
  return { targets: { shares: sums.map((x) => (total > 0 ? x / total : 0)), delayMs: first.delayMs } };
}

function figures(a: Aggregate): ContenderFigures {
  return { label: a.label, rps: a.rps.median, cpuUsPerReq: a.cpuUsPerReq?.median ?? null, p50Us: a.latencyUs.p50.median, p99Us: a.latencyUs.p99.median };
}

/** The CPU µs/request goal of the resilience features' success path. */
export const RESILIENCE_GOAL_US = 1;

const delta = (a: number | null | undefined, b: number | null | undefined) => (a === null || a === undefined || b === null || b === undefined ? null : a - b);

/** Every scenario with a `reference` contender: the gateway against it, medians and round by round. */
export function referenceComparisons(aggs: Aggregate[], runs: RunRecord[], scenarios: ScenarioStatus[]): ReferenceComparison[] {
  const out: ReferenceComparison[] = [];
  const find = (scenario: string, conns: number, contender: ContenderName) =>
    aggs.find((a) => a.scenario === scenario && a.connections === conns && a.contender === contender);
  for (const s of scenarios) {
    if (s.status !== 'ran' || !s.reference) continue;
    for (const conns of s.connections) {
      const on = find(s.name, conns, 'gateway');
      const off = find(s.name, conns, 'reference');
      if (!on || !off) continue;
      const paired: number[] = [];
      for (const r of runs.filter((x) => x.scenario === s.name && x.connections === conns && x.contender === 'gateway')) {
        const o = runs.find((x) => x.scenario === s.name && x.connections === conns && x.contender === 'reference' && x.round === r.round);
        if (o && r.cpuUsPerReq.contender !== null && o.cpuUsPerReq.contender !== null) paired.push(r.cpuUsPerReq.contender - o.cpuUsPerReq.contender);
      }
      const px = s.reference === s.name ? undefined : find(s.reference, conns, 'gateway');
      out.push({
        scenario: s.name,
        reference: s.reference,
        connections: conns,
        on: figures(on),
        off: figures(off),
        cpuDeltaUs: delta(on.cpuUsPerReq?.median, off.cpuUsPerReq?.median),
        pairedCpuDeltaUs: paired.length ? stat(paired) : null,
        rpsChange: off.rps.median > 0 ? on.rps.median / off.rps.median - 1 : null,
        proxyScenario: px ? { ...figures(px), cpuDeltaUs: delta(on.cpuUsPerReq?.median, px.cpuUsPerReq?.median) } : null,
        goalUs: s.name === 'resilience-on' ? RESILIENCE_GOAL_US : null,
      });
    }
  }
  return out;
}

/** resilience-on vs its reference (same rounds), lb-* vs lb-round-robin, and the lb-slow-* rows. */
export function upstreamComparisons(aggs: Aggregate[], runs: RunRecord[], scenarios: ScenarioStatus[]): UpstreamComparisons {
  const out: UpstreamComparisons = {
    resilience: referenceComparisons(aggs, runs, scenarios).filter((c): c is ResilienceComparison => c.goalUs !== null),
    balancers: [],
    slowTarget: [],
    slowTargetFindings: [],
  };
  const find = (scenario: string, conns: number, contender: ContenderName) =>
    aggs.find((a) => a.scenario === scenario && a.connections === conns && a.contender === contender);

  for (const s of scenarios) {
    if (s.status !== 'ran' || !s.balancer) continue;
    const slow = s.name.startsWith('lb-slow-');
    for (const a of aggs.filter((x) => x.scenario === s.name)) {
      const balancer = a.contender === 'nginx' ? s.balancer.nginx : s.balancer.gateway;
      if (!slow) {
        const rr = find('lb-round-robin', a.connections, a.contender);
        out.balancers.push({
          ...figures(a),
          scenario: s.name,
          connections: a.connections,
          contender: a.contender,
          balancer,
          rpsVsRoundRobin: rr && rr.rps.median > 0 ? a.rps.median / rr.rps.median : null,
          cpuDeltaVsRoundRobinUs: rr ? delta(a.cpuUsPerReq?.median, rr.cpuUsPerReq?.median) : null,
          loadgenUsPerReq: a.loadgenUsPerReq.median,
          targetShares: a.targets?.shares ?? null,
        });
      } else {
        const i = a.targets ? a.targets.delayMs.findIndex((d) => d > 0) : -1;
        out.slowTarget.push({
          ...figures(a),
          scenario: s.name,
          connections: a.connections,
          contender: a.contender,
          balancer,
          p90Us: a.latencyUs.p90.median,
          p999Us: a.latencyUs.p999.median,
          slowShare: i >= 0 ? a.targets!.shares[i] : null,
          slowDelayMs: i >= 0 ? a.targets!.delayMs[i] : (s.targets?.delayMs.find((d) => d > 0) ?? 0),
        });
      }
    }
  }
  for (const conns of [...new Set(out.slowTarget.map((r) => r.connections))].sort((a, b) => a - b)) {
    const rows = out.slowTarget.filter((r) => r.connections === conns);
    const delayMs = Math.max(...rows.map((r) => r.slowDelayMs));
    const at = 0.9 * delayMs * 1000;
    const who = (r: SlowTargetRow) => {
      const shows = (
        [
          ['p50', r.p50Us],
          ['p90', r.p90Us],
          ['p99', r.p99Us],
        ] as const
      ).filter(([, v]) => v >= at).map(([k]) => k);
      const where = shows.length === 0 ? 'in none of p50/p90/p99' : shows.length === 1 ? `in ${shows[0]} only` : `from ${shows[0]} up`;
      return `${r.contender === 'nginx' ? 'nginx' : r.contender} ${r.balancer} ${where} (${r.slowShare === null ? '?' : pctFine(r.slowShare)} of the requests to it; p90 ${fmtMs(r.p90Us)}, p99 ${fmtMs(r.p99Us)} ms)`;
    };
    out.slowTargetFindings.push(
      `@${conns} conns, one target ${delayMs} ms late, where its latency shows: ${rows.map(who).join('; ')}. ` +
        'A balancer keeps it out of pN only by sending it less than (100 − N) % of the requests.',
    );
  }
  return out;
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
      others: (['haproxy', 'caddy', 'peer', 'floor-engine', 'floor-addon'] as const)
        .map((name) => find('proxy', name))
        .filter((a): a is Aggregate => a !== undefined)
        .map((a) => ({
          contender: a.contender,
          label: a.label,
          rps: a.rps.median,
          cpuUsPerReq: a.cpuUsPerReq?.median ?? null,
          p99Us: a.latencyUs.p99.median,
          rpsVsNginx: a.vsNginx.rps,
          cpuVsNginx: a.vsNginx.cpuUsPerReq,
        })),
    };
  });
}

export function buildReport(meta: ReportMeta, suite: SuiteResult, micro: MicroResults): Report {
  const aggs = aggregate(suite.runs);
  return {
    schema: REPORT_SCHEMA,
    meta,
    headline: headline(aggs),
    upstream: upstreamComparisons(aggs, suite.runs, suite.scenarios),
    features: featureComparisons(aggs, suite.scenarios, referenceComparisons(aggs, suite.runs, suite.scenarios)),
    scenarios: suite.scenarios,
    aggregates: aggs,
    runs: suite.runs,
    micro,
    warnings: suite.warnings,
  };
}

export function headlineMarkdown(r: Report): string {
  if (r.headline.length === 0) return '_No headline: the `proxy` scenario did not run._';
  const rows: string[][] = [];
  for (const h of r.headline) {
    if (h.direct) rows.push([`${h.connections}`, 'direct to the upstream (ceiling)', fmtRps(h.direct.rps), '–', '–', '–', '–']);
    if (h.nginx) rows.push([`${h.connections}`, `nginx ${r.meta.nginx ?? ''}`.trim(), fmtRps(h.nginx.rps), fmtMs(h.nginx.p99Us), h.nginx.cpuUsPerReq === null ? '–' : fmtUs(h.nginx.cpuUsPerReq), '100%', '1.00×']);
    for (const o of h.others ?? []) {
      const version = o.contender === 'peer' ? r.meta.peer : r.meta.servers?.[o.contender as ServerPeer];
      rows.push([`${h.connections}`, `${o.label}${version ? `, ${version}` : ''}`, fmtRps(o.rps), fmtMs(o.p99Us), cpuCell(o.cpuUsPerReq), pct(o.rpsVsNginx), ratio(o.cpuVsNginx)]);
    }
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

/** resilience-on vs reference: rows of [conns, what, req/s, p50, p99, CPU µs/req, Δ CPU µs/req, Δ req/s]. */
function resilienceRows(cmp: ResilienceComparison[]): { head: string[]; rows: string[][]; align: Array<'l' | 'r'> } {
  const rows: string[][] = [];
  for (const c of cmp) {
    rows.push([`${c.connections}`, `off: ${c.off.label}`, fmtRps(c.off.rps), fmtMs(c.off.p50Us), fmtMs(c.off.p99Us), cpuCell(c.off.cpuUsPerReq), '–', '–']);
    const paired = c.pairedCpuDeltaUs ? ` (per round ${signedUs(c.pairedCpuDeltaUs.min)} … ${signedUs(c.pairedCpuDeltaUs.max)})` : '';
    rows.push([
      `${c.connections}`,
      `**on: ${c.on.label}, \`${c.scenario}\` config**`,
      fmtRps(c.on.rps),
      fmtMs(c.on.p50Us),
      fmtMs(c.on.p99Us),
      cpuCell(c.on.cpuUsPerReq),
      `**${signedUs(c.cpuDeltaUs)}**${paired}`,
      signedPct(c.rpsChange),
    ]);
    if (c.proxyScenario) {
      const p = c.proxyScenario;
      rows.push([`${c.connections}`, `${p.label} of the \`${c.reference}\` scenario (other rounds, not alternated)`, fmtRps(p.rps), fmtMs(p.p50Us), fmtMs(p.p99Us), cpuCell(p.cpuUsPerReq), `${signedUs(p.cpuDeltaUs)} (resilience-on − this)`, '–']);
    }
  }
  return {
    head: ['conns', 'gateway', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'Δ CPU µs/req (on − off)', 'Δ req/s'],
    rows,
    align: ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'r'],
  };
}

function resilienceVerdict(c: ResilienceComparison): string {
  if (c.cpuDeltaUs === null) return `@${c.connections}: no CPU figures.`;
  const p = c.pairedCpuDeltaUs;
  const within = c.cpuDeltaUs < c.goalUs;
  const noise =
    p && p.min !== p.max
      ? ` The round-by-round differences ran from ${signedUs(p.min)} to ${signedUs(p.max)} µs: ${p.min < c.goalUs && p.max >= c.goalUs ? 'the goal lies inside that spread, so more rounds are needed to tell' : p.max < c.goalUs ? 'every round within the goal' : 'every round over the goal'}.`
      : ' One round only: no spread to judge the noise by.';
  return `@${c.connections}: the resilience features cost ${signedUs(c.cpuDeltaUs)} µs CPU per request on the success path (goal: under ${c.goalUs} µs): ${within ? 'within the goal' : 'over the goal'}.${noise}`;
}

function balancerRows(rows: BalancerRow[]): { head: string[]; rows: string[][]; align: Array<'l' | 'r'> } {
  return {
    head: ['scenario', 'conns', 'contender', 'balancer', 'req/s', 'req/s ÷ round-robin', 'p50 ms', 'p99 ms', 'CPU µs/req', 'Δ CPU vs round-robin', 'loadgen µs/req', 'target shares'],
    rows: rows.map((r) => [
      r.scenario,
      `${r.connections}`,
      r.label,
      r.balancer,
      fmtRps(r.rps),
      r.scenario === 'lb-round-robin' ? '1.00× (ref)' : ratio(r.rpsVsRoundRobin),
      fmtMs(r.p50Us),
      fmtMs(r.p99Us),
      cpuCell(r.cpuUsPerReq),
      r.scenario === 'lb-round-robin' ? '(ref)' : signedUs(r.cpuDeltaVsRoundRobinUs),
      fmtUs(r.loadgenUsPerReq),
      r.targetShares ? r.targetShares.map((x) => `${(x * 100).toFixed(0)}`).join('/') + ' %' : '–',
    ]),
    align: ['l', 'r', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  };
}

function slowRows(rows: SlowTargetRow[]): { head: string[]; rows: string[][]; align: Array<'l' | 'r'> } {
  return {
    head: ['scenario', 'conns', 'contender', 'balancer', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'to the slow target', 'CPU µs/req'],
    rows: rows.map((r) => [
      r.scenario,
      `${r.connections}`,
      r.label,
      r.balancer,
      fmtRps(r.rps),
      fmtMs(r.p50Us),
      fmtMs(r.p90Us),
      fmtMs(r.p99Us),
      fmtMs(r.p999Us),
      r.slowShare === null ? '–' : pctFine(r.slowShare),
      cpuCell(r.cpuUsPerReq),
    ]),
    align: ['l', 'r', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  };
}

/** The upstream sections of report.md (empty when none of those scenarios ran). */
export function upstreamMarkdown(r: Report): string {
  const u = r.upstream;
  if (!u) return '';
  const out: string[] = [];
  if (u.resilience.length) {
    const t = resilienceRows(u.resilience);
    out.push('## Resilience features: success-path cost', '');
    out.push(
      'The gateway with `retries` + `circuitBreaker` + `healthCheck.passive` on (every request succeeding) against the same gateway with the `proxy` config, alternating in the same rounds. ' +
        'Δ CPU is the difference of the medians; "per round" the spread of round-by-round differences.',
      '',
    );
    out.push(mdTable(t.head, t.rows, t.align), '');
    for (const c of u.resilience) out.push(`- ${resilienceVerdict(c)}`);
    out.push('');
  }
  if (u.balancers.length) {
    const t = balancerRows(u.balancers);
    out.push('## Balancers over 4 targets (vs round-robin of the same run)', '');
    out.push(
      'Every lb-* scenario sends the same requests (x-user cycling over 1,000 values), so a balancer\'s difference to `lb-round-robin` of the same contender is its own cost. ' +
        'Target shares: requests each of the 4 targets answered, all rounds.',
      '',
    );
    out.push(mdTable(t.head, t.rows, t.align), '');
  }
  if (u.slowTarget.length) {
    const t = slowRows(u.slowTarget);
    out.push('## One slow target (lb-slow-*)', '');
    out.push('4 targets, one answering 50 ms late. "to the slow target" is the share of the requests it answered.', '');
    out.push(mdTable(t.head, t.rows, t.align), '');
    for (const f of u.slowTargetFindings) out.push(`- ${f}`);
    out.push('');
  }
  return out.join('\n');
}

/** The same for the terminal. */
export function upstreamText(r: Report): string {
  const u = r.upstream;
  if (!u) return '';
  const out: string[] = [];
  if (u.resilience.length) {
    const t = resilienceRows(u.resilience);
    out.push('resilience features, success path (on vs off, same rounds):', textTable(t.head, t.rows.map((row) => row.map((c) => c.replace(/\*\*|`/g, ''))), t.align));
    for (const c of u.resilience) out.push(resilienceVerdict(c));
    out.push('');
  }
  if (u.balancers.length) {
    const t = balancerRows(u.balancers);
    out.push('balancers over 4 targets vs round-robin (same run):', textTable(t.head, t.rows, t.align), '');
  }
  if (u.slowTarget.length) {
    const t = slowRows(u.slowTarget);
    out.push('one slow target:', textTable(t.head, t.rows, t.align), ...u.slowTargetFindings, '');
  }
  return out.join('\n');
}

function scenarioTable(aggs: Aggregate[]): string {
  const probed = aggs.some((a) => a.probeUs !== undefined);
  const probeCols = (a: Aggregate): string[] => (!probed ? [] : a.probeUs ? [fmtMs(a.probeUs.p99.median), fmtMs(a.probeUs.max.median)] : ['–', '–']);
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
    a.cpuUserUsPerReq ? fmtUs(a.cpuUserUsPerReq.median) : '–',
    a.cpuSystemUsPerReq ? fmtUs(a.cpuSystemUsPerReq.median) : '–',
    ratio(a.vsNginx.cpuUsPerReq),
    pct(a.vsDirectRps),
    fmtUs(a.upstreamUsPerReq.median),
    a.loadgenCores.median.toFixed(2),
    a.otherCores.max.toFixed(2),
    ...probeCols(a),
  ]);
  return mdTable(
    [
      'contender', 'conns', 'req/s median (min–max)', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'errors', 'non-2xx', 'CPU µs/req (min–max)', 'user µs/req', 'system µs/req', 'CPU ÷ nginx', 'req/s ÷ direct', 'upstream µs/req', 'loadgen cores', 'other procs cores (max)',
      ...(probed ? ['event-loop probe p99 ms', 'probe max ms'] : []),
    ],
    rows,
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', ...(probed ? (['r', 'r'] as const) : [])],
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
  const servers = m.servers
    ? Object.entries(m.servers).map(([n, v]) => `${n} ${v ?? 'not installed'}`).join(', ')
    : m.nginx ? `nginx ${m.nginx}` : 'nginx not on PATH';
  out.push(`- Servers: ${servers} (CPU ratios are to nginx${m.nginx ? '' : ', absent here'})${m.peer ? `; peer: ${m.peer}` : ''}.`);
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
  const up = upstreamMarkdown(r);
  if (up) out.push(up);
  const features = featuresMarkdown(r.features);
  if (features) out.push(features);
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
    if (s.targets) {
      out.push('');
      out.push(
        `Targets: ${s.targets.ports.length} ports of the one upstream process${s.targets.delayMs.some((d) => d > 0) ? ` (${s.targets.delayMs.map((d) => (d > 0 ? `one ${d} ms late` : '')).filter(Boolean).join(', ')})` : ''}; ` +
          `share of the requests per target: ${aggs.map((a) => `${a.label} ${a.targets ? a.targets.shares.map((x) => pctFine(x)).join(' / ') : '–'}`).join('; ')}.`,
      );
    }
    out.push('');
  }
  out.push('## Micro-benchmarks');
  out.push('');
  const micros: Array<[string, MicroResults['router']]> = [
    ['Router lookups (1,000 routes, native vs TS reference)', r.micro.router],
    ['Token bucket takes', r.micro.tokenBucket],
    ['Balancer picks (4 members)', r.micro.balancers ?? { status: 'skipped', reason: 'not in this report' }],
    ['Aggregation merge (3 backends): inline vs the offload pool', r.micro.aggregateMerge ?? { status: 'skipped', reason: 'not in this report' }],
    ['Plugin modules (per request, through the pipeline)', r.micro.pluginModules ?? { status: 'skipped', reason: 'not in this report' }],
    ['MessagePack conversion: inline vs the offload pool', r.micro.msgpackConversion ?? { status: 'skipped', reason: 'not in this report' }],
  ];
  if (r.micro.upstreamEngine) micros.push(['Upstream engines: JS request path and allocations', r.micro.upstreamEngine]);
  for (const [name, mres] of micros) {
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
  const head = ['scenario', 'conns', 'contender', 'req/s (min–max)', 'p50 ms', 'p99 ms', 'p99.9 ms', 'CPU µs/req', 'user', 'sys', '÷ nginx', 'upstr µs', 'lg cores', 'err', 'non2xx'];
  const rows: string[][] = [];
  for (const s of r.scenarios) {
    if (s.status !== 'ran') {
      rows.push([s.name, '', `${s.status}: ${s.reason ?? ''}`, '', '', '', '', '', '', '', '', '', '', '', '']);
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
        a.cpuUserUsPerReq ? fmtUs(a.cpuUserUsPerReq.median) : '–',
        a.cpuSystemUsPerReq ? fmtUs(a.cpuSystemUsPerReq.median) : '–',
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
    for (const o of x.others ?? []) parts.push(`${o.contender} ${fmtRps(o.rps)} req/s, ${cpuCell(o.cpuUsPerReq)} µs/req`);
    if (x.direct) parts.push(`direct ${fmtRps(x.direct.rps)} req/s`);
    if (x.cpuRatio !== null) parts.push(`=> CPU/req gateway ÷ nginx ${ratio(x.cpuRatio)}, req/s ${pct(x.rpsRatio)} of nginx`);
    return parts.join('  ');
  });
  const up = upstreamText(r);
  const features = featuresText(r.features);
  return [...lines, '', ...h, ...(up ? ['', up] : []), ...(features ? ['', features] : [])].join('\n');
}
