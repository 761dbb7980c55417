/**
 * Power of two choices over a latency estimate (CONFIG.md's `p2c-ewma`): two usable members are
 * drawn at random and the request goes to the one with the lower
 *
 *     cost = ewma(latency) × (inflight + 1) / weight
 *
 * The estimate is Finagle's / Linkerd's *peak* EWMA (finagle's PeakEwma, tower's PeakEwma), with
 * a time constant τ = 10 s:
 *   - a sample above the current estimate replaces it at once (a member that turns slow is
 *     avoided from its first slow answer, not after a 10 s average catches up);
 *   - a sample below it is blended in with weight 1 - e^(-Δt/τ), Δt the time since the member's
 *     previous sample: exponential decay in time, so the estimate is about the last ~10 s
 *     whatever the request rate (samples in the same instant add nothing);
 *   - when costs are compared, the estimate is read decayed by e^(-Δt/τ) since the member's last
 *     sample (as if the time without samples had been fast answers): a member avoided because it
 *     was slow is tried again once its cost has decayed below the others', about
 *     τ × ln(its estimate / the others' cost) later, and fast answers then bring it back.
 * The latency is what the proxy reports: from dispatch to the response head (or to the failure).
 *
 * New members (no sample yet) are read at a neutral estimate: the plain EWMA (same τ) of all the
 * upstream's successful answers, 1 ms before there is any. So a new member is neither shunned
 * nor flooded: it wins against slower or busier members and gets its first samples at once.
 *
 * Failures are penalized: a connect failure, reset, timeout, protocol error or 5xx answer counts
 * as a sample of max(its real latency, 1 s, 10 × the neutral latency). Peak EWMA takes it at
 * once, so a dead member (whose refusals come back in microseconds and would otherwise look like
 * the fastest member of all) loses every comparison until the penalty has decayed below the
 * others' cost (τ × ln(1 s / their cost): ~50 s against 5 ms, ~30 s against 50 ms), then gets
 * one request: a success brings it back, a failure renews the penalty. Answers the gateway
 * aborted (client gone) say nothing about the member and are ignored; 4xx answers are ordinary
 * samples.
 *
 * Weights divide the cost: at equal latency a member of weight 2 may carry twice the in-flight
 * requests of a weight-1 member before it looks as expensive. The two candidates are drawn
 * uniformly, so a member can win at most the pairs it is drawn into (2/N of the picks, with
 * N >= 3 members; with 2 members the cheaper always wins): weights beyond that share cannot be
 * honoured, round-robin and least-connections follow weights exactly.
 *
 * In-flight counts come from LoadSignals (machine-wide from shared memory where there is a slot). The clock of the
 * comparison is the time of the latest reported outcome (LoadSignals.nowMs(), read in report()):
 * a pick reads no clock, because reading one allocates in V8 (a boxed double per call), and
 * while there is traffic to decide about, outcomes keep that time within milliseconds of now.
 * Random draws are integer draws from a seeded PRNG (injectable for tests). Per-member state
 * lives in typed arrays; a pick allocates nothing.
 */
import type { LoadBalancer, LoadSignals, Member, OutcomeKind, PickContext } from '../cluster.js';
import { Mulberry32, type IntRandom } from '../../util/prng.js';

export interface P2cEwmaOptions {
  /** The random draws. Default: Mulberry32 with a random seed. */
  random?: IntRandom;
  /** The EWMA's time constant, ms (default 10,000). */
  tauMs?: number;
  /** The least a failure counts as, µs (default 1 s). */
  failurePenaltyUs?: number;
  /** A failure counts as at least this many times the neutral latency (default 10). */
  failurePenaltyFactor?: number;
  /** The neutral latency before any answer, µs (default 1 ms). */
  initialUs?: number;
}

/** Draws before falling back to a scan when candidates keep coming out unusable. */
const DRAWS = 3;

export class P2cEwma implements LoadBalancer {
  readonly #members: readonly Member[];
  readonly #n: number;
  readonly #signals: LoadSignals;
  readonly #random: IntRandom;
  readonly #tau: number;
  readonly #penaltyUs: number;
  readonly #penaltyFactor: number;
  readonly #weights: Float64Array;
  /** Per member: the estimate (µs) at its last sample, the time of that sample (ms), whether it has one. */
  readonly #ewma: Float64Array;
  readonly #stamp: Float64Array;
  readonly #sampled: Uint8Array;
  /** [neutral estimate µs, its time ms, the latest reported time ms]: in a typed array so updates store no boxed doubles. */
  readonly #shared = new Float64Array(3);
  #neutralSampled = false;

  constructor(members: readonly Member[], signals: LoadSignals, options: P2cEwmaOptions = {}) {
    this.#members = members;
    this.#n = members.length;
    this.#signals = signals;
    this.#random = options.random ?? new Mulberry32((Math.random() * 0x100000000) | 0);
    this.#tau = options.tauMs ?? 10_000;
    this.#penaltyUs = options.failurePenaltyUs ?? 1_000_000;
    this.#penaltyFactor = options.failurePenaltyFactor ?? 10;
    this.#weights = Float64Array.from(members, (m) => m.weight);
    this.#ewma = new Float64Array(this.#n);
    this.#stamp = new Float64Array(this.#n);
    this.#sampled = new Uint8Array(this.#n);
    this.#shared[0] = options.initialUs ?? 1000;
    this.#shared[2] = signals.nowMs();
  }

