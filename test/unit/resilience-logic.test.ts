/**
 * The resilience rules on their own, with an injected clock: the circuit breaker's states and
 * window, the retry conditions, and the retry budget's bound.
 */
import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../src/upstream/breaker.js';
import { RetryBudget, RetryPolicy } from '../../src/upstream/retry.js';
import { UpstreamFailure } from '../../src/upstream/dispatch.js';

const settings = { failureRatio: 0.5, minRequests: 10, windowMs: 10_000, openMs: 5_000 };

describe('CircuitBreaker', () => {
  it('stays closed below minRequests, opens once the window holds enough failures', () => {
    const changes: string[] = [];
    const b = new CircuitBreaker(settings, (f, t) => changes.push(`${f}->${t}`));
    for (let i = 0; i < 9; i++) b.record(true, 1000 + i);
    expect(b.state).toBe('closed'); // 9 < minRequests
    b.record(true, 1010);
    expect(b.state).toBe('open');
    expect(changes).toEqual(['closed->open']);
  });

  it('opens on the ratio, not the count: 4 failures in 10 stays closed, 5 in 10 opens', () => {
    const b = new CircuitBreaker(settings);
    for (let i = 0; i < 6; i++) b.record(false, 1000);
    for (let i = 0; i < 4; i++) b.record(true, 1000);
    expect(b.state).toBe('closed');
    const c = new CircuitBreaker(settings);
    for (let i = 0; i < 5; i++) c.record(false, 1000);
    for (let i = 0; i < 5; i++) c.record(true, 1000);
    expect(c.state).toBe('open');
  });

  it('forgets outcomes older than the window', () => {
    const b = new CircuitBreaker(settings);
    for (let i = 0; i < 9; i++) b.record(true, 1000);
    b.record(true, 1000 + 10_500); // the nine are out of the window now
    expect(b.state).toBe('closed');
  });

  it('open: refuses until openMs, then half-open lets exactly one probe through; success closes, failure reopens', () => {
    const b = new CircuitBreaker(settings);
    for (let i = 0; i < 10; i++) b.record(true, 1000);
    expect(b.allows(2000)).toBe(false);
    expect(b.wouldAllow(5999)).toBe(false);
    expect(b.allows(6000)).toBe(true); // the probe
    expect(b.state).toBe('half-open');
    expect(b.allows(6001)).toBe(false); // one probe only
    b.record(true, 6100);
    expect(b.state).toBe('open');
    expect(b.allows(11_099)).toBe(false);
    expect(b.allows(11_100)).toBe(true);
    b.record(false, 11_150);
    expect(b.state).toBe('closed');
    expect(b.allows(11_151)).toBe(true);
    expect(b.opened).toBe(2);
  });
});

describe('RetryPolicy', () => {
  const policy = new RetryPolicy({ attempts: 2, on: ['connect-failure', 'reset', 'timeout', '502', '503'], idempotentOnly: true, budgetPercent: 20 });
  const f = (kind: 'connect' | 'reset' | 'timeout' | 'protocol', waited = false) => new UpstreamFailure(kind, 'x', 'X', false, waited);

  it('a connect failure is retried whatever the method (the request never reached the upstream)', () => {
    expect(policy.failureReason(f('connect'), 'POST')).toBe('connect-failure');
  });

  it('resets, timeouts and listed statuses only for idempotent methods', () => {
    expect(policy.failureReason(f('reset'), 'GET')).toBe('reset');
    expect(policy.failureReason(f('reset'), 'POST')).toBeNull();
    expect(policy.failureReason(f('timeout'), 'PUT')).toBe('timeout');
    expect(policy.statusReason(503, 'GET')).toBe('503');
    expect(policy.statusReason(503, 'PATCH')).toBeNull();
    expect(policy.statusReason(500, 'GET')).toBeNull(); // not listed
    expect(policy.failureReason(f('protocol'), 'GET')).toBeNull();
  });

  it('a wait for a free connection that ran out is not a retryable timeout', () => {
    expect(policy.failureReason(f('timeout', true), 'GET')).toBeNull();
  });

  it('idempotentOnly: false retries any method', () => {
    const any = new RetryPolicy({ attempts: 1, on: ['reset'], idempotentOnly: false, budgetPercent: 20 });
    expect(any.failureReason(f('reset'), 'POST')).toBe('reset');
  });
});

describe('RetryBudget', () => {
  it('allows at least 3 retries per 10 s, then budgetPercent of first attempts', () => {
    const b = new RetryBudget(20);
    let t = 1000;
    expect([b.tryRetry(t), b.tryRetry(t), b.tryRetry(t), b.tryRetry(t)]).toEqual([true, true, true, false]);
    for (let i = 0; i < 100; i++) b.firstAttempt(t);
    // 20% of 100 = 20 retries in the window, 3 already taken.
    let granted = 0;
    for (let i = 0; i < 100; i++) if (b.tryRetry(t)) granted++;
    expect(granted).toBe(17);
    expect(b.refused).toBe(84);
    // 11 s later the window has moved on.
    t += 11_000;
    expect(b.tryRetry(t)).toBe(true);
  });

  it('under a storm (every first attempt failing and retried) retries stay within 20% + 3 per 10 s', () => {
    const b = new RetryBudget(20);
    let retries = 0;
    for (let ms = 0; ms < 10_000; ms += 10) {
      b.firstAttempt(5000 + ms);
      if (b.tryRetry(5000 + ms)) retries++;
    }
    expect(retries).toBeLessThanOrEqual(1000 * 0.2 + 3);
    expect(retries).toBeGreaterThanOrEqual(150);
  });
});
