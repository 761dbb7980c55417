/**
 * Token buckets: one behaviour suite run against the native shared-memory table and the TS
 * reference, differential fuzzing (seeded PRNG, injected clock: native must equal reference
 * bit for bit, events included), the full-table rule, reclaiming, a crashed half-insertion,
 * segment handling, and N processes contending on one key with the real clock.
 */
import { spawn } from 'node:child_process';
import { writeFileSync, existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  EVENT_EVICTED,
  EVENT_FOUND,
  EVENT_INSERTED,
  EVENT_RECLAIMED,
  TICKS_PER_SECOND,
  createTokenBuckets,
  newSegmentName,
  openTokenBuckets,
  policyNumbers,
  remainingAfter,
  removeStaleSegments,
  retryAfterSeconds,
  secondsUntilFull,
  unlinkTokenBuckets,
  type TokenBucketEngine,
  type TokenBucketTable,
} from '../../src/native/token-buckets.js';
import { ROOT } from '../helpers/gateway.js';
import { mulberry32 } from '../../src/util/prng.js';

const created: string[] = [];
function table(engine: TokenBucketEngine, capacity = 1024, secret?: string): TokenBucketTable {
  const name = newSegmentName();
  if (engine === 'native') created.push(name);
  return createTokenBuckets(name, capacity, engine, secret);
}
afterAll(() => {
  for (const n of created) unlinkTokenBuckets(n);
});

const S = 1e9; // ns per second
const T0 = 1_000 * S; // injected clocks start here

const prng = mulberry32;

