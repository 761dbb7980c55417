/**
 * Live numbers per route for the dashboard: requests/s, the share answered 5xx, and p99, over
 * the last few seconds. The primary already sums what the workers count (MetricsAggregator);
 * this keeps a ring of 1 s snapshots of those totals and answers with the difference between
 * the newest and the oldest, so nothing is added to the workers or the request path.
 *
 * p99 is estimated from the duration histogram's buckets the way Prometheus' histogram_quantile
 * does (linear within a bucket), so the dashboard and a Grafana panel over
 * gateway_request_duration_seconds_bucket tell the same story.
 */
import { DURATION_BUCKETS, type MetricsAggregator } from '../observability/metrics.js';

/** The window the rates are over: long enough to smooth the workers' unsynchronised 1 s flushes. */
export const WINDOW_S = 5;

/** Per route: [requests, 5xx, ...bucket counts] since start. */
type Totals = Float64Array;

interface Snapshot {
  at: number;
  routes: Map<string, Totals>;
}

export interface RouteLive {
  /** Requests in the window, and per second. */
  requests: number;
  rps: number;
  /** Share of the window's requests answered 5xx; null without requests. */
  errorRate: number | null;
  /** Estimated 99th percentile of the window's durations, ms; null without requests. */
  p99Ms: number | null;
}

export interface LiveWindow {
  /** The seconds the rates are over (0 before there are two snapshots). */
  seconds: number;
  routes: Map<string, RouteLive>;
  total: RouteLive;
}

/** The q-quantile of histogram bucket counts (not cumulative, the last is +Inf), as histogram_quantile computes it. */
export function bucketQuantile(q: number, counts: ArrayLike<number>, bounds: readonly number[]): number | null {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i];
    if (n > 0 && below + n >= rank) {
      if (i >= bounds.length) return bounds[bounds.length - 1]; // +Inf: the highest finite bound
      const lower = i === 0 ? 0 : bounds[i - 1];
      return lower + ((bounds[i] - lower) * (rank - below)) / n;
    }
    below += n;
  }
  return bounds[bounds.length - 1];
}

const FIELDS = 2 + DURATION_BUCKETS.length + 1;

export class LiveStats {
  readonly #ring: Snapshot[] = [];
  #timer: NodeJS.Timeout | null = null;

  constructor(readonly source: MetricsAggregator) {}

  start(): void {
    this.sample();
    this.#timer = setInterval(() => this.sample(), 1000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  sample(now = Date.now()): void {
    const routes = new Map<string, Totals>();
    this.source.forEachRoute((route, requests, errors, buckets) => {
      const t = new Float64Array(FIELDS);
      t[0] = requests;
      t[1] = errors;
      t.set(buckets, 2);
      routes.set(route, t);
    });
    this.#ring.push({ at: now, routes });
    if (this.#ring.length > WINDOW_S + 1) this.#ring.shift();
  }

  window(): LiveWindow {
    const newest = this.#ring[this.#ring.length - 1];
    const oldest = this.#ring[0];
    const seconds = newest === undefined || newest === oldest ? 0 : (newest.at - oldest.at) / 1000;
    const routes = new Map<string, RouteLive>();
    const sum = new Float64Array(FIELDS);
    const delta = new Float64Array(FIELDS);
    for (const [route, now] of newest?.routes ?? []) {
      const before = oldest.routes.get(route);
      for (let i = 0; i < FIELDS; i++) delta[i] = now[i] - (before?.[i] ?? 0);
      for (let i = 0; i < FIELDS; i++) sum[i] += delta[i];
      routes.set(route, live(delta, seconds));
    }
    return { seconds, routes, total: live(sum, seconds) };
  }
}

function live(d: Totals, seconds: number): RouteLive {
  const requests = seconds > 0 ? d[0] : 0;
  const p99 = requests > 0 ? bucketQuantile(0.99, d.subarray(2), DURATION_BUCKETS) : null;
  return {
    requests,
    rps: seconds > 0 ? requests / seconds : 0,
    errorRate: requests > 0 ? d[1] / requests : null,
    p99Ms: p99 === null ? null : p99 * 1000,
  };
}
