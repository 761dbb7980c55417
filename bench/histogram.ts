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
 * from it (wrk keeps exact microsecond counts but only hands out percentiles cheaply).
 */
export function wrkPercentileGrid(): number[] {
  const ps: number[] = [];
  for (let p = 1; p <= 90; p += 1) ps.push(p);
  for (let p = 90.5; p <= 99; p += 0.5) ps.push(p);
  for (let i = 1; i <= 9; i++) ps.push(99 + i * 0.1);
  for (let i = 1; i <= 9; i++) ps.push(99.9 + i * 0.01);
  for (let i = 1; i <= 9; i++) ps.push(99.99 + i * 0.001);
  return ps.map((p) => Number(p.toFixed(3)));
}

/** Rebuilds a histogram of `total` samples from (percentile, value) pairs and the max. */
export function fromPercentiles(points: Array<{ p: number; v: number }>, total: number, max: number): Histogram {
  const h = newHistogram();
  if (total <= 0) return h;
  let recorded = 0;
  for (const { p, v } of points.sort((a, b) => a.p - b.p)) {
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
