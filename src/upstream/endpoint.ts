/**
 * Endpoints: one per upstream, target address (origin) and connection settings, per worker, kept
 * in a registry that outlives config reloads. A reload that keeps a target with the same settings
 * gets the same Endpoint, so its open connections and its health, breaker and latency state carry
 * over; endpoints no config uses any more are closed once their in-flight requests finish. This is
 * what lets SIGHUP swap configs without dropping requests or churning upstream connections.
 *
 * An endpoint belongs to one upstream (the upstream's name is part of its key): health checks,
 * outlier detection and the breaker are configured per upstream, so two upstreams naming the same
 * address judge it each by its own rules.
 */
import type { UpstreamDispatcher } from './dispatch.js';
import { NativeEndpoint } from './native.js';
import { UndiciEndpoint, type UndiciSettings } from './undici.js';
import type { CircuitBreaker } from './breaker.js';

export type EngineKind = 'native' | 'undici';

export interface EndpointSettings extends UndiciSettings {
  /** The upstream's `engine`; absent: native for http://, undici for https:// (see engineFor). */
  readonly engine?: EngineKind;
}

/** The engine an origin gets: the configured one, else native for http:// and undici for https:// (docs/upstream-engine.md). */
export function engineFor(origin: string, configured: EngineKind | undefined): EngineKind {
  if (configured !== undefined) return configured;
  return origin.startsWith('https:') ? 'undici' : 'native';
}

/** Outcome counts of one endpoint in this worker (read by metrics and /upstreams). */
export interface EndpointCounters {
  responses: number;
  connectFailures: number;
  resets: number;
  timeouts: number;
  protocolErrors: number;
  aborted: number;
  /** Times outlier detection ejected it (from this worker). */
  ejections: number;
}

export class Endpoint {
  /** Requests this worker has dispatched to it and not yet finished. */
  inflight = 0;
  readonly counters: EndpointCounters = { responses: 0, connectFailures: 0, resets: 0, timeouts: 0, protocolErrors: 0, aborted: 0, ejections: 0 };
  /** Failed attempts in a row seen by this worker (passive health). */
  consecutiveFailures = 0;
  /** Ejection deadline when there is no shared state (shared monotonic ms). */
  localEjectedUntil = 0;
  /** Its circuit breaker in this worker, when the upstream has one. */
  breaker: CircuitBreaker | null = null;
  /** The latest latency estimate a learning balancer keeps (ms), for /upstreams; NaN when none. */
  ewmaMs = NaN;

  constructor(
    readonly key: string,
    readonly upstream: string,
    /** scheme://address:port: where the connections go. */
    readonly origin: string,
    /** The Host header sent unless the route preserves the client's (the configured host:port). */
    readonly hostHeader: string,
    /** Its slot in the shared endpoint state, or -1 (no machine-wide state: dry runs, tests). */
    readonly slot: number,
    readonly dispatcher: UpstreamDispatcher,
  ) {}
}

/** The registry key of an endpoint: its upstream, origin, shared-state slot and connection settings. */
export function endpointKey(upstream: string, origin: string, slot: number, s: EndpointSettings): string {
  return JSON.stringify([upstream, origin, slot, s.keepAlive, s.maxConnections, s.connectMs, s.idleMs, s.tls?.fingerprint ?? '', engineFor(origin, s.engine)]);
}

/** What a worker reports about one endpoint (GET /upstreams, readiness, metrics). */
export interface EndpointReport {
  readonly key: string;
  readonly upstream: string;
  readonly origin: string;
  readonly connections: number;
  readonly active: number;
  readonly queued: number;
  /** Connections held by requests the gateway ended long ago: a leak, never expected. */
  readonly stuck: number;
  readonly inflight: number;
  readonly breaker: 'closed' | 'open' | 'half-open' | null;
  readonly ejectedUntil: number;
  readonly ewmaMs: number | null;
  readonly counters: EndpointCounters;
}

export class EndpointRegistry {
  readonly #endpoints = new Map<string, Endpoint>();

  /** The endpoint of `upstream` at `origin` with these settings, reusing the existing one when nothing changed. */
  acquire(upstream: string, origin: string, hostHeader: string, slot: number, settings: EndpointSettings): Endpoint {
    const key = endpointKey(upstream, origin, slot, settings);
    let ep = this.#endpoints.get(key);
    if (ep === undefined) {
      const dispatcher = engineFor(origin, settings.engine) === 'native' ? new NativeEndpoint(origin, settings) : new UndiciEndpoint(origin, settings, hostHeader);
      ep = new Endpoint(key, upstream, origin, hostHeader, slot, dispatcher);
      this.#endpoints.set(key, ep);
    }
    return ep;
  }

  get(key: string): Endpoint | undefined {
    return this.#endpoints.get(key);
  }

  /** Closes (gracefully) every endpoint whose key is not in `keep`. */
  retainOnly(keep: ReadonlySet<string>): void {
    for (const [key, ep] of this.#endpoints) {
      if (!keep.has(key)) {
        this.#endpoints.delete(key);
        void ep.dispatcher.close();
      }
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.#endpoints.values()];
    this.#endpoints.clear();
    await Promise.allSettled(all.map((e) => e.dispatcher.close()));
  }

  report(): EndpointReport[] {
    const out: EndpointReport[] = [];
    for (const ep of this.#endpoints.values()) {
      const s = ep.dispatcher.stats;
      out.push({
        key: ep.key, upstream: ep.upstream, origin: ep.origin, connections: s.connections, active: s.active, queued: s.queued,
        stuck: s.stuck, inflight: ep.inflight, breaker: ep.breaker?.state ?? null, ejectedUntil: ep.localEjectedUntil,
        ewmaMs: Number.isNaN(ep.ewmaMs) ? null : ep.ewmaMs, counters: { ...ep.counters },
      });
    }
    return out;
  }

  values(): IterableIterator<Endpoint> {
    return this.#endpoints.values();
  }

  get size(): number {
    return this.#endpoints.size;
  }
}
