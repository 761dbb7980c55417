/**
 * The primary process: forks one worker per core (node:cluster; the primary itself never
 * listens on the gateway port, each worker's uWS listens with SO_REUSEPORT), restarts a worker
 * that dies (exponential backoff; a slot that crashes too often is given up on, loudly),
 * reloads config on SIGHUP / admin POST /reload, and drains on SIGTERM / SIGINT.
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { readGatewayConfig, formatErrors, type ConfigError } from '../config/index.js';
import type { GatewayConfig } from '../config/schema.js';
import { compileConfig } from '../config/compile.js';
import { PoolRegistry } from '../upstream/pools.js';
import { encodeConfig, type PrimaryToWorker, type WorkerToPrimary } from '../ipc.js';
import { log } from '../observability/log.js';
import { MetricsAggregator } from '../observability/metrics.js';
// Rate limiting: the shared-memory token-bucket table lives for as long as this primary.
import {
  SEGMENT_ENV,
  TOKEN_BUCKETS_SERVICE,
  createTokenBuckets,
  newSegmentName,
  removeStaleSegments,
  unlinkTokenBuckets,
  type TokenBucketTable,
} from '../native/token-buckets.js';
import { CONFIG_SERVICE } from '../plugins/rate-limit.js';

export interface SupervisorOptions {
  configPath: string;
  /** How long a drain may take before workers are told to stop anyway. */
  drainMs?: number;
}

interface Slot {
  index: number;
  worker: Worker | null;
  ready: boolean;
  version: number;
  restarts: number[]; // timestamps of recent restarts, for crash-loop detection
  backoffMs: number;
  givenUp: boolean;
}

export type ReloadResult = { ok: true; version: number } | { ok: false; errors: ConfigError[] };

const CRASH_WINDOW_MS = 60_000;
const CRASH_LIMIT = 5;
const BACKOFF_START_MS = 100;
const BACKOFF_MAX_MS = 10_000;

/** Fields a running gateway cannot change without a restart. */
function restartOnlyDiff(a: GatewayConfig, b: GatewayConfig): string[] {
  const diffs: string[] = [];
  if (JSON.stringify(a.listen) !== JSON.stringify(b.listen)) diffs.push('/listen');
  if (JSON.stringify(a.tls) !== JSON.stringify(b.tls)) diffs.push('/tls');
  if (a.workers !== b.workers) diffs.push('/workers');
  if ((a.limits?.maxHeaderBytes ?? 16384) !== (b.limits?.maxHeaderBytes ?? 16384)) diffs.push('/limits/maxHeaderBytes');
  if (JSON.stringify(a.admin) !== JSON.stringify(b.admin)) diffs.push('/admin');
  // The token-bucket segment is sized once, before the workers map it.
  if (a.limits?.rateLimitBuckets !== b.limits?.rateLimitBuckets) diffs.push('/limits/rateLimitBuckets');
  return diffs;
}

/** Compiles in the primary too, so a config that would fail in a worker is refused before any worker sees it. */
function dryRunCompile(config: GatewayConfig, services: Map<string, unknown>): string | null {
  const pools = new PoolRegistry();
  try {
    services.set(CONFIG_SERVICE, config); // rateLimit tells a global policy from a route's by it
    compileConfig(config, 0, pools, services);
    return null;
  } catch (err) {
    return (err as Error).message;
  } finally {
    void pools.closeAll();
  }
}

export class Supervisor {
  config!: GatewayConfig;
  version = 1;
  readonly slots: Slot[] = [];
  readonly startedAt = Date.now();
  workerRestarts = 0;
  readonly metrics = new MetricsAggregator();
  #encoded!: Uint8Array;
  #shuttingDown = false;
  #readyWaiters: Array<() => void> = [];
  #reloadWaiters = new Map<number, { pending: Set<number>; failed: string | null; done: (r: string | null) => void }>();
  readonly drainMs: number;
  /** The token-bucket table (rateLimit); its segment name goes to every worker. */
  #buckets: TokenBucketTable | null = null;
  /** Services for the primary's dry-run compiles (the table; no Redis client here). */
  readonly #services = new Map<string, unknown>();

  constructor(readonly options: SupervisorOptions) {
    this.drainMs = options.drainMs ?? 30_000;
  }

