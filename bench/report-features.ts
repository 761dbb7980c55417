/**
 * Report sections beyond the per-scenario tables: the upstream connection reuse of every
 * contender, the open-loop latencies at a fixed rate, route-table scaling, and the cost of the
 * cache, MessagePack and tracing features against their same-round references.
 */
import { cpuCell, fmtMs, fmtRps, fmtUs, mdTable, ratio, signedUs, textTable, type Stat } from './format.js';
import type { Aggregate, ReferenceComparison } from './report.js';
import type { ScenarioStatus } from './runner.js';
import { TRACING_SPANS_PER_SAMPLED_REQUEST, type ContenderName } from './scenarios.js';

/** New upstream connections a contender opened while it served one scenario. */
export interface ReuseRow {
  scenario: string;
  connections: number;
  contender: ContenderName;
  label: string;
  /** Medians over the rounds. */
  newConnectionsPerS: number;
  newConnectionsPer1kRequests: number;
  maxNewConnectionsPer1kRequests: number;
}

export interface OpenLoopRow {
  connections: number;
  contender: ContenderName;
  label: string;
  rate: number;
  rps: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  cpuUsPerReq: number | null;
  sendLagP50Us: number;
  sendLagP99Us: number;
  maxQueued: number;
  errors: number;
}

export interface RouteRow {
  routes: number;
  connections: number;
  contender: ContenderName;
  label: string;
  rps: number;
  p50Us: number;
  p99Us: number;
  cpuUsPerReq: number | null;
  /** CPU µs/request minus the same contender's with 1 route (same run). */
  cpuDeltaVsOneRouteUs: number | null;
}

export interface CacheRow {
  connections: number;
  contender: ContenderName;
  label: string;
  rps: number;
  p50Us: number;
  p99Us: number;
  cpuUsPerReq: number | null;
  /** Requests the upstream answered per 1,000 client requests (0 = every request a hit). */
  upstreamPer1k: number | null;
  /** The same contender's proxied cost: the gateway's reference (same rounds), nginx's / haproxy's `proxy` scenario. */
  proxiedCpuUsPerReq: number | null;
  cpuVsProxied: number | null;
}

export interface MsgpackRow {
  scenario: string;
  connections: number;
  kib: number;
  rps: number;
  jsonRps: number;
  cpuUsPerReq: number | null;
  jsonCpuUsPerReq: number | null;
  deltaUs: number | null;
  /** deltaUs ÷ KiB: the conversion's CPU per KiB of JSON. */
  usPerKiB: number | null;
  /** The same, round by round (median, min–max). */
  pairedUsPerKiB: Stat | null;
}

export interface TracingRow {
  scenario: string;
  ratio: number;
  connections: number;
  rps: number;
  referenceRps: number;
  cpuUsPerReq: number | null;
  referenceCpuUsPerReq: number | null;
  deltaUs: number | null;
  pairedDeltaUs: Stat | null;
  /** Spans the sink received per request during the runs (TRACING_SPANS_PER_SAMPLED_REQUEST per sampled request). */
  spansPerRequest: number | null;
}

export interface FeatureComparisons {
  connectionReuse: ReuseRow[];
  openLoop: OpenLoopRow[];
  routes: RouteRow[];
  cache: CacheRow[];
  msgpack: MsgpackRow[];
  tracing: TracingRow[];
}

