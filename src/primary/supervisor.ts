/**
 * The primary process: forks one worker per core (node:cluster; the primary itself never
 * listens on the gateway port, each worker's uWS listens with SO_REUSEPORT), restarts a worker
 * that dies (exponential backoff; a slot that crashes too often is given up on, loudly),
 * reloads config on SIGHUP / admin POST /reload, and drains on SIGTERM / SIGINT.
 *
 * Reloads run one at a time. A reload that passes validation and the dry-run compile is
 * *accepted*: it gets the next version number and becomes the config every worker must end up
 * on, at once, including workers that are starting or restarting (a worker gets the newest
 * accepted config when it says hello, and again whenever it reports an older one). The reload
 * then waits, at most RELOAD_DEADLINE_MS, until every worker process reports it runs that
 * version (or that it cannot apply it, or exits), and reports which version each one runs.
 * A request that arrives while a reload runs joins the next one (see reload()). Every attempt
 * writes one audit line (audit.ts) with who asked, what came of it and what it changed.
 */
import cluster, { type Worker } from 'node:cluster';
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { readGatewayConfig, formatErrors, redactConfig, type ConfigError } from '../config/index.js';
import type { PluginCatalog } from '../plugins/catalog.js';
import type { GatewayConfig } from '../config/schema.js';
import { canonicalJson, configChanges, restartOnlyDiff, type ConfigChanges } from '../config/diff.js';
import { auditReload, type LoadedFrom, type ReloadOutcome, type ReloadRequest, type ReloadSource } from './audit.js';
import { dryRunCompile } from '../runtime/dry-run.js';
import { ServiceHost } from '../runtime/services.js';
import { TOKEN_TABLE } from '../plugins/rate-limit/services.js';
import type { EndpointReport } from '../upstream/endpoint.js';
import { STATE_SEGMENT_ENV, encodeConfig, type PrimaryToWorker, type WorkerToPrimary } from '../ipc.js';
import { SharedEndpointState } from '../native/shared-state.js';
import { HealthProber } from './health-prober.js';
import { SlotTable, TargetResolver, type ResolvedUpstreams } from './targets.js';
import { upstreamStatus, type UpstreamStatus } from './upstream-status.js';
import { log } from '../observability/log.js';
import { MetricsAggregator } from '../observability/metrics.js';
import { LoopDelayWindow } from '../observability/event-loop.js';
// Rate limiting: the shared-memory token-bucket table lives for as long as this primary.
import {
  SEGMENT_ENV,
  createTokenBuckets,
  newSegmentName,
  removeStaleSegments,
  unlinkTokenBuckets,
  type TokenBucketTable,
} from '../native/token-buckets.js';

export interface SupervisorOptions {
  configPath: string;
  /** How long a drain may take before workers are told to stop anyway. */
  drainMs?: number;
  /**
   * How long draining workers keep client connections open for their next request (answered
   * with `Connection: close`) before closing the idle ones; within the drain deadline.
   */
  keepAliveGraceMs?: number;
}

interface Slot {
  index: number;
  worker: Worker | null;
  /** The worker said hello: its message listener is attached, a config sent now is not lost. */
  hello: boolean;
  /** The worker listens (it sent 'ready'); it may still be catching up to the newest version. */
  listening: boolean;
  /**
   * Counted as serving for /readyz: listening, and (for a worker that started or restarted) it
   * has caught up with the newest accepted version, or reported it cannot apply it. A worker
   * that was ready stays ready while a reload swaps its config.
   */
  ready: boolean;
  /** The version this worker process reported it runs (0: none yet). */
  version: number;
  /** The newest version sent to this worker process (0: none). */
  sent: number;
  /** The newest version this worker process reported it could not apply. */
  failed: { version: number; error: string } | null;
  /** The worker's latest endpoint report (every second). */
  endpoints: EndpointReport[];
  /** Client connections the worker had open at its latest report (every second). */
  connections: number;
  /** Its event-loop delay (kept across the slot's restarts: the summary's count and sum only grow). */
  readonly loopDelay: LoopDelayWindow;
  restarts: number[]; // timestamps of recent restarts, for crash-loop detection
  backoffMs: number;
  givenUp: boolean;
}

