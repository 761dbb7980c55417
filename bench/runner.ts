/**
 * The load suite's runner: starts the upstream and, per scenario, the contenders; measures them
 * in alternating rounds (A B C A B C ...) with the load generator in its own process; records
 * requests/s, the HDR latency histogram, errors, and the CPU of every party (contender, upstream,
 * load generator) from /proc; stops everything it started.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startGateway, validateGateway, writeGatewayConfig } from './contenders/gateway.js';
import { startPeer } from './contenders/peer.js';
import { floorLabel, startFloor, type FloorName } from './contenders/floor.js';
import { serverLabel, SERVER_TITLES, startServer, type InstalledServers } from './contenders/servers.js';
import type { RunningContender } from './contenders/types.js';
import { startUpstream, upstreamDelta, upstreamStats, type RunningUpstream } from './contenders/upstream.js';
import { encode, summarize, type LatencySummary } from './histogram.js';
import { runLoad, type LoadSpec, type LoadTool, type OpenLoopFigures } from './loadgen.js';
import { ROOT } from './paths.js';
import { OtherCpu, processCpuSeconds, TreeCpu } from './proc.js';
import {
  scenarios as allScenarios,
  SERVER_PEERS,
  type BenchContext,
  type ContenderName,
  type Fixtures,
  type RequestSpec,
  type Scenario,
  type ServerPeer,
  type TargetSet,
} from './scenarios.js';
import { probe, sleep, type Managed } from './spawn.js';
import { startProbe, type ProbeResult } from './probe.js';

export interface SuiteOptions {
  scenarios: string[];
  rounds: number;
  durationS: number;
  warmupS: number;
  connections: number[];
  workers: number;
  loadgen: 'wrk' | 'autocannon';
  wrkThreads: number;
  timeoutS: number;
  /** nginx, haproxy, Caddy: the ones installed and not left out. */
  servers: InstalledServers;
  withPeer: boolean;
  peerVersion: string | null;
  /** Measure the floors (bench/contenders/floor.ts) where a scenario has them. */
  withFloors?: boolean;
  upstreamKind: 'uws' | 'http';
  /** Another checkout of the gateway (built) measured as the `baseline` contender, or null. */
  baselineDir: string | null;
  /** `engine` of the gateway's / the baseline's upstream (--engine, --baseline-engine); null: its default. */
  engine?: 'native' | 'undici' | null;
  baselineEngine?: 'native' | 'undici' | null;
  /** Where configs, scripts and temp files go. */
  workDir: string;
  /** Requests per second of the open-loop scenario. */
  rate: number;
  /** Client connection counts per scenario name, over `connections` (--scenario-connections). */
  scenarioConnections: Record<string, number[]>;
}

export interface RunRecord {
  scenario: string;
  connections: number;
  contender: ContenderName;
  label: string;
  round: number;
  tool: LoadTool;
  requests: number;
  durationS: number;
  rps: number;
  errors: number;
  errorDetail: Record<string, number>;
  non2xx: number;
  /** Percentiles of the measured latencies (wrk: with the samples its correction adds taken out again). */
  latencyUs: LatencySummary;
  /** wrk only: the percentiles as wrk reports them, its coordinated-omission correction included (bench/histogram.ts). */
  latencyWrkCorrectedUs?: LatencySummary;
  /** HdrHistogram of the run (µs), compressed base64. */
  hist: string;
  cpuS: { contender: number | null; upstream: number; loadgen: number };
  cpuUsPerReq: { contender: number | null; upstream: number; loadgen: number };
  /** The contender's CPU µs per request as user and system (kernel) time, from /proc (null: no process of its own). */
  cpuSplitUsPerReq?: { user: number; system: number } | null;
  /** Cores the load generator kept busy (CPU seconds / wall seconds). */
  loadgenCores: number;
  /** Cores kept busy during the run by processes outside the suite (noise: other work on the box). */
  machine: { otherCores: number };
  /**
   * Scenarios over several targets: the requests each target answered during the run (from the
   * upstream's counters), in the order of the upstream's target list, with each target's answer delay.
   */
  targets?: { ports: number[]; delayMs: number[]; requests: number[] };
  /** Scenarios with a probe route: the latency of the probe requests sent alongside the load (µs). */
  probeUs?: ProbeResult;
  /**
   * What the upstream saw during the run (its counters, over the scenario's targets): the requests
   * it answered (a cache's misses) and the TCP connections it accepted (a proxy's new upstream
   * connections: with a working keep-alive pool, ~0 once warm).
   */
  upstreamSeen?: { requests: number; newConnections: number; newConnectionsPerS: number; newConnectionsPer1kRequests: number };
  /** tracing-*: what the OTLP sink received during the run. */
  otlp?: { exports: number; spans: number; bytes: number };
  /** open-loop: the offered rate, the client's send lag, the deepest queue. */
  openLoop?: OpenLoopFigures;
}

