/**
 * A cluster is what a config's upstream becomes at run time: its members (an endpoint and the
 * target's weight), a load balancer over them, and the one place every attempt's outcome is
 * reported to. The proxy asks `pick(ctx)` for an endpoint and calls `report(...)` once per
 * attempt; health, breaking, retry budgets and latency-aware balancing plug in here without the
 * proxy changing.
 *
 * The split of work: the Cluster decides which members may take this attempt (the `usable`
 * predicate: today the retry skip; the resilience work adds health and the breaker), the
 * balancer decides which of those gets it. Balancers never look at health themselves.
 */
import type { Endpoint } from './endpoint.js';
import type { BreakerSettings } from './breaker.js';
import type { RetryPolicy } from './retry.js';
import { UNHEALTHY, sharedNowMs, sharedTimeOf, type SharedEndpointState } from '../native/shared-state.js';
import { log } from '../observability/log.js';
import { performance } from 'node:perf_hooks';

/** What a balancer may look at about the request (the Transaction implements it: no allocation per pick). */
export interface PickContext {
  readonly clientIp: string;
  /** The authenticated consumer's id, or null. */
  readonly consumerId: string | null;
  /** A request header (lower-case name) as the client sent it, or undefined. */
  header(name: string): string | undefined;
  /** 0 for the first attempt, 1 for the first retry, ... */
  readonly attempt: number;
  /** True for an endpoint this request must not use again (e.g. the one a retry is moving away from). */
  shouldSkip(ep: Endpoint): boolean;
}

export interface Member {
  readonly endpoint: Endpoint;
  readonly weight: number;
  /** Position in the cluster's member list (0..n-1): balancers keep per-member state in typed arrays by it. */
  readonly index: number;
}

export interface LoadBalancer {
  /** A member for this attempt among those `usable` says yes to (health, breaker, retry skip decided by the Cluster), or null. */
  pick(ctx: PickContext, usable: (m: Member) => boolean): Member | null;
  /** Every attempt's outcome, for balancers that learn (p2c-ewma); optional. */
  report?(m: Member, kind: OutcomeKind, status: number, latencyUs: number): void;
  /** A learning balancer's latency estimate of a member in µs (for /upstreams), optional. */
  estimateUs?(m: Member): number;
}

/** What load-aware balancers read: in-flight requests per member (this worker's, or machine-wide from shared memory: clusterSignals), and a clock. */
export interface LoadSignals {
  inflight(m: Member): number;
  nowMs(): number;
}

/**
 * The signals of one worker: its own in-flight count per endpoint (kept by the proxy) and the
 * monotonic clock. The machine-wide counts from shared memory are another LoadSignals (clusterSignals).
 */
export const workerSignals: LoadSignals = {
  inflight: (m) => m.endpoint.inflight,
  nowMs: () => performance.now(),
};

/**
 * How an attempt ended. Passed as plain arguments to report() rather than an object, so that the
 * success path allocates nothing.
 */
export type OutcomeKind = 'response' | 'connect-failure' | 'reset' | 'timeout' | 'protocol' | 'aborted';

/** Why pick() found no endpoint. */
export type NoPick = 'empty' | 'unhealthy' | 'open' | 'skipped';

/** What an upstream's resilience settings become in a worker (all optional: absent features are off). */
export interface ClusterResilience {
  /** Machine-wide state (active health, ejection, in-flight), or null (dry runs, tests). */
  readonly shared: SharedEndpointState | null;
  /** This worker's column in the shared state. */
  readonly worker: number;
  /** Active checks run for this upstream: their verdict (in shared memory) counts. */
  readonly activeHealth: boolean;
  readonly passive: { readonly consecutiveFailures: number; readonly ejectMs: number } | null;
  readonly breaker: BreakerSettings | null;
  /** circuitBreaker.maxPendingPerWorker, Infinity without a breaker. */
  readonly maxPending: number;
  readonly retry: RetryPolicy | null;
}