describe.each(['native', 'reference'] as const)('token buckets (%s)', (engine) => {
  it('admits a burst, then refills at the rate', () => {
    const t = table(engine);
    const p = t.policy('a|10|5', 10, 5);
    for (let i = 0; i < 5; i++) expect(t.takeAtForTest(p, 'k', T0)).toBeGreaterThan(0);
    const refused = t.takeAtForTest(p, 'k', T0);
    expect(refused).toBeLessThan(0);
    expect(-refused).toBe(0.1 * TICKS_PER_SECOND); // one token per 100 ms
    expect(t.takeAtForTest(p, 'k', T0 + 0.1 * S - 1)).toBeLessThan(0);
    expect(t.takeAtForTest(p, 'k', T0 + 0.1 * S)).toBeGreaterThan(0);
    expect(t.takeAtForTest(p, 'k', T0 + 0.1 * S)).toBeLessThan(0);
    // A long pause refills to burst, not beyond.
    let n = 0;
    while (t.takeAtForTest(p, 'k', T0 + 100 * S) > 0) n++;
    expect(n).toBe(5);
  });

  it('works below one request per second (fixed point)', () => {
    const t = table(engine);
    const p = t.policy('a|0.25|1', 0.25, 1);
    expect(t.takeAtForTest(p, 'k', T0)).toBeGreaterThan(0);
    const r = t.takeAtForTest(p, 'k', T0 + 3.9 * S);
    expect(r).toBeLessThan(0);
    expect(retryAfterSeconds(r)).toBe(1);
    expect(retryAfterSeconds(t.takeAtForTest(p, 'k', T0 + 1 * S))).toBe(3);
    expect(t.takeAtForTest(p, 'k', T0 + 4 * S)).toBeGreaterThan(0);
    // 1/3 per second: the interval is rounded up to a tick, never down.
    const q = t.policy('b|0.3333333333|2', 1 / 3, 2);
    expect(t.takeAtForTest(q, 'k', T0)).toBeGreaterThan(0);
    expect(t.takeAtForTest(q, 'k', T0)).toBeGreaterThan(0);
    expect(t.takeAtForTest(q, 'k', T0 + 3 * S - 1)).toBeLessThan(0);
    expect(t.takeAtForTest(q, 'k', T0 + 3 * S + 1)).toBeGreaterThan(0);
  });

  it('reports remaining tokens and reset times for the headers', () => {
    const t = table(engine);
    const p = t.policy('a|100|200', 100, 200);
    const n = policyNumbers(100, 200);
    const r1 = t.takeAtForTest(p, 'k', T0);
    expect(remainingAfter(r1, n)).toBe(199);
    expect(secondsUntilFull(r1, n)).toBe(1); // 10 ms of debt, rounded up
    for (let i = 0; i < 199; i++) t.takeAtForTest(p, 'k', T0);
    const refused = t.takeAtForTest(p, 'k', T0);
    expect(retryAfterSeconds(refused)).toBe(1);
    expect(secondsUntilFull(refused, n)).toBe(2);
  });

  it('keeps keys and policies apart; the same identity is the same policy', () => {
    const t = table(engine);
    const a = t.policy('a|1|1', 1, 1);
    const b = t.policy('b|1|1', 1, 1);
    expect(t.policy('a|1|1', 1, 1)).toBe(a);
    expect(() => t.policy('a|1|1', 2, 1)).toThrow(/another rate/);
    expect(t.takeAtForTest(a, 'x', T0)).toBeGreaterThan(0);
    expect(t.takeAtForTest(a, 'x', T0)).toBeLessThan(0);
    expect(t.takeAtForTest(a, 'y', T0)).toBeGreaterThan(0);
    expect(t.takeAtForTest(b, 'x', T0)).toBeGreaterThan(0);
    expect(t.takeAtForTest(a, '', T0)).toBeGreaterThan(0);
    expect(t.takeAtForTest(a, 'ключ-🔑'.repeat(200), T0)).toBeGreaterThan(0); // long, non-ASCII
    expect(t.takeAtForTest(a, 'ключ-🔑'.repeat(200), T0)).toBeLessThan(0);
  });

  it('rejects bad arguments', () => {
    const t = table(engine);
    expect(() => t.policy('z', 0, 1)).toThrow(TypeError);
    expect(() => t.policy('z', -1, 1)).toThrow(TypeError);
    expect(() => t.policy('z', Number.NaN, 1)).toThrow(TypeError);
    expect(() => t.policy('z', 1, 0)).toThrow(TypeError);
    expect(() => t.policy('z', 1, 1.5)).toThrow(TypeError);
    expect(() => t.takeAtForTest(99, 'k', T0)).toThrow(TypeError);
  });

  it('reuses idle buckets: a full bucket is the same as no bucket', () => {
    const t = table(engine, 16); // one window
    const p = t.policy('a|1|2', 1, 2);
    for (let i = 0; i < 16; i++) {
      expect(t.takeAtForTest(p, `old${i}`, T0)).toBeGreaterThan(0);
      expect(t.lastEvent()).toBe(EVENT_INSERTED);
    }
    // 1 s later each has its token back: idle, so 16 new keys take their slots.
    for (let i = 0; i < 16; i++) {
      expect(t.takeAtForTest(p, `new${i}`, T0 + S)).toBeGreaterThan(0);
      expect(t.lastEvent()).toBe(EVENT_RECLAIMED);
    }
    const s = t.stats();
    expect(s).toMatchObject({ capacity: 16, live: 16, inserts: 32, reclaims: 16, evictions: 0 });
    // An old key comes back to a full bucket, as if it had stayed.
    expect(t.takeAtForTest(p, 'old0', T0 + S)).toBeGreaterThan(0);
    expect(t.takeAtForTest(p, 'old0', T0 + S)).toBeGreaterThan(0);
    expect(t.takeAtForTest(p, 'old0', T0 + S)).toBeLessThan(0);
  });

  it('full table: evicts the bucket that will be full soonest, keeps limiting the others', () => {
    const t = table(engine, 16);
    const p = t.policy('a|1|4', 1, 4);
    // 16 busy keys; "light" has taken 1 token, the others 4 (empty).
    t.takeAtForTest(p, 'light', T0);
    for (let i = 0; i < 15; i++) for (let j = 0; j < 4; j++) t.takeAtForTest(p, `heavy${i}`, T0);
    expect(t.stats().live).toBe(16);
    expect(t.takeAtForTest(p, 'newcomer', T0)).toBeGreaterThan(0);
    expect(t.lastEvent()).toBe(EVENT_EVICTED);
    expect(t.stats()).toMatchObject({ live: 16, evictions: 1 });
    // The heavy keys are still empty: nobody got in for free.
    for (let i = 0; i < 15; i++) expect(t.takeAtForTest(p, `heavy${i}`, T0)).toBeLessThan(0);
    // The evicted one starts again with a full bucket (the documented cost: at most the
    // tokens it had used, the fewest in its window), evicting the next-best victim.
    expect(t.takeAtForTest(p, 'light', T0)).toBeGreaterThan(0);
    expect(t.lastEvent()).toBe(EVENT_EVICTED);
  });

  it('undoes a half-done insertion left by a crashed process once it expires', () => {
    const t = table(engine, 16);
    const p = t.policy('a|1|1', 1, 1);
    expect(t.claimPendingForTest(p, 'k', T0)).toBe(true);
    expect(t.stats().pending).toBe(1);
    // Not yet expired: a real clock would wait a moment; the injected one cannot.
    expect(t.takeAtForTest(p, 'k', T0 + 0.05 * S)).toBeNaN();
    // After 100 ms it is someone's abandoned work: undone, then inserted normally.
    expect(t.takeAtForTest(p, 'k', T0 + 0.2 * S)).toBeGreaterThan(0);
    expect(t.stats()).toMatchObject({ pending: 0, live: 1 });
    expect(t.takeAtForTest(p, 'k', T0 + 0.2 * S)).toBeLessThan(0);
    // An abandoned insertion of another key counts as an idle slot.
    for (let i = 0; i < 15; i++) t.takeAtForTest(p, `x${i}`, T0 + 0.2 * S);
    expect(t.stats().live).toBe(16);
  });
});