/** One worker slot as a reload result (and /readyz) reports it. */
export interface WorkerStatus {
  index: number;
  /** null: no process in this slot (restart pending, or given up). */
  pid: number | null;
  /** The config version the process reported it runs; null: none (no process, or it has not reported yet). */
  version: number | null;
  state: 'ready' | 'starting' | 'restarting' | 'given-up';
  /** It could not apply the reload's version and runs an older one (a bug: the primary validated and compiled it). */
  error?: string;
  /** It had not answered the reload by the deadline. */
  timedOut?: true;
}

export type ReloadResult =
  | {
      ok: true;
      version: number;
      /** Every worker process runs `version` (slots without a process start on it). */
      complete: boolean;
      workers: WorkerStatus[];
    }
  | { ok: false; errors: ConfigError[] };

export type { ReloadSource };

/** Reload attempts by source and result since start (the metrics). */
export interface ReloadStats {
  attempts: Map<string, number>; // `${source}\u0001${result}`
  /** ms since the epoch of the last applied reload (the start counts as one). */
  lastAppliedAt: number;
  /** Whether the last attempt was applied (true before any). */
  lastOk: boolean;
}

const CRASH_WINDOW_MS = 60_000;
const CRASH_LIMIT = 5;
const BACKOFF_START_MS = 100;
const BACKOFF_MAX_MS = 10_000;
/**
 * How long a reload waits for the workers to report the new version. A worker that has not
 * answered by then is reported (timedOut) and logged, not waited on; it still has the config
 * and its answer is recorded when it comes. Applying a config takes milliseconds; 10 s leaves
 * room for a starting worker's boot and a loaded machine.
 */
export const RELOAD_DEADLINE_MS = 10_000;
/** A drain keeps client connections open this long for their next request (GATEWAY_DRAIN_KEEPALIVE_MS). */
export const DEFAULT_KEEPALIVE_GRACE_MS = 1000;

export class Supervisor {
  /** The newest accepted config, its version (1 at start, +1 per accepted reload) and encoding. */
  config!: GatewayConfig;
  /** Its plugins: the built-ins and the plugin module versions it was validated with. */
  plugins!: PluginCatalog;
  version = 1;
  /** When and at whose request the config in force was loaded. */
  loaded: LoadedFrom = { source: 'start', at: Date.now() };
  /**
   * A short fingerprint of the config in force: sha256 of its canonical JSON with the secrets
   * redacted (it ends up in Prometheus, where it must not help anyone guess a weak secret), so
   * equal on nodes that run the same config, whatever their secrets.
   */
  configHash = '';
  readonly reloadStats: ReloadStats = { attempts: new Map(), lastAppliedAt: Date.now(), lastOk: true };
  /**
   * Called right before a reload reads the config file (the file watch takes what is on disk
   * then as what the gateway has seen, whoever asked for the reload).
   */
  readonly beforeRead: Array<() => void> = [];
  /** Called when a config is accepted (at start and by a reload), before the workers are sent it. */
  readonly accepted: Array<() => void> = [];
  readonly slots: Slot[] = [];
  readonly startedAt = Date.now();
  workerRestarts = 0;
  readonly metrics = new MetricsAggregator();
  #encoded!: Uint8Array;
  #shuttingDown = false;
  #readyWaiters: Array<() => void> = [];
  /** The reload that runs now, and the one requests that arrived meanwhile wait for. */
  #reloadRunning: Promise<ReloadResult> | null = null;
  #reloadQueued: Promise<ReloadResult> | null = null;
  /** Who asked for the queued reload. */
  #queuedRequests: ReloadRequest[] = [];
  /** The running reload while it waits for the workers: resolved by #checkReload. */
  #reloadWait: { version: number; done: () => void } | null = null;
  readonly drainMs: number;
  readonly keepAliveGraceMs: number;
  /** The token-bucket table (rateLimit); its segment name goes to every worker. */
  #buckets: TokenBucketTable | null = null;
  /** Services for the primary's dry-run compiles (the table it owns; no Redis client here). */
  readonly #services = new ServiceHost('primary');
  /** Machine-wide upstream target state (health, ejection, in-flight), mapped by every worker. */
  #state: SharedEndpointState | null = null;
  #resolver: TargetResolver | null = null;
  #prober: HealthProber | null = null;
  /** The upstreams' targets as addresses, for the config in force. */
  targets: ResolvedUpstreams = {};

