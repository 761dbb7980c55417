/**
 * Worker process entry (forked by the primary through node:cluster). Waits for its config,
 * loads uWS (after setting the header-size limit uWS reads at load time), listens on the
 * shared port with SO_REUSEPORT, and then serves until told to drain.
 *
 * Config reload: a new version is compiled next to the old one and swapped in by one
 * assignment between requests; requests in flight keep the objects they started with.
 *
 * Versions only grow: a config older than (or as old as) the one in force is not applied, and
 * every answer to the primary says which version runs. The listen happens one event-loop turn
 * after the first config is compiled, so a newer config that has already reached this worker
 * (a reload accepted while it started) is applied before it serves a request; one that comes
 * later is applied like any reload, and the primary counts this worker ready only once it
 * runs the newest version.
 *
 * A config with plugin modules is applied once the module versions the primary validated are
 * imported (asynchronous): config and target messages are applied in arrival order, so one that
 * waits for an import holds back the ones behind it (see inOrder).
 */
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { PrimaryToWorker, WorkerToPrimary } from '../ipc.js';
import { BUILTIN_PLUGINS, PluginCatalog, type PluginModuleRef } from '../plugins/catalog.js';
import { importValidatedModule } from '../plugins/modules/import.js';
import type { PluginDescriptor } from '../plugins/api.js';
import { STATE_SEGMENT_ENV, decodeConfig } from '../ipc.js';
import { SharedEndpointState } from '../native/shared-state.js';
import type { ResolvedUpstreams } from '../primary/targets.js';
import type { GatewayConfig } from '../config/schema.js';
import { compileConfig } from '../runtime/compile.js';
import { EndpointRegistry } from '../upstream/endpoint.js';
import { installHandler, openClientConnections } from './front.js';
import { checkMessageLimit, installWebSockets } from './websocket.js';
import { closeAllRelays } from './ws-relay.js';
import type { WorkerHost } from './transaction.js';
import { proxyAction } from './actions/proxy.js';
import { respondAction } from './actions/respond.js';
import { aggregateAction } from './actions/aggregate.js';
import { AccessLog } from '../observability/access-log.js';
import { log } from '../observability/log.js';
import { loadUws } from '../uws.js';
import { recordRequest, takeSnapshot } from '../observability/metrics.js';
import { LoopDelayMonitor } from '../observability/event-loop.js';
import { ServiceHost, type VersionScope } from '../runtime/services.js';
import { tracer } from './spans.js';
import type { TracingSettings } from '../observability/tracing.js';

function tracingOf(config: GatewayConfig): TracingSettings | null {
  const t = config.tracing;
  if (t === undefined) return null;
  return { sampleRatio: t.sampleRatio, url: t.otlp.url, headers: t.otlp.headers, timeoutMs: t.otlp.timeoutMs, serviceName: t.serviceName };
}

const endpoints = new EndpointRegistry();
const actions = { proxy: proxyAction, respond: respondAction, aggregate: aggregateAction };
/** The machine-wide upstream state the primary created (absent when run outside a primary). */
const shared = process.env[STATE_SEGMENT_ENV] ? SharedEndpointState.open(process.env[STATE_SEGMENT_ENV]) : null;
const workerIndex = Number(process.env.GATEWAY_WORKER_INDEX ?? '0');
/** The upstreams' targets as addresses (from the primary), and the config in force, for target updates. */
let targets: ResolvedUpstreams | undefined;
let inForce: GatewayConfig | null = null;
/** The plugins of the config in force. */
let inForcePlugins: PluginCatalog = BUILTIN_PLUGINS;

// Plugins' services (src/runtime/services.ts): 'process' ones (the primary's token-bucket
// table, mapped once; a Redis client per cluster.redis URL) live as long as this worker;
// 'version' ones (jwt verifiers: a reload re-reads key files) as long as their config version.
const services = new ServiceHost('worker');
/** The services of the config version in force. */
let scope: VersionScope | null = null;

/** Compiles a config version with its own service scope; the scope is retired if compiling fails. */
function compileWithServices(config: GatewayConfig, version: number, plugins: PluginCatalog) {
  const next = services.scope(config);
  try {
    return { compiled: compileConfig(config, version, { endpoints, actions, services: next, targets, shared, worker: workerIndex, plugins }), scope: next };
  } catch (err) {
    next.retire();
    throw err;
  }
}

/** The new version is in force: the old one's version services go (requests in flight keep what they hold). */
function retireOld(next: VersionScope): void {
  const old = scope;
  scope = next;
  old?.retire();
}
let state: WorkerHost | null = null;
let app: TemplatedApp | null = null;
let listenSocket: us_listen_socket | null = null;
/** The config version in force (0: none yet). */
let running = 0;