export interface ContenderStatus {
  name: ContenderName;
  label: string;
  status: 'ran' | 'not-applicable' | 'failed';
  reason?: string;
}

export interface ScenarioStatus {
  name: string;
  title: string;
  measures: string;
  status: 'ran' | 'skipped' | 'failed';
  reason?: string;
  connections: number[];
  /** Upstream keep-alive connections per worker (gateway connectionsPerWorker = nginx keepalive). */
  upstreamPool: number;
  contenders: ContenderStatus[];
  /** The scenario whose gateway config the `reference` contender ran, if any. */
  reference?: string;
  /** Targets of its upstream, when more than one: ports and answer delays (ms). */
  targets?: { set: TargetSet; ports: number[]; delayMs: number[] };
  /** The gateway balancer and nginx method of the upstream, where the scenario sets them. */
  balancer?: { gateway: string; nginx: string };
  /** open-loop: the offered request rate. */
  rate?: number;
  /** routes-*: routes in the table. */
  routeTable?: number;
  /** msgpack-*: KiB of JSON converted per request. */
  convertedKiB?: number;
  /** tracing-*: the sampleRatio. */
  tracingRatio?: number;
}

export interface SuiteResult {
  scenarios: ScenarioStatus[];
  runs: RunRecord[];
  warnings: string[];
  upstream: { kind: 'uws' | 'http' };
}

export interface Progress {
  /** A run starts: what, and how far along the suite is. */
  run(info: { scenario: string; connections: number; contender: string; round: number; rounds: number; warmup: boolean; seconds: number }): void;
  /** A run ended. */
  result(r: RunRecord): void;
  note(msg: string): void;
  /** Total planned seconds of load, for "time left". */
  plan(totalSeconds: number): void;
}

export class Aborted extends Error {
  constructor() {
    super('aborted');
  }
}

/** The suite's state that Ctrl-C needs: the load generator child, if one runs. */
export const current: { loadgen: Managed | null; aborted: boolean } = { loadgen: null, aborted: false };

/** Upstream pool per worker: at least the client concurrency per worker, with room for an uneven SO_REUSEPORT split. */
export function upstreamPoolFor(maxConnections: number, workers: number): number {
  return Math.max(64, Math.ceil((1.5 * maxConnections) / workers));
}

/** How long after a tracing-* run the sink's count is read: the gateway's export interval (1 s) and a margin. */
const TRACING_FLUSH_WAIT_MS = 1500;

/** Cores of CPU used by unrelated processes during a run above which the run is flagged as disturbed. */
export const NOISE_CORES = 0.25;

const LABEL_DIRECT = 'direct to the upstream';

const CONTENDER_ORDER: ContenderName[] = ['direct', 'gateway', 'reference', 'baseline', 'floor-engine', 'floor-addon', ...SERVER_PEERS, 'peer'];

function isFloor(c: ContenderName): c is FloorName {
  return c === 'floor-engine' || c === 'floor-addon';
}

function isServerPeer(c: ContenderName): c is ServerPeer {
  return (SERVER_PEERS as readonly string[]).includes(c);
}

function contenderOrder(s: Scenario): ContenderName[] {
  return CONTENDER_ORDER.filter((c) => s.contenders.includes(c) || (c === 'baseline' && s.contenders.includes('gateway')));
}