  pick(_ctx: PickContext, usable: (m: Member) => boolean): Member | null {
    const n = this.#n;
    const members = this.#members;
    if (n <= 1) return n === 1 && usable(members[0]) ? members[0] : null;
    const a = this.#draw(-1, usable);
    if (a === -1) return null;
    const b = this.#draw(a, usable);
    if (b === -1) return members[a];
    return members[this.#cheaper(a, b)];
  }

  report(m: Member, kind: OutcomeKind, status: number, latencyUs: number): void {
    const i = m.index;
    if (this.#members[i] !== m) return; // not one of ours
    const shared = this.#shared;
    const now = Math.max(this.#signals.nowMs(), shared[2]);
    shared[2] = now; // every outcome tells the time, even one that says nothing about the member
    if (kind === 'aborted') return;
    const tau = this.#tau;
    let sample = latencyUs > 0 ? latencyUs : 0;
    if (kind !== 'response' || status >= 500) {
      sample = Math.max(sample, this.#penaltyUs, this.#penaltyFactor * shared[0]);
    } else if (!this.#neutralSampled) {
      shared[0] = sample;
      shared[1] = now;
      this.#neutralSampled = true;
    } else {
      const w = Math.exp(-(now - shared[1]) / tau);
      shared[0] = shared[0] * w + sample * (1 - w);
      shared[1] = now;
    }
    const ewma = this.#ewma;
    if (this.#sampled[i] === 0 || sample > ewma[i]) {
      ewma[i] = sample; // the first sample, or a peak
    } else {
      const w = Math.exp(-(now - this.#stamp[i]) / tau);
      ewma[i] = ewma[i] * w + sample * (1 - w);
    }
    this.#sampled[i] = 1;
    this.#stamp[i] = now;
  }

  /** A member's estimate in µs as it is compared now (decayed), or the neutral one before its first sample (GET /upstreams' ewmaMs, tests). */
  estimateUs(m: Member): number {
    return this.#estimate(m.index);
  }

  /** Its cost now: estimate × (inflight + 1) / weight. */
  cost(m: Member): number {
    return this.#cost(m.index);
  }

  #estimate(i: number): number {
    if (this.#sampled[i] === 0) return this.#shared[0];
    const dt = this.#shared[2] - this.#stamp[i];
    return dt > 0 ? this.#ewma[i] * Math.exp(-dt / this.#tau) : this.#ewma[i];
  }

  #cost(i: number): number {
    return (this.#estimate(i) * (this.#signals.inflight(this.#members[i]) + 1)) / this.#weights[i];
  }

  /**
   * `b` if it costs less than `a`, else `a`. Written out in one function that returns an index:
   * a helper returning a cost (a double) boxes it on the heap whenever V8 does not inline it.
   */
  #cheaper(a: number, b: number): number {
    const tau = this.#tau;
    const sampled = this.#sampled;
    const stamp = this.#stamp;
    let ea: number;
    let eb: number;
    if (sampled[a] !== 0 && sampled[b] !== 0) {
      // Both decay from their own sample to the same now: the common factor e^(-now/τ) cancels,
      // and one exp of the gap between their samples is enough.
      ea = this.#ewma[a];
      eb = this.#ewma[b];
      const gap = stamp[a] - stamp[b];
      if (gap > 0) ea *= Math.exp(Math.min(gap / tau, 700)); // (no overflow to Infinity after days of silence)
      else if (gap < 0) eb *= Math.exp(Math.min(-gap / tau, 700));
    } else {
      const now = this.#shared[2];
      ea = sampled[a] === 0 ? this.#shared[0] : this.#ewma[a] * Math.exp(-(now - stamp[a]) / tau);
      eb = sampled[b] === 0 ? this.#shared[0] : this.#ewma[b] * Math.exp(-(now - stamp[b]) / tau);
    }
    const members = this.#members;
    const signals = this.#signals;
    const ca = (ea * (signals.inflight(members[a]) + 1)) / this.#weights[a];
    const cb = (eb * (signals.inflight(members[b]) + 1)) / this.#weights[b];
    return cb < ca ? b : a;
  }

  /** A usable member index other than `not`, drawn uniformly; -1 if there is none. */
  #draw(not: number, usable: (m: Member) => boolean): number {
    const n = this.#n;
    const members = this.#members;
    let i = 0;
    for (let t = 0; t < DRAWS; t++) {
      i = this.#random.below(not === -1 ? n : n - 1);
      if (not !== -1 && i >= not) i++;
      if (usable(members[i])) return i;
    }
    for (let k = 1; k < n; k++) {
      const j = i + k < n ? i + k : i + k - n;
      if (j !== not && usable(members[j])) return j;
    }
    return -1;
  }
}

export function p2cEwma(members: readonly Member[], signals: LoadSignals, options?: P2cEwmaOptions): P2cEwma {
  return new P2cEwma(members, signals, options);
}
