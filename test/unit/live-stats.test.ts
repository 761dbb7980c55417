/**
 * The dashboard's live numbers: requests/s, 5xx share and p99 per route over the last seconds,
 * from 1 s snapshots of the primary's aggregated counters. The counts go in the way they do in
 * the gateway: recorded by the worker-side API, taken as a snapshot, added by the aggregator.
 */
import { describe, expect, it } from 'vitest';
import { DURATION_BUCKETS, MetricsAggregator, recordRequest, takeSnapshot } from '../../src/observability/metrics.js';
import { LiveStats, WINDOW_S, bucketQuantile } from '../../src/primary/live-stats.js';

function record(agg: MetricsAggregator, route: string, status: number, durationUs: number, n: number): void {
  for (let i = 0; i < n; i++) recordRequest(route, status, durationUs);
  agg.add(takeSnapshot()!);
}

describe('bucketQuantile (histogram_quantile)', () => {
  it('interpolates linearly inside the bucket that holds the rank', () => {
    // 100 observations in (1, 2]: the 99th percentile is 99 % of the way through it.
    expect(bucketQuantile(0.99, [0, 100, 0, 0], [1, 2, 4])).toBeCloseTo(1.99, 10);
    // 50 in (0, 1], 50 in (2, 4]: the median is the top of the first bucket.
    expect(bucketQuantile(0.5, [50, 0, 50, 0], [1, 2, 4])).toBe(1);
    expect(bucketQuantile(0.75, [50, 0, 50, 0], [1, 2, 4])).toBe(3);
    // The first bucket starts at 0.
    expect(bucketQuantile(0.5, [100, 0, 0, 0], [1, 2, 4])).toBe(0.5);
  });

  it('the +Inf bucket answers the highest finite bound; no observations: null', () => {
    expect(bucketQuantile(0.99, [1, 0, 0, 99], [1, 2, 4])).toBe(4);
    expect(bucketQuantile(0.99, [0, 0, 0, 0], [1, 2, 4])).toBeNull();
  });
});

describe('LiveStats', () => {
  it('rates over the window between the oldest and the newest snapshot', () => {
    const agg = new MetricsAggregator();
    const live = new LiveStats(agg);
    live.sample(0);
    expect(live.window()).toMatchObject({ seconds: 0, total: { requests: 0, rps: 0, errorRate: null, p99Ms: null } });
    record(agg, 'users', 200, 1_500, 30); // 1.5 ms: the (1, 2.5] ms bucket
    record(agg, 'users', 503, 1_500, 10);
    record(agg, 'orders', 200, 40_000, 4); // 40 ms
    live.sample(2000);
    const w = live.window();
    expect(w.seconds).toBe(2);
    expect(w.routes.get('users')).toEqual({ requests: 40, rps: 20, errorRate: 0.25, p99Ms: expect.closeTo(1 + 1.5 * 0.99, 6) });
    expect(w.routes.get('orders')).toMatchObject({ requests: 4, rps: 2, errorRate: 0 });
    expect(w.routes.get('orders')!.p99Ms).toBeGreaterThan(25);
    expect(w.routes.get('orders')!.p99Ms).toBeLessThanOrEqual(50);
    expect(w.total).toMatchObject({ requests: 44, rps: 22, errorRate: 10 / 44 });
  });

  it(`keeps ${WINDOW_S} s: older traffic leaves the rates, a quiet route falls to 0`, () => {
    const agg = new MetricsAggregator();
    const live = new LiveStats(agg);
    live.sample(0);
    record(agg, 'burst', 200, 800, 100);
    for (let s = 1; s <= WINDOW_S; s++) live.sample(s * 1000);
    expect(live.window().routes.get('burst')!.requests).toBe(100); // the oldest snapshot is still before it
    live.sample((WINDOW_S + 1) * 1000);
    expect(live.window()).toMatchObject({ seconds: WINDOW_S, routes: new Map([['burst', { requests: 0, rps: 0, errorRate: null, p99Ms: null }]]) });
  });

  it('uses the gateway\'s own duration buckets', () => {
    const agg = new MetricsAggregator();
    const live = new LiveStats(agg);
    live.sample(0);
    record(agg, 'slow', 200, 60_000_000, 5); // 60 s: past the last bound
    live.sample(1000);
    expect(live.window().routes.get('slow')!.p99Ms).toBe(DURATION_BUCKETS[DURATION_BUCKETS.length - 1] * 1000);
  });
});
