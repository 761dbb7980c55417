/**
 * Differential fuzzing of the response parser: the native engine against the reference (the
 * oracle) on generated connections' byte streams (test/native/http-response-gen.ts: valid ones and
 * ones mutated at random byte positions) and on the regression corpus. Each input is fed cut at
 * every byte boundary and byte by byte (inputs over 256 bytes: many random cuts), and for every
 * cut plan the two engines must report identical callback streams (same body slices, same error
 * code and position); the native stream must also not depend on the cuts.
 *
 * Reproduce a failure with HTTP_PARSER_FUZZ_SEED=<seed printed in the failure>;
 * HTTP_PARSER_FUZZ_CASES=<n> changes how many cases a run generates (default 2000).
 */
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/util/prng.js';
import { CORPUS } from './http-response-corpus.js';
import { genCase, type GenCase } from './http-response-gen.js';
import { feed, latin1, normalize, splitPlans, type Ev } from './http-response-parser-harness.js';

const BASE_SEED = 0x4854_5450;
const CASES = Number(process.env.HTTP_PARSER_FUZZ_CASES ?? 2000);

interface Tally {
  cases: number;
  feeds: number;
  outcomes: Record<string, number>;
}

function check(c: GenCase, where: string, tally: Tally): void {
  const bytes = latin1(c.raw);
  const opts = { kinds: c.kinds, limits: c.limits };
  const whole = normalize(feed('native', bytes, [], opts));
  const rnd = mulberry32(bytes.length + 17);
  const plans = splitPlans(bytes.length, rnd, 256);
  if (bytes.length > 256 && bytes.length <= 4000) plans.push(Array.from({ length: bytes.length - 1 }, (_, i) => i + 1));
  for (const cuts of plans) {
    const n = feed('native', bytes, cuts, opts);
    const r = feed('reference', bytes, cuts, opts);
    tally.feeds += 2;
    const plan = cuts.length > 20 ? `${cuts.length} cuts` : JSON.stringify(cuts);
    if (JSON.stringify(n) !== JSON.stringify(r)) {
      expect(n, `native vs reference, cuts ${plan}, ${where}`).toEqual(r);
    }
    const nn: Ev[] = normalize(n);
    if (JSON.stringify(nn) !== JSON.stringify(whole)) {
      expect(nn, `native, cuts ${plan} vs whole, ${where}`).toEqual(whole);
    }
  }
  const end = whole[whole.length - 1];
  const outcome = end[0] === 'end' ? String(end[1]).split('@')[0] : '?';
  tally.outcomes[outcome] = (tally.outcomes[outcome] ?? 0) + 1;
  tally.cases++;
}

describe('response parser differential fuzzing (native vs reference)', () => {
  it('agrees on the regression corpus', () => {
    const tally: Tally = { cases: 0, feeds: 0, outcomes: {} };
    for (const c of CORPUS) {
      check({ raw: c.raw, kinds: c.kinds ?? [0], limits: c.limits, mutated: false, llhttpComparable: false }, `corpus "${c.name}"`, tally);
    }
    expect(tally.cases).toBe(CORPUS.length);
  });

  // CPU-bound for tens of seconds on a loaded 2-core machine: it yields now and then so vitest's
  // worker can still answer its runner (a worker blocked for a minute is an unhandled error).
  it(`agrees on ${CASES} generated connections, valid and mutated, at every cut`, { timeout: 240_000 }, async () => {
    const only = process.env.HTTP_PARSER_FUZZ_SEED;
    const seeds = only !== undefined ? [Number(only)] : Array.from({ length: CASES }, (_, i) => (BASE_SEED + i * 0x9e3779b1) >>> 0);
    const tally: Tally = { cases: 0, feeds: 0, outcomes: {} };
    let mutated = 0;
    let bytes = 0;
    for (const [i, seed] of seeds.entries()) {
      if (i % 50 === 49) await new Promise((r) => setImmediate(r));
      const c = genCase(seed);
      if (c.mutated) mutated++;
      bytes += c.raw.length;
      const shown = c.raw.length <= 600 ? ` ${JSON.stringify(c.raw)} kinds ${JSON.stringify(c.kinds)} limits ${JSON.stringify(c.limits)}` : '';
      check(c, `seed ${seed} (rerun with HTTP_PARSER_FUZZ_SEED=${seed})${shown}`, tally);
    }
    console.log(`response parser fuzz: ${tally.cases} cases (${mutated} mutated, ${bytes} bytes), ${tally.feeds} feeds; outcomes ${JSON.stringify(tally.outcomes)}`);
    if (only === undefined) {
      // The generator must keep exercising valid streams and most error kinds.
      expect(tally.outcomes.OK ?? 0).toBeGreaterThan(CASES * 0.3);
      expect(tally.outcomes.UPGRADED ?? 0).toBeGreaterThan(0);
      expect(Object.keys(tally.outcomes).length).toBeGreaterThanOrEqual(CASES >= 2000 ? 22 : 10);
    }
  });
});
