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
}

/** What load-aware balancers read: in-flight requests per member (this worker's, or machine-wide from shared memory later), and a clock. */
export interface LoadSignals {
  inflight(m: Member): number;
  nowMs(): number;
}

/**
 * The signals of one worker: its own in-flight count per endpoint (kept by the proxy) and the
 * monotonic clock. The machine-wide counts from shared memory will be another LoadSignals.
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

export class Cluster {
  /** The context of the pick in progress (picks are synchronous), read by the hoisted predicate. */
  #ctx: PickContext | null = null;
  /** Created once: no closure per pick. */
  readonly #usable = (m: Member): boolean => {
    const ctx = this.#ctx!;
    return ctx.attempt === 0 || !ctx.shouldSkip(m.endpoint);
  };
  /** For report(): the proxy knows the endpoint, balancers want the member. */
  readonly #byEndpoint = new Map<Endpoint, Member>();

  constructor(
    readonly name: string,
    readonly members: readonly Member[],
    readonly balancer: LoadBalancer,
  ) {
    for (const m of members) if (!this.#byEndpoint.has(m.endpoint)) this.#byEndpoint.set(m.endpoint, m);
  }

  /** The endpoint for this attempt, or null (503 no_healthy_upstream). */
  pick(ctx: PickContext): Endpoint | null {
    this.#ctx = ctx;
    const m = this.balancer.pick(ctx, this.#usable);
    this.#ctx = null;
    return m === null ? null : m.endpoint;
  }

  /** One attempt's outcome: `status` for responses (else 0), `latencyUs` from dispatch to the response head (or to the failure). */
  report(ep: Endpoint, kind: OutcomeKind, status: number, latencyUs: number): void {
    const c = ep.counters;
    switch (kind) {
      case 'response': c.responses++; break;
      case 'connect-failure': c.connectFailures++; break;
      case 'reset': c.resets++; break;
      case 'timeout': c.timeouts++; break;
      case 'protocol': c.protocolErrors++; break;
      case 'aborted': c.aborted++; break;
    }
    const b = this.balancer;
    if (b.report !== undefined) {
      const m = this.#byEndpoint.get(ep);
      if (m !== undefined) b.report(m, kind, status, latencyUs);
    }
  }
}
