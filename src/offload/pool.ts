/**
 * The offload pool: a few worker threads per gateway worker process (piscina) for CPU-heavy work
 * that would stall the event loop: the merge of large aggregation answers today, MessagePack
 * conversion of large bodies next. Callers decide by a measured size threshold whether a job goes
 * here or runs inline (docs/aggregation.md has the numbers); the pool only runs what it is given.
 *
 * Shape: `run(task, input, transfer)`, where `task` names an export of tasks.ts and `transfer`
 * lists ArrayBuffers that move to the thread instead of being copied (the caller must own them
 * whole and not touch them again: never a slice of Node's shared Buffer pool).
 *
 * Lifetime: one pool per worker process, a 'process' service (src/runtime/services.ts) that a
 * config version asks for only when one of its routes can offload; its threads start then (so
 * the first large answer does not wait for a thread to boot), and the pool closes when the
 * worker drains. The primary and `gateway validate` compile configs too, but never run a
 * request: there the service is a pool that starts no thread.
 *
 * Size: max(1, min(4, floor(cores / gateway workers))) threads, i.e. one per worker with the
 * default `workers: "auto"`: merging is bursty, and the point is a free event loop, not more
 * parallelism than the machine has. A queue of MAX_QUEUE tasks per process bounds what waits;
 * beyond it run() rejects with OffloadQueueFull and the caller does the work inline.
 */
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Piscina } from 'piscina';
import type { Service } from '../plugins/api.js';
import { counter } from '../observability/metrics.js';
import type * as Tasks from './tasks.js';

export type OffloadTaskName = keyof typeof Tasks;
type Input<K extends OffloadTaskName> = Parameters<(typeof Tasks)[K]>[0];
type Output<K extends OffloadTaskName> = ReturnType<(typeof Tasks)[K]>;

/** Tasks that may wait for a thread, per process. */
export const MAX_QUEUE = 1024;
/** Idle threads above the first one exit after this. */
const IDLE_TIMEOUT_MS = 30_000;

const TASK_FILE = fileURLToPath(new URL('./tasks.js', import.meta.url));

/**
 * piscina, loaded on first use: its import costs tens of milliseconds that a worker, the primary
 * or `gateway validate` with no offloading route should not pay at start-up.
 */
function loadPiscina(): typeof import('piscina') {
  return createRequire(import.meta.url)('piscina') as typeof import('piscina');
}

const tasksRun = counter('gateway_offload_tasks_total', 'Tasks run on the offload pool (worker threads), by task and result (ok, error, queue_full).', ['task', 'result']);

export class OffloadQueueFull extends Error {
  constructor() {
    super('the offload queue is full');
    this.name = 'OffloadQueueFull';
  }
}

/** Threads per worker process (see the header). */
export function offloadThreads(cores = availableParallelism(), workers = Number(process.env.GATEWAY_WORKER_COUNT ?? '1')): number {
  const w = Number.isInteger(workers) && workers > 0 ? workers : 1;
  return Math.max(1, Math.min(4, Math.floor(cores / w)));
}

export class OffloadPool {
  readonly #piscina: Piscina | null;

  /** `threads` 0: a pool that starts no thread (dry runs); run() then rejects. */
  constructor(readonly threads: number) {
    this.#piscina =
      threads > 0
        ? new (loadPiscina().Piscina)({ filename: TASK_FILE, minThreads: 1, maxThreads: threads, idleTimeout: IDLE_TIMEOUT_MS, maxQueue: MAX_QUEUE })
        : null;
  }

  /** Whether run() can take work (false in dry runs). */
  get available(): boolean {
    return this.#piscina !== null;
  }

  /** Runs `task` on a pool thread; `transfer` are buffers moved there (not copied). */
  run<K extends OffloadTaskName>(task: K, input: Input<K>, transfer: ArrayBuffer[] = []): Promise<Output<K>> {
    const p = this.#piscina;
    if (p === null) return Promise.reject(new Error('the offload pool has no threads in this process'));
    if (p.queueSize >= MAX_QUEUE) {
      tasksRun.inc(task, 'queue_full');
      return Promise.reject(new OffloadQueueFull());
    }
    return (p.run(input, { name: task, transferList: transfer }) as Promise<Output<K>>).then(
      (out) => {
        tasksRun.inc(task, 'ok');
        return out;
      },
      (err: unknown) => {
        tasksRun.inc(task, 'error');
        throw err;
      },
    );
  }

  close(): Promise<void> {
    return this.#piscina !== null ? this.#piscina.close({ force: true }) : Promise.resolve();
  }
}

/** The worker process's pool (threads only in workers, which serve requests). */
export const OFFLOAD_POOL: Service<OffloadPool> = {
  name: 'offload.pool',
  lifetime: 'process',
  create: (ctx) => new OffloadPool(ctx.role === 'worker' ? offloadThreads() : 0),
  dispose: (pool) => void pool.close(),
};
