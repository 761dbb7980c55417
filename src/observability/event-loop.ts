/**
 * Event-loop delay of each worker: how late the loop runs a timer, sampled every 10 ms by
 * perf_hooks.monitorEventLoopDelay (libuv-timed, no JS per sample). A request waits at least
 * that long before uWS's callback runs, so it is the first thing to look at when latency grows
 * and the upstreams do not explain it.
 *
 * Worker: every second, the last second's p50 / p99 / max / mean / sample count (then reset).
 * Primary: per worker, the worst second since the previous scrape of /metrics, exported as the
 * summary gateway_event_loop_delay_seconds{worker, quantile} (with cumulative _sum/_count) and
 * the gauge gateway_event_loop_delay_max_seconds{worker}. Resetting at each scrape is what
 * prom-client's nodejs_eventloop_lag_* do, and with the worst second a stall between two scrapes
 * is never averaged away whatever the scrape interval. Several scrapers share the window.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** One worker's last interval, in seconds. */
export interface LoopDelaySample {
  count: number;
  sumS: number;
  p50S: number;
  p99S: number;
  maxS: number;
}

const NS = 1e-9;

// ------------------------------------------------------------------------------------ worker

export class LoopDelayMonitor {
  readonly #h: IntervalHistogram;

  constructor(resolutionMs = 10) {
    this.#h = monitorEventLoopDelay({ resolution: resolutionMs });
    this.#h.enable();
  }

  /** The interval since the previous take (or since the monitor started); resets it. */
  take(): LoopDelaySample {
    const h = this.#h;
    const count = h.count;
    const sample: LoopDelaySample =
      count === 0
        ? { count: 0, sumS: 0, p50S: 0, p99S: 0, maxS: 0 }
        : { count, sumS: h.mean * count * NS, p50S: h.percentile(50) * NS, p99S: h.percentile(99) * NS, maxS: h.max * NS };
    h.reset();
    return sample;
  }

  stop(): void {
    this.#h.disable();
  }
}

// ----------------------------------------------------------------------------------- primary

/** One worker's delay as the primary exports it. */
export class LoopDelayWindow {
  /** Cumulative since this primary started (the summary's _count and _sum). */
  count = 0;
  sumS = 0;
  /** The worst second since the previous scrape; the last reported values when none came since. */
  p50S = 0;
  p99S = 0;
  maxS = 0;
  #fresh = false;

  add(s: LoopDelaySample): void {
    this.count += s.count;
    this.sumS += s.sumS;
    if (!this.#fresh) {
      this.#fresh = true;
      this.p50S = s.p50S;
      this.p99S = s.p99S;
      this.maxS = s.maxS;
      return;
    }
    this.p50S = Math.max(this.p50S, s.p50S);
    this.p99S = Math.max(this.p99S, s.p99S);
    this.maxS = Math.max(this.maxS, s.maxS);
  }

  /** A scrape read the window: the next report starts a new one. */
  scraped(): void {
    this.#fresh = false;
  }
}
