/**
 * Metrics. Workers count; the primary sums and serves Prometheus text on the admin API.
 *
 * Worker side (no IPC on the request path): per-route request counts by status, a latency
 * histogram with fixed Prometheus buckets and an HDR histogram (for exact quantiles), and
 * generic counters that plugins declare (`counter(name, help, labels).inc(...values)`).
 * Every second the worker sends what changed since the last flush to the primary (IPC,
 * msgpack-friendly plain arrays) and resets its deltas.
 *
 * Primary side: MetricsAggregator adds the deltas up (counters are monotonic; a dead worker's
 * last second at most is lost) and renders the text format.
 */
import * as hdr from 'hdr-histogram-js';

/** Upper bounds (seconds) of the request-duration histogram. */
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const DURATION_BUCKETS_US = DURATION_BUCKETS.map((s) => s * 1e6);
const HDR_MAX_US = 3_600_000_000; // one hour

function newHdr(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HDR_MAX_US, numberOfSignificantValueDigits: 2 });
}

/**
 * The counts index newHdr()'s histogram files a value under (1 <= v <= HDR_MAX_US < 2^32; lowest
 * 1 and 2 significant digits make 256 sub-buckets, half of them 128), in integer arithmetic: a
 * worker counts requests by this index and hands the counts to the histogram once a second,
 * because hdr-histogram-js's recordValue computes it with Math.pow and Math.log2 on every call.
 */
export function hdrIndex(v: number): number {
  const b = Math.max(24 - Math.clz32(v), 0); // floor(log2 v) - 7
  return ((b + 1) << 7) + (v >>> b) - 128;
}

/** The lowest value filed under counts index `i` (the histogram's valueFromIndex). */
export function hdrIndexValue(i: number): number {
  if (i < 256) return i;
  return ((i & 127) + 128) * 2 ** ((i >> 7) - 1);
}

const HDR_COUNTS = hdrIndex(HDR_MAX_US) + 1;
/** Where a snapshot's counts become a histogram to encode (one for all routes: reset each time). */
let scratchHdr: hdr.Histogram | null = null;

function encodeCounts(counts: Float64Array): string {
  const h = (scratchHdr ??= newHdr());
  h.reset();
  for (let i = 0; i < counts.length; i++) if (counts[i] > 0) h.recordValueWithCount(hdrIndexValue(i), counts[i]);
  return hdr.encodeIntoCompressedBase64(h);
}

// ------------------------------------------------------------------------------------ worker

/** Statuses counted in an array slot (every status an HTTP/1.1 status line can carry is below 1000). */
const STATUS_SLOTS = 1000;

interface RouteStats {
  /** Requests by status since the last snapshot (an array: a Map cost two hash lookups per request). */
  byStatus: Float64Array;
  buckets: Float64Array; // non-cumulative counts per bucket, last = +Inf
  sumUs: number;
  count: number;
  /** Requests by HDR counts index (hdrIndex) since the last snapshot. */
  hdrCounts: Float64Array;
}

interface CounterState {
  help: string;
  labelNames: readonly string[];
  values: Map<string, number>; // label values joined by \u0001
}

const routeStats = new Map<string, RouteStats>();
const counters = new Map<string, CounterState>();

/** The route of the last request counted and its stats: requests mostly come in runs of one route. */
let lastRoute: string | null = null;
let lastStats: RouteStats | null = null;

function statsFor(route: string): RouteStats {
  if (route === lastRoute) return lastStats!;
  let s = routeStats.get(route);
  if (s === undefined) {
    s = { byStatus: new Float64Array(STATUS_SLOTS), buckets: new Float64Array(DURATION_BUCKETS.length + 1), sumUs: 0, count: 0, hdrCounts: new Float64Array(HDR_COUNTS) };
    routeStats.set(route, s);
  }
  lastRoute = route;
  lastStats = s;
  return s;
}

/**
 * One finished request. `route` is the route id ("" when none matched), `durationUs` from the
 * first byte seen to the last byte written (or the abort).
 */
// hot path: change with care.
export function recordRequest(route: string, status: number, durationUs: number): void {
  const s = statsFor(route);
  s.byStatus[status >= 0 && status < STATUS_SLOTS ? status : 0]++;
  let i = 0;
  while (i < DURATION_BUCKETS_US.length && durationUs > DURATION_BUCKETS_US[i]) i++;
  s.buckets[i]++;
  s.sumUs += durationUs;
  s.count++;
  s.hdrCounts[hdrIndex(Math.min(Math.max(1, Math.round(durationUs)), HDR_MAX_US))]++;
}

export interface Counter {
  inc(...labelValues: string[]): void;
  add(n: number, ...labelValues: string[]): void;
}

