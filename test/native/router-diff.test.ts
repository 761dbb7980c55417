/**
 * Differential fuzzing: random route tables and lookups, the native engine against the
 * reference (the oracle). A small alphabet makes collisions (shared prefixes, same shapes,
 * static vs :param vs * at one level, several host trees) frequent. Tables mix patterns with
 * and without hosts and methods, and conditional ones (headerMatches > 0), so that lookups
 * fall back across groups and host trees. Each lookup is also played through a caller that
 * decides at random which header predicates hold: the first holding candidate (and its
 * captures) must be the first holding pattern of the reference's full precedence order.
 *
 * Reproduce a failure with ROUTER_FUZZ_SEED=<seed printed in the failure> (runs that table only);
 * ROUTER_FUZZ_TABLES=<n> changes how many tables a run builds.
 */
import { describe, expect, it } from 'vitest';
import { createRouter } from '../../src/native/router.js';
import { ReferenceRouter } from '../../src/native/reference/router.js';
import {
  MATCH_FOUND,
  MATCH_METHOD_NOT_ALLOWED,
  MATCH_NOT_FOUND,
  newMatchOutput,
  type MatchOutput,
  type RoutePattern,
  type RouterEngine,
} from '../../src/native/router-types.js';
import { mulberry32 } from '../../src/util/prng.js';

const prng = mulberry32;

class Gen {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = prng(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
}

// Small alphabets: collisions are the point.
const WORDS = ['a', 'b', 'c', 'ab', 'users', 'me', 'é', '%2F', '😀', 'a:b', 'x*'];
// Some tables use a wider alphabet, so that nodes get many static children (hashed lookups).
const WIDE = [...WORDS, ...Array.from({ length: 40 }, (_, i) => `w${i}`)];
let words = WORDS;
const PATTERN_HOSTS = ['a.test', 'b.test', 'x.a.test', '*.test', '*.a.test', '*.x.a.test', '*'];
const REQUEST_HOSTS = ['a.test', 'b.test', 'x.a.test', 'y.x.a.test', 'q.a.test', 'q.test', 'test', 'other.org', ''];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];
const REQUEST_METHODS = [...METHODS, 'HEAD', 'OPTIONS', 'get'];

type Seg = { kind: 'static'; text: string } | { kind: 'param' } | { kind: 'wild' };

function randomShape(g: Gen): Seg[] {
  const n = 1 + g.int(4);
  const segs: Seg[] = [];
  for (let i = 0; i < n; i++) {
    const r = g.next();
    if (i === n - 1 && r < 0.15) segs.push({ kind: 'wild' });
    else if (r < 0.4) segs.push({ kind: 'param' });
    else segs.push({ kind: 'static', text: g.chance(0.05) ? '' : g.pick(words) });
  }
  return segs;
}

function patternPath(segs: Seg[]): string {
  let i = 0;
  return '/' + segs.map((s) => (s.kind === 'static' ? s.text : s.kind === 'param' ? `:p${i++}` : '*')).join('/');
}

function randomList<T>(g: Gen, pool: readonly T[], max: number): T[] | null {
  if (g.chance(0.4)) return null;
  if (g.chance(0.03)) return [];
  return Array.from({ length: 1 + g.int(max) }, () => g.pick(pool));
}

interface Table {
  patterns: RoutePattern[];
  shapes: Seg[][];
}

function randomTable(g: Gen): Table {
  // Some tiny tables: there a pattern in several host trees often makes a lookup list fewer
  // candidates than its leaves hold (the native output capacity is clamped to the table size).
  const n = 1 + g.int(g.chance(0.2) ? 120 : g.chance(0.25) ? 4 : 30);
  const shapes: Seg[][] = [];
  const patterns: RoutePattern[] = [];
  for (let i = 0; i < n; i++) {
    // Reuse an earlier shape often, to pile candidates into one leaf.
    const shape = shapes.length > 0 && g.chance(0.3) ? g.pick(shapes) : randomShape(g);
    shapes.push(shape);
    const pattern: RoutePattern = {
      hosts: randomList(g, PATTERN_HOSTS, 2),
      methods: randomList(g, METHODS, 3),
      path: patternPath(shape),
      priority: g.int(5) - 2,
      headerMatches: g.chance(0.35) ? 1 + g.int(3) : 0,
    };
    if (pattern.headerMatches === 0 && g.chance(0.1)) delete (pattern as Partial<RoutePattern>).headerMatches; // undefined = 0
    patterns.push(pattern);
  }
  // Rarely, a broken pattern: both engines must reject it the same way.
  if (g.chance(0.02)) {
    const broken: unknown[] = [
      { hosts: ['A.test'], methods: null, path: '/', priority: 0 },
      { hosts: null, methods: ['get'], path: '/', priority: 0 },
      { hosts: null, methods: null, path: '/*/a', priority: 0 },
      { hosts: null, methods: null, path: '/:', priority: 0 },
      { hosts: null, methods: null, path: 'a', priority: 0 },
      { hosts: null, methods: null, path: '/', priority: 1.5 },
      { hosts: ['a.*'], methods: null, path: '/', priority: 0 },
      { hosts: null, methods: null, path: '/', priority: 0, headerMatches: -1 },
      { hosts: null, methods: null, path: '/', priority: 0, headerMatches: 0.5 },
      { hosts: null, methods: null, path: '/', priority: 0, headerMatches: '1' },
      7,
    ];
    patterns.splice(g.int(patterns.length + 1), 0, g.pick(broken) as RoutePattern);
  }
  return { patterns, shapes };
}

