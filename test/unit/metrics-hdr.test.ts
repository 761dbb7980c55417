/**
 * The worker counts request durations by HDR counts index in integer arithmetic
 * (src/observability/metrics.ts hdrIndex) and hands the counts to hdr-histogram-js once a
 * second. The index must be the library's own for every value, and the histogram a snapshot
 * carries must give the same quantiles as one that recorded every value itself.
 */
import { describe, expect, it } from 'vitest';
import * as hdr from 'hdr-histogram-js';
import { hdrIndex, hdrIndexValue, recordRequest, takeSnapshot } from '../../src/observability/metrics.js';
import { mulberry32 } from '../../src/util/prng.js';

const HDR_MAX_US = 3_600_000_000;
const build = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HDR_MAX_US, numberOfSignificantValueDigits: 2 });

describe('HDR counts by integer index', () => {
  it("hdrIndex is hdr-histogram-js's counts index for every value tried, and hdrIndexValue its inverse", () => {
    const h = build() as unknown as { countsArrayIndex(v: number): number; countsArrayLength: number };
    const values: number[] = [];
    for (let v = 1; v <= 70_000; v++) values.push(v);
    for (let p = 8; p < 32; p++) for (const d of [-1, 0, 1]) values.push(2 ** p + d);
    const rnd = mulberry32(7);
    for (let i = 0; i < 100_000; i++) values.push(1 + Math.floor(rnd() * HDR_MAX_US));
    values.push(HDR_MAX_US);
    for (const v of values) {
      if (v > HDR_MAX_US) continue;
      const i = hdrIndex(v);
      if (i !== h.countsArrayIndex(v)) expect(i, `value ${v}`).toBe(h.countsArrayIndex(v));
      if (hdrIndexValue(i) > v || hdrIndex(hdrIndexValue(i)) !== i) expect(hdrIndexValue(i), `value ${v}, index ${i}`).toBeLessThanOrEqual(v);
    }
    expect(hdrIndex(HDR_MAX_US)).toBeLessThan(h.countsArrayLength);
  });

  it('a snapshot gives the quantiles of a histogram that recorded every value', () => {
    takeSnapshot(); // whatever other tests of this file's worker left
    const direct = build();
    const rnd = mulberry32(11);
    for (let i = 0; i < 20_000; i++) {
      // Mostly fast requests, a tail of slow ones: microseconds as the proxy measures them (fractional).
      const us = rnd() < 0.95 ? 50 + rnd() * 5000 : 1e5 + rnd() * 5e7;
      recordRequest('hdr-route', 200, us);
      direct.recordValue(Math.min(Math.max(1, Math.round(us)), HDR_MAX_US));
    }
    const snap = takeSnapshot()!;
    const mine = hdr.decodeFromCompressedBase64(snap.routes.find((r) => r.route === 'hdr-route')!.hdr);
    expect(mine.totalCount).toBe(20_000);
    for (const q of [1, 10, 50, 90, 95, 99, 99.9, 99.99, 100]) expect(mine.getValueAtPercentile(q), `p${q}`).toBe(direct.getValueAtPercentile(q));
  });
});
