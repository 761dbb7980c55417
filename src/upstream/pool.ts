/**
 * The connection pool both engines keep per endpoint per worker (native.ts, undici.ts): the
 * same rules whatever carries the bytes.
 *
 *   - a request takes an idle connection (the most recently used: warm, least likely stale), or
 *     opens one while fewer than `maxConnections` are open, or waits in the FIFO queue
 *     (wait-queue.ts), each waiter bounded by its own headers deadline;
 *   - a `fresh` request (the keep-alive retry) opens a new connection when it may;
 *   - a freed connection goes to the first live waiter (its request starts a microtask later: the
 *     pool is inside the completion of the connection's previous request), else back to the idle
 *     list; beyond `keepAlive` idle connections it closes after SURPLUS_IDLE unused;
 *   - a connection that closes leaves the pool, and a waiter it would have served gets a new one.
 *
 * An engine supplies the connection object (`create`, `connectNew`), how it tells a closed one
 * (`isClosed`), how it closes one (`retire`), and its own `close()`.
 */
import type { DispatcherStats, UpstreamDispatcher, UpstreamHandler, UpstreamRequest } from './dispatch.js';
import { UpstreamFailure } from './dispatch.js';
import { arm, cancel, timerList, type TimerNode } from '../util/timer-lists.js';
import { WaitQueue, type QueuedConnection } from './wait-queue.js';
import { performance } from 'node:perf_hooks';

/** How long a connection beyond the keep-alive pool size stays open idle. */
export const SURPLUS_IDLE = timerList(2000);
/** How long an aborted request may hold its connection before it counts as stuck (/readyz). */
export const STUCK_AFTER_MS = 5000;

/** What the pool needs of an engine's connection. */
export interface PoolConnection extends TimerNode, QueuedConnection {
  /** A request runs on it, or one is about to (reserved). */
  readonly busy: boolean;
  /** When the request on it was aborted (0: not aborted). */
  readonly abortedAt: number;
  /** Handed to a waiter whose request starts in a microtask. */
  reserved: boolean;
  start(req: UpstreamRequest, handler: UpstreamHandler, headersTimeoutMs: number): void;
}

export interface PoolLimits {
  /** Idle connections kept open (connectionsPerWorker). */
  readonly keepAlive: number;
  /** Connections open at once, busy ones included. */
  readonly maxConnections: number;
}

function noop(): void {}

export abstract class ConnectionPool<C extends PoolConnection> implements UpstreamDispatcher {
  protected readonly conns: C[] = [];
  protected readonly idle: C[] = [];
  protected readonly queue = new WaitQueue<C>();
  protected closing = false;
  /** Connected connections (the engine counts them as sockets come and go). */
  connections = 0;
  /** Requests running on a connection. */
  active = 0;

  abstract readonly origin: string;

  constructor(private readonly limits: PoolLimits) {}

  /** A new connection object (not in the pool yet). */
  protected abstract create(): C;
  /** Starts connecting a connection that has just joined the pool (may fail it synchronously). */
  protected abstract connectNew(conn: C): void;
  /** The connection cannot carry another request. */
  protected abstract isClosed(conn: C): boolean;
  /** Closes a connection that has left the pool (a no-op when it is closed already). */
  protected abstract retire(conn: C): void;
  /** The last connection of a closing pool is gone. */
  protected onEmpty(): void {}

  abstract close(): Promise<void>;

  dispatch(req: UpstreamRequest, handler: UpstreamHandler): void {
    if (this.closing) {
      handler.onConnect(noop);
      handler.onError(new UpstreamFailure('aborted', 'the upstream endpoint is closing', 'CLOSING'));
      return;
    }
    // A fresh connection when asked for (and one can be opened): idle ones may be stale.
    let conn = req.fresh === true && this.conns.length < this.limits.maxConnections ? undefined : this.idle.pop();
    if (conn !== undefined) cancel(conn);
    if (conn === undefined && this.conns.length < this.limits.maxConnections) conn = this.openNew();
    if (conn !== undefined) {
      handler.onConnect(conn.abort);
      conn.start(req, handler, req.headersTimeoutMs);
      return;
    }
    this.queue.add(req, handler);
  }

  private openNew(): C {
    const conn = this.create();
    this.conns.push(conn); // before connecting: a synchronous failure finds it in the pool
    this.connectNew(conn);
    return conn;
  }

  /** A connection finished its request: the next waiter gets it, or it goes idle (or closes). */
  onFree(conn: C): void {
    if (this.isClosed(conn)) return this.drop(conn);
    const w = this.queue.take(conn);
    if (w !== null) {
      const left = w.timeLeft();
      // Started after the current callback: we are inside the completion of `conn`'s request.
      conn.reserved = true;
      queueMicrotask(() => {
        conn.reserved = false;
        if (w.done) return this.onFree(conn); // aborted in between
        if (this.isClosed(conn)) {
          // It went away in between: the waiter goes back to the front of the queue.
          this.queue.putBack(w);
          if (this.closing) w.abort(new Error('shutting down'));
          return this.drop(conn);
        }
        w.started = true;
        conn.start(w.req, w.handler, left);
      });
      return;
    }
    if (this.closing) return this.drop(conn);
    // Beyond the keep-alive pool size a connection stays a short while (a burst that needs it
    // again reuses it instead of churning), then closes.
    if (this.idle.length >= this.limits.keepAlive) arm(SURPLUS_IDLE, conn);
    this.idle.push(conn);
  }

  /** A surplus idle connection was not needed again for a while (its SURPLUS_IDLE timer). */
  expireSurplus(conn: C): void {
    if (this.idle.length <= this.limits.keepAlive) return;
    if (this.idle.indexOf(conn) === -1) return;
    this.drop(conn);
  }

  /** The connection leaves the pool (and is closed); a waiter it would have served gets a new one. */
  drop(conn: C): void {
    cancel(conn);
    const i = this.conns.indexOf(conn);
    if (i === -1) return;
    this.conns.splice(i, 1);
    const j = this.idle.indexOf(conn);
    if (j !== -1) this.idle.splice(j, 1);
    this.retire(conn);
    if (this.closing) {
      if (this.conns.length === 0) this.onEmpty();
      return;
    }
    if (this.queue.pending && this.conns.length < this.limits.maxConnections) this.onFree(this.openNew());
  }

  get stats(): DispatcherStats {
    const now = performance.now();
    let stuck = 0;
    for (const c of this.conns) if (c.busy && c.abortedAt !== 0 && now - c.abortedAt > STUCK_AFTER_MS) stuck++;
    return { connections: this.connections, active: this.active, queued: this.queue.queued, stuck };
  }
}