function randomValue(g: Gen): string {
  return g.chance(0.5) ? g.pick(words) : g.pick(words) + g.pick(words);
}

/** A path built from one of the table's shapes (a likely hit), often mutated (a likely miss). */
function randomPath(g: Gen, t: Table): string {
  if (g.chance(0.05)) return g.pick(['/', '', '*', '/a/', '//', 'a']);
  const shape = g.pick(t.shapes);
  const parts: string[] = [];
  for (const s of shape) {
    if (s.kind === 'static') parts.push(s.text);
    else if (s.kind === 'param') parts.push(randomValue(g));
    else for (let k = g.int(3); k > 0; k--) parts.push(randomValue(g));
  }
  if (shape[shape.length - 1].kind === 'wild' && parts.length < shape.length) parts.push(''); // "/x/" for "/x/*"
  const r = g.next();
  if (r < 0.1 && parts.length > 0) parts[g.int(parts.length)] = randomValue(g);
  else if (r < 0.15) parts.push(randomValue(g));
  else if (r < 0.2) parts.push('');
  else if (r < 0.25 && parts.length > 1) parts.pop();
  else if (r < 0.28 && parts.length > 0) parts[g.int(parts.length)] = '';
  return '/' + parts.join('/');
}

interface Answer {
  code: number | string; // a string: the error thrown
  candidates: number[];
  candidateParams: number[];
  params: number[];
  allow: string[];
}

function answer(r: RouterEngine, out: MatchOutput, method: string, host: string, path: string): Answer {
  const code = r.match(method, host, path, out);
  return {
    code,
    candidates: Array.from(out.candidates.subarray(0, out.candidateCount)),
    candidateParams: Array.from(out.candidateParams.subarray(0, out.candidateCount)),
    params: Array.from(out.params.subarray(0, 2 * out.paramCount)),
    allow: out.allow,
  };
}

/** The host tree where a pattern counts for a request host (for the tallies): its best key. */
function treeOf(p: RoutePattern, host: string): string {
  const hosts = p.hosts ?? [];
  if (hosts.includes(host)) return '=' + host;
  const wild = hosts
    .filter((h) => h.startsWith('*.') && host.length > h.length - 1 && host.endsWith(h.slice(1)))
    .sort((x, y) => y.length - x.length);
  return wild.length > 0 ? wild[0] : 'any';
}

/**
 * The caller's side (pickCandidate): the first candidate whose predicates hold, and its
 * captures; null if none holds.
 */
function pick(a: Answer, patterns: RoutePattern[], holds: (index: number) => boolean): { index: number; captures: number[] } | null {
  for (let i = 0; i < a.candidates.length; i++) {
    if (!holds(a.candidates[i])) continue;
    const first = a.candidateParams[i];
    const n = patterns[a.candidates[i]].path.split('/').filter((seg) => seg === '*' || seg.startsWith(':')).length;
    return { index: a.candidates[i], captures: a.params.slice(2 * first, 2 * (first + n)) };
  }
  return null;
}

function build(patterns: RoutePattern[], engine: 'native' | 'reference'): RouterEngine | string {
  try {
    return createRouter(patterns, engine);
  } catch (err) {
    return `${(err as Error).constructor.name}: ${(err as Error).message}`;
  }
}

const BASE_SEED = 0x5eed_2026;
const TABLES = Number(process.env.ROUTER_FUZZ_TABLES ?? 20000);
const LOOKUPS_PER_TABLE = 40;