describe('native vs reference (differential)', () => {
  for (const [seed, capacity, keys] of [
    [1, 16, 40],
    [2, 64, 200],
    [3, 16, 17],
    [4, 1024, 300],
  ] as const) {
    it(`seed ${seed}: capacity ${capacity}, ${keys} keys, 20,000 takes`, () => {
      const rnd = prng(seed);
      const native = table('native', capacity);
      const ref = table('reference', capacity, native.secret);
      const policies: Array<[string, number, number]> = [
        ['p0', 0.5, 1], ['p1', 3, 5], ['p2', 100, 10], ['p3', 1e6, 3], ['p4', 1 / 7, 2], ['p5', 12345.678, 1000],
      ];
      const pn = policies.map(([id, r, b]) => native.policy(id, r, b));
      const pr = policies.map(([id, r, b]) => ref.policy(id, r, b));
      expect(pn).toEqual(pr);
      let now = T0;
      let admitted = 0;
      for (let i = 0; i < 20_000; i++) {
        const gap = rnd();
        now += gap < 0.5 ? 0 : gap < 0.8 ? Math.floor(rnd() * 1e6) : gap < 0.98 ? Math.floor(rnd() * 5e8) : Math.floor(rnd() * 20 * S);
        const pi = Math.floor(rnd() * policies.length);
        const key = `k${Math.floor(rnd() * keys)}`;
        if (rnd() < 0.001) {
          expect(native.claimPendingForTest(pn[pi], key, now)).toBe(ref.claimPendingForTest(pr[pi], key, now));
        }
        const a = native.takeAtForTest(pn[pi], key, now);
        const b = ref.takeAtForTest(pr[pi], key, now);
        if (!Object.is(a, b) || (!Number.isNaN(a) && native.lastEvent() !== ref.lastEvent())) {
          throw new Error(`take ${i} (${policies[pi][0]}, ${key}, t=${now}): native ${a}/${native.lastEvent()} reference ${b}/${ref.lastEvent()}`);
        }
        if (a > 0) admitted++;
      }
      expect(native.stats()).toEqual({ ...ref.stats(), creatorPid: process.pid });
      expect(admitted).toBeGreaterThan(1000); // both branches exercised
      expect(admitted).toBeLessThan(20_000);
    });
  }
});

describe('shared-memory segment', () => {
  it('is shared by every handle, and checked when opened', () => {
    const name = newSegmentName();
    const a = createTokenBuckets(name, 100);
    try {
      expect(a.stats().capacity).toBe(128);
      expect(() => createTokenBuckets(name, 100)).toThrow(/File exists/);
      const b = openTokenBuckets(name);
      expect(b.secret).toBe(a.secret);
      const pa = a.policy('x|1|2', 1, 2);
      const pb = b.policy('x|1|2', 1, 2);
      expect(a.take(pa, 'k')).toBeGreaterThan(0);
      expect(b.take(pb, 'k')).toBeGreaterThan(0);
      expect(a.take(pa, 'k')).toBeLessThan(0);
      b.close();
      expect(() => b.take(pb, 'k')).toThrow(/closed/);
    } finally {
      unlinkTokenBuckets(name);
    }
    expect(() => openTokenBuckets(name)).toThrow(/No such file/);
    expect(() => createTokenBuckets('no-slash', 16)).toThrow(TypeError);
    expect(() => createTokenBuckets('/a/b', 16)).toThrow(TypeError);
    // Something else under a gateway-like name is refused, not trusted.
    const junk = newSegmentName();
    writeFileSync(`/dev/shm${junk}`, Buffer.alloc(4096, 7));
    try {
      expect(() => openTokenBuckets(junk)).toThrow(/not a token-bucket table/);
    } finally {
      unlinkSync(`/dev/shm${junk}`);
    }
  });

  it('removeStaleSegments unlinks segments of dead primaries only', async () => {
    const dead = await new Promise<number>((resolve) => {
      const c = spawn(process.execPath, ['-e', '0']);
      c.on('exit', () => resolve(c.pid!));
    });
    const stale = newSegmentName(dead);
    const mine = newSegmentName();
    createTokenBuckets(stale, 16).close();
    createTokenBuckets(mine, 16).close();
    try {
      const removed = removeStaleSegments();
      expect(removed).toContain(stale);
      expect(removed).not.toContain(mine);
      expect(existsSync(`/dev/shm${stale}`)).toBe(false);
      expect(existsSync(`/dev/shm${mine}`)).toBe(true);
    } finally {
      unlinkTokenBuckets(stale);
      unlinkTokenBuckets(mine);
    }
  });
});