export function featureComparisons(aggs: Aggregate[], scenarios: ScenarioStatus[], refs: ReferenceComparison[]): FeatureComparisons {
  const ran = (name: string) => scenarios.find((s) => s.name === name && s.status === 'ran');
  const find = (scenario: string, conns: number, contender: ContenderName) =>
    aggs.find((a) => a.scenario === scenario && a.connections === conns && a.contender === contender);
  const cpu = (a: Aggregate | undefined) => a?.cpuUsPerReq?.median ?? null;
  const minus = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);
  const out: FeatureComparisons = { connectionReuse: [], openLoop: [], routes: [], cache: [], msgpack: [], tracing: [] };

  for (const a of aggs) {
    if (a.contender === 'direct' || !a.upstreamSeen || !ran(a.scenario)) continue;
    out.connectionReuse.push({
      scenario: a.scenario,
      connections: a.connections,
      contender: a.contender,
      label: a.label,
      newConnectionsPerS: a.upstreamSeen.newConnectionsPerS.median,
      newConnectionsPer1kRequests: a.upstreamSeen.newConnectionsPer1kRequests.median,
      maxNewConnectionsPer1kRequests: a.upstreamSeen.newConnectionsPer1kRequests.max,
    });
  }

  for (const a of aggs.filter((x) => x.scenario === 'open-loop' && x.openLoop)) {
    out.openLoop.push({
      connections: a.connections,
      contender: a.contender,
      label: a.label,
      rate: a.openLoop!.rate,
      rps: a.rps.median,
      p50Us: a.latencyUs.p50.median,
      p90Us: a.latencyUs.p90.median,
      p99Us: a.latencyUs.p99.median,
      p999Us: a.latencyUs.p999.median,
      maxUs: a.latencyUs.max.median,
      cpuUsPerReq: cpu(a),
      sendLagP50Us: a.openLoop!.sendLagP50Us.median,
      sendLagP99Us: a.openLoop!.sendLagP99Us.median,
      maxQueued: a.openLoop!.maxQueued,
      errors: a.errors + a.non2xx,
    });
  }

  const routeScenarios = scenarios.filter((s) => s.status === 'ran' && s.routeTable !== undefined).sort((x, y) => x.routeTable! - y.routeTable!);
  for (const s of routeScenarios) {
    for (const a of aggs.filter((x) => x.scenario === s.name)) {
      const one = aggs.find((b) => b.scenario === 'routes-1' && b.connections === a.connections && b.contender === a.contender);
      out.routes.push({
        routes: s.routeTable!,
        connections: a.connections,
        contender: a.contender,
        label: a.label,
        rps: a.rps.median,
        p50Us: a.latencyUs.p50.median,
        p99Us: a.latencyUs.p99.median,
        cpuUsPerReq: cpu(a),
        cpuDeltaVsOneRouteUs: one && s.name !== 'routes-1' ? minus(cpu(a), cpu(one)) : null,
      });
    }
  }
  out.routes.sort((x, y) => x.connections - y.connections || order(x.contender) - order(y.contender) || x.routes - y.routes);

  if (ran('cache-hit')) {
    for (const a of aggs.filter((x) => x.scenario === 'cache-hit')) {
      const proxied = a.contender === 'gateway' ? find('cache-hit', a.connections, 'reference') : a.contender === 'reference' ? undefined : find('proxy', a.connections, a.contender);
      const perReq = a.upstreamSeen?.upstreamRequestsPerRequest.median;
      out.cache.push({
        connections: a.connections,
        contender: a.contender,
        label: a.label,
        rps: a.rps.median,
        p50Us: a.latencyUs.p50.median,
        p99Us: a.latencyUs.p99.median,
        cpuUsPerReq: cpu(a),
        upstreamPer1k: perReq === undefined ? null : perReq * 1000,
        proxiedCpuUsPerReq: cpu(proxied),
        cpuVsProxied: cpu(a) !== null && cpu(proxied) ? cpu(a)! / cpu(proxied)! : null,
      });
    }
  }

  for (const c of refs) {
    const s = scenarios.find((x) => x.name === c.scenario);
    if (!s) continue;
    if (s.convertedKiB !== undefined) {
      const kib = s.convertedKiB;
      out.msgpack.push({
        scenario: c.scenario,
        connections: c.connections,
        kib,
        rps: c.on.rps,
        jsonRps: c.off.rps,
        cpuUsPerReq: c.on.cpuUsPerReq,
        jsonCpuUsPerReq: c.off.cpuUsPerReq,
        deltaUs: c.cpuDeltaUs,
        usPerKiB: c.cpuDeltaUs === null ? null : c.cpuDeltaUs / kib,
        pairedUsPerKiB: c.pairedCpuDeltaUs ? { median: c.pairedCpuDeltaUs.median / kib, min: c.pairedCpuDeltaUs.min / kib, max: c.pairedCpuDeltaUs.max / kib } : null,
      });
    }
    if (s.tracingRatio !== undefined) {
      const g = find(c.scenario, c.connections, 'gateway');
      out.tracing.push({
        scenario: c.scenario,
        ratio: s.tracingRatio,
        connections: c.connections,
        rps: c.on.rps,
        referenceRps: c.off.rps,
        cpuUsPerReq: c.on.cpuUsPerReq,
        referenceCpuUsPerReq: c.off.cpuUsPerReq,
        deltaUs: c.cpuDeltaUs,
        pairedDeltaUs: c.pairedCpuDeltaUs,
        spansPerRequest: g?.otlp ? g.otlp.spansPerRequest : null,
      });
    }
  }
  out.msgpack.sort((x, y) => x.connections - y.connections || x.kib - y.kib);
  out.tracing.sort((x, y) => x.connections - y.connections || x.ratio - y.ratio);
  return out;
}