  /** Loads and validates the config; false (errors printed) if it is invalid. */
  async init(): Promise<ConfigError[] | null> {
    const result = await readGatewayConfig(this.options.configPath);
    if (!result.ok) return result.errors;
    for (const w of result.warnings) log('warn', w);
    const segmentError = this.#createBucketSegment(result.config);
    if (segmentError !== null) return [segmentError];
    const compileError = dryRunCompile(result.config, this.#services);
    if (compileError !== null) {
      this.#removeBucketSegment();
      return [{ pointer: '', message: compileError }];
    }
    this.config = result.config;
    this.#encoded = encodeConfig(result.config);
    return null;
  }

  /**
   * Rate limiting: creates the shared-memory segment the workers map (named
   * /gateway-<pid>-<random>, handed to them in SEGMENT_ENV), after unlinking segments of
   * gateways that died without cleaning up. It is unlinked on every way out of this process:
   * a normal stop (#maybeExit) and any other exit (the 'exit' hook); only SIGKILL escapes, and
   * the next start's stale cleanup handles that.
   */
  #createBucketSegment(config: GatewayConfig): ConfigError | null {
    const stale = removeStaleSegments();
    if (stale.length > 0) log('info', 'removed shared-memory segments of gateways that are gone', { segments: stale });
    const capacity = config.limits?.rateLimitBuckets ?? 1048576;
    try {
      this.#buckets = createTokenBuckets(newSegmentName(), capacity);
    } catch (err) {
      return { pointer: '/limits/rateLimitBuckets', message: `cannot create the rate-limit table: ${(err as Error).message}` };
    }
    this.#services.set(TOKEN_BUCKETS_SERVICE, this.#buckets);
    process.on('exit', () => this.#removeBucketSegment());
    return null;
  }

  #removeBucketSegment(): void {
    if (this.#buckets === null) return;
    try {
      unlinkTokenBuckets(this.#buckets.name);
    } catch {
      // already gone
    }
    this.#buckets.close();
    this.#buckets = null;
    this.#services.delete(TOKEN_BUCKETS_SERVICE);
  }

  get workerCount(): number {
    const w = this.config.workers ?? 'auto';
    return w === 'auto' ? availableParallelism() : w;
  }

  get allReady(): boolean {
    return this.slots.length > 0 && this.slots.every((s) => s.ready || s.givenUp) && this.slots.some((s) => s.ready);
  }

  start(): Promise<void> {
    cluster.setupPrimary({
      exec: fileURLToPath(new URL('../worker/main.js', import.meta.url)),
      serialization: 'advanced',
      silent: false,
    });
    for (let i = 0; i < this.workerCount; i++) {
      const slot: Slot = { index: i, worker: null, ready: false, version: 0, restarts: [], backoffMs: BACKOFF_START_MS, givenUp: false };
      this.slots.push(slot);
      this.#fork(slot);
    }
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  #fork(slot: Slot): void {
    const worker = cluster.fork({
      GATEWAY_WORKER_INDEX: String(slot.index),
      ...(this.#buckets !== null ? { [SEGMENT_ENV]: this.#buckets.name } : {}),
    });
    slot.worker = worker;
    slot.ready = false;
    worker.on('message', (msg: WorkerToPrimary) => this.#onMessage(slot, worker, msg));
    worker.on('exit', (code, signal) => this.#onExit(slot, worker, code, signal));
    // Unhandled, an 'error' (failed send or kill) would end the primary; the exit is handled above.
    worker.on('error', (err) => log('warn', 'worker process error', { worker: slot.index, workerPid: worker.process.pid, error: err.message }));
  }

  #send(worker: Worker, msg: PrimaryToWorker): void {
    if (!worker.isConnected()) return;
    // A worker that just died (SIGKILL) can still look connected until its exit is processed:
    // the send then fails with EPIPE, which without a callback is an 'error' event that would
    // take the primary down. Its 'exit' follows and is what the supervisor acts on.
    worker.send(msg, (err: Error | null) => {
      if (err) log('debug', 'message to a worker not delivered', { workerPid: worker.process.pid, type: msg.type, error: err.message });
    });
  }

  #onMessage(slot: Slot, worker: Worker, msg: WorkerToPrimary): void {
    switch (msg.type) {
      case 'hello':
        this.#send(worker, { type: 'config', version: this.version, config: this.#encoded });
        break;
      case 'ready':
        slot.ready = true;
        slot.version = msg.version;
        // A worker that came up with an older version than the current one catches up now.
        if (msg.version !== this.version) this.#send(worker, { type: 'config', version: this.version, config: this.#encoded });
        if (this.allReady) {
          const waiters = this.#readyWaiters;
          this.#readyWaiters = [];
          for (const w of waiters) w();
        }
        break;
      case 'reloaded':
      case 'reload-failed': {
        slot.version = msg.type === 'reloaded' ? msg.version : slot.version;
        const waiter = this.#reloadWaiters.get(msg.version);
        if (waiter) {
          if (msg.type === 'reload-failed') waiter.failed = msg.error;
          waiter.pending.delete(slot.index);
          if (waiter.pending.size === 0) waiter.done(waiter.failed);
        }
        break;
      }
      case 'fatal':
        log('error', 'worker cannot serve', { worker: slot.index, error: msg.error });
        slot.givenUp = true; // not a crash to retry: the same error would repeat
        if (this.slots.every((s) => s.givenUp)) {
          log('error', 'no worker could start; exiting');
          void this.shutdown(1);
        }
        break;
      case 'metrics':
        this.metrics.add(msg.snapshot);
        break;
      case 'drained':
        break;
    }
  }

  #onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    slot.ready = false;
    if (this.#shuttingDown || slot.givenUp) {
      this.#maybeExit();
      return;
    }
    // Any pending reload no longer waits on this worker: its replacement starts on the new config.
    for (const waiter of this.#reloadWaiters.values()) {
      if (waiter.pending.delete(slot.index) && waiter.pending.size === 0) waiter.done(waiter.failed);
    }
    const now = Date.now();
    slot.restarts = slot.restarts.filter((t) => now - t < CRASH_WINDOW_MS);
    slot.restarts.push(now);
    this.workerRestarts++;
    if (slot.restarts.length > CRASH_LIMIT) {
      slot.givenUp = true;
      log('error', 'worker is crash-looping; not restarting it', {
        worker: slot.index, exits: slot.restarts.length, windowMs: CRASH_WINDOW_MS, code, signal,
      });
      if (this.slots.every((s) => s.givenUp)) {
        log('error', 'every worker is crash-looping; exiting');
        void this.shutdown(1);
      }
      return;
    }
    const delay = slot.backoffMs;
    slot.backoffMs = Math.min(slot.backoffMs * 2, BACKOFF_MAX_MS);
    log('warn', 'worker died; restarting', { worker: slot.index, workerPid: worker.process.pid, code, signal, inMs: delay });
    // Not unref()'d: when every worker died at once this timer is what keeps the primary alive.
    setTimeout(() => {
      if (!this.#shuttingDown) this.#fork(slot);
    }, delay);
    // A worker that stays up for a while earns its backoff back.
    setTimeout(() => {
      if (slot.worker !== null && slot.ready) slot.backoffMs = BACKOFF_START_MS;
    }, delay + CRASH_WINDOW_MS).unref();
  }

  /** Re-reads the config file; swaps it into every worker, or keeps the old one and returns why. */
  async reload(): Promise<ReloadResult> {
    const result = await readGatewayConfig(this.options.configPath);
    if (!result.ok) {
      log('error', 'reload refused: invalid config; the previous config stays in force', { errors: formatErrors(result.errors) });
      return { ok: false, errors: result.errors };
    }
    const fixed = restartOnlyDiff(this.config, result.config);
    if (fixed.length > 0) {
      const errors = fixed.map((pointer) => ({ pointer, message: 'changing this needs a restart, not a reload' }));
      log('error', 'reload refused; the previous config stays in force', { errors: formatErrors(errors) });
      return { ok: false, errors };
    }
    const compileError = dryRunCompile(result.config, this.#services);
    if (compileError !== null) {
      const errors = [{ pointer: '', message: compileError }];
      log('error', 'reload refused; the previous config stays in force', { errors: formatErrors(errors) });
      return { ok: false, errors };
    }
    const version = this.version + 1;
    const encoded = encodeConfig(result.config);
    const live = this.slots.filter((s) => s.worker !== null && s.worker.isConnected());
    const failed = await new Promise<string | null>((resolve) => {
      if (live.length === 0) return resolve(null);
      this.#reloadWaiters.set(version, { pending: new Set(live.map((s) => s.index)), failed: null, done: resolve });
      for (const s of live) this.#send(s.worker!, { type: 'config', version, config: encoded });
    });
    this.#reloadWaiters.delete(version);
    if (failed !== null) {
      // Validation and the dry run passed, so this is a bug; say so rather than hide it.
      log('error', 'a worker failed to apply a validated config', { version, error: failed });
    }
    this.version = version;
    this.config = result.config;
    this.#encoded = encoded;
    for (const w of result.warnings) log('warn', w);
    log('info', 'config reloaded', { version });
    return { ok: true, version };
  }

  #exitCode = 0;
  #exitResolvers: Array<() => void> = [];

  /** Graceful drain: workers stop accepting, finish in-flight requests, exit; then we exit. */
  shutdown(exitCode = 0): Promise<void> {
    if (!this.#shuttingDown) {
      this.#shuttingDown = true;
      this.#exitCode = exitCode;
      log('info', 'draining', { deadlineMs: this.drainMs });
      for (const s of this.slots) if (s.worker) this.#send(s.worker, { type: 'drain', deadlineMs: this.drainMs });
      // Workers that outlive the deadline (plus a grace period) are killed.
      setTimeout(() => {
        for (const s of this.slots) s.worker?.process.kill('SIGKILL');
      }, this.drainMs + 2000).unref();
      this.#maybeExit();
    }
    return new Promise((resolve) => this.#exitResolvers.push(resolve));
  }

  #maybeExit(): void {
    if (!this.#shuttingDown) return;
    if (this.slots.some((s) => s.worker !== null)) return;
    this.#removeBucketSegment(); // every worker is gone: nobody maps it any more
    for (const r of this.#exitResolvers) r();
    log('info', 'stopped', { exitCode: this.#exitCode });
    process.exitCode = this.#exitCode;
    // Let the admin server and stdio flush, then leave.
    setTimeout(() => process.exit(this.#exitCode), 20).unref();
  }
}
