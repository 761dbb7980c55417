/**
 * Latency histograms (HdrHistogram, microseconds, 3 significant digits), shared by the load
 * generators, the report and the charts.
 */
import hdr from 'hdr-histogram-js';

export type Histogram = hdr.Histogram;

export function newHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3, autoResize: true });
}

export function encode(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decode(b64: string): Histogram {
  const h = hdr.decodeFromCompressedBase64(b64);
  // decoded histograms are sized to their content: make them addable to
  const out = newHistogram();
  out.add(h);
  return out;
}

export interface LatencySummary {
  /** microseconds */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export function summarize(h: Histogram): LatencySummary {
  if (h.totalCount === 0) return { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
  return {
    p50: h.getValueAtPercentile(50),
    p90: h.getValueAtPercentile(90),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    max: h.maxValue,
    mean: Math.round(h.mean),
  };
}

/**
 * The percentile distribution as (percentile, value) points, HdrHistogram style: `ticks` points
 * per halving of the distance to 100%, up to the point where the remaining count is one sample.
 */
export function percentileCurve(h: Histogram, ticksPerHalf = 5): Array<{ p: number; v: number }> {
  const out: Array<{ p: number; v: number }> = [];
  if (h.totalCount === 0) return out;
  const maxP = 100 * (1 - 1 / h.totalCount);
  for (let half = 0; ; half++) {
    const lo = 100 * (1 - 2 ** -half);
    const hi = 100 * (1 - 2 ** -(half + 1));
    for (let t = 0; t < ticksPerHalf; t++) {
      const p = lo + ((hi - lo) * t) / ticksPerHalf;
      if (p > maxP) {
        out.push({ p: maxP, v: h.maxValue });
        return out;
      }
      out.push({ p, v: h.getValueAtPercentile(p) });
    }
    if (half > 40) return out;
  }
}

/**
 * The percentile grid wrk's Lua `latency:percentile(p)` is asked for; the histogram is rebuilt
 * from it (wrk keeps exact microsecond counts but only hands out percentiles cheaply). Dense
 * (every 0.05 % up to 99.9, finer above), because the harness undoes wrk's latency correction
 * from it (undoWrkCorrection), which needs the distribution's shape, not a few points.
 */
export function wrkPercentileGrid(): number[] {
  const ps: number[] = [];
  for (let i = 1; i <= 1998; i++) ps.push(i * 0.05);
  for (let i = 1; i <= 18; i++) ps.push(99.9 + i * 0.005);
  for (let i = 1; i <= 18; i++) ps.push(99.99 + i * 0.0005);
  return [...new Set(ps.map((p) => Number(p.toFixed(4))))];
}

/** Rebuilds a histogram of `total` samples from (percentile, value) pairs and the max. */
export function fromPercentiles(points: Array<{ p: number; v: number }>, total: number, max: number): Histogram {
  const h = newHistogram();
  if (total <= 0) return h;
  let recorded = 0;
  for (const { p, v } of [...points].sort((a, b) => a.p - b.p)) {
    const upTo = Math.min(total, Math.round((total * p) / 100));
    const n = upTo - recorded;
    if (n > 0 && v > 0) {
      h.recordValueWithCount(v, n);
      recorded = upTo;
    }
  }
  if (total - recorded > 0) h.recordValueWithCount(Math.max(1, max), total - recorded);
  return h;
}

/**
 * wrk's latency interval for its correction: `runtime_us / (complete / connections)` in integer
 * arithmetic (src/wrk.c), or null when wrk applies none (fewer responses than connections).
 */
export function wrkCorrectionInterval(durationUs: number, requests: number, connections: number): number | null {
  const perConn = Math.floor(requests / connections);
  if (perConn <= 0) return null;
  return Math.floor(durationUs / perConn);
}

/**
 * The measured latency distribution, without the samples wrk 4 makes up.
 *
 * Before it reports (and before the Lua done() sees them), wrk 4 "corrects" its latency counts
 * for coordinated omission (stats_correct in src/stats.c): with e = the run time ÷ responses
 * per connection, every recorded latency n ≥ 2e adds made-up samples at n − e, n − 2e, ... down
 * to just above e. A few slow answers thus turn into many mid-range samples that no request
 * had (with one target 50 ms late and least-connections, ~1 % of the requests are slow and wrk's
 * p90 came out at 30 ms where 90 % of the answers took under 5 ms).
 *
 * The correction can be undone exactly on counts: for m > e, corrected c[m] = Σ_k≥0 o[m + k·e],
 * so o[m] = c[m] − c[m + e] and the measured share above x is the corrected count in [x, x + e);
 * below e nothing changed, and the measured total is the corrected count up to 2e. Here the
 * corrected CDF is known at the dense percentile grid, so the result is exact to its step
 * (0.05 % of the corrected count; finer in the tail). `points` are wrk's percentiles of the
 * corrected distribution, `requests` the responses, `intervalUs` e (null: wrk corrected nothing).
 */
export function undoWrkCorrection(points: Array<{ p: number; v: number }>, requests: number, max: number, intervalUs: number | null): Histogram {
  if (intervalUs === null || intervalUs <= 0 || requests <= 0) return fromPercentiles(points, requests, max);
  const e = intervalUs;
  const pts = points.filter((x) => x.v > 0).sort((a, b) => a.p - b.p || a.v - b.v);
  // F(v): share of the corrected samples <= v, as the step function of the grid (a lower bound).
  const vs: number[] = [];
  const fs: number[] = [];
  for (const { p, v } of pts) {
    if (vs.length && v <= vs[vs.length - 1]) {
      fs[fs.length - 1] = Math.max(fs[fs.length - 1], p / 100);
      continue;
    }
    vs.push(v);
    fs.push(p / 100);
  }
  const F = (v: number): number => {
    if (v >= max) return 1;
    let lo = 0;
    let hi = vs.length - 1;
    let ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (vs[mid] <= v) {
        ans = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return ans < 0 ? 0 : fs[ans];
  };
  const z = F(2 * e);
  if (z <= 0) return fromPercentiles(points, requests, max);
  // G(x): share of the measured samples <= x.
  const G = (x: number): number => (x <= e ? F(x) / z : 1 - (F(x + e) - F(x)) / z);
  const xs = new Set<number>();
  for (const v of vs) {
    xs.add(v);
    if (v - e > e) xs.add(v - e);
  }
  xs.add(e);
  xs.add(max);
  const grid = [...xs].filter((x) => x > 0 && x <= max).sort((a, b) => a - b);
  const h = newHistogram();
  let prev = 0;
  let recorded = 0;
  for (const x of grid) {
    const g = Math.min(1, Math.max(prev, G(x)));
    const upTo = Math.min(requests, Math.round(g * requests));
    if (upTo > recorded) {
      h.recordValueWithCount(x, upTo - recorded);
      recorded = upTo;
    }
    prev = g;
  }
  if (requests > recorded) h.recordValueWithCount(Math.max(1, max), requests - recorded);
  return h;
}