/**
 * Client-side timeouts on uWS's two per-App timers (counted in 4 s ticks):
 *   - the "response" timer runs while a kept-alive connection waits for its next request and
 *     while written data sits unread: limits.idleTimeoutMs, so a client that stops reading is cut
 *     after it too;
 *   - the "idle" timer runs from connect until the request head arrives and while a body arrives
 *     slower than 16 KiB/s per timer period (uWS cuts those connections without an answer). The
 *     gateway's own body deadline (limits.requestTimeoutMs) answers 408 first: the uWS timer is
 *     set 8 s (two ticks) past it. With requestTimeoutMs 0 it is idleTimeoutMs.
 */
function setClientTimeouts(a: TemplatedApp, config: GatewayConfig): void {
  const l = config.limits;
  const timers = a as unknown as { setIdleTimeout(s: number): void; setResponseTimeout(s: number): void };
  const idleS = Math.ceil(l.idleTimeoutMs / 1000);
  timers.setResponseTimeout(idleS);
  timers.setIdleTimeout(l.requestTimeoutMs > 0 ? Math.ceil(l.requestTimeoutMs / 1000) + 8 : idleS);
}

function send(msg: WorkerToPrimary): void {
  process.send?.(msg);
}

/** The access log of a config version: the one in use when path and format stay, else a new one (the old one closed). */
function accessLogFor(config: GatewayConfig, current: AccessLog | null): AccessLog | null {
  const al = config.accessLog;
  if (current !== null && al !== false && current.path === al.path && current.format === al.format) return current;
  current?.close();
  return al === false ? null : new AccessLog(al.path, al.format);
}

function start(config: GatewayConfig, version: number, plugins: PluginCatalog): void {
  // uWS reads its request-head limit from the environment when the module loads.
  process.env.UWS_HTTP_MAX_HEADERS_SIZE = String(config.limits.maxHeaderBytes);
  const uws = loadUws();
  // No "uWebSockets: 20" header on every answer (like nginx's server_tokens off): the gateway
  // says who it is in Via. `_cfg('silent')` is the package's run-time switch for it.
  (uws as unknown as { _cfg(k: string): void })._cfg('silent');
  const { compiled, scope: first } = compileWithServices(config, version, plugins);
  retireOld(first);
  app = config.tls !== undefined ? uws.SSLApp({ cert_file_name: config.tls.certFile, key_file_name: config.tls.keyFile }) : uws.App();
  setClientTimeouts(app, config);
  const accessLog = accessLogFor(config, null);
  tracer.configure(tracingOf(config));
  const s: WorkerHost = {
    config: compiled,
    accessLog,
    inflight: 0,
    draining: false,
    onFinished(tx) {
      recordRequest(tx.routeId, tx.aborted ? 499 : tx.status, (tx.answeredAt - tx.startedAt) * 1000);
      if (s.accessLog !== null) s.accessLog.record(tx);
      if (s.draining && s.inflight === 0) maybeFinishDrain();
    },
    onDrainConnection,
  };
  state = s;
  running = version;
  inForce = config;
  inForcePlugins = plugins;
  installHandler(app, s);
  installWebSockets(app, s, compiled.maxWebSocketMessageBytes);
  // listen, tls and maxHeaderBytes cannot change on reload, so the first config's are the ones.
  const host = config.listen.host;
  const port = config.listen.port;
  setImmediate(() => {
    if (s.draining) return; // told to drain before it ever listened
    app!.listen(host, port, (token) => {
      if (!token) {
        send({ type: 'fatal', error: `cannot listen on ${host}:${port} (address in use or not permitted)` });
        setTimeout(() => process.exit(78), 50);
        return;
      }
      listenSocket = token;
      send({ type: 'ready', version: running });
    });
  });
}

function reload(config: GatewayConfig, version: number, plugins: PluginCatalog): void {
  if (state === null) return start(config, version, plugins);
  if (version <= running) {
    // Not newer than what runs: keep it, and say what runs.
    send({ type: 'reloaded', version: running });
    return;
  }
  try {
    const { compiled, scope: next } = compileWithServices(config, version, plugins);
    checkMessageLimit(compiled.maxWebSocketMessageBytes);
    state.config = compiled;
    retireOld(next);
    state.accessLog = accessLogFor(config, state.accessLog);
    tracer.configure(tracingOf(config));
    if (app !== null) setClientTimeouts(app, config);
    // Endpoints the new config does not use close once their in-flight requests finish.
    endpoints.retainOnly(compiled.endpointKeys);
    running = version;
    inForce = config;
    inForcePlugins = plugins;
    send({ type: 'reloaded', version });
  } catch (err) {
    send({ type: 'reload-failed', version, running, error: (err as Error).message });
  }
}