describe('processes contending on one key (real clock)', () => {
  it('admit at most burst + rate * elapsed in total, and at least 95% of it', async () => {
    const procs = 4;
    const rps = 20_000;
    // 100 ms of burst: a scheduler gap shorter than that (4 processes on 2 cores, other load)
    // loses no tokens, so the lower bound tests the table, not the scheduler.
    const burst = 2_000;
    const name = newSegmentName();
    const t = createTokenBuckets(name, 1024);
    const addon = join(ROOT, 'build', 'Release', 'gateway_native.node');
    // Each child maps the segment and takes from one key as fast as it can during the same
    // 500 ms (from a start time given to all), reporting its admitted count and the monotonic time of its first and last take.
    const child = `
      const { TokenBuckets } = require(${JSON.stringify(addon)});
      const t = new TokenBuckets(${JSON.stringify(name)});
      const p = t.policy('hot|${rps}|${burst}', ${rps}, ${burst});
      const go = BigInt(process.argv[1]);
      const end = go + 500000000n;
      while (process.hrtime.bigint() < go) {}
      const first = process.hrtime.bigint();
      let admitted = 0, tries = 0, last = first;
      if (first > go + 100000000n) {
        // Booted too late (a loaded machine): take nothing, so the others' window has no gap.
        process.stdout.write(JSON.stringify({ admitted: 0, tries: 0, first: '', last: '' }));
        process.exit(0);
      }
      while ((last = process.hrtime.bigint()) < end) {
        for (let i = 0; i < 64; i++) { tries++; if (t.take(p, 'one-key') > 0) admitted++; }
      }
      last = process.hrtime.bigint();
      process.stdout.write(JSON.stringify({ admitted, tries, first: String(first), last: String(last) }));
    `;
    try {
      const go = process.hrtime.bigint() + 2_500_000_000n; // all start together, after node boots
      const results = await Promise.all(
        Array.from({ length: procs }, () => new Promise<{ admitted: number; tries: number; first: string; last: string }>((resolve, reject) => {
          const c = spawn(process.execPath, ['-e', child, String(go)], { stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          c.stdout.on('data', (d: Buffer) => (out += d));
          c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited ${code}`))));
        })),
      );
      const ran = results.filter((r) => r.first !== '');
      expect(ran.length).toBeGreaterThanOrEqual(2);
      const admitted = ran.reduce((n, r) => n + r.admitted, 0);
      const tries = ran.reduce((n, r) => n + r.tries, 0);
      const first = ran.map((r) => BigInt(r.first)).reduce((a, b) => (a < b ? a : b));
      const last = ran.map((r) => BigInt(r.last)).reduce((a, b) => (a > b ? a : b));
      // Upper bound over the whole span of takes; the lower one over the part where every
      // process was taking (a process descheduled at the end stretches the span, not the demand).
      const elapsed = Number(last - first) / 1e9;
      const bound = burst + rps * elapsed;
      const lateStart = ran.map((r) => BigInt(r.first)).reduce((a, b) => (a > b ? a : b));
      const earlyEnd = ran.map((r) => BigInt(r.last)).reduce((a, b) => (a < b ? a : b));
      const overlap = Number(earlyEnd - lateStart) / 1e9;
      console.log(
        `native, ${ran.length} processes on one key: ${admitted} admitted of ${tries} tries in ${elapsed.toFixed(3)} s; ` +
          `bound ${bound.toFixed(0)}; ${((admitted / bound) * 100).toFixed(1)}% of it`,
      );
      expect(tries).toBeGreaterThan(admitted * 2); // really contended
      expect(admitted).toBeLessThanOrEqual(Math.floor(bound));
      expect(admitted).toBeGreaterThanOrEqual(0.95 * (burst + rps * overlap));
    } finally {
      unlinkTokenBuckets(name);
    }
  });
});