/** The scenario a `reference` contender takes its gateway config from (the scenario itself when it names none). */
function referenceScenario(s: Scenario, fx: Fixtures): Scenario | null {
  if (!s.reference) return null;
  if (s.reference.scenario === undefined) return s;
  const ref = allScenarios(fx).find((x) => x.name === s.reference!.scenario);
  if (!ref) throw new Error(`scenario ${s.name}: reference scenario ${s.reference.scenario} does not exist`);
  return ref;
}

/** The request a contender gets: the reference's own when the scenario gives it one. */
function requestFor(s: Scenario, c: ContenderName): RequestSpec {
  return c === 'reference' && s.reference?.request ? s.reference.request : s.request;
}

export function toolFor(s: Scenario, opts: Pick<SuiteOptions, 'loadgen'>): LoadTool {
  return s.kind === 'ws' ? 'ws' : s.openLoop ? 'open' : opts.loadgen;
}

/** Decides, for every selected scenario, whether it runs and with whom (nothing is started yet). */
export async function planScenarios(
  opts: SuiteOptions,
  fx: Fixtures,
  upstream: Pick<RunningUpstream, 'port' | 'targetPorts' | 'listeners' | 'otlpPort'>,
): Promise<Array<{ s: Scenario; status: ScenarioStatus; ctx: BenchContext }>> {
  const out: Array<{ s: Scenario; status: ScenarioStatus; ctx: BenchContext }> = [];
  for (const s of allScenarios(fx)) {
    if (!opts.scenarios.includes(s.name)) continue;
    const connections = s.connections ?? opts.scenarioConnections[s.name] ?? opts.connections;
    const ctx: BenchContext = {
      workers: opts.workers,
      upstreamPort: upstream.port,
      targetPorts: upstream.targetPorts,
      upstreamPool: upstreamPoolFor(Math.max(...connections), opts.workers),
      otlpPort: upstream.otlpPort,
      fixtures: fx,
    };
    const status: ScenarioStatus = {
      name: s.name,
      title: s.title,
      measures: s.measures,
      status: 'ran',
      connections,
      upstreamPool: ctx.upstreamPool,
      contenders: [],
    };
    if (s.reference) status.reference = s.reference.scenario ?? s.name;
    if (s.openLoop) status.rate = opts.rate;
    if (s.routeTable !== undefined) status.routeTable = s.routeTable;
    if (s.convertedKiB !== undefined) status.convertedKiB = s.convertedKiB;
    if (s.tracingRatio !== undefined) status.tracingRatio = s.tracingRatio;
    const set = s.upstream?.targets ?? 'single';
    if (set !== 'single') {
      const ports = ctx.targetPorts[set];
      status.targets = { set, ports, delayMs: ports.map((p) => upstream.listeners.find((l) => l.port === p)?.delayMs ?? 0) };
    }
    const balancer = s.upstream?.gateway?.balancer;
    if (typeof balancer === 'string') status.balancer = { gateway: balancer, nginx: s.upstream?.nginxMethod ?? 'round-robin' };
    out.push({ s, status, ctx });
    if (s.name === 'websocket') {
      if (!existsSync(join(ROOT, 'src', 'worker', 'websocket.ts'))) {
        status.status = 'skipped';
        status.reason = 'WebSocket relay not implemented';
        continue;
      }
      if (opts.upstreamKind !== 'uws') {
        status.status = 'skipped';
        status.reason = 'the node:http upstream has no WebSocket echo (use --upstream uws)';
        continue;
      }
    }
    if (s.contenders.includes('gateway')) {
      const cfg = writeGatewayConfig(s, ctx, opts.workDir, 1);
      const v = await validateGateway(cfg, s.env);
      if (!v.ok) {
        status.status = v.notImplemented ? 'skipped' : 'failed';
        status.reason = v.notImplemented ? v.message : `gateway validate refused the bench config: ${v.message}`;
        continue;
      }
    }
    const ref = referenceScenario(s, fx);
    for (const c of CONTENDER_ORDER) {
      const label =
        c === 'direct' ? LABEL_DIRECT
        : c === 'gateway' ? `gateway (${opts.workers} workers)`
        : c === 'reference' ? `${s.reference?.label ?? 'reference'} (${opts.workers} workers)`
        : c === 'baseline' ? `baseline gateway (${opts.workers} workers)`
        : isServerPeer(c) ? serverLabel(c, s, opts.workers)
        : isFloor(c) ? floorLabel(c, opts.workers)
        : 'fastify + @fastify/http-proxy';
      if (c === 'reference') {
        if (!ref || !s.contenders.includes('reference')) continue;
        // The scenario's own config was validated above; another scenario's is checked here.
        const v = ref === s ? ({ ok: true } as const) : await validateGateway(writeGatewayConfig(ref, ctx, opts.workDir, 1, opts.engine ?? null, 'reference'), ref.env);
        if (v.ok) status.contenders.push({ name: c, label, status: 'ran' });
        else status.contenders.push({ name: c, label, status: v.notImplemented ? 'not-applicable' : 'failed', reason: v.message });
        continue;
      }
      if (c === 'baseline') {
        // Wherever the gateway runs, when a baseline checkout was given.
        if (opts.baselineDir !== null && s.contenders.includes('gateway')) status.contenders.push({ name: c, label, status: 'ran' });
        continue;
      }
      if (!s.contenders.includes(c)) {
        const why = s.notApplicable?.[c];
        // Reasons only for contenders that would otherwise run (installed, --with-peer).
        const present = c === 'peer' ? opts.withPeer : isFloor(c) ? opts.withFloors === true : isServerPeer(c) ? opts.servers[c] !== undefined : true;
        if (why && present) status.contenders.push({ name: c, label, status: 'not-applicable', reason: why });
        continue;
      }
      if (isServerPeer(c) && !opts.servers[c]) {
        status.contenders.push({ name: c, label, status: 'not-applicable', reason: `${SERVER_TITLES[c]} is not installed (or left out)` });
        continue;
      }
      if (isFloor(c) && opts.withFloors !== true) continue;
      if (c === 'peer') {
        if (!opts.withPeer) continue;
        if (!opts.peerVersion) {
          status.contenders.push({ name: c, label, status: 'not-applicable', reason: 'fastify / @fastify/http-proxy are not installed (devDependencies)' });
          continue;
        }
      }
      status.contenders.push({ name: c, label, status: 'ran' });
    }
  }
  return out;
}

