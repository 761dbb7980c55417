/**
 * mulberry32: a small, fast, seeded PRNG; good enough for fuzzing and benchmark inputs, and
 * fully determined by its seed, so a failing fuzz case is reproduced from the seed it prints.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * mulberry32 with integer draws, for hot paths: `below(n)` returns an integer in [0, n) and
 * allocates nothing. (A call that returns a fraction, like mulberry32()'s or Math.random's,
 * boxes its result on the heap in V8 whenever it is not inlined; a small integer never is.) The
 * state is kept as an int32 for the same reason. The same 32-bit outputs as mulberry32 (below()
 * uses their low 31 bits).
 */
export class Mulberry32 {
  #a: number;
  constructor(seed: number) {
    this.#a = seed | 0;
  }
  /** Uniform in [0, n) for 1 <= n < 2^31, from the low 31 bits of the output (an int32 modulo, not a float one; bias below n / 2^31). */
  below(n: number): number {
    const a = (this.#a = (this.#a + 0x6d2b79f5) | 0);
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) & 0x7fffffff) % n;
  }
}

/** What balancers draw from: integers in [0, n). */
export interface IntRandom {
  below(n: number): number;
}