export const NO_RESILIENCE: ClusterResilience = {
  shared: null, worker: 0, activeHealth: false, passive: null, breaker: null, maxPending: Infinity, retry: null,
};

/** In-flight counts for load-aware balancers: machine-wide from shared memory where there is a slot. */
export function clusterSignals(shared: SharedEndpointState | null): LoadSignals {
  if (shared === null) return workerSignals;
  return {
    inflight: (m) => (m.endpoint.slot >= 0 ? shared.inflight(m.endpoint.slot) : m.endpoint.inflight),
    nowMs: () => performance.now(),
  };
}

export class Cluster {
  /** The context of the pick in progress (picks are synchronous), read by the hoisted predicate. */
  #ctx: PickContext | null = null;
  #now = 0;
  /** Requests this worker has in flight to the upstream, waiting for a connection included. */
  inflight = 0;
  /** Why the last pick() returned null. */
  noPick: NoPick = 'empty';
  readonly #checkTime: boolean;
  /** Created once: no closure per pick. */
  readonly #usable = (m: Member): boolean => {
    const ctx = this.#ctx!;
    const ep = m.endpoint;
    if (ctx.attempt !== 0 && ctx.shouldSkip(ep)) return false;
    return this.#available(ep, this.#now);
  };
  /** For report(): the proxy knows the endpoint, balancers want the member. */
  readonly #byEndpoint = new Map<Endpoint, Member>();

  constructor(
    readonly name: string,
    readonly members: readonly Member[],
    readonly balancer: LoadBalancer,
    readonly resilience: ClusterResilience = NO_RESILIENCE,
  ) {
    for (const m of members) if (!this.#byEndpoint.has(m.endpoint)) this.#byEndpoint.set(m.endpoint, m);
    this.#checkTime = resilience.passive !== null || resilience.breaker !== null;
  }

  /** Whether `ep` may take a request now, health, ejection and breaker considered (not the retry skip). */
  #available(ep: Endpoint, now: number): boolean {
    const r = this.resilience;
    const shared = r.shared;
    if (r.activeHealth && shared !== null && ep.slot >= 0 && shared.health(ep.slot) === UNHEALTHY) return false;
    if (r.passive !== null && this.#ejectedUntil(ep) > now) return false;
    if (ep.breaker !== null && !ep.breaker.wouldAllow(now)) return false;
    return true;
  }

  #ejectedUntil(ep: Endpoint): number {
    const shared = this.resilience.shared;
    return shared !== null && ep.slot >= 0 ? shared.ejectedUntil(ep.slot) : ep.localEjectedUntil;
  }

  /** The endpoint for this attempt, or null (see noPick for why). `perfNow`: the caller's performance.now(), if it has one. */
  pick(ctx: PickContext, perfNow?: number): Endpoint | null {
    this.#ctx = ctx;
    if (this.#checkTime) this.#now = perfNow !== undefined ? sharedTimeOf(perfNow) : sharedNowMs();
    const m = this.balancer.pick(ctx, this.#usable);
    this.#ctx = null;
    if (m === null) {
      this.noPick = this.#whyNone(ctx);
      return null;
    }
    // A half-open breaker lets exactly one request through: this one takes it.
    m.endpoint.breaker?.allows(this.#now);
    return m.endpoint;
  }

  #whyNone(ctx: PickContext): NoPick {
    if (this.members.length === 0) return 'empty';
    const now = this.#now;
    let open = 0;
    let skipped = 0;
    for (const m of this.members) {
      const ep = m.endpoint;
      if (ctx.attempt !== 0 && ctx.shouldSkip(ep) && this.#available(ep, now)) skipped++;
      else if (ep.breaker !== null && !ep.breaker.wouldAllow(now)) open++;
    }
    if (skipped > 0) return 'skipped';
    return open === this.members.length ? 'open' : 'unhealthy';
  }

  /** maxPendingPerWorker reached: the request is refused at once. */
  get busy(): boolean {
    return this.inflight >= this.resilience.maxPending;
  }

  /** An attempt goes to `ep` (counted in this worker, the cluster and machine-wide). */
  begin(ep: Endpoint): void {
    ep.inflight++;
    this.inflight++;
    const shared = this.resilience.shared;
    if (shared !== null && ep.slot >= 0) shared.acquire(ep.slot, this.resilience.worker);
  }

  /**
   * The attempt to `ep` ended: `status` for responses (else 0), `latencyUs` from dispatch to the
   * response head (or to the failure). Feeds the counters, the breaker, outlier detection and the
   * balancer.
   */
  end(ep: Endpoint, kind: OutcomeKind, status: number, latencyUs: number, perfNow?: number): void {
    ep.inflight--;
    this.inflight--;
    const r = this.resilience;
    if (r.shared !== null && ep.slot >= 0) r.shared.release(ep.slot, r.worker);
    this.report(ep, kind, status, latencyUs, perfNow);
  }

  /** Counts, breaker, outlier detection and balancer learning for one outcome (end() calls it). */
  report(ep: Endpoint, kind: OutcomeKind, status: number, latencyUs: number, perfNow?: number): void {
    const c = ep.counters;
    switch (kind) {
      case 'response': c.responses++; break;
      case 'connect-failure': c.connectFailures++; break;
      case 'reset': c.resets++; break;
      case 'timeout': c.timeouts++; break;
      case 'protocol': c.protocolErrors++; break;
      case 'aborted': c.aborted++; break;
    }
    if (kind !== 'aborted') {
      // CONFIG.md: a failure is a connect failure, a reset, a timeout or a 5xx (a 4xx is the client's).
      const failed = kind !== 'response' || status >= 500;
      if (ep.breaker !== null) ep.breaker.record(failed, perfNow !== undefined ? sharedTimeOf(perfNow) : sharedNowMs());
      if (this.resilience.passive !== null) this.#passive(ep, failed);
    }
    const b = this.balancer;
    if (b.report !== undefined) {
      const m = this.#byEndpoint.get(ep);
      if (m !== undefined) {
        b.report(m, kind, status, latencyUs);
        if (b.estimateUs !== undefined) ep.ewmaMs = b.estimateUs(m) / 1000;
      }
    }
  }

  /** Outlier detection: `consecutiveFailures` failures in a row eject the target for `ejectMs`, machine-wide. */
  #passive(ep: Endpoint, failed: boolean): void {
    if (!failed) {
      ep.consecutiveFailures = 0;
      return;
    }
    const p = this.resilience.passive!;
    if (++ep.consecutiveFailures < p.consecutiveFailures) return;
    ep.consecutiveFailures = 0;
    const now = sharedNowMs();
    if (this.#ejectedUntil(ep) > now) return;
    // Never eject the last target that can serve: one slow or failing app must not turn into a
    // window of 503s for everyone (the Caddy failure mode). Active health still decides alone.
    let others = 0;
    for (const m of this.members) if (m.endpoint !== ep && this.#available(m.endpoint, now)) others++;
    if (others === 0) {
      log('warn', 'outlier detection would eject the last available target of the upstream; keeping it', { upstream: this.name, target: ep.origin });
      return;
    }
    const until = now + p.ejectMs;
    const shared = this.resilience.shared;
    if (shared !== null && ep.slot >= 0) shared.eject(ep.slot, until);
    ep.localEjectedUntil = until;
    ep.counters.ejections++;
    log('warn', 'upstream target ejected after consecutive failures', { upstream: this.name, target: ep.origin, ejectMs: p.ejectMs, failures: p.consecutiveFailures });
  }

  /** health of a member as /upstreams shows it. */
  healthOf(ep: Endpoint): 'healthy' | 'unhealthy' | 'ejected' {
    const shared = this.resilience.shared;
    if (this.resilience.activeHealth && shared !== null && ep.slot >= 0 && shared.health(ep.slot) === UNHEALTHY) return 'unhealthy';
    return this.#ejectedUntil(ep) > sharedNowMs() ? 'ejected' : 'healthy';
  }
}