  constructor(readonly options: SupervisorOptions) {
    this.drainMs = options.drainMs ?? 30_000;
    this.keepAliveGraceMs = options.keepAliveGraceMs ?? DEFAULT_KEEPALIVE_GRACE_MS;
  }

  /** Loads and validates the config; false (errors printed) if it is invalid. */
  async init(): Promise<ConfigError[] | null> {
    for (const f of this.beforeRead) f();
    const result = await readGatewayConfig(this.options.configPath);
    if (!result.ok) return result.errors;
    for (const w of result.warnings) log('warn', w);
    const segmentError = this.#createBucketSegment(result.config);
    if (segmentError !== null) return [segmentError];
    const compileErrors = dryRunCompile(result.config, this.#services, result.plugins);
    if (compileErrors.length > 0) {
      this.#removeBucketSegment();
      return compileErrors;
    }
    const stateError = this.#createStateSegment();
    if (stateError !== null) {
      this.#removeBucketSegment();
      return [stateError];
    }
    this.#setConfig(result.config);
    this.plugins = result.plugins;
    for (const f of this.accepted) f();
    this.loaded = { source: 'start', at: Date.now() };
    this.reloadStats.lastAppliedAt = this.loaded.at;
    await this.#useTargets(result.config);
    return null;
  }

  #setConfig(config: GatewayConfig): void {
    this.config = config;
    this.#encoded = encodeConfig(config);
    this.configHash = createHash('sha256').update(canonicalJson(redactConfig(config))).digest('hex').slice(0, 16);
  }

  /**
   * The shared endpoint state, its slot table, the target resolver and the health prober: they
   * live as long as this primary. The segment follows the token table's naming and lifecycle.
   */
  #createStateSegment(): ConfigError | null {
    try {
      const state = SharedEndpointState.create(newSegmentName());
      this.#state = state;
      process.on('exit', () => this.#removeStateSegment());
      const slots = new SlotTable(state.slots, (slot) => state.reassign(slot));
      this.#resolver = new TargetResolver(slots, (targets) => this.#targetsChanged(targets));
      this.#prober = new HealthProber(state);
      return null;
    } catch (err) {
      return { pointer: '', message: `cannot create the shared upstream state: ${(err as Error).message}` };
    }
  }

  #removeStateSegment(): void {
    if (this.#state === null) return;
    SharedEndpointState.unlink(this.#state.name);
    this.#state = null;
    this.#resolver?.stop();
    this.#prober?.stop();
  }

  /** Resolves the targets of an accepted config and points the prober at them. */
  async #useTargets(config: GatewayConfig): Promise<void> {
    if (this.#resolver === null) return;
    this.targets = await this.#resolver.setConfig(config);
    this.#prober!.setTargets(config, this.targets);
  }

  /** A target name resolves to other addresses: every worker rebuilds its clusters over them. */
  #targetsChanged(targets: ResolvedUpstreams): void {
    this.targets = targets;
    this.#prober?.setTargets(this.config, targets);
    for (const slot of this.slots) if (slot.worker !== null && slot.hello) this.#send(slot.worker, { type: 'targets', targets });
  }