const ORDER: ContenderName[] = ['direct', 'gateway', 'reference', 'baseline', 'floor-engine', 'floor-addon', 'nginx', 'haproxy', 'caddy', 'peer'];
function order(c: ContenderName): number {
  return ORDER.indexOf(c);
}

interface Table {
  head: string[];
  rows: string[][];
  align: Array<'l' | 'r'>;
}

function reuseTable(rows: ReuseRow[]): Table {
  return {
    head: ['scenario', 'conns', 'contender', 'new upstream conns/s', 'per 1,000 requests (max of rounds)'],
    rows: rows.map((r) => [r.scenario, `${r.connections}`, r.label, fmtCount(r.newConnectionsPerS), `${fmtCount(r.newConnectionsPer1kRequests)} (${fmtCount(r.maxNewConnectionsPer1kRequests)})`]),
    align: ['l', 'r', 'l', 'r', 'r'],
  };
}

function fmtCount(x: number): string {
  return x === 0 ? '0' : x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(1) : x.toFixed(3);
}

function openLoopTable(rows: OpenLoopRow[]): Table {
  return {
    head: ['conns', 'contender', 'offered req/s', 'answered req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'CPU µs/req', 'send lag p50 / p99 ms', 'max queued', 'errors'],
    rows: rows.map((r) => [
      `${r.connections}`,
      r.label,
      fmtRps(r.rate),
      fmtRps(r.rps),
      fmtMs(r.p50Us),
      fmtMs(r.p90Us),
      fmtMs(r.p99Us),
      fmtMs(r.p999Us),
      fmtMs(r.maxUs),
      cpuCell(r.cpuUsPerReq),
      `${fmtMs(r.sendLagP50Us)} / ${fmtMs(r.sendLagP99Us)}`,
      `${r.maxQueued}`,
      `${r.errors}`,
    ]),
    align: ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  };
}

function routesTable(rows: RouteRow[]): Table {
  return {
    head: ['conns', 'contender', 'routes', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'Δ CPU vs 1 route'],
    rows: rows.map((r) => [
      `${r.connections}`,
      r.label,
      r.routes.toLocaleString('en-US'),
      fmtRps(r.rps),
      fmtMs(r.p50Us),
      fmtMs(r.p99Us),
      cpuCell(r.cpuUsPerReq),
      r.routes === 1 ? '(ref)' : signedUs(r.cpuDeltaVsOneRouteUs),
    ]),
    align: ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'r'],
  };
}

function cacheTable(rows: CacheRow[]): Table {
  return {
    head: ['conns', 'contender', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'upstream requests per 1,000', 'CPU µs/req proxied', 'CPU ÷ proxied'],
    rows: rows.map((r) => [
      `${r.connections}`,
      r.label,
      fmtRps(r.rps),
      fmtMs(r.p50Us),
      fmtMs(r.p99Us),
      cpuCell(r.cpuUsPerReq),
      r.upstreamPer1k === null ? '–' : fmtCount(r.upstreamPer1k),
      cpuCell(r.proxiedCpuUsPerReq),
      ratio(r.cpuVsProxied),
    ]),
    align: ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  };
}