async function startContender(c: ContenderName, s: Scenario, ctx: BenchContext, opts: SuiteOptions, upstream: RunningUpstream): Promise<RunningContender> {
  switch (c) {
    case 'direct':
      return { name: 'direct', label: LABEL_DIRECT, port: upstream.port, pid: null, stop: async () => {} };
    case 'gateway':
      return startGateway(s, ctx, opts.workDir, { engine: opts.engine ?? null });
    case 'reference':
      return startGateway(referenceScenario(s, ctx.fixtures)!, ctx, opts.workDir, { as: { name: 'reference', label: s.reference!.label }, engine: opts.engine ?? null });
    case 'baseline':
      return startGateway(s, ctx, opts.workDir, { root: opts.baselineDir!, engine: opts.baselineEngine ?? null });
    case 'nginx':
    case 'haproxy':
    case 'caddy':
      return startServer(c, opts.servers[c]!.bin, s, ctx, opts.workDir);
    case 'peer':
      return startPeer(ctx);
    case 'floor-engine':
    case 'floor-addon':
      return startFloor(c, ctx);
  }
}

/**
 * One request through the contender before measuring: a 2xx with the expected body size and the
 * expected header (after a first request, when the expectation is of a cache hit).
 */
/** Sanity requests of a `primed` scenario before it must have seen the expected header. */
const PRIMED_TRIES = 16;

function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string {
  const got = headers[name.toLowerCase()];
  return Array.isArray(got) ? got.join(', ') : (got ?? '');
}

function expected(headers: Record<string, string | string[] | undefined>, want: NonNullable<RequestSpec['expect']>): boolean {
  return headerValue(headers, want.header).toLowerCase().startsWith(want.value.toLowerCase());
}

