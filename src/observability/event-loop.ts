/**
 * Event-loop delay of each worker: how late the loop runs a timer, sampled every 10 ms by
 * perf_hooks.monitorEventLoopDelay (libuv-timed, no JS per sample). A request waits at least
 * that long before uWS's callback runs, so it is the first thing to look at when latency grows
 * and the upstreams do not explain it.
 *
 * monitorEventLoopDelay records the time between two of its timer's runs, the sampling interval
 * included (an idle loop reads 10 ms at a 10 ms resolution); what is reported is what comes on
 * top of the interval, so an idle loop reads ~0 and a 200 ms stall reads ~200 ms.
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
  /** The sampling interval, ns: subtracted from what the histogram holds. */
  readonly #intervalNs: number;

  constructor(resolutionMs = 10) {
    this.#h = monitorEventLoopDelay({ resolution: resolutionMs });
    this.#intervalNs = resolutionMs * 1e6;
    this.#h.enable();
  }

  /** The interval since the previous take (or since the monitor started); resets it. */
  take(): LoopDelaySample {
    const h = this.#h;
    const count = h.count;
    const late = (ns: number) => Math.max(0, ns - this.#intervalNs) * NS;
    const sample: LoopDelaySample =
      count === 0
        ? { count: 0, sumS: 0, p50S: 0, p99S: 0, maxS: 0 }
        : { count, sumS: late(h.mean) * count, p50S: late(h.percentile(50)), p99S: late(h.percentile(99)), maxS: late(h.max) };
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