/** Declares (or returns the already declared) counter. Label values are passed in labelNames order. */
export function counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
  let c = counters.get(name);
  if (c === undefined) {
    c = { help, labelNames, values: new Map() };
    counters.set(name, c);
  }
  const state = c;
  const add = (n: number, labelValues: string[]) => {
    const key = labelValues.join('\u0001');
    state.values.set(key, (state.values.get(key) ?? 0) + n);
  };
  return {
    inc: (...labelValues: string[]) => add(1, labelValues),
    add: (n: number, ...labelValues: string[]) => add(n, labelValues),
  };
}

export interface Gauge {
  set(value: number, ...labelValues: string[]): void;
}

interface GaugeState {
  help: string;
  labelNames: readonly string[];
  values: Map<string, number>;
  changed: boolean;
}

const gauges = new Map<string, GaugeState>();

/**
 * Declares (or returns) a gauge: a worker's current value per label set. The primary keeps each
 * worker's last values and sums them (a worker that exits takes its values with it).
 */
export function gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
  let g = gauges.get(name);
  if (g === undefined) {
    g = { help, labelNames, values: new Map(), changed: false };
    gauges.set(name, g);
  }
  const state = g;
  return {
    set: (value: number, ...labelValues: string[]) => {
      const key = labelValues.join('\u0001');
      if (state.values.get(key) === value) return;
      state.values.set(key, value);
      state.changed = true;
    },
  };
}

const collectors: Array<() => void> = [];

/**
 * Runs `collect` before every snapshot: for counts kept in plain fields on a hot path (one
 * WebSocket message must not cost a Map lookup and a label join), moved into counters and
 * gauges once a second.
 */
export function onSnapshot(collect: () => void): void {
  collectors.push(collect);
}

/** What a worker sends every second: deltas since the previous snapshot (gauges: their current values, when they changed). */
export interface MetricsSnapshot {
  routes: Array<{ route: string; byStatus: Array<[number, number]>; buckets: number[]; sumUs: number; count: number; hdr: string }>;
  counters: Array<{ name: string; help: string; labelNames: string[]; values: Array<[string, number]> }>;
  gauges?: Array<{ name: string; help: string; labelNames: string[]; values: Array<[string, number]> }>;
}

/** The non-zero counts as [status, count] pairs, by status. */
function statusPairs(counts: Float64Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < counts.length; i++) if (counts[i] > 0) out.push([i, counts[i]]);
  return out;
}

/** Takes the deltas and resets them; null when nothing happened. */
export function takeSnapshot(): MetricsSnapshot | null {
  for (const collect of collectors) collect();
  const snap: MetricsSnapshot = { routes: [], counters: [] };
  for (const [name, g] of gauges) {
    if (!g.changed) continue;
    g.changed = false;
    (snap.gauges ??= []).push({ name, help: g.help, labelNames: [...g.labelNames], values: [...g.values] });
  }
  for (const [route, s] of routeStats) {
    if (s.count === 0) continue;
    snap.routes.push({
      route,
      byStatus: statusPairs(s.byStatus),
      buckets: [...s.buckets],
      sumUs: s.sumUs,
      count: s.count,
      hdr: encodeCounts(s.hdrCounts),
    });
    s.byStatus.fill(0);
    s.buckets.fill(0);
    s.sumUs = 0;
    s.count = 0;
    s.hdrCounts.fill(0);
  }
  for (const [name, c] of counters) {
    if (c.values.size === 0) continue;
    snap.counters.push({ name, help: c.help, labelNames: [...c.labelNames], values: [...c.values] });
    c.values.clear();
  }
  return snap.routes.length || snap.counters.length || snap.gauges !== undefined ? snap : null;
}

// ----------------------------------------------------------------------------------- primary