function flushMetrics(): void {
  const snapshot = takeSnapshot();
  if (snapshot !== null) send({ type: 'metrics', snapshot });
}
setInterval(flushMetrics, 1000).unref();
setInterval(() => {
  if (endpoints.size > 0) send({ type: 'endpoints', endpoints: endpoints.report() });
}, 1000).unref();
const loopDelay = new LoopDelayMonitor();
setInterval(() => send({ type: 'stats', loop: loopDelay.take(), connections: openClientConnections() }), 1000).unref();

/*
 * Drain (SIGTERM/SIGINT to the primary, which sends 'drain'), built so that a new gateway
 * started on the same port first (an upgrade, docs/operations.md#zero-downtime-upgrade) takes
 * over with no request failing:
 *
 *   1. From now on every answer says `Connection: close` (host.draining), on the connections
 *      open now and on any accepted before the listener closes: a keep-alive client's next
 *      request is answered, and the client then connects again, to a listener still open.
 *   2. The listener closes at once, on the event-loop turn of an accept (see
 *      closeListenerSoon), because closing a SO_REUSEPORT listener resets the connections still
 *      waiting in its own accept queue (unless net.ipv4.tcp_migrate_req=1 moves them to another
 *      listener of the group): the fewer wait there at that instant, the better. New connections
 *      go to the other listeners of the port (the new gateway's workers) from then on.
 *   3. Connections stay open for keepAliveGraceMs (bounded by the deadline), or until every one
 *      of them has closed after its answer: an idle keep-alive connection is not closed under a
 *      client that is sending a request on it right now. Requests in flight finish.
 *   4. Then (or at the deadline) finishDrain closes what is left (idle keep-alive connections
 *      whose clients sent nothing during the grace; relayed WebSockets get 1001) and exits.
 */
let drainTimer: NodeJS.Timeout | null = null;
let graceTimer: NodeJS.Timeout | null = null;
/** The keep-alive grace of the drain is over (a flag set by its timer: no clock comparison to fall short). */
let graceOver = false;
let listenerClosing = false;

function drain(deadlineMs: number, keepAliveGraceMs = 0): void {
  if (state === null) process.exit(0);
  if (state.draining) return;
  state.draining = true;
  const graceMs = Math.max(0, Math.min(keepAliveGraceMs, deadlineMs));
  drainTimer = setTimeout(() => {
    log('warn', 'drain deadline reached with requests in flight', { inflight: state?.inflight });
    finishDrain();
  }, deadlineMs);
  graceTimer = setTimeout(() => {
    graceOver = true;
    maybeFinishDrain();
  }, graceMs);
  closeListenerSoon();
}

/**
 * Closes the listen socket on the event-loop turn in which uWS has just accepted connections: it
 * accepts until the kernel's queue is empty, and this turn's setImmediate runs soon after (see
 * onDrainConnection), so what is still queued when it closes is only what arrived in between.
 * (Closing from inside the accept loop, at the first accept, would leave the rest of that
 * burst queued: measured worse.) With no connection coming, it closes after
 * LISTENER_CLOSE_WAIT_MS anyway.
 */
function closeListenerSoon(): void {
  if (listenSocket === null) return maybeFinishDrain();
  listenerClosing = true;
  setTimeout(closeListenerNow, LISTENER_CLOSE_WAIT_MS);
}
const LISTENER_CLOSE_WAIT_MS = 20;

function closeListenerNow(): void {
  listenerClosing = false;
  if (listenSocket !== null) {
    loadUws().us_listen_socket_close(listenSocket);
    listenSocket = null;
  }
  maybeFinishDrain();
}

/** Called by the front while draining, for each client connection that opens or closes (inside uWS's callbacks). */
function onDrainConnection(opened: boolean): void {
  if (opened) {
    if (listenerClosing) {
      listenerClosing = false;
      setImmediate(closeListenerNow);
    }
  } else if (openClientConnections() === 0) {
    setImmediate(maybeFinishDrain);
  }
}

/** The drain is done once the listener is closed, nothing is in flight, and the connections are gone or their grace is over. */
function maybeFinishDrain(): void {
  if (state === null || !state.draining || finishing || listenSocket !== null) return;
  if (state.inflight > 0) return;
  if (openClientConnections() > 0 && !graceOver) return;
  finishDrain();
}

