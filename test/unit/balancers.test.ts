/**
 * The balancers behind Cluster's LoadBalancer, table-driven over fake members (real Endpoint
 * objects on a dummy dispatcher, no processes) in the manner of undici's balanced-pool tests:
 * each case lists its members (weights, in-flight counts, latencies, usable or not over time) and
 * the picks or shares it expects. Load and time are simulated: in-flight counts and the clock come
 * from an injected LoadSignals, p2c-ewma's draws from a seeded PRNG, so every run is the same.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { FakeDispatcher } from '../helpers/fakes.js';
import { Endpoint } from '../../src/upstream/endpoint.js';
import { Cluster, type LoadBalancer, type LoadSignals, type Member, type OutcomeKind, type PickContext } from '../../src/upstream/cluster.js';
import { createBalancer } from '../../src/upstream/lb/index.js';
import { roundRobin } from '../../src/upstream/lb/round-robin.js';
import { leastConnections } from '../../src/upstream/lb/least-connections.js';
import { consistentHash, cookieValueHash, maglevTable } from '../../src/upstream/lb/consistent-hash.js';
import { p2cEwma, type P2cEwmaOptions } from '../../src/upstream/lb/p2c-ewma.js';
import { hashString } from '../../src/upstream/lb/hash.js';
import { Mulberry32, mulberry32 } from '../../src/util/prng.js';
import type { Balancer } from '../../src/config/schema.js';

// ---------------------------------------------------------------- fakes

const NAMES = 'abcdefghijklmnop';

/** Members a, b, c, ... on real Endpoints (origins http://10.0.0.<i+1>:8080 unless given). */
function makeMembers(weights: readonly number[], origins?: readonly string[]): Member[] {
  return weights.map((weight, index) => {
    const origin = origins?.[index] ?? `http://10.0.0.${index + 1}:8080`;
    const ep = new Endpoint(`k${index}`, 'u', origin, new URL(origin).host, -1, new FakeDispatcher());
    return { endpoint: ep, weight, index };
  });
}

/** In-flight counts by member index and a clock, both set by the test. */
class FakeSignals implements LoadSignals {
  now = 0;
  constructor(readonly counts: number[]) {}
  inflight(m: Member): number {
    return this.counts[m.index];
  }
  nowMs(): number {
    return this.now;
  }
}

interface Ctx extends PickContext {
  clientIp: string;
  consumerId: string | null;
  headers: Record<string, string>;
  attempt: number;
  skip: Endpoint | null;
}

function ctx(over: Partial<Ctx> = {}): Ctx {
  return {
    clientIp: '192.0.2.1',
    consumerId: null,
    headers: {},
    attempt: 0,
    skip: null,
    header(name: string) {
      return this.headers[name];
    },
    shouldSkip(ep: Endpoint) {
      return ep === this.skip;
    },
    ...over,
  };
}

const ALL = () => true;
const except = (...down: number[]) => (m: Member) => !down.includes(m.index);
const letters = (picks: Array<Member | null>) => picks.map((m) => (m === null ? '-' : NAMES[m.index])).join('');

function picks(lb: LoadBalancer, count: number, usable: (m: Member) => boolean = ALL, c: PickContext = ctx()): string {
  const out: Array<Member | null> = [];
  for (let i = 0; i < count; i++) out.push(lb.pick(c, usable));
  return letters(out);
}

function counts(seq: string, n: number): number[] {
  const out = new Array<number>(n).fill(0);
  for (const ch of seq) if (ch !== '-') out[NAMES.indexOf(ch)]++;
  return out;
}

/** Random keys like user ids and addresses. */
function randomKeys(count: number, seed: number): string[] {
  const r = mulberry32(seed);
  return Array.from({ length: count }, (_, i) => `user-${Math.floor(r() * 1e12).toString(36)}-${i}`);
}

// ---------------------------------------------------------------- every balancer

const KINDS: Balancer[] = ['round-robin', 'least-connections', 'consistent-hash', 'p2c-ewma'];