async function sanityCheck(c: RunningContender, s: Scenario): Promise<string | null> {
  if (s.kind === 'ws') return null;
  const req = requestFor(s, c.name);
  const once = () =>
    probe(c.port, req.path, {
      method: req.method,
      headers: { ...req.headers, ...(req.bodyBytes ? { 'content-length': String(req.bodyBytes) } : {}) },
      body: req.bodyBytes ? Buffer.alloc(req.bodyBytes, 'x') : undefined,
      timeoutMs: 10_000,
    });
  try {
    let r = await once();
    // A cache fills per worker and each probe is a new connection, to whichever worker the
    // kernel picks: ask again (a few times) until a worker that has it answers.
    for (let i = 0; req.expect?.primed && i < PRIMED_TRIES && !expected(r.headers, req.expect); i++) r = await once();
    if (r.status < 200 || r.status > 299) return `sanity request got ${r.status}: ${r.body.slice(0, 200)}`;
    if (req.responseBytes !== undefined && r.bodyBytes !== req.responseBytes) {
      return `sanity request got ${r.bodyBytes} body bytes, expected ${req.responseBytes}`;
    }
    if (req.expect && !expected(r.headers, req.expect)) {
      return `sanity request got ${req.expect.header}: ${headerValue(r.headers, req.expect.header) || '(none)'}, expected ${req.expect.value}`;
    }
    return null;
  } catch (e) {
    return `sanity request failed: ${(e as Error).message}`;
  }
}

function loadSpec(s: Scenario, c: RunningContender, connections: number, durationS: number, opts: SuiteOptions): LoadSpec {
  const req = requestFor(s, c.name);
  return {
    port: c.port,
    path: req.path,
    method: req.method,
    headers: req.headers,
    bodyBytes: req.bodyBytes,
    connections,
    durationS,
    timeoutS: opts.timeoutS,
    threads: opts.wrkThreads,
    keyHeader: req.keyHeader,
    ...(s.openLoop ? { rate: opts.rate } : {}),
  };
}

/** Seconds of load the plan will generate (warm-ups included), for the progress display. */
export function plannedSeconds(plan: Array<{ status: ScenarioStatus }>, opts: SuiteOptions): number {
  let total = 0;
  for (const { status } of plan) {
    if (status.status !== 'ran') continue;
    const n = status.contenders.filter((c) => c.status === 'ran').length;
    total += status.connections.length * n * (opts.rounds * (opts.durationS + 1) + (opts.warmupS > 0 ? opts.warmupS + 1 : 0));
  }
  return total;
}

