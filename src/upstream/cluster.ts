/**
 * A cluster is what a config's upstream becomes at run time: its members (an endpoint and the
 * target's weight), a load balancer over them, and the one place every attempt's outcome is
 * reported to. The proxy asks `pick(ctx)` for an endpoint and calls `report(...)` once per
 * attempt; health, breaking, retry budgets and latency-aware balancing plug in here without the
 * proxy changing.
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
}

export interface LoadBalancer {
  /** A member to send to, or null when none can take the request. */
  pick(ctx: PickContext): Member | null;
}

/**
 * How an attempt ended. Passed as plain arguments to report() rather than an object, so that the
 * success path allocates nothing.
 */
export type OutcomeKind = 'response' | 'connect-failure' | 'reset' | 'timeout' | 'protocol' | 'aborted';

export class Cluster {
  constructor(
    readonly name: string,
    readonly members: readonly Member[],
    readonly balancer: LoadBalancer,
  ) {}

  /** The endpoint for this attempt, or null (503 no_healthy_upstream). */
  pick(ctx: PickContext): Endpoint | null {
    const m = this.balancer.pick(ctx);
    return m === null ? null : m.endpoint;
  }

  /** One attempt's outcome: `status` for responses (else 0), `latencyUs` from dispatch to response head. */
  report(ep: Endpoint, kind: OutcomeKind, status: number, latencyUs: number): void {
    void status;
    void latencyUs;
    const c = ep.counters;
    switch (kind) {
      case 'response': c.responses++; break;
      case 'connect-failure': c.connectFailures++; break;
      case 'reset': c.resets++; break;
      case 'timeout': c.timeouts++; break;
      case 'protocol': c.protocolErrors++; break;
      case 'aborted': c.aborted++; break;
    }
  }
}