function msgpackTable(rows: MsgpackRow[]): Table {
  return {
    head: ['scenario', 'conns', 'JSON KiB', 'req/s msgpack / JSON', 'CPU µs/req msgpack', 'CPU µs/req JSON', 'Δ µs/req', 'µs per KiB', 'per round (min … max)'],
    rows: rows.map((r) => [
      r.scenario,
      `${r.connections}`,
      `${r.kib}`,
      `${fmtRps(r.rps)} / ${fmtRps(r.jsonRps)}`,
      cpuCell(r.cpuUsPerReq),
      cpuCell(r.jsonCpuUsPerReq),
      signedUs(r.deltaUs),
      r.usPerKiB === null ? '–' : r.usPerKiB.toFixed(2),
      r.pairedUsPerKiB ? `${r.pairedUsPerKiB.min.toFixed(2)} … ${r.pairedUsPerKiB.max.toFixed(2)}` : '–',
    ]),
    align: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  };
}

function tracingTable(rows: TracingRow[]): Table {
  return {
    head: ['sampleRatio', 'conns', 'req/s tracing / reference', 'CPU µs/req tracing', 'CPU µs/req reference', 'Δ µs/req', 'per round (min … max)', 'spans received per request'],
    rows: rows.map((r) => [
      `${r.ratio}`,
      `${r.connections}`,
      `${fmtRps(r.rps)} / ${fmtRps(r.referenceRps)}`,
      cpuCell(r.cpuUsPerReq),
      cpuCell(r.referenceCpuUsPerReq),
      signedUs(r.deltaUs),
      r.pairedDeltaUs ? `${signedUs(r.pairedDeltaUs.min)} … ${signedUs(r.pairedDeltaUs.max)}` : '–',
      r.spansPerRequest === null ? '–' : r.spansPerRequest < 0.1 ? r.spansPerRequest.toFixed(4) : r.spansPerRequest.toFixed(2),
    ]),
    align: ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  };
}

/** One sentence on the route tables: how each contender's CPU per request moved from 1 route to the largest table. */
function routesFinding(rows: RouteRow[]): string[] {
  const out: string[] = [];
  for (const conns of [...new Set(rows.map((r) => r.connections))]) {
    const mine = rows.filter((r) => r.connections === conns);
    const largest = Math.max(...mine.map((r) => r.routes));
    const parts: string[] = [];
    for (const c of [...new Set(mine.map((r) => r.contender))]) {
      const big = mine.find((r) => r.contender === c && r.routes === largest);
      const one = mine.find((r) => r.contender === c && r.routes === 1);
      if (!big || !one || big.cpuUsPerReq === null || one.cpuUsPerReq === null) continue;
      parts.push(`${big.label} ${fmtUs(one.cpuUsPerReq)} → ${fmtUs(big.cpuUsPerReq)} µs (${signedUs(big.cpuUsPerReq - one.cpuUsPerReq)})`);
    }
    if (parts.length) out.push(`@${conns} conns, CPU µs/request from 1 to ${largest.toLocaleString('en-US')} routes: ${parts.join('; ')}.`);
  }
  return out;
}

function tracingFinding(rows: TracingRow[]): string[] {
  return rows.map((r) => {
    const expected = TRACING_SPANS_PER_SAMPLED_REQUEST * r.ratio;
    const spans =
      r.spansPerRequest === null
        ? 'no sink figures'
        : `the sink received ${r.spansPerRequest.toFixed(r.spansPerRequest < 0.1 ? 4 : 2)} spans per request (${TRACING_SPANS_PER_SAMPLED_REQUEST} × ${r.ratio} = ${expected} expected)`;
    return `sampleRatio ${r.ratio} @${r.connections}: ${signedUs(r.deltaUs)} µs CPU per request over the reference; ${spans}.`;
  });
}

type Section = { title: string; intro: string; table: Table; notes: string[] };