describe('router differential fuzzing (native vs reference)', () => {
  // CPU-bound for tens of seconds on a loaded machine: it yields now and then so vitest's worker
  // can still answer its runner.
  it(`agrees on ${TABLES} random tables x ${LOOKUPS_PER_TABLE} lookups`, { timeout: 240_000 }, async () => {
    const only = process.env.ROUTER_FUZZ_SEED;
    const seeds = only !== undefined ? [Number(only)] : Array.from({ length: TABLES }, (_, i) => (BASE_SEED + i * 0x9e3779b1) >>> 0);
    const tally = {
      [MATCH_FOUND]: 0,
      [MATCH_NOT_FOUND]: 0,
      [MATCH_METHOD_NOT_ALLOWED]: 0,
      multi: 0,
      rejected: 0,
      groups: 0, // candidates of more than one group (fallback past conditional patterns)
      hostFallback: 0, // ...some of them from a later host tree than the first candidate's
      conditionalOnly: 0, // MATCH_FOUND without an unconditional candidate
      conditional405: 0, // ...with the 405 Allow list for when none holds
      pickedLater: 0, // the caller's pick is not the first candidate
    };
    const outN = newMatchOutput();
    const outR = newMatchOutput();
    for (const [i, seed] of seeds.entries()) {
      if (i % 500 === 499) await new Promise((r) => setImmediate(r));
      const g = new Gen(seed);
      words = g.chance(0.15) ? WIDE : WORDS;
      const t = randomTable(g);
      const native = build(t.patterns, 'native');
      const reference = build(t.patterns, 'reference');
      const json = JSON.stringify(t.patterns);
      const where = `seed ${seed} (rerun with ROUTER_FUZZ_SEED=${seed}); table of ${t.patterns.length}${json.length <= 1500 ? ' ' + json : ''}`;
      if (typeof reference === 'string' || typeof native === 'string') {
        expect(native, `construction, ${where}`).toBe(reference);
        tally.rejected++;
        continue;
      }
      for (let i = 0; i < LOOKUPS_PER_TABLE; i++) {
        const method = g.pick(REQUEST_METHODS);
        const host = g.pick(REQUEST_HOSTS);
        const path = randomPath(g, t);
        const a = answer(native, outN, method, host, path);
        const b = answer(reference, outR, method, host, path);
        if (JSON.stringify(a) !== JSON.stringify(b)) {
          expect(a, `lookup ${JSON.stringify([method, host, path])}, ${where}`).toEqual(b);
        }
        tally[b.code as 1 | 0 | -1]++;
        if (b.candidates.length > 1) tally.multi++;
        const trees = new Set(a.candidates.map((c) => treeOf(t.patterns[c], host)));
        const groups = new Set(a.candidates.map((c) => treeOf(t.patterns[c], host) + ' ' + t.patterns[c].path.replace(/:p\d+/g, ':')));
        if (groups.size > 1) tally.groups++;
        if (trees.size > 1) tally.hostFallback++;

        // Which route wins, with random header predicate outcomes: the first holding candidate
        // must be the first holding pattern of the whole precedence order, with its captures.
        const holding = new Map<number, boolean>();
        const holds = (index: number): boolean => {
          let h = holding.get(index);
          if (h === undefined) holding.set(index, (h = (t.patterns[index].headerMatches ?? 0) === 0 || g.chance(0.5)));
          return h;
        };
        const ranked = (reference as ReferenceRouter).ranked(method, host, path);
        const expected = ranked.find((m) => holds(m.index)) ?? null;
        const got = a.code === MATCH_FOUND ? pick(a, t.patterns, holds) : null;
        const want = expected && { index: expected.index, captures: expected.captures };
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          const outcomes = Object.fromEntries(holding);
          expect(got, `winner of ${JSON.stringify([method, host, path])} with predicates ${JSON.stringify(outcomes)}, ${where}`).toEqual(want);
        }
        if (got !== null && got.index !== a.candidates[0]) tally.pickedLater++;
        if (a.code === MATCH_FOUND && a.candidates.every((c) => (t.patterns[c].headerMatches ?? 0) > 0)) {
          tally.conditionalOnly++;
          if (a.allow.length > 0) tally.conditional405++;
        }

      }
    }
    if (only === undefined) {
      // The generator must keep exercising every outcome.
      const total = TABLES * LOOKUPS_PER_TABLE;
      expect(tally[MATCH_FOUND]).toBeGreaterThan(total * 0.2);
      expect(tally[MATCH_NOT_FOUND]).toBeGreaterThan(total * 0.05);
      expect(tally[MATCH_METHOD_NOT_ALLOWED]).toBeGreaterThan(total * 0.03);
      expect(tally.multi).toBeGreaterThan(total * 0.02);
      expect(tally.rejected).toBeGreaterThan(0);
      expect(tally.groups).toBeGreaterThan(total * 0.02);
      expect(tally.hostFallback).toBeGreaterThan(total * 0.005);
      expect(tally.conditionalOnly).toBeGreaterThan(total * 0.005);
      expect(tally.conditional405).toBeGreaterThan(total * 0.001);
      expect(tally.pickedLater).toBeGreaterThan(total * 0.01);
    }
    console.log(`router fuzz: ${JSON.stringify(tally)}`);
  });
});