export async function runSuite(opts: SuiteOptions, fx: Fixtures, progress: Progress): Promise<SuiteResult> {
  const runs: RunRecord[] = [];
  const warnings: string[] = [];
  const upstream = await startUpstream(opts.upstreamKind);
  progress.note(`upstream: ${upstream.kind === 'uws' ? 'uWebSockets.js' : 'node:http'} server, 1 process, 127.0.0.1:${upstream.port} (pid ${upstream.pid})`);
  progress.note(
    `upstream: lb target ports ${upstream.targetPorts.lb.join(', ')}; lb-slow ${upstream.targetPorts['lb-slow']
      .map((p) => `${p}${upstream.listeners.find((l) => l.port === p)?.delayMs ? ` (+${upstream.listeners.find((l) => l.port === p)!.delayMs} ms)` : ''}`)
      .join(', ')}`,
  );
  const plan = await planScenarios(opts, fx, upstream);
  progress.plan(plannedSeconds(plan, opts));
  for (const { status } of plan) {
    if (status.status !== 'ran') progress.note(`${status.name}: ${status.status}: ${status.reason}`);
  }
  try {
    for (const { s, status, ctx } of plan) {
      if (status.status !== 'ran') continue;
      const running: RunningContender[] = [];
      try {
        for (const name of contenderOrder(s)) {
          const st = status.contenders.find((c) => c.name === name);
          if (!st || st.status !== 'ran') continue;
          try {
            const c = await startContender(name, s, ctx, opts, upstream);
            running.push(c);
            st.label = c.label;
            const bad = await sanityCheck(c, s);
            if (bad) {
              st.status = 'failed';
              st.reason = bad;
              progress.note(`${s.name}: ${c.label}: ${bad}`);
            }
          } catch (e) {
            st.status = 'failed';
            st.reason = (e as Error).message.split('\n').slice(0, 6).join(' | ');
            progress.note(`${s.name}: ${name} did not start: ${st.reason}`);
          }
        }
        const active = running.filter((c) => status.contenders.find((st) => st.name === c.name)?.status === 'ran');
        if (active.length === 0) {
          status.status = 'failed';
          status.reason = 'no contender could be started';
          continue;
        }
        for (const conns of status.connections) {
          if (opts.warmupS > 0) {
            for (const c of active) {
              if (current.aborted) throw new Aborted();
              progress.run({ scenario: s.name, connections: conns, contender: c.label, round: 0, rounds: opts.rounds, warmup: true, seconds: opts.warmupS });
              try {
                await runLoad(toolFor(s, opts), loadSpec(s, c, conns, opts.warmupS, opts), opts.workDir, (m) => (current.loadgen = m));
              } catch (e) {
                progress.note(`warm-up of ${c.label} failed: ${(e as Error).message.split('\n')[0]}`);
              }
              await sleep(500);
            }
          }
          for (let round = 1; round <= opts.rounds; round++) {
            for (const c of active) {
              if (current.aborted) throw new Aborted();
              progress.run({ scenario: s.name, connections: conns, contender: c.label, round, rounds: opts.rounds, warmup: false, seconds: opts.durationS });
              const rec = await measure(s, c, conns, round, opts, upstream);
              if (rec) {
                runs.push(rec);
                progress.result(rec);
                if (rec.requests === 0) {
                  const w = `${s.name} @${conns} ${c.label} round ${round}: no response at all in ${opts.durationS} s (errors ${rec.errors})`;
                  warnings.push(w);
                  progress.note(`warning: ${w}`);
                }
                // Little's law: at most `conns` requests are in flight, so mean latency × req/s cannot
                // exceed it; a run where it does has latencies that no request had (a load
                // generator's made-up samples, a broken histogram).
                // (The open-loop client queues requests beyond its connections: the law holds for them too, with the queue.)
                const inFlight = (rec.latencyUs.mean / 1e6) * rec.rps;
                if (rec.requests > 0 && !s.openLoop && inFlight > 1.15 * conns) {
                  const w = `${s.name} @${conns} ${c.label} round ${round}: mean latency × req/s = ${inFlight.toFixed(0)} requests in flight, more than the ${conns} connections allow: its latency figures are suspect`;
                  warnings.push(w);
                  progress.note(`warning: ${w}`);
                }
                if (rec.machine.otherCores > NOISE_CORES) {
                  const w = `${s.name} @${conns} ${c.label} round ${round}: other processes kept ${rec.machine.otherCores.toFixed(2)} cores busy during the run; its numbers are disturbed`;
                  warnings.push(w);
                  progress.note(`warning: ${w}`);
                }
                if (rec.loadgenCores >= 0.9 * (rec.tool === 'wrk' ? Math.min(opts.wrkThreads, conns) : 1)) {
                  const w =
                    c.name === 'direct'
                      ? `${s.name} @${conns} ${c.label} round ${round}: the load generator (${rec.tool}) saturated (${rec.loadgenCores.toFixed(2)} cores), as expected with no proxy in between: this ceiling is a lower bound`
                      : `${s.name} @${conns} ${c.label} round ${round}: the load generator (${rec.tool}) used ${rec.loadgenCores.toFixed(2)} cores, i.e. it saturated; this run measures the load generator, not the contender`;
                  warnings.push(w);
                  progress.note(`warning: ${w}`);
                }
              } else {
                progress.note(`${s.name} @${conns} ${c.label} round ${round}: the load generator failed (see above)`);
              }
              await sleep(500);
            }
          }
        }
      } finally {
        await Promise.all(running.map((c) => c.stop()));
      }
    }
  } finally {
    await upstream.stop();
  }
  return { scenarios: plan.map((p) => p.status), runs, warnings, upstream: { kind: upstream.kind } };
}