interface RouteTotals {
  byStatus: Map<number, number>;
  buckets: number[];
  sumUs: number;
  count: number;
  hdr: hdr.Histogram;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export class MetricsAggregator {
  #routes = new Map<string, RouteTotals>();
  #counters = new Map<string, { help: string; labelNames: string[]; values: Map<string, number> }>();

  #gauges = new Map<string, { help: string; labelNames: string[]; bySource: Map<number, Map<string, number>> }>();

  /** A worker's snapshot; `source` identifies the worker for its gauges (null: a late message of a gone worker, gauges ignored). */
  add(snap: MetricsSnapshot, source: number | null = null): void {
    if (source !== null && snap.gauges !== undefined) {
      for (const g of snap.gauges) {
        let t = this.#gauges.get(g.name);
        if (t === undefined) {
          t = { help: g.help, labelNames: g.labelNames, bySource: new Map() };
          this.#gauges.set(g.name, t);
        }
        t.bySource.set(source, new Map(g.values));
      }
    }
    for (const r of snap.routes) {
      let t = this.#routes.get(r.route);
      if (t === undefined) {
        t = { byStatus: new Map(), buckets: new Array(DURATION_BUCKETS.length + 1).fill(0), sumUs: 0, count: 0, hdr: newHdr() };
        this.#routes.set(r.route, t);
      }
      for (const [status, n] of r.byStatus) t.byStatus.set(status, (t.byStatus.get(status) ?? 0) + n);
      r.buckets.forEach((n, i) => (t!.buckets[i] += n));
      t.sumUs += r.sumUs;
      t.count += r.count;
      const h = hdr.decodeFromCompressedBase64(r.hdr);
      t.hdr.add(h);
      h.destroy();
    }
    for (const c of snap.counters) {
      let t = this.#counters.get(c.name);
      if (t === undefined) {
        t = { help: c.help, labelNames: c.labelNames, values: new Map() };
        this.#counters.set(c.name, t);
      }
      for (const [k, n] of c.values) t.values.set(k, (t.values.get(k) ?? 0) + n);
    }
  }

  /** A worker exited: its gauges no longer count. */
  forgetSource(source: number): void {
    for (const g of this.#gauges.values()) g.bySource.delete(source);
  }

  /**
   * Each route's totals since start: requests, those answered 5xx, and the duration histogram's
   * counts per bucket (not cumulative; the last is +Inf). For the dashboard's live rates.
   */
  forEachRoute(visit: (route: string, requests: number, errors: number, buckets: readonly number[]) => void): void {
    for (const [route, t] of this.#routes) {
      let errors = 0;
      for (const [status, n] of t.byStatus) if (status >= 500) errors += n;
      visit(route, t.count, errors, t.buckets);
    }
  }

  /** Prometheus text exposition of everything counted so far. */
  render(): string {
    const out: string[] = [];
    out.push('# HELP gateway_requests_total Requests answered, by route ("" = no route matched) and status.');
    out.push('# TYPE gateway_requests_total counter');
    for (const [route, t] of this.#routes) {
      for (const [status, n] of [...t.byStatus].sort((a, b) => a[0] - b[0])) {
        out.push(`gateway_requests_total{route="${escapeLabel(route)}",status="${status}"} ${n}`);
      }
    }
    out.push('# HELP gateway_request_duration_seconds Time from the request to the end of the answer, by route.');
    out.push('# TYPE gateway_request_duration_seconds histogram');
    for (const [route, t] of this.#routes) {
      const l = `route="${escapeLabel(route)}"`;
      let cumulative = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        cumulative += t.buckets[i];
        out.push(`gateway_request_duration_seconds_bucket{${l},le="${le}"} ${cumulative}`);
      });
      cumulative += t.buckets[DURATION_BUCKETS.length];
      out.push(`gateway_request_duration_seconds_bucket{${l},le="+Inf"} ${cumulative}`);
      out.push(`gateway_request_duration_seconds_sum{${l}} ${t.sumUs / 1e6}`);
      out.push(`gateway_request_duration_seconds_count{${l}} ${t.count}`);
    }
    // The same requests as a summary: exact quantiles (to 2 significant digits) since start, per
    // gateway; the histogram above is the one to aggregate over gateways and time windows.
    out.push('# HELP gateway_request_duration_hdr_seconds Time from the request to the end of the answer, by route: quantiles since start from an HDR histogram (2 significant digits).');
    out.push('# TYPE gateway_request_duration_hdr_seconds summary');
    for (const [route, t] of this.#routes) {
      const l = `route="${escapeLabel(route)}"`;
      for (const q of [0.5, 0.9, 0.99, 0.999]) {
        out.push(`gateway_request_duration_hdr_seconds{${l},quantile="${q}"} ${t.hdr.getValueAtPercentile(q * 100) / 1e6}`);
      }
      out.push(`gateway_request_duration_hdr_seconds_sum{${l}} ${t.sumUs / 1e6}`);
      out.push(`gateway_request_duration_hdr_seconds_count{${l}} ${t.count}`);
    }
    for (const [name, c] of this.#counters) {
      out.push(`# HELP ${name} ${c.help}`);
      out.push(`# TYPE ${name} counter`);
      for (const [key, n] of c.values) {
        const values = key === '' && c.labelNames.length === 0 ? [] : key.split('\u0001');
        const labels = c.labelNames.map((ln, i) => `${ln}="${escapeLabel(values[i] ?? '')}"`).join(',');
        out.push(labels ? `${name}{${labels}} ${n}` : `${name} ${n}`);
      }
    }
    for (const [name, g] of this.#gauges) {
      const sums = new Map<string, number>();
      for (const values of g.bySource.values()) for (const [key, n] of values) sums.set(key, (sums.get(key) ?? 0) + n);
      out.push(`# HELP ${name} ${g.help}`);
      out.push(`# TYPE ${name} gauge`);
      for (const [key, n] of sums) {
        const values = key === '' && g.labelNames.length === 0 ? [] : key.split('\u0001');
        const labels = g.labelNames.map((ln, i) => `${ln}="${escapeLabel(values[i] ?? '')}"`).join(',');
        out.push(labels ? `${name}{${labels}} ${n}` : `${name} ${n}`);
      }
    }
    return out.join('\n') + '\n';
  }
}