function sections(f: FeatureComparisons): Section[] {
  const out: Section[] = [];
  if (f.openLoop.length) {
    out.push({
      title: `Open loop at ${fmtRps(f.openLoop[0].rate)} req/s`,
      intro:
        'A fixed request rate from the suite\'s open-loop client (bench/loadgen-open.ts); each latency counts from the request\'s scheduled send time, so the time a request waited for a stalled contender is in it. ' +
        '"send lag" is how late the client itself sent (its 1 ms timer): it is inside every latency, the same for every contender. A contender that cannot keep up answers fewer req/s than offered and its latencies grow with the queue ("max queued").',
      table: openLoopTable(f.openLoop),
      notes: [],
    });
  }
  if (f.routes.length) {
    out.push({
      title: 'Route table scaling',
      intro: 'Every request for the route in the middle of a table of 1, 100 or 10,000 prefix routes; Δ is against the same contender\'s 1-route table of this run.',
      table: routesTable(f.routes),
      notes: routesFinding(f.routes),
    });
  }
  if (f.cache.length) {
    out.push({
      title: 'Cache hits (cache-hit)',
      intro:
        'One cached key, every measured request a hit. "proxied" is the same contender without a cache: the gateway\'s reference in the same rounds, nginx\'s and haproxy\'s `proxy` scenario of this run. ' +
        '"upstream requests per 1,000" shows that the hits did not reach the upstream.',
      table: cacheTable(f.cache),
      notes: [],
    });
  }
  if (f.msgpack.length) {
    out.push({
      title: 'MessagePack conversion (msgpack-*)',
      intro: 'The same route and JSON answer with and without `Accept: application/msgpack`, alternating in the same rounds; the CPU difference per request ÷ the JSON KiB is the conversion cost per KiB.',
      table: msgpackTable(f.msgpack),
      notes: [],
    });
  }
  if (f.tracing.length) {
    out.push({
      title: 'Tracing cost (tracing-*)',
      intro: 'The plain route with `tracing` at each sampleRatio against the gateway with the `proxy` config (no `tracing`), alternating in the same rounds; spans as counted by the OTLP sink.',
      table: tracingTable(f.tracing),
      notes: tracingFinding(f.tracing),
    });
  }
  if (f.connectionReuse.length) {
    out.push({
      title: 'Upstream connection reuse',
      intro:
        'TCP connections the upstream accepted during each measured run (its own accept counter), per second and per 1,000 client requests: a keep-alive pool that works opens ~0 once warm. ' +
        '`direct` is left out (those are the load generator\'s own connections).',
      table: reuseTable(f.connectionReuse),
      notes: [],
    });
  }
  return out;
}

export function featuresMarkdown(f: FeatureComparisons | undefined): string {
  if (!f) return '';
  const out: string[] = [];
  for (const s of sections(f)) {
    out.push(`## ${s.title}`, '', s.intro, '', mdTable(s.table.head, s.table.rows, s.table.align), '');
    for (const n of s.notes) out.push(`- ${n}`);
    if (s.notes.length) out.push('');
  }
  return out.join('\n');
}

export function featuresText(f: FeatureComparisons | undefined): string {
  if (!f) return '';
  const out: string[] = [];
  for (const s of sections(f)) {
    if (s.title === 'Upstream connection reuse') {
      // The terminal gets the contenders that opened connections only; report.md has them all.
      const churn = f.connectionReuse.filter((r) => r.newConnectionsPer1kRequests >= 0.1);
      out.push(
        churn.length
          ? `upstream connections: ${churn.map((r) => `${r.scenario} @${r.connections} ${r.label} ${fmtCount(r.newConnectionsPer1kRequests)} per 1k requests`).join('; ')} (report.md: every run)`
          : `upstream connections: every contender reused its upstream connections (< 0.1 new per 1,000 requests in every scenario)`,
        '',
      );
      continue;
    }
    out.push(`${s.title.toLowerCase()}:`, textTable(s.table.head, s.table.rows, s.table.align), ...s.notes, '');
  }
  return out.join('\n');
}
