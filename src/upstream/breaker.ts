/**
 * The circuit breaker of one target in one worker (CONFIG.md `circuitBreaker`):
 *
 *   closed     requests flow; each attempt's outcome lands in a sliding window of `windowMs`
 *              (ten buckets). Once the window holds at least `minRequests` outcomes and the failed
 *              share reaches `failureRatio`, the breaker opens.
 *   open       for `openMs` the target takes no request: the balancer passes it over, and when
 *              every target of the upstream is open the answer is 503 at once, the upstream
 *              untouched.
 *   half-open  after `openMs`, exactly one request (a probe) goes through; its success closes the
 *              breaker with a fresh window, its failure opens it for another `openMs`.
 *
 * A failure is a connect failure, a reset, a timeout or a 5xx (CONFIG.md; a 4xx is the client's
 * problem). Aborted attempts (the client left, the gateway cut it) count for nothing. The state is
 * per worker, as in Envoy and Hystrix: a worker decides from what it saw, with no IPC.
 */
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerSettings {
  readonly failureRatio: number;
  readonly minRequests: number;
  readonly windowMs: number;
  readonly openMs: number;
}

const BUCKETS = 10;

export class CircuitBreaker {
  state: BreakerState = 'closed';
  /** When an open breaker lets its probe through (open), or when the probe went out (half-open). */
  private until = 0;
  private probeInFlight = false;
  private readonly total = new Uint32Array(BUCKETS);
  private readonly failed = new Uint32Array(BUCKETS);
  private bucketStart = 0;
  private bucket = 0;
  /** Times it opened, for metrics. */
  opened = 0;

  constructor(public settings: BreakerSettings, private readonly onChange?: (from: BreakerState, to: BreakerState) => void) {}

  /** May a request go to this target now? (A half-open breaker says yes once, to its probe.) */
  allows(now: number): boolean {
    switch (this.state) {
      case 'closed':
        return true;
      case 'open':
        if (now < this.until) return false;
        this.move('half-open');
        this.probeInFlight = false;
        return this.takeProbe();
      case 'half-open':
        return this.takeProbe();
    }
  }

  /** Would it allow a request now, without taking the probe? (For "is every target open".) */
  wouldAllow(now: number): boolean {
    if (this.state === 'closed') return true;
    if (this.state === 'open') return now >= this.until;
    return !this.probeInFlight;
  }

  private takeProbe(): boolean {
    if (this.probeInFlight) return false;
    this.probeInFlight = true;
    return true;
  }

  /** One attempt's outcome (`failure` per the rule above); aborted attempts are not reported. */
  record(failure: boolean, now: number): void {
    if (this.state === 'half-open') {
      if (!this.probeInFlight) return; // an answer to a request sent before the breaker opened
      this.probeInFlight = false;
      if (failure) return this.open(now);
      this.reset(now);
      this.move('closed');
      return;
    }
    if (this.state === 'open') return;
    this.advance(now);
    this.total[this.bucket]++;
    if (failure) this.failed[this.bucket]++;
    let total = 0;
    let failed = 0;
    for (let i = 0; i < BUCKETS; i++) {
      total += this.total[i];
      failed += this.failed[i];
    }
    const s = this.settings;
    if (failure && total >= s.minRequests && failed >= s.failureRatio * total) this.open(now);
  }

  private open(now: number): void {
    this.until = now + this.settings.openMs;
    this.opened++;
    this.move('open');
  }

  private reset(now: number): void {
    this.total.fill(0);
    this.failed.fill(0);
    this.bucketStart = now;
    this.bucket = 0;
  }

  /** Moves the window so that the current bucket covers `now`, clearing the buckets passed over. */
  private advance(now: number): void {
    const width = this.settings.windowMs / BUCKETS;
    if (this.bucketStart === 0) this.bucketStart = now;
    let steps = Math.floor((now - this.bucketStart) / width);
    if (steps <= 0) return;
    if (steps >= BUCKETS) {
      this.reset(now);
      return;
    }
    this.bucketStart += steps * width;
    while (steps-- > 0) {
      this.bucket = (this.bucket + 1) % BUCKETS;
      this.total[this.bucket] = 0;
      this.failed[this.bucket] = 0;
    }
  }

  private move(to: BreakerState): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    this.onChange?.(from, to);
  }
}
