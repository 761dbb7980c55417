/**
 * The requests an endpoint's connection pool cannot start yet, for both engines (native.ts,
 * undici.ts): a FIFO of Waiting entries, each with its headers deadline on a shared timer list,
 * aborted or timed out in place. A freed connection takes the next live one (take()); its request
 * then starts a microtask later (the pool is inside the completion of the connection's previous
 * request), so a waiter aborted in between is answered here and the pool sees it `done`.
 */
import { UpstreamFailure, type UpstreamHandler, type UpstreamRequest } from './dispatch.js';
import { arm, cancel, timerList, type TimerList, type TimerNode } from '../util/timer-lists.js';
import { performance } from 'node:perf_hooks';

/** What a waiter needs of the connection that takes it. */
export interface QueuedConnection {
  readonly abort: (reason?: Error) => void;
}

/** A request waiting for a connection. */
export class Waiting<C extends QueuedConnection> implements TimerNode {
  tnAt = 0;
  tnPrev: TimerNode | null = null;
  tnNext: TimerNode | null = null;
  tnList: TimerList | null = null;
  readonly queuedAt = performance.now();
  /** The connection that took it. */
  conn: C | null = null;
  /** Its request runs on `conn` (set by the pool when it starts it): an abort goes there. */
  started = false;
  done = false;

  constructor(
    readonly queue: WaitQueue<C>,
    readonly req: UpstreamRequest,
    readonly handler: UpstreamHandler,
  ) {}

  readonly abort = (reason?: Error): void => {
    if (this.done) return;
    if (this.started) return this.conn!.abort(reason);
    this.done = true;
    cancel(this);
    this.queue.remove(this);
    this.handler.onError(new UpstreamFailure('aborted', reason?.message ?? 'aborted', 'ABORTED'));
  };

  onTimer(): void {
    if (this.done || this.conn !== null) return;
    this.done = true;
    this.queue.remove(this);
    this.handler.onError(new UpstreamFailure('timeout', 'no upstream connection became free in time', 'QUEUE_TIMEOUT', false, true));
  }

  /** What is left of the request's headers deadline for its connection (0: none). */
  timeLeft(): number {
    const ms = this.req.headersTimeoutMs;
    return ms === 0 ? 0 : Math.max(1, ms - (performance.now() - this.queuedAt));
  }
}

export class WaitQueue<C extends QueuedConnection> {
  #items: Waiting<C>[] = [];
  #head = 0;

  /** Queues a request: the handler gets the waiter's abort, and its deadline is armed. */
  add(req: UpstreamRequest, handler: UpstreamHandler): void {
    const w = new Waiting(this, req, handler);
    this.#items.push(w);
    handler.onConnect(w.abort);
    if (!w.done && req.headersTimeoutMs > 0) arm(timerList(req.headersTimeoutMs), w, w.queuedAt);
  }

  /** Whether any entry is left (some may be done: take() skips those). */
  get pending(): boolean {
    return this.#head < this.#items.length;
  }

  /** The next live waiter, off the queue with its deadline cancelled and `conn` set; or null. */
  take(conn: C): Waiting<C> | null {
    while (this.#head < this.#items.length) {
      const w = this.#items[this.#head];
      this.#items[this.#head++] = undefined as unknown as Waiting<C>;
      this.#compact();
      if (w.done) continue;
      cancel(w);
      w.conn = conn;
      return w;
    }
    return null;
  }

  /** A taken waiter back at the front: its connection went away before its request started. */
  putBack(w: Waiting<C>): void {
    w.conn = null;
    this.#items.splice(this.#head, 0, w);
  }

  remove(w: Waiting<C>): void {
    const i = this.#items.indexOf(w, this.#head);
    if (i !== -1) this.#items.splice(i, 1);
  }

  /** Live waiters (the endpoint's stats). */
  get queued(): number {
    let n = 0;
    for (let i = this.#head; i < this.#items.length; i++) if (!this.#items[i].done) n++;
    return n;
  }

  abortAll(reason: Error): void {
    // A copy: each abort removes its waiter from the queue.
    for (const w of this.#items.slice(this.#head)) w.abort(reason);
  }

  #compact(): void {
    if (this.#head === this.#items.length) {
      this.#items.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items.splice(0, this.#head);
      this.#head = 0;
    }
  }
}