async function measure(s: Scenario, c: RunningContender, conns: number, round: number, opts: SuiteOptions, upstream: RunningUpstream): Promise<RunRecord | null> {
  const tool = toolFor(s, opts);
  const set = s.upstream?.targets ?? 'single';
  const stats0 = await upstreamStats(upstream);
  const tree = c.pid !== null ? new TreeCpu(c.pid) : null;
  tree?.begin();
  const up0 = processCpuSeconds(upstream.pid);
  const other = new OtherCpu();
  other.begin();
  const t0 = process.hrtime.bigint();
  const prober = s.probe !== undefined ? startProbe(c.port, s.probe.path, s.probe.intervalMs) : null;
  let r;
  try {
    r = await runLoad(tool, loadSpec(s, c, conns, opts.durationS, opts), opts.workDir, (m) => (current.loadgen = m));
  } catch (e) {
    await prober?.stop();
    if (current.aborted) throw new Aborted();
    process.stderr.write(`${(e as Error).message}\n`);
    return null;
  }
  const probeUs = prober !== null ? await prober.stop() : undefined;
  const contenderS = tree ? tree.end() : null;
  const upstreamS = processCpuSeconds(upstream.pid) - up0;
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const otherCores = other.end() / wallS;
  // The gateway exports spans every second: let the last batch of the run arrive before counting.
  if (s.tracingRatio !== undefined) await sleep(TRACING_FLUSH_WAIT_MS);
  const stats1 = stats0 ? await upstreamStats(upstream) : null;
  const ports = upstream.targetPorts[set];
  const seen = stats0 && stats1 ? upstreamDelta(stats0, stats1, ports) : null;
  let targets: RunRecord['targets'];
  if (seen && set !== 'single') {
    targets = { ports, delayMs: ports.map((p) => upstream.listeners.find((l) => l.port === p)?.delayMs ?? 0), requests: seen.requests };
  }
  let upstreamSeen: RunRecord['upstreamSeen'];
  if (seen) {
    const accepted = seen.accepts.reduce((a, b) => a + b, 0);
    upstreamSeen = {
      requests: seen.requests.reduce((a, b) => a + b, 0),
      newConnections: accepted,
      newConnectionsPerS: accepted / r.durationS,
      newConnectionsPer1kRequests: r.requests > 0 ? (accepted * 1000) / r.requests : 0,
    };
  }
  const otlp = seen?.otlp && s.tracingRatio !== undefined ? { exports: seen.otlp.requests, spans: seen.otlp.spans, bytes: seen.otlp.bytes } : undefined;
  const perReq = (sec: number) => (r.requests > 0 ? (sec * 1e6) / r.requests : 0);
  return {
    scenario: s.name,
    connections: conns,
    contender: c.name,
    label: c.label,
    round,
    tool,
    requests: r.requests,
    durationS: r.durationS,
    rps: r.rps,
    errors: r.errors,
    errorDetail: r.errorDetail,
    non2xx: r.non2xx,
    latencyUs: summarize(r.hist),
    ...(r.wrkCorrected ? { latencyWrkCorrectedUs: r.wrkCorrected } : {}),
    hist: encode(r.hist),
    cpuS: { contender: contenderS, upstream: upstreamS, loadgen: r.cpuS },
    cpuUsPerReq: { contender: contenderS === null ? null : perReq(contenderS), upstream: perReq(upstreamS), loadgen: perReq(r.cpuS) },
    cpuSplitUsPerReq: tree === null ? null : { user: perReq(tree.split().user), system: perReq(tree.split().system) },
    loadgenCores: r.cpuS / r.durationS,
    machine: { otherCores },
    ...(targets ? { targets } : {}),
    ...(probeUs !== undefined ? { probeUs } : {}),
    ...(upstreamSeen ? { upstreamSeen } : {}),
    ...(otlp ? { otlp } : {}),
    ...(r.openLoop ? { openLoop: r.openLoop } : {}),
  };
}
