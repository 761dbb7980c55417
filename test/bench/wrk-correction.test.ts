/**
 * undoWrkCorrection (bench/histogram.ts): wrk 4 adds made-up samples to its latency counts before
 * it reports them (stats_correct in wrk's src/stats.c); the load suite takes them out again from
 * wrk's percentiles. Here wrk is simulated exactly: a known latency sample set, wrk's correction
 * and its percentile function (ported from src/stats.c), the suite's percentile grid; the rebuilt
 * distribution must match the known one.
 */
import { describe, expect, it } from 'vitest';
import { fromPercentiles, summarize, undoWrkCorrection, wrkCorrectionInterval, wrkPercentileGrid } from '../../bench/histogram.js';
import { mulberry32 } from '../../src/util/prng.js';

/** wrk's stats: counts per microsecond. */
class WrkStats {
  data: number[];
  count = 0;
  min = Number.MAX_SAFE_INTEGER;
  max = 0;
  constructor(limit: number) {
    this.data = new Array<number>(limit + 1).fill(0);
  }
  record(n: number): void {
    this.data[n]++;
    this.count++;
    this.min = Math.min(this.min, n);
    this.max = Math.max(this.max, n);
  }
  /** stats_correct */
  correct(expected: number): void {
    for (let n = expected * 2; n <= this.max; n++) {
      const count = this.data[n];
      let m = n - expected;
      while (count && m > expected) {
        this.data[m] += count;
        this.count += count;
        m -= expected;
      }
    }
  }
  /** stats_percentile */
  percentile(p: number): number {
    const rank = Math.round((p / 100) * this.count + 0.5);
    let total = 0;
    for (let i = this.min; i <= this.max; i++) {
      total += this.data[i];
      if (total >= rank) return i;
    }
    return 0;
  }
}

/** A seeded PRNG, so the test is the same every run. */
const prng = mulberry32;

/** Runs `samples` through simulated wrk; returns what the suite rebuilds and the truth. */
function simulate(samples: number[], connections: number) {
  const truth = [...samples].sort((a, b) => a - b);
  const q = (p: number) => truth[Math.max(0, Math.ceil((p / 100) * truth.length) - 1)];
  const stats = new WrkStats(truth[truth.length - 1] + 1);
  for (const s of samples) stats.record(s);
  // wrk's closed loop: the run lasts about mean latency x responses per connection.
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  const durationUs = Math.round((mean * samples.length) / connections);
  const e = wrkCorrectionInterval(durationUs, samples.length, connections)!;
  stats.correct(e);
  const points = wrkPercentileGrid().map((p) => ({ p, v: stats.percentile(p) }));
  const rebuilt = summarize(undoWrkCorrection(points, samples.length, stats.max, e));
  const reported = summarize(fromPercentiles(points, samples.length, stats.max));
  return { truth: { p50: q(50), p90: q(90), p99: q(99), p999: q(99.9), max: truth[truth.length - 1] }, rebuilt, reported, e };
}

function close(actual: number, expected: number, rel: number, absUs = 3): void {
  expect(Math.abs(actual - expected), `${actual} vs ${expected}`).toBeLessThanOrEqual(Math.max(absUs, expected * rel));
}

describe('undoWrkCorrection', () => {
  it('one slow target taking ~1 % of requests (least-connections): the made-up mid-range samples go away', () => {
    const rnd = prng(1);
    const samples: number[] = [];
    for (let i = 0; i < 200_000; i++) {
      samples.push(rnd() < 0.011 ? 50_000 + Math.floor(rnd() * 800) : 300 + Math.floor(-Math.log(1 - rnd()) * 900));
    }
    const { truth, rebuilt, reported, e } = simulate(samples, 64);
    expect(e).toBeGreaterThan(500);
    // what wrk reports: p90 far above anything but the slow answers' share allows
    expect(reported.p90).toBeGreaterThan(5 * truth.p90);
    close(rebuilt.p50, truth.p50, 0.03);
    close(rebuilt.p90, truth.p90, 0.03);
    close(rebuilt.p99, truth.p99, 0.03);
    close(rebuilt.p999, truth.p999, 0.03);
    expect(rebuilt.max).toBe(truth.max);
  });

  it('round-robin with a quarter of the requests 50 ms late', () => {
    const rnd = prng(2);
    const samples: number[] = [];
    for (let i = 0; i < 100_000; i++) samples.push(rnd() < 0.25 ? 50_000 + Math.floor(rnd() * 2000) : 200 + Math.floor(-Math.log(1 - rnd()) * 3000));
    const { truth, rebuilt } = simulate(samples, 64);
    close(rebuilt.p50, truth.p50, 0.03);
    close(rebuilt.p90, truth.p90, 0.03);
    close(rebuilt.p99, truth.p99, 0.03);
  });

  it('a plain proxy run (a long tail, no slow target) keeps its percentiles', () => {
    const rnd = prng(3);
    const samples: number[] = [];
    for (let i = 0; i < 300_000; i++) {
      const base = 600 + Math.floor(-Math.log(1 - rnd()) * 500);
      samples.push(rnd() < 0.02 ? base + Math.floor(rnd() * 8000) : base);
    }
    const { truth, rebuilt, reported } = simulate(samples, 64);
    close(rebuilt.p50, truth.p50, 0.03);
    close(rebuilt.p90, truth.p90, 0.03);
    close(rebuilt.p99, truth.p99, 0.05);
    close(rebuilt.p999, truth.p999, 0.05);
    expect(reported.p99).toBeGreaterThanOrEqual(truth.p99);
  });

  it('no correction when wrk applies none', () => {
    expect(wrkCorrectionInterval(1_000_000, 10, 64)).toBeNull();
    const points = wrkPercentileGrid().map((p) => ({ p, v: 1000 + Math.round(p * 10) }));
    expect(summarize(undoWrkCorrection(points, 10, 2000, null))).toEqual(summarize(fromPercentiles(points, 10, 2000)));
  });
});
