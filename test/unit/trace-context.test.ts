/**
 * The traceparent the gateway sends upstream (src/observability/trace-context.ts): sliced from a
 * pool of ready-made ones refilled every 512 calls, so every result must be a well-formed,
 * independent string, across refills too.
 */
import { describe, expect, it } from 'vitest';
import { newTraceparent, parseTraceparent } from '../../src/observability/trace-context.js';

const FORMAT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/;

describe('newTraceparent', () => {
  it('makes a new trace: version 00, lower-hex ids, the sampled flag', () => {
    const a = newTraceparent(null, false);
    const b = newTraceparent(null, true);
    expect(a).toMatch(FORMAT);
    expect(b).toMatch(FORMAT);
    expect(a.endsWith('-00')).toBe(true);
    expect(b.endsWith('-01')).toBe(true);
    // Parsed back as the gateway parses a client's.
    expect(parseTraceparent(a)).toEqual({ traceId: a.slice(3, 35), spanId: a.slice(36, 52), sampled: false });
    expect(parseTraceparent(b)?.sampled).toBe(true);
  });

  it('keeps a given trace id and gives each call a new span', () => {
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const a = newTraceparent(trace, true);
    const b = newTraceparent(trace, true);
    expect(a.slice(3, 35)).toBe(trace);
    expect(b.slice(3, 35)).toBe(trace);
    expect(a.slice(36, 52)).not.toBe(b.slice(36, 52));
    // The client's decision is kept either way, and the result parses as a valid traceparent.
    const c = newTraceparent(trace, false);
    expect(c).toMatch(FORMAT);
    expect(parseTraceparent(c)).toEqual({ traceId: trace, spanId: c.slice(36, 52), sampled: false });
    expect(parseTraceparent(a)).toEqual({ traceId: trace, spanId: a.slice(36, 52), sampled: true });
  });

  it('returns strings that a later call does not change (the buffer is reused)', () => {
    const seen = new Set<string>();
    const kept: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const tp = newTraceparent(null, i % 2 === 0);
      kept.push(tp);
      seen.add(tp.slice(3, 35));
    }
    expect(seen.size).toBe(10_000);
    for (const tp of kept) expect(tp).toMatch(FORMAT);
    expect(new Set(kept).size).toBe(10_000);
  });
});
