/**
 * Keep-alive connection pools to upstream targets, one undici Pool per target per worker.
 *
 * Pools outlive a config reload: a reload that keeps a target with the same pool settings gets
 * the same Pool (and its open connections); pools no config uses any more are closed
 * gracefully (in-flight requests finish first). This is what lets SIGHUP swap configs without
 * dropping requests or churning upstream connections.
 */
import { Pool } from 'undici';

export interface PoolSettings {
  connections: number;
  connectMs: number;
  idleMs: number;
}

export interface TargetPool {
  readonly key: string;
  readonly origin: string;
  readonly pool: Pool;
  /** Requests dispatched and not yet finished, for drain and least-connections. */
  inflight: number;
}

export class PoolRegistry {
  #pools = new Map<string, TargetPool>();

  /** The pool for `origin` with these settings, reusing the existing one when nothing changed. */
  acquire(origin: string, settings: PoolSettings): TargetPool {
    const key = JSON.stringify([origin, settings.connections, settings.connectMs, settings.idleMs]);
    let entry = this.#pools.get(key);
    if (entry === undefined) {
      const pool = new Pool(origin, {
        connections: settings.connections,
        pipelining: 1,
        keepAliveTimeout: settings.idleMs,
        keepAliveMaxTimeout: Math.max(settings.idleMs, 1000),
        connect: { timeout: settings.connectMs },
        // Per-request headers/body timeouts are set on each dispatch from the route.
      });
      entry = { key, origin, pool, inflight: 0 };
      this.#pools.set(key, entry);
    }
    return entry;
  }

  /** Closes (gracefully) every pool whose key is not in `keep`. */
  retainOnly(keep: Set<string>): void {
    for (const [key, entry] of this.#pools) {
      if (!keep.has(key)) {
        this.#pools.delete(key);
        entry.pool.close().catch(() => entry.pool.destroy());
      }
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.allSettled(all.map((e) => e.pool.close()));
  }

  get size(): number {
    return this.#pools.size;
  }
}