describe('every balancer', () => {
  it.each(KINDS)('%s: one member is picked while usable, null when not', (kind) => {
    const ms = makeMembers([3]);
    const lb = createBalancer(kind, ms, { signals: new FakeSignals([0]), p2c: { random: new Mulberry32(1) } });
    expect(picks(lb, 5)).toBe('aaaaa');
    expect(picks(lb, 3, () => false)).toBe('---');
  });

  it.each(KINDS)('%s: no usable member: null; no members: null', (kind) => {
    const ms = makeMembers([1, 2, 3, 1]);
    const lb = createBalancer(kind, ms, { signals: new FakeSignals([0, 0, 0, 0]), p2c: { random: new Mulberry32(2) } });
    expect(picks(lb, 20, () => false)).toBe('-'.repeat(20));
    expect(createBalancer(kind, [], { p2c: { random: new Mulberry32(2) } }).pick(ctx(), ALL)).toBeNull();
  });

  it.each(KINDS)('%s: never picks an unusable member, and picks the only usable one', (kind) => {
    const ms = makeMembers([1, 1, 1, 1]);
    const lb = createBalancer(kind, ms, { signals: new FakeSignals([0, 0, 0, 0]), p2c: { random: new Mulberry32(3) } });
    const keys = randomKeys(400, 3);
    const seen = new Set<string>();
    for (const k of keys) seen.add(letters([lb.pick(ctx({ clientIp: k }), except(1, 3))]));
    expect([...seen].sort()).toEqual(['a', 'c']);
    for (const k of keys.slice(0, 50)) expect(lb.pick(ctx({ clientIp: k }), except(0, 1, 3))).toBe(ms[2]);
  });

  it.each(KINDS)('%s through a Cluster: a retry does not go back to the endpoint it moves away from', (kind) => {
    const ms = makeMembers([1, 1, 1]);
    const cluster = new Cluster('u', ms, createBalancer(kind, ms, { signals: new FakeSignals([0, 0, 0]), p2c: { random: new Mulberry32(4) } }));
    for (const k of randomKeys(200, 4)) {
      const first = cluster.pick(ctx({ clientIp: k }))!;
      const retry = cluster.pick(ctx({ clientIp: k, attempt: 1, skip: first }));
      expect(retry).not.toBeNull();
      expect(retry).not.toBe(first);
      // the first attempt is never skipped (shouldSkip is only asked for retries)
      expect(cluster.pick(ctx({ clientIp: k, attempt: 0, skip: first }))).not.toBeNull();
    }
  });

  it('the Cluster forwards every outcome to the balancer with its member', () => {
    const ms = makeMembers([1, 1]);
    const seen: Array<[number, OutcomeKind, number, number]> = [];
    const lb: LoadBalancer = { pick: (_c, usable) => (usable(ms[1]) ? ms[1] : null), report: (m, kind, status, us) => seen.push([m.index, kind, status, us]) };
    const cluster = new Cluster('u', ms, lb);
    cluster.report(ms[1].endpoint, 'response', 200, 1500);
    cluster.report(ms[0].endpoint, 'timeout', 0, 15e6);
    expect(seen).toEqual([[1, 'response', 200, 1500], [0, 'timeout', 0, 15e6]]);
    expect(ms[0].endpoint.counters.timeouts).toBe(1);
    expect(ms[1].endpoint.counters.responses).toBe(1);
    expect(cluster.pick(ctx({ attempt: 1, skip: ms[1].endpoint }))).toBeNull();
  });

  it('picks allocate nothing: no young-generation GC over 1M picks of each balancer (a child process, through Cluster.pick)', () => {
    const dist = (p: string) => JSON.stringify(new URL(`../../dist/src/${p}`, import.meta.url).href);
    const script = `
      const { Endpoint } = await import(${dist('upstream/endpoint.js')});
      const { Cluster } = await import(${dist('upstream/cluster.js')});
      const { createBalancer } = await import(${dist('upstream/lb/index.js')});
      const { PerformanceObserver } = await import('node:perf_hooks');
      const dispatcher = { dispatch() {}, stats: {}, close: async () => {} };
      const members = [1, 2, 1, 3].map((weight, index) => ({ endpoint: new Endpoint('k' + index, 'u', 'http://10.0.0.' + (index + 1) + ':80', 'h', -1, dispatcher), weight, index }));
      members[1].endpoint.inflight = 2;
      const ips = ['192.0.2.1', '198.51.100.7', '2001:db8::1', '203.0.113.9'];
      const ctxs = ips.map((ip, i) => { const cookie = 'a=1; sid=abc' + i + '; z=2'; return { clientIp: ip, consumerId: null, attempt: i & 1, header(n) { return n === 'cookie' ? cookie : undefined; }, shouldSkip(ep) { return ep === members[0].endpoint; } }; });
      const out = {};
      for (const [kind, hashOn] of [['round-robin'], ['least-connections'], ['consistent-hash', 'ip'], ['consistent-hash', 'cookie:sid'], ['p2c-ewma']]) {
        const cluster = new Cluster('u', members, createBalancer(kind, members, { hashOn }));
        for (const m of members) cluster.report(m.endpoint, 'response', 200, 1000 + m.index * 500);
        for (let i = 0; i < 2e5; i++) cluster.pick(ctxs[i & 3]); // warm up (JIT)
        globalThis.gc();
        await new Promise((r) => setTimeout(r, 20));
        let minor = 0;
        const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.detail?.kind === 1) minor++; });
        obs.observe({ entryTypes: ['gc'] });
        let n = 0;
        for (let i = 0; i < 1e6; i++) if (cluster.pick(ctxs[i & 3]) !== null) n++;
        await new Promise((r) => setTimeout(r, 20));
        obs.disconnect();
        out[kind + (hashOn ? ' ' + hashOn : '')] = { minor, n };
      }
      process.stdout.write(JSON.stringify(out));
    `;
    const r = spawnSync(process.execPath, ['--expose-gc', '--max-semi-space-size=1', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, { minor: number; n: number }>;
    expect(Object.keys(out)).toHaveLength(5);
    for (const [kind, { minor, n }] of Object.entries(out)) {
      expect(n, kind).toBe(1e6);
      expect(minor, kind).toBeLessThanOrEqual(1);
    }
  });
});

// ---------------------------------------------------------------- round-robin

describe('round-robin (smooth weighted, as nginx)', () => {
  it.each([
    { weights: [1, 1, 1], expected: 'abcabcabc' },
    { weights: [2, 1], expected: 'abaaba' },
    { weights: [3, 1], expected: 'aabaaaba' },
    { weights: [5, 1, 1], expected: 'aabacaaaabacaa' }, // nginx's own example
    { weights: [1, 5, 1], expected: 'bbabcbbbbabcbb' },
  ])('weights $weights: $expected', ({ weights, expected }) => {
    expect(picks(roundRobin(makeMembers(weights)), expected.length)).toBe(expected);
  });

  /** Every window of `sum(weights of usable)` consecutive picks holds each usable member exactly `weight` times. */
  function expectSmooth(seq: string, weights: number[], usable: number[]) {
    const w = usable.reduce((s, i) => s + weights[i], 0);
    for (let start = 0; start + w <= seq.length; start++) {
      const c = counts(seq.slice(start, start + w), weights.length);
      expect(c, `window ${start} of ${seq}`).toEqual(weights.map((x, i) => (usable.includes(i) ? x : 0)));
    }
  }

  it.each([
    // `down` per phase: members left out while the phase lasts (as undici's cases list a server's down requests)
    { weights: [5, 1, 1], phases: [{ down: [], picks: 3 }, { down: [2], picks: 30 }, { down: [], picks: 35 }] },
    { weights: [5, 1, 1], phases: [{ down: [0], picks: 10 }, { down: [], picks: 21 }] },
    { weights: [3, 2, 1, 1], phases: [{ down: [], picks: 7 }, { down: [1], picks: 25 }, { down: [0, 3], picks: 9 }, { down: [], picks: 28 }] },
    { weights: [1, 1, 1, 1], phases: [{ down: [], picks: 5 }, { down: [2], picks: 9 }, { down: [], picks: 8 }] },
  ])('weights $weights, members down in phases: the usable ones stay smooth, each phase keeps exact shares', ({ weights, phases }) => {
    const lb = roundRobin(makeMembers(weights));
    let first = true;
    for (const p of phases) {
      const seq = picks(lb, p.picks, except(...p.down));
      const usable = weights.map((_, i) => i).filter((i) => !p.down.includes(i));
      for (const d of p.down) expect(seq).not.toContain(NAMES[d]);
      // a phase's first picks may finish the cycle the previous phase left open; after one cycle, every window is exact
      const w = usable.reduce((s, i) => s + weights[i], 0);
      expectSmooth(first ? seq : seq.slice(w), weights, usable);
      first = false;
      // and no member is picked twice in a row more often than its weight allows (no bursts)
      const heaviest = Math.max(...usable.map((i) => weights[i]));
      for (const i of usable) if (weights[i] < heaviest) expect(seq).not.toContain(NAMES[i].repeat(2));
    }
  });
});

// ---------------------------------------------------------------- least-connections

/**
 * A closed-loop simulation: `concurrency` requests always in flight; each completion (after its
 * member's latency at that moment) starts the next request. Returns the picks per member.
 */
function simulate(
  lb: LoadBalancer,
  ms: Member[],
  signals: FakeSignals,
  opts: {
    concurrency: number;
    untilMs: number;
    fromMs?: number;
    latencyMs: (i: number, nowMs: number) => number;
    outcome?: (i: number, nowMs: number) => OutcomeKind;
    usable?: (m: Member, nowMs: number) => boolean;
    /** Requests already in flight from a previous simulate() call (continues it). */
    state?: { events: Array<{ at: number; i: number; started: number }> };
  },
): { counts: number[]; state: { events: Array<{ at: number; i: number; started: number }> } } {
  const c = new Array<number>(ms.length).fill(0);
  const state = opts.state ?? { events: [] };
  const ev = state.events;
  signals.now = opts.fromMs ?? signals.now;
  const usable = (m: Member) => (opts.usable ? opts.usable(m, signals.now) : true);
  const start = () => {
    const m = lb.pick(ctx(), usable);
    if (m === null) return;
    c[m.index]++;
    signals.counts[m.index]++;
    ev.push({ at: signals.now + opts.latencyMs(m.index, signals.now), i: m.index, started: signals.now });
  };
  while (ev.length < opts.concurrency) start();
  for (;;) {
    let k = 0;
    for (let j = 1; j < ev.length; j++) if (ev[j].at < ev[k].at) k = j;
    const e = ev[k];
    if (e === undefined || e.at > opts.untilMs) break;
    ev.splice(k, 1);
    signals.now = e.at;
    signals.counts[e.i]--;
    const kind = opts.outcome ? opts.outcome(e.i, e.started) : 'response';
    lb.report?.(ms[e.i], kind, kind === 'response' ? 200 : 0, (e.at - e.started) * 1000);
    start();
  }
  signals.now = opts.untilMs;
  return { counts: c, state };
}

const share = (c: number[], i: number) => c[i] / c.reduce((a, b) => a + b, 0);
const shares = (c: number[]) => c.map((_, i) => `${(share(c, i) * 100).toFixed(1)}%`).join(' ');
/** Distribution numbers for the docs and the report (BALANCER_NUMBERS=1). */
const note = (what: string, c: number[]) => {
  if (process.env.BALANCER_NUMBERS) console.log(`${what}: ${shares(c)}`);
};

describe('least-connections (weighted, ties by smooth weighted round-robin)', () => {
  it.each([
    { name: 'the idle member', weights: [1, 1, 1], inflight: [3, 0, 3], expected: 'bbbbbb' },
    { name: 'the least loaded of three', weights: [1, 1, 1], inflight: [5, 2, 4], expected: 'bbbb' },
    { name: 'idle equal members take turns', weights: [1, 1, 1], inflight: [0, 0, 0], expected: 'abcabc' },
    { name: 'equal loads take turns, the busier one is left out', weights: [1, 1, 1], inflight: [2, 7, 2], expected: 'acacac' },
    { name: 'idle weighted members share by weight (SWRR among the tied)', weights: [2, 1], inflight: [0, 0], expected: 'abaaba' },
    { name: 'load per weight: 2/2 = 1/1 is a tie', weights: [2, 1], inflight: [2, 1], expected: 'abaaba' },
    { name: 'load per weight: 3/2 > 1/1', weights: [2, 1], inflight: [3, 1], expected: 'bbbb' },
    { name: 'load per weight: 1/2 < 1/1', weights: [2, 1], inflight: [1, 1], expected: 'aaaa' },
    { name: 'load per weight: 5/3 < 2/1', weights: [3, 1, 1], inflight: [5, 2, 2], expected: 'aaaa' },
  ])('$name: weights $weights, in flight $inflight -> $expected', ({ weights, inflight, expected }) => {
    const lb = leastConnections(makeMembers(weights), new FakeSignals(inflight));
    expect(picks(lb, expected.length)).toBe(expected);
  });

  it('reads the in-flight counts through LoadSignals at every pick', () => {
    const s = new FakeSignals([0, 0, 0]);
    const lb = leastConnections(makeMembers([1, 1, 1]), s);
    const seq: Array<Member | null> = [];
    for (let i = 0; i < 9; i++) {
      const m = lb.pick(ctx(), ALL)!;
      s.counts[m.index]++; // nothing completes: the picks fill the members evenly
      seq.push(m);
    }
    expect(counts(letters(seq), 3)).toEqual([3, 3, 3]);
  });

  it.each([
    { name: 'one slow member of three (10x the latency) gets far less than round-robin\'s third', weights: [1, 1, 1], latency: [5, 50, 5], check: (c: number[]) => expect(share(c, 1)).toBeLessThan(0.12) },
    { name: 'equal latency, weights 3:1:1 under load: shares near 3:1:1', weights: [3, 1, 1], latency: [10, 10, 10], check: (c: number[]) => { expect(share(c, 0)).toBeGreaterThan(0.55); expect(share(c, 0)).toBeLessThan(0.65); } },
    { name: 'equal members under load share evenly', weights: [1, 1, 1, 1], latency: [10, 10, 10, 10], check: (c: number[]) => { for (let i = 0; i < 4; i++) expect(Math.abs(share(c, i) - 0.25)).toBeLessThan(0.02); } },
  ])('$name', ({ weights, latency, check }) => {
    const ms = makeMembers(weights);
    const s = new FakeSignals(weights.map(() => 0));
    const { counts: c } = simulate(leastConnections(ms, s), ms, s, { concurrency: 20, untilMs: 10_000, latencyMs: (i) => latency[i] });
    note(`least-connections, weights ${weights}, latency ms ${latency}, 20 in flight`, c);
    check(c);
    // round-robin in the same simulation gives the slow member its full share
    const rs = new FakeSignals(weights.map(() => 0));
    const rr = simulate(roundRobin(ms), ms, rs, { concurrency: 20, untilMs: 10_000, latencyMs: (i) => latency[i] }).counts;
    const total = weights.reduce((a, b) => a + b, 0);
    for (let i = 0; i < weights.length; i++) expect(share(rr, i)).toBeCloseTo(weights[i] / total, 2);
  });
});

// ---------------------------------------------------------------- consistent-hash (Maglev)

/** The member origin each key maps to. */
function assignment(lb: LoadBalancer, keys: string[], usable: (m: Member) => boolean = ALL): string[] {
  const c = ctx({ headers: {} });
  return keys.map((k) => {
    c.clientIp = k;
    return lb.pick(c, usable)!.endpoint.origin;
  });
}

const origin = (i: number) => `http://10.1.${i >> 8}.${i & 255}:8080`;
const originsOf = (n: number, from = 0) => Array.from({ length: n }, (_, i) => origin(from + i));

describe('consistent-hash (Maglev, table size 65537)', () => {
  const KEYS = randomKeys(100_000, 42);

  it('the same key always goes to the same member, whatever the members\' order and in any instance (every worker agrees)', () => {
    const os = originsOf(6);
    const a = assignment(consistentHash(makeMembers([1, 1, 1, 1, 1, 1], os), 'ip'), KEYS.slice(0, 20_000));
    const again = assignment(consistentHash(makeMembers([1, 1, 1, 1, 1, 1], os), 'ip'), KEYS.slice(0, 20_000));
    const reversed = assignment(consistentHash(makeMembers([1, 1, 1, 1, 1, 1], [...os].reverse()), 'ip'), KEYS.slice(0, 20_000));
    expect(again).toEqual(a);
    expect(reversed).toEqual(a);
  });

  it.each([
    { weights: [1, 1, 1, 1] },
    { weights: [1, 1, 1, 1, 1, 1, 1] },
    { weights: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1] },
    { weights: [3, 1, 1, 1] },
    { weights: [1, 2, 3, 4] },
  ])('weights $weights: table slots in proportion (within 0.1%), 100k keys within 5% of their share', ({ weights }) => {
    const ms = makeMembers(weights, originsOf(weights.length));
    const total = weights.reduce((a, b) => a + b, 0);
    const table = maglevTable(ms);
    const slots = new Array<number>(ms.length).fill(0);
    for (const j of table) slots[j]++;
    for (let i = 0; i < ms.length; i++) expect(Math.abs(slots[i] / table.length - weights[i] / total)).toBeLessThan(0.001);
    const got = assignment(consistentHash(ms, 'ip'), KEYS);
    for (let i = 0; i < ms.length; i++) {
      const s = got.filter((o) => o === ms[i].endpoint.origin).length / KEYS.length;
      expect(Math.abs(s / (weights[i] / total) - 1), `member ${i}: ${s}`).toBeLessThan(0.05);
    }
  });

  // Measured shares of the 100k keys that move, for the docs (printed with BALANCER_NUMBERS=1).
  const movement: string[] = [];
  it.each([4, 5, 6, 7, 8, 9, 10])('N=%i: removing or adding one member moves at most 1.1/N of the keys; between untouched members at most 0.1/N', (n) => {
    const base = assignment(consistentHash(makeMembers(new Array(n).fill(1), originsOf(n)), 'ip'), KEYS);
    // remove each member in turn (the last, the first, one in the middle)
    for (const gone of [n - 1, 0, n >> 1]) {
      const os = originsOf(n).filter((_, i) => i !== gone);
      const after = assignment(consistentHash(makeMembers(new Array(n - 1).fill(1), os), 'ip'), KEYS);
      let moved = 0;
      let collateral = 0;
      for (let k = 0; k < KEYS.length; k++) {
        if (after[k] === base[k]) continue;
        moved++;
        if (base[k] !== origin(gone)) collateral++; // a key of a member that stayed moved
      }
      const m = moved / KEYS.length;
      const x = collateral / KEYS.length;
      movement.push(`remove 1 of ${n}: moved ${(m * 100).toFixed(2)}% (ideal ${(100 / n).toFixed(2)}%), of that between untouched members ${(x * 100).toFixed(2)}%`);
      expect(m).toBeLessThanOrEqual(1.1 / n);
      expect(x).toBeLessThanOrEqual(0.1 / n);
    }
    // add one
    const added = origin(n);
    const after = assignment(consistentHash(makeMembers(new Array(n + 1).fill(1), originsOf(n + 1)), 'ip'), KEYS);
    let moved = 0;
    let collateral = 0;
    for (let k = 0; k < KEYS.length; k++) {
      if (after[k] === base[k]) continue;
      moved++;
      if (after[k] !== added) collateral++;
    }
    const m = moved / KEYS.length;
    const x = collateral / KEYS.length;
    movement.push(`add 1 to ${n}: moved ${(m * 100).toFixed(2)}% (ideal ${(100 / (n + 1)).toFixed(2)}%), of that between untouched members ${(x * 100).toFixed(2)}%`);
    expect(m).toBeLessThanOrEqual(1.1 / n);
    expect(x).toBeLessThanOrEqual(0.1 / n);
    expect(m).toBeGreaterThanOrEqual(0.9 / (n + 1)); // the new member does take its share
    if (n === 10 && process.env.BALANCER_NUMBERS) console.log(movement.join('\n'));
  });

  it.each([
    { weights: [1, 1, 1, 1], down: [2], spread: [1 / 3, 1 / 3, 0, 1 / 3] },
    { weights: [1, 1, 1, 1, 1, 1], down: [0], spread: [0, 0.2, 0.2, 0.2, 0.2, 0.2] },
    { weights: [1, 2, 1, 1], down: [3], spread: [0.25, 0.5, 0.25, 0] },
    { weights: [1, 1, 1, 1, 1], down: [1, 3], spread: [1 / 3, 0, 1 / 3, 0, 1 / 3] },
  ])('weights $weights, $down unusable: their keys go to their next choices, spread by weight ($spread), and come back when usable; other keys never move', ({ weights, down, spread }) => {
    const n = weights.length;
    const ms = makeMembers(weights, originsOf(n));
    const lb = consistentHash(ms, 'ip');
    const keys = KEYS.slice(0, 40_000);
    const before = assignment(lb, keys);
    const downOrigins = down.map(origin);
    const during = assignment(lb, keys, except(...down));
    expect(assignment(lb, keys, except(...down))).toEqual(during); // the fallback is deterministic
    const to = new Array<number>(n).fill(0);
    let movedKeys = 0;
    for (let k = 0; k < keys.length; k++) {
      if (!downOrigins.includes(before[k])) {
        expect(during[k]).toBe(before[k]);
        continue;
      }
      movedKeys++;
      to[ms.findIndex((m) => m.endpoint.origin === during[k])]++;
    }
    for (let i = 0; i < n; i++) expect(Math.abs(to[i] / movedKeys - spread[i]), `member ${i}: ${to[i] / movedKeys}`).toBeLessThan(0.03);
    expect(assignment(lb, keys)).toEqual(before); // usable again: every key is back
  });

  it('with nearly every member unusable, keys still find the usable one', () => {
    const ms = makeMembers(new Array(10).fill(1), originsOf(10));
    const lb = consistentHash(ms, 'ip');
    for (const got of assignment(lb, KEYS.slice(0, 5000), (m) => m.index === 7)) expect(got).toBe(origin(7));
  });

  it.each([
    { hashOn: 'header:X-User', with: { headers: { 'x-user': 'alice' } }, same: { headers: { 'x-user': 'alice' }, clientIp: '198.51.100.99' } },
    { hashOn: 'cookie:sid', with: { headers: { cookie: 'theme=dark; sid=s3cr3t; lang=en' } }, same: { headers: { cookie: 'sid=s3cr3t' }, clientIp: '198.51.100.99' } },
    { hashOn: 'consumer', with: { consumerId: 'acme' }, same: { consumerId: 'acme', clientIp: '198.51.100.99' } },
  ])('hashOn $hashOn: the key decides, not the client address', ({ hashOn, with: w, same }) => {
    const ms = makeMembers(new Array(8).fill(1), originsOf(8));
    const lb = consistentHash(ms, hashOn);
    expect(lb.pick(ctx(same), ALL)).toBe(lb.pick(ctx(w), ALL));
    // different keys from one client spread over the members
    const seen = new Set<Member | null>();
    for (const k of KEYS.slice(0, 200)) {
      const c = hashOn.startsWith('header') ? { headers: { 'x-user': k } } : hashOn.startsWith('cookie') ? { headers: { cookie: `sid=${k}` } } : { consumerId: k };
      seen.add(lb.pick(ctx(c), ALL));
    }
    expect(seen.size).toBe(8);
  });

  it.each([
    { hashOn: 'header:x-user', missing: [{}, { headers: { 'x-user': '' } }, { headers: { 'x-other': 'alice' } }] },
    { hashOn: 'cookie:sid', missing: [{}, { headers: { cookie: '' } }, { headers: { cookie: 'sidx=1; xsid=2' } }, { headers: { cookie: 'sid=' } }, { headers: { cookie: 'a=1; sid=  ; b=2' } }] },
    { hashOn: 'consumer', missing: [{}, { consumerId: '' }] },
  ])('hashOn $hashOn: a request without the key is hashed on its client address', ({ hashOn, missing }) => {
    const ms = makeMembers(new Array(8).fill(1), originsOf(8));
    const byKey = consistentHash(ms, hashOn);
    const byIp = consistentHash(ms, 'ip');
    for (const ip of KEYS.slice(0, 300)) {
      for (const m of missing) expect(byKey.pick(ctx({ ...m, clientIp: ip }), ALL)).toBe(byIp.pick(ctx({ clientIp: ip }), ALL));
    }
  });

  it.each([
    ['sid=abc', 'sid', 'abc'],
    ['a=1; sid=abc; b=2', 'sid', 'abc'],
    ['a=1;sid=abc;b=2', 'sid', 'abc'],
    ['a=1;  \tsid=abc  ;b=2', 'sid', 'abc'],
    ['sid="quoted"', 'sid', '"quoted"'],
    ['xsid=1; sid=2', 'sid', '2'],
    ['sid=first; sid=second', 'sid', 'first'],
    ['SID=upper; sid=lower', 'sid', 'lower'], // cookie names are case-sensitive
    ['a=b=c; sid=v=w', 'sid', 'v=w'],
    ['sid', 'sid', null],
    ['sid=', 'sid', null],
    ['sidx=1', 'sid', null],
    ['a=1; b=2', 'sid', null],
    ['', 'sid', null],
  ])('cookie %j, name %s -> %j', (header, name, value) => {
    expect(cookieValueHash(header, name)).toBe(value === null ? -1 : hashString(value));
  });
});

// ---------------------------------------------------------------- p2c-ewma

describe('p2c-ewma (peak EWMA, τ = 10 s)', () => {
  function setup(weights: number[], options: P2cEwmaOptions = {}, seed = 7) {
    const ms = makeMembers(weights);
    const s = new FakeSignals(weights.map(() => 0));
    const lb = p2cEwma(ms, s, { random: new Mulberry32(seed), ...options });
    return { ms, s, lb };
  }

  it('the same seed gives the same picks', () => {
    const a = setup([1, 1, 1, 1], {}, 99);
    const b = setup([1, 1, 1, 1], {}, 99);
    expect(picks(a.lb, 200)).toBe(picks(b.lb, 200));
  });

  it('without samples or load, the two random choices spread the picks evenly', () => {
    const { lb } = setup([1, 1, 1, 1]);
    const c = counts(picks(lb, 40_000), 4);
    for (const x of c) expect(Math.abs(x / 40_000 - 0.25)).toBeLessThan(0.02);
  });

  it('sends to the cheaper of the two: latency × (inflight + 1) / weight', () => {
    const { ms, s, lb } = setup([1, 1, 2]);
    lb.report(ms[0], 'response', 200, 10_000);
    lb.report(ms[1], 'response', 200, 2_000);
    lb.report(ms[2], 'response', 200, 2_000);
    s.counts.splice(0, 3, 0, 3, 5); // costs: a 10 ms, b 2 ms x 4 = 8 ms, c 2 ms x 6 / 2 = 6 ms
    expect(lb.cost(ms[0])).toBeCloseTo(10_000);
    expect(lb.cost(ms[1])).toBeCloseTo(8_000);
    expect(lb.cost(ms[2])).toBeCloseTo(6_000);
    const c = counts(picks(lb, 3000), 3);
    // c wins both its pairs (2/3 of picks), b wins against a (1/3), a never
    expect(c[0]).toBe(0);
    expect(c[2] / 3000).toBeCloseTo(2 / 3, 1);
  });

  it('the estimate: a peak is taken at once, lower samples blend in by the time since the last one, and reads decay with τ', () => {
    const { ms, s, lb } = setup([1, 1]);
    // The comparison's clock is the time of the latest outcome reported (a pick reads no clock):
    // an aborted answer on b tells the time without being a sample.
    const tick = (now: number) => {
      s.now = now;
      lb.report(ms[1], 'aborted', 0, 0);
    };
    expect(lb.estimateUs(ms[0])).toBe(1000); // neutral before any sample
    lb.report(ms[0], 'response', 200, 2000);
    expect(lb.estimateUs(ms[0])).toBe(2000);
    tick(10_000); // one τ later
    expect(lb.estimateUs(ms[0])).toBeCloseTo(2000 / Math.E, 0);
    lb.report(ms[0], 'response', 200, 50_000); // a peak: taken at once
    expect(lb.estimateUs(ms[0])).toBe(50_000);
    tick(20_000);
    expect(lb.estimateUs(ms[0])).toBeCloseTo(50_000 / Math.E, 0);
    lb.report(ms[0], 'response', 200, 2000); // lower: blended with weight 1 - e^(-Δt/τ)
    expect(lb.estimateUs(ms[0])).toBeCloseTo(50_000 / Math.E + 2000 * (1 - 1 / Math.E), 0);
    lb.report(ms[0], 'response', 200, 1000); // in the same instant: no weight at all (the average is over time, not over samples)
    expect(lb.estimateUs(ms[0])).toBeCloseTo(50_000 / Math.E + 2000 * (1 - 1 / Math.E), 0);
    // a member without samples reads at the neutral estimate: the plain EWMA (same τ) of the upstream's successful answers
    const neutral = (2000 / Math.E + 50_000 * (1 - 1 / Math.E)) / Math.E + 2000 * (1 - 1 / Math.E);
    expect(lb.estimateUs(ms[1])).toBeCloseTo(neutral, 0);
  });

  it.each([
    { name: '50 ms slower of 4', weights: [1, 1, 1, 1], latency: [2, 2, 52, 2], slow: 2, concurrency: 8 },
    { name: '50 ms slower of 4, busy', weights: [1, 1, 1, 1], latency: [2, 2, 52, 2], slow: 2, concurrency: 40 },
    { name: '50 ms slower of 6', weights: [1, 1, 1, 1, 1, 1], latency: [5, 5, 5, 5, 5, 55], slow: 5, concurrency: 12 },
  ])('$name (concurrency $concurrency): the slow member gets < 20% while slow, and its share back within 40 s of recovering', ({ name, weights, latency, slow, concurrency }) => {
    const { ms, s, lb } = setup(weights);
    const fair = 1 / weights.length;
    let recovered = Infinity;
    const lat = (i: number, now: number) => latency[i] - (i === slow && now >= recovered ? 50 : 0);
    const slowPhase = simulate(lb, ms, s, { concurrency, untilMs: 30_000, latencyMs: lat });
    note(`p2c-ewma ${name}, ${concurrency} in flight, 0-30 s (slow)`, slowPhase.counts);
    expect(share(slowPhase.counts, slow)).toBeLessThan(0.2);
    expect(share(slowPhase.counts, slow)).toBeLessThan(fair / 2);
    recovered = 30_000;
    simulate(lb, ms, s, { concurrency, untilMs: 70_000, latencyMs: lat, state: slowPhase.state }); // catching up
    const after = simulate(lb, ms, s, { concurrency, untilMs: 90_000, latencyMs: lat, state: slowPhase.state });
    note(`p2c-ewma ${name}, ${concurrency} in flight, 70-90 s (recovered at 30 s)`, after.counts);
    expect(share(after.counts, slow)).toBeGreaterThan(fair * 0.75);
  });

  it('a member that fails fast (connection refused) is penalized and gets almost nothing; without the penalty it would draw most traffic', () => {
    const latency = [3, 3, 3, 0.2];
    const failing = (i: number) => (i === 3 ? 'connect-failure' : 'response') as OutcomeKind;
    const run = (options: P2cEwmaOptions) => {
      const { ms, s, lb } = setup([1, 1, 1, 1], options);
      // warm up healthy, then member d starts refusing
      const warm = simulate(lb, ms, s, { concurrency: 8, untilMs: 5_000, latencyMs: (i) => latency[i] });
      return simulate(lb, ms, s, { concurrency: 8, untilMs: 35_000, latencyMs: (i) => latency[i], outcome: failing, state: warm.state }).counts;
    };
    const penalized = run({});
    note('p2c-ewma, d refuses connections (0.2 ms), 5-35 s, penalty on', penalized);
    expect(share(penalized, 3)).toBeLessThan(0.01);
    const unpenalized = run({ failurePenaltyUs: 0, failurePenaltyFactor: 0 });
    note('p2c-ewma, d refuses connections (0.2 ms), 5-35 s, penalty off', unpenalized);
    expect(share(unpenalized, 3)).toBeGreaterThan(0.4); // it wins every pair it is drawn into: about 2/N
  });

  it.each([
    ['timeout', 200, 15_000_000],
    ['reset', 200, 1000],
    ['protocol', 200, 1000],
    ['response', 503, 1000],
    ['response', 500, 1000],
  ] as Array<[OutcomeKind, number, number]>)('%s (status %i) counts as a failure: at least 1 s and 10x the neutral latency', (kind, status, us) => {
    const { ms, lb } = setup([1, 1]);
    lb.report(ms[1], 'response', 200, 2000);
    lb.report(ms[0], kind, kind === 'response' ? status : 0, us);
    expect(lb.estimateUs(ms[0])).toBe(Math.max(us, 1_000_000));
  });

  it('answers the gateway aborted (client gone) are ignored; 4xx answers are ordinary samples', () => {
    const { ms, lb } = setup([1, 1]);
    lb.report(ms[0], 'aborted', 0, 1);
    expect(lb.estimateUs(ms[0])).toBe(1000);
    lb.report(ms[0], 'response', 404, 3000);
    expect(lb.estimateUs(ms[0])).toBe(3000);
  });

  it('a new member (no sample yet) gets traffic at once at the neutral cost', () => {
    const { ms, s, lb } = setup([1, 1, 1, 1]);
    const latency = (i: number) => (i === 3 ? 2 : 3);
    const warm = simulate(lb, ms, s, { concurrency: 8, untilMs: 10_000, latencyMs: latency, usable: (m) => m.index !== 3 });
    expect(warm.counts[3]).toBe(0);
    const first = simulate(lb, ms, s, { concurrency: 8, untilMs: 11_000, latencyMs: latency, state: warm.state });
    expect(share(first.counts, 3)).toBeGreaterThan(0.2);
  });

  it('weights divide the cost: at equal latency a weight-3 member carries more', () => {
    const { ms, s, lb } = setup([3, 1, 1, 1]);
    const c = simulate(lb, ms, s, { concurrency: 16, untilMs: 10_000, latencyMs: () => 5 }).counts;
    note('p2c-ewma, weights 3,1,1,1, 5 ms, 16 in flight', c);
    expect(share(c, 0)).toBeGreaterThan(0.4);
    for (let i = 1; i < 4; i++) expect(share(c, i)).toBeLessThan(0.22);
  });
});
