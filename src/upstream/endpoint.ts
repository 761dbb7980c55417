/**
 * Endpoints: one per upstream address (origin) and connection settings, per worker, kept in a
 * registry that outlives config reloads. A reload that keeps a target with the same settings gets
 * the same Endpoint, so its open connections (and, with the resilience features, its health,
 * breaker and latency state) carry over; endpoints no config uses any more are closed once their
 * in-flight requests finish. This is what lets SIGHUP swap configs without dropping requests or
 * churning upstream connections.
 */
import type { UpstreamDispatcher } from './dispatch.js';
import { NativeEndpoint } from './native.js';
import { UndiciEndpoint, type UndiciSettings } from './undici.js';

export type EngineKind = 'native' | 'undici';

export interface EndpointSettings extends UndiciSettings {
  /** The upstream's `engine`; absent: native for http://, undici for https:// (see engineFor). */
  readonly engine?: EngineKind;
}

/** The engine an origin gets: the configured one, else native for http:// and undici for https://. */
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
}

export class Endpoint {
  /** Requests this worker has dispatched to it and not yet finished. */
  inflight = 0;
  readonly counters: EndpointCounters = { responses: 0, connectFailures: 0, resets: 0, timeouts: 0, protocolErrors: 0, aborted: 0 };

  constructor(
    readonly key: string,
    /** scheme://host:port */
    readonly origin: string,
    /** The Host header sent unless the route preserves the client's. */
    readonly hostHeader: string,
    readonly dispatcher: UpstreamDispatcher,
  ) {}
}

/** What a worker reports about one endpoint (GET /upstreams, readiness). */
export interface EndpointReport {
  readonly key: string;
  readonly origin: string;
  readonly connections: number;
  readonly active: number;
  readonly queued: number;
  /** Connections held by requests the gateway ended long ago: a leak, never expected. */
  readonly stuck: number;
  readonly inflight: number;
}

/** The registry key of an endpoint: its origin and the connection settings. */
export function endpointKey(origin: string, s: EndpointSettings): string {
  return JSON.stringify([origin, s.keepAlive, s.maxConnections, s.connectMs, s.idleMs, engineFor(origin, s.engine)]);
}

export class EndpointRegistry {
  readonly #endpoints = new Map<string, Endpoint>();

  /** The endpoint for `url`'s origin with these settings, reusing the existing one when nothing changed. */
  acquire(url: URL, settings: EndpointSettings): Endpoint {
    const key = endpointKey(url.origin, settings);
    let ep = this.#endpoints.get(key);
    if (ep === undefined) {
      const dispatcher = engineFor(url.origin, settings.engine) === 'native' ? new NativeEndpoint(url.origin, settings) : new UndiciEndpoint(url.origin, settings);
      ep = new Endpoint(key, url.origin, url.host, dispatcher);
      this.#endpoints.set(key, ep);
    }
    return ep;
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
      out.push({ key: ep.key, origin: ep.origin, connections: s.connections, active: s.active, queued: s.queued, stuck: s.stuck, inflight: ep.inflight });
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
