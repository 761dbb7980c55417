/**
 * Retries (CONFIG.md `retries`): which failures may be tried again, and the budget that keeps a
 * failing upstream from being hammered by a retry storm (Envoy's retry budget, the Gateway API's
 * retry-budget GEP).
 *
 * Rules the proxy applies with this policy:
 *   - only the listed conditions: "connect-failure", "reset" (the connection was lost before the
 *     response head), "timeout" (responseHeadersMs), or a listed 5xx status;
 *   - idempotent methods only unless idempotentOnly is false; a connect failure is always safe
 *     (the request never reached the upstream);
 *   - never once any response byte reached the client: a retryable status is caught at the head,
 *     before anything is written;
 *   - only when the request body can be sent again (it was read whole: requestBuffering);
 *   - each retry to another target when there is one;
 *   - within the route's deadline (timeoutMs covers every attempt);
 *   - within the budget: over the last 10 s, retries may add at most budgetPercent of the
 *     upstream's first attempts in this worker, and at least 3 retries per 10 s are always allowed.
 * Separate from all this, a request that failed on a reused keep-alive connection before any
 * response byte is sent once more on a fresh connection, whatever its method and whether retries
 * are configured: the upstream closed that connection while idle, the request was not processed
 * (see KEEPALIVE_RETRY in actions/proxy.ts).
 */
import type { UpstreamFailure } from './dispatch.js';
import { counter } from '../observability/metrics.js';

/** Counted by every caller that retries (the proxy, aggregate backends). */
export const retriesTotal = counter('gateway_upstream_retries_total', 'Upstream attempts sent again, by upstream and reason.', ['upstream', 'reason']);
export const budgetRefused = counter('gateway_upstream_retry_budget_exhausted_total', 'Retries not made because the retry budget was spent, by upstream.', ['upstream']);

export interface RetrySettings {
  readonly attempts: number;
  readonly on: readonly string[];
  readonly idempotentOnly: boolean;
  readonly budgetPercent: number;
}

/** RFC 9110 §9.2.2 idempotent methods. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

const WINDOW_MS = 10_000;
const BUCKETS = 10;
const MIN_RETRIES_PER_WINDOW = 3;

/** Counts first attempts and retries of one upstream in one worker over a sliding 10 s window. */
export class RetryBudget {
  private readonly firsts = new Uint32Array(BUCKETS);
  private readonly retries = new Uint32Array(BUCKETS);
  private bucketStart = 0;
  private bucket = 0;
  /** Retries refused by the budget, for metrics. */
  refused = 0;

  constructor(private readonly percent: number) {}

  firstAttempt(now: number): void {
    this.advance(now);
    this.firsts[this.bucket]++;
  }

  /** Takes one retry from the budget if it allows one now. */
  tryRetry(now: number): boolean {
    this.advance(now);
    let firsts = 0;
    let retries = 0;
    for (let i = 0; i < BUCKETS; i++) {
      firsts += this.firsts[i];
      retries += this.retries[i];
    }
    const allowed = Math.max(MIN_RETRIES_PER_WINDOW, Math.floor((firsts * this.percent) / 100));
    if (retries >= allowed) {
      this.refused++;
      return false;
    }
    this.retries[this.bucket]++;
    return true;
  }

  private advance(now: number): void {
    const width = WINDOW_MS / BUCKETS;
    if (this.bucketStart === 0) this.bucketStart = now;
    let steps = Math.floor((now - this.bucketStart) / width);
    if (steps <= 0) return;
    if (steps >= BUCKETS) {
      this.firsts.fill(0);
      this.retries.fill(0);
      this.bucketStart = now;
      this.bucket = 0;
      return;
    }
    this.bucketStart += steps * width;
    while (steps-- > 0) {
      this.bucket = (this.bucket + 1) % BUCKETS;
      this.firsts[this.bucket] = 0;
      this.retries[this.bucket] = 0;
    }
  }
}

/** Why an attempt might be retried, as the `reason` label of gateway_upstream_retries_total. */
export type RetryReason = 'connect-failure' | 'reset' | 'timeout' | '500' | '502' | '503' | '504' | 'keepalive';

export class RetryPolicy {
  private readonly onConnect: boolean;
  private readonly onReset: boolean;
  private readonly onTimeout: boolean;
  private readonly statuses: ReadonlySet<number>;
  readonly budget: RetryBudget;

  constructor(readonly settings: RetrySettings) {
    this.onConnect = settings.on.includes('connect-failure');
    this.onReset = settings.on.includes('reset');
    this.onTimeout = settings.on.includes('timeout');
    this.statuses = new Set(settings.on.filter((c) => /^\d{3}$/.test(c)).map(Number));
    this.budget = new RetryBudget(settings.budgetPercent);
  }

  /** The reason a failed attempt of `method` may be retried, or null (conditions and method only). */
  failureReason(err: UpstreamFailure, method: string): RetryReason | null {
    switch (err.kind) {
      case 'connect':
        return this.onConnect ? 'connect-failure' : null; // never reached the upstream: any method
      case 'reset':
        return this.onReset && this.methodOk(method) ? 'reset' : null;
      case 'timeout':
        // A wait for a connection that ran out is not the upstream's answer being late.
        return this.onTimeout && !err.waitedForConnection && this.methodOk(method) ? 'timeout' : null;
      default:
        return null;
    }
  }

  /** The reason an answer with `status` may be retried (caught before anything is written), or null. */
  statusReason(status: number, method: string): RetryReason | null {
    if (!this.statuses.has(status) || !this.methodOk(method)) return null;
    return String(status) as RetryReason;
  }

  private methodOk(method: string): boolean {
    return !this.settings.idempotentOnly || IDEMPOTENT.has(method);
  }
}