let finishing = false;
function finishDrain(): void {
  if (finishing) return;
  finishing = true;
  if (drainTimer !== null) clearTimeout(drainTimer);
  if (graceTimer !== null) clearTimeout(graceTimer);
  // Relayed WebSockets stay until the deadline, then both sides get 1001 (their access log
  // lines and metrics come from that); their upstreams have a moment to answer the close.
  void closeAllRelays(RELAY_CLOSE_GRACE_MS).then(() => {
    state?.accessLog?.flush();
    flushMetrics();
    app?.close(); // closes idle keep-alive connections too
    send({ type: 'drained' });
    scope?.retire();
    services.disposeAll();
    // Spans still queued get one last chance to go out (bounded: the process must end).
    void Promise.all([endpoints.closeAll(), tracer.close(1000)]).finally(() => setTimeout(() => process.exit(0), 10));
  });
}

/** How long drain waits for the upstreams of relayed WebSockets to answer the gateway's close. */
const RELAY_CLOSE_GRACE_MS = 1000;

/**
 * A target name resolves to other addresses: the config in force is compiled again over the new
 * targets (same version; endpoints that stay keep their connections and state, gone ones drain).
 */
function retarget(next: ResolvedUpstreams): void {
  targets = next;
  if (state === null || inForce === null) return;
  try {
    const { compiled, scope: nextScope } = compileWithServices(inForce, running, inForcePlugins);
    state.config = compiled;
    retireOld(nextScope);
    endpoints.retainOnly(compiled.endpointKeys);
  } catch (err) {
    log('error', 'could not rebuild the upstreams over their new addresses', { error: (err as Error).message });
  }
}

/** Plugin module versions this worker imported (a module is imported once per version). */
const imported = new Map<string, PluginDescriptor>();

/** The catalog of the module versions the primary validated (src/plugins/modules/import.ts). */
async function importPlugins(refs: readonly PluginModuleRef[]): Promise<PluginCatalog> {
  const modules = await Promise.all(
    refs.map(async (ref) => {
      let descriptor = imported.get(ref.url);
      if (descriptor === undefined) {
        descriptor = await importValidatedModule(ref);
        imported.set(ref.url, descriptor);
      }
      return { ref, descriptor };
    }),
  );
  return new PluginCatalog(modules);
}

function applyConfig(msg: Extract<PrimaryToWorker, { type: 'config' }>): void | Promise<void> {
  const config = decodeConfig(msg.config);
  if (msg.pluginModules.length === 0) {
    targets = msg.targets;
    return reload(config, msg.version, BUILTIN_PLUGINS);
  }
  return importPlugins(msg.pluginModules).then(
    (plugins) => {
      targets = msg.targets;
      reload(config, msg.version, plugins);
    },
    (err: Error) => {
      // The primary imported the same versions, so this is a file changed or removed since:
      // this worker keeps what it runs (or, not started yet, waits for the next reload).
      send({ type: 'reload-failed', version: msg.version, running, error: err.message });
    },
  );
}

/**
 * Runs config-changing messages one at a time in arrival order: synchronously while nothing
 * waits (a config without plugin modules applies at once, as it always did), else after the
 * pending import. Tasks never reject.
 */
let pending: Promise<void> | null = null;
function inOrder(task: () => void | Promise<void>): void {
  const done = pending === null ? task() : pending.then(task);
  if (done === undefined) return;
  const mine: Promise<void> = done.then(() => {
    if (pending === mine) pending = null;
  });
  pending = mine;
}

process.on('message', (msg: PrimaryToWorker) => {
  if (msg.type === 'config') {
    inOrder(() => applyConfig(msg));
  } else if (msg.type === 'targets') {
    inOrder(() => retarget(msg.targets));
  } else if (msg.type === 'drain') {
    drain(msg.deadlineMs, msg.keepAliveGraceMs);
  } else if (msg.type === 'reopen-logs') {
    reopenAccessLog();
  }
});

/** logrotate moved the access log away (SIGUSR1 to the primary, which tells every worker). */
function reopenAccessLog(): void {
  const accessLog = state?.accessLog ?? null;
  accessLog?.reopen();
  log('info', 'access log reopened', { worker: workerIndex, path: accessLog?.path ?? null });
}
// A SIGUSR1 sent to every process of the gateway (`systemctl kill -s USR1`, a process group)
// reaches the workers too: they reopen as well (twice is harmless), and Node's default for
// SIGUSR1, starting the inspector, never happens in a worker.
process.on('SIGUSR1', reopenAccessLog);

// The primary handles signals; a worker ignores Ctrl-C's SIGINT (sent to the whole process
// group) and waits for the primary's drain message instead.
process.on('SIGINT', () => {});
send({ type: 'hello' });
process.on('SIGTERM', () => drain(10_000));
process.on('disconnect', () => {
  // Primary gone: stop serving rather than linger as an orphan.
  if (!finishing) drain(1000);
});