  /** Every upstream target's state (GET /upstreams, metrics, dashboard). */
  upstreamStatus(): Record<string, UpstreamStatus> {
    return upstreamStatus(this.config, this.targets, this.#state, this.slots.filter((s) => s.worker !== null).map((s) => s.endpoints));
  }

  /** Machine-wide state of the targets. */
  get sharedState(): SharedEndpointState | null {
    return this.#state;
  }

  /** DNS lookups of target names that failed (and kept the last good addresses). */
  get dnsFailures(): number {
    return this.#resolver?.failures ?? 0;
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
    const capacity = config.limits.rateLimitBuckets;
    try {
      this.#buckets = createTokenBuckets(newSegmentName(), capacity);
    } catch (err) {
      return { pointer: '/limits/rateLimitBuckets', message: `cannot create the rate-limit table: ${(err as Error).message}` };
    }
    this.#services.provide(TOKEN_TABLE, this.#buckets);
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
    this.#services.withdraw(TOKEN_TABLE);
  }

  get workerCount(): number {
    const w = this.config.workers;
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
      const slot: Slot = {
        index: i, worker: null, hello: false, listening: false, ready: false, version: 0, sent: 0, failed: null,
        endpoints: [], connections: 0, loopDelay: new LoopDelayWindow(), restarts: [], backoffMs: BACKOFF_START_MS, givenUp: false,
      };
      this.slots.push(slot);
      this.#fork(slot);
    }
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  #fork(slot: Slot): void {
    const worker = cluster.fork({
      GATEWAY_WORKER_INDEX: String(slot.index),
      GATEWAY_WORKER_COUNT: String(this.workerCount), // sizes the worker's offload pool (src/offload/pool.ts)
      ...(this.#buckets !== null ? { [SEGMENT_ENV]: this.#buckets.name } : {}),
      ...(this.#state !== null ? { [STATE_SEGMENT_ENV]: this.#state.name } : {}),
    });
    slot.worker = worker;
    this.#resetProcessState(slot);
    worker.on('message', (msg: WorkerToPrimary) => this.#onMessage(slot, worker, msg));
    worker.on('exit', (code, signal) => this.#onExit(slot, worker, code, signal));
    // Unhandled, an 'error' (failed send or kill) would end the primary; the exit is handled above.
    worker.on('error', (err) => log('warn', 'worker process error', { worker: slot.index, workerPid: worker.process.pid, error: err.message }));
  }

  /** What the primary knows about a slot's process starts over when the process does. */
  #resetProcessState(slot: Slot): void {
    slot.hello = false;
    slot.listening = false;
    slot.ready = false;
    slot.version = 0;
    slot.sent = 0;
    slot.failed = null;
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

  /**
   * Sends the newest accepted config to the slot's worker unless it already has it (or a newer
   * one) on the way. Never before hello: a message that arrives before the worker's listener is
   * attached is lost, and the worker would never answer it.
   */
  #catchUp(slot: Slot): void {
    const worker = slot.worker;
    if (worker === null || !slot.hello || slot.givenUp || this.#shuttingDown) return;
    if (slot.sent >= this.version) return;
    slot.sent = this.version;
    this.#send(worker, { type: 'config', version: this.version, config: this.#encoded, targets: this.targets, pluginModules: this.plugins.refs });
  }

  /**
   * A listening worker that was not ready becomes ready once it runs the newest accepted
   * version (or reported it cannot apply it): a restarted worker is never counted as serving
   * while it still runs a config older than the newest accepted one.
   */
  #updateReady(slot: Slot): void {
    if (slot.ready || !slot.listening) return;
    if (slot.version >= this.version || (slot.failed !== null && slot.failed.version >= this.version)) {
      slot.ready = true;
      if (this.allReady) {
        const waiters = this.#readyWaiters;
        this.#readyWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  #onMessage(slot: Slot, worker: Worker, msg: WorkerToPrimary): void {
    // A late message from a process this slot no longer tracks says nothing about the slot (its
    // last metrics still count).
    if (slot.worker !== worker && msg.type !== 'metrics') return;
    switch (msg.type) {
      case 'hello':
        slot.hello = true;
        // A drain sent while this worker was still booting was lost (no listener yet): it
        // would wait for a config forever and the primary for it until the deadline's SIGKILL.
        if (this.#shuttingDown) this.#send(worker, this.#drainMessage());
        this.#catchUp(slot);
        break;
      case 'ready':
        slot.listening = true;
        slot.version = msg.version;
        this.#catchUp(slot);
        this.#updateReady(slot);
        this.#checkReload();
        break;
      case 'reloaded':
        slot.version = msg.version;
        this.#catchUp(slot);
        this.#updateReady(slot);
        this.#checkReload();
        break;
      case 'reload-failed':
        slot.version = msg.running;
        if (slot.failed === null || msg.version > slot.failed.version) slot.failed = { version: msg.version, error: msg.error };
        // Validation and the dry run passed, so this is a bug; say so rather than hide it. The
        // worker keeps serving the version it runs and is not sent this one again.
        log('error', 'a worker failed to apply a validated config', {
          version: msg.version, worker: slot.index, workerPid: worker.process.pid, runs: msg.running, error: msg.error,
        });
        this.#updateReady(slot);
        this.#checkReload();
        break;
      case 'fatal':
        log('error', 'worker cannot serve', { worker: slot.index, error: msg.error });
        slot.givenUp = true; // not a crash to retry: the same error would repeat
        if (this.slots.every((s) => s.givenUp)) {
          log('error', 'no worker could start; exiting');
          void this.shutdown(1);
        }
        this.#checkReload();
        break;
      case 'metrics':
        // Gauges count only from the process the slot tracks (a gone one's left with it).
        this.metrics.add(msg.snapshot, slot.worker === worker ? worker.id : null);
        break;
      case 'endpoints':
        slot.endpoints = msg.endpoints;
        break;
      case 'stats':
        slot.connections = msg.connections;
        slot.loopDelay.add(msg.loop);
        break;
      case 'drained':
        break;
    }
  }

  #onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.endpoints = [];
    this.metrics.forgetSource(worker.id);
    slot.connections = 0;
    // What it had in flight to every target leaves the machine-wide counts with it.
    this.#state?.forgetWorker(slot.index);
    slot.worker = null;
    this.#resetProcessState(slot);
    // A running reload no longer waits on this process: its replacement starts on the newest config.
    this.#checkReload();
    if (this.#shuttingDown || slot.givenUp) {
      this.#maybeExit();
      return;
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

  /**
   * Re-reads the config file; swaps it into every worker, or keeps the old one and returns why.
   *
   * Serialized: while a reload runs, a request does not start another one; it joins the next
   * reload, which starts when the running one has finished and reads the file then. Every
   * request that arrived while the same reload ran is answered with that next reload's result
   * (coalescing), so each answer comes from a reload that read the file after the request
   * arrived, and each accepted reload has a version of its own.
   */
  reload(source: ReloadSource = 'signal', address?: string): Promise<ReloadResult> {
    const request: ReloadRequest = address === undefined ? { source } : { source, address };
    log('info', 'reload requested', { ...request, queued: this.#reloadRunning !== null });
    if (this.#reloadQueued !== null) {
      this.#queuedRequests.push(request);
      return this.#reloadQueued;
    }
    if (this.#reloadRunning === null) return this.#startReload([request]);
    this.#queuedRequests = [request];
    const settle = () => {
      this.#reloadQueued = null;
      const requests = this.#queuedRequests;
      this.#queuedRequests = [];
      return this.#startReload(requests);
    };
    this.#reloadQueued = this.#reloadRunning.then(settle, settle);
    return this.#reloadQueued;
  }

  #startReload(requests: ReloadRequest[]): Promise<ReloadResult> {
    const running: Promise<ReloadResult> = this.#attemptReload(requests).finally(() => {
      if (this.#reloadRunning === running) this.#reloadRunning = null;
    });
    this.#reloadRunning = running;
    return running;
  }

  /** One reload attempt for these requests (at least one): run, counted, audited. */
  async #attemptReload(requests: ReloadRequest[]): Promise<ReloadResult> {
    const first = requests[0]!;
    const previousVersion = this.version;
    let ran: { result: ReloadResult; changes: ConfigChanges | null };
    try {
      ran = await this.#runReload(first);
    } catch (err) {
      // A bug, not a bad file: still an attempt of the audit trail, and the old config serves.
      this.#recordAttempt(requests, { result: 'refused', version: this.version, errors: [{ pointer: '', message: `internal error: ${(err as Error).message}` }], changes: null });
      throw err;
    }
    const { result, changes } = ran;
    this.#recordAttempt(
      requests,
      result.ok
        ? { result: 'applied', version: result.version, previousVersion, complete: result.complete, changes: changes! }
        : { result: 'refused', version: this.version, errors: result.errors, changes },
    );
    return result;
  }

  /** Counts an attempt (once, by the source of its first request, as its audit line says) and writes its audit line. */
  #recordAttempt(requests: ReloadRequest[], outcome: ReloadOutcome): void {
    const key = `${requests[0]!.source}\u0001${outcome.result}`;
    this.reloadStats.attempts.set(key, (this.reloadStats.attempts.get(key) ?? 0) + 1);
    this.reloadStats.lastOk = outcome.result === 'applied';
    if (outcome.result === 'applied') this.reloadStats.lastAppliedAt = this.loaded.at;
    auditReload(requests, this.options.configPath, outcome);
  }

  async #runReload(request: ReloadRequest): Promise<{ result: ReloadResult; changes: ConfigChanges | null }> {
    const refuse = (errors: ConfigError[], changes: ConfigChanges | null, why: string) => {
      log('error', why, { errors: formatErrors(errors) });
      return { result: { ok: false as const, errors }, changes };
    };
    if (this.#shuttingDown) return refuse([{ pointer: '', message: 'the gateway is shutting down' }], null, 'reload refused; the gateway is shutting down');
    for (const f of this.beforeRead) f();
    const result = await readGatewayConfig(this.options.configPath);
    if (!result.ok) return refuse(result.errors, null, 'reload refused: invalid config; the previous config stays in force');
    const changes = configChanges(this.config, result.config);
    const fixed = restartOnlyDiff(this.config, result.config);
    if (fixed.length > 0) {
      const errors = fixed.map((pointer) => ({ pointer, message: 'changing this needs a restart, not a reload' }));
      return refuse(errors, changes, 'reload refused; the previous config stays in force');
    }
    const errors = dryRunCompile(result.config, this.#services, result.plugins);
    if (errors.length > 0) return refuse(errors, changes, 'reload refused; the previous config stays in force');
    // Accepted: from here on this is the config every worker is brought to, starting ones included.
    // Its targets are resolved first, so that no worker ever gets the new config with old targets.
    await this.#useTargets(result.config);
    const version = this.version + 1;
    this.version = version;
    this.#setConfig(result.config);
    this.plugins = result.plugins;
    for (const f of this.accepted) f();
    this.loaded = { ...request, at: Date.now() };
    for (const w of result.warnings) log('warn', w);
    for (const slot of this.slots) this.#catchUp(slot);

    let timedOut = false;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timedOut = true;
        this.#reloadWait = null;
        resolve();
      }, RELOAD_DEADLINE_MS);
      this.#reloadWait = {
        version,
        done: () => {
          clearTimeout(timer);
          this.#reloadWait = null;
          resolve();
        },
      };
      this.#checkReload();
    });

    const workers = this.slots.map((slot) => this.#status(slot, version));
    for (const w of workers) {
      if (w.timedOut) {
        log('error', 'a worker did not answer the reload in time', {
          version, deadlineMs: RELOAD_DEADLINE_MS, worker: w.index, workerPid: w.pid, runs: w.version,
        });
      }
    }
    const complete = workers.every((w) => w.pid === null || w.state === 'given-up' || (w.version !== null && w.version >= version));
    log(complete ? 'info' : 'warn', 'config reloaded', { version, complete, ...(timedOut ? { deadlineMs: RELOAD_DEADLINE_MS } : {}), workers });
    return { result: { ok: true, version, complete, workers }, changes };
  }

  /** A slot has answered reload `version`: no process, given up, runs it (or newer), or cannot apply it. */
  #settled(slot: Slot, version: number): boolean {
    return slot.worker === null || slot.givenUp || slot.version >= version || (slot.failed !== null && slot.failed.version >= version);
  }

  /** Completes the running reload's wait once every slot has answered. */
  #checkReload(): void {
    const wait = this.#reloadWait;
    if (wait !== null && this.slots.every((s) => this.#settled(s, wait.version))) wait.done();
  }

  /** One slot as reported by a reload of `version` (or by /readyz, with the newest version). */
  #status(slot: Slot, version: number): WorkerStatus {
    const pid = slot.worker?.process.pid ?? null;
    const state: WorkerStatus['state'] = slot.givenUp ? 'given-up' : slot.worker === null ? 'restarting' : slot.ready ? 'ready' : 'starting';
    const status: WorkerStatus = { index: slot.index, pid, version: slot.version > 0 ? slot.version : null, state };
    if (slot.failed !== null && slot.failed.version >= version && slot.version < version) status.error = slot.failed.error;
    else if (!this.#settled(slot, version)) status.timedOut = true;
    return status;
  }

  /** Every slot: its process, the version it runs, its state (for /readyz). */
  /** Upstream connections held by requests the gateway ended long ago, over all live workers (a leak). */
  get stuckConnections(): number {
    let n = 0;
    for (const slot of this.slots) if (slot.worker !== null) for (const e of slot.endpoints) n += e.stuck;
    return n;
  }

  workerStatus(): WorkerStatus[] {
    return this.slots.map((slot) => {
      const s = this.#status(slot, this.version);
      delete s.timedOut; // "not there yet" is only a timeout at a reload's deadline
      return s;
    });
  }

  /** SIGUSR1: every worker reopens its access log file (logrotate moved it away). */
  reopenLogs(): void {
    if (this.config === undefined) return; // not started: nothing is open yet
    const workers = this.slots.filter((s) => s.worker !== null && s.hello);
    log('info', 'reopening the access log', { path: this.config.accessLog === false ? null : this.config.accessLog.path, workers: workers.length });
    for (const slot of workers) this.#send(slot.worker!, { type: 'reopen-logs' });
  }

  #exitCode = 0;
  #exitResolvers: Array<() => void> = [];

  /** Graceful drain: workers stop accepting, finish in-flight requests, exit; then we exit. */
  shutdown(exitCode = 0): Promise<void> {
    if (!this.#shuttingDown) {
      this.#shuttingDown = true;
      this.#exitCode = exitCode;
      log('info', 'draining', { deadlineMs: this.drainMs, keepAliveGraceMs: this.keepAliveGraceMs });
      // A worker that has not said hello gets it on hello (#onMessage): sent now, it could be lost.
      for (const s of this.slots) if (s.worker && s.hello) this.#send(s.worker, this.#drainMessage());
      // Workers that outlive the deadline (plus a grace period) are killed.
      setTimeout(() => {
        for (const s of this.slots) s.worker?.process.kill('SIGKILL');
      }, this.drainMs + 2000).unref();
      this.#maybeExit();
    }
    return new Promise((resolve) => this.#exitResolvers.push(resolve));
  }

  #drainMessage(): PrimaryToWorker {
    return { type: 'drain', deadlineMs: this.drainMs, keepAliveGraceMs: this.keepAliveGraceMs };
  }

  #maybeExit(): void {
    if (!this.#shuttingDown) return;
    if (this.slots.some((s) => s.worker !== null)) return;
    this.#removeBucketSegment(); // every worker is gone: nobody maps it any more
    this.#removeStateSegment();
    for (const r of this.#exitResolvers) r();
    log('info', 'stopped', { exitCode: this.#exitCode });
    process.exitCode = this.#exitCode;
    // Let the admin server and stdio flush, then leave.
    setTimeout(() => process.exit(this.#exitCode), 20).unref();
  }
}
