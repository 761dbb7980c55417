/**
 * `gateway bench` / `npm run bench -- [options]`: the load suite (docs/benchmarking.md).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildCharts } from './charts.js';
import { compareReports, formatComparison, readReport } from './compare.js';
import { peerVersions } from './contenders/peer.js';
import { findServers, SERVER_TITLES } from './contenders/servers.js';
import { runMicro } from './micro.js';
import { ROOT } from './paths.js';
import { gitCommit, loadAverage, machineInfo, which } from './proc.js';
import { formatProfile, runProfiles } from './profile.js';
import { buildReport, fmtRps, renderMarkdown, terminalTable, type MicroResults, type Report } from './report.js';
import { Aborted, current, runSuite, type Progress, type RunRecord, type SuiteOptions } from './runner.js';
import { DEFAULT_OPEN_LOOP_RATE, makeFixtures, scenarioGroups, SCENARIO_NAMES, SERVER_PEERS, selectScenarios, type ServerPeer } from './scenarios.js';
import { killAllNow, stopAll } from './spawn.js';

const GROUPS = scenarioGroups();

/** Words joined with ", " into lines of at most `width` characters, continued with `indent`. */
function wrapList(words: string[], indent: string, width = 100): string {
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    const next = line ? `${line}, ${w}` : w;
    if (next.length + indent.length > width && line) {
      lines.push(`${line},`);
      line = w;
    } else line = next;
  }
  if (line) lines.push(line);
  return lines.join(`\n${indent}`);
}
const USAGE_INDENT = ' '.repeat(24);

export const BENCH_USAGE = `Usage: gateway bench [options]          (or: npm run bench -- [options])

Measures the gateway against the direct path, nginx, haproxy and Caddy (those installed) and,
with --with-peer, a Node proxy, side by side, on 127.0.0.1.

  --scenario LIST       names and groups, comma-separated, repeatable (default: the group default):
                        ${wrapList(SCENARIO_NAMES, USAGE_INDENT)}
                        groups: default (every scenario but the lb-* ones), all (every scenario),
                        lb (${wrapList(GROUPS.lb, USAGE_INDENT).trimStart()}),
                        lb-slow (the lb-slow-* ones), routes (the routes-* ones), msgpack, tracing
  --rounds N            alternating rounds per contender (default 3)
  --duration S          seconds per measured run (default 10)
  --warmup S            seconds of warm-up per contender before its first round (default 2; 0 = none)
  --connections LIST    client connections, comma-separated (default 64,256; conns-5k always uses 5000)
  --scenario-connections NAME=LIST
                        connections for one scenario instead of --connections (repeatable),
                        e.g. --connections 64 --scenario-connections proxy=64,256
  --rate N              requests/s of the open-loop scenario (default ${DEFAULT_OPEN_LOOP_RATE})
  --workers N           gateway workers = nginx workers = haproxy threads = Caddy GOMAXPROCS =
                        peer workers (default 2)
  --loadgen TOOL        wrk | autocannon (default: wrk when installed, else autocannon)
  --wrk-threads N       wrk threads (default 1)
  --timeout S           a response slower than this counts as a timeout error (default 10)
  --upstream KIND       uws | http: the upstream server (default uws)
  --with-peer           also measure fastify + @fastify/http-proxy (devDependencies)
  --with-floors         also measure, in the proxy scenario, the gateway's upstream engine with
                        nothing of the gateway around it (the floors: docs/benchmarking.md)
  --baseline DIR        also measure another built checkout of the gateway (e.g. a git worktree of
                        the commit before a change) as "baseline", alternating in the same rounds
  --engine E            native | undici: the upstream engine of the gateway contender (default: the
                        gateway's own default, native for http://)
  --baseline-engine E   native | undici: the same for the --baseline contender (e.g. --baseline . with
                        --baseline-engine undici measures both engines of this checkout in one run)
  --no-nginx, --no-haproxy, --no-caddy
                        leave that server out even when it is installed
  --no-micro            skip the micro-benchmarks (router, token bucket)
  --micro-only          run only the micro-benchmarks
  --out DIR             results directory (default bench/results/<date>)
  --compare OLD.json    after the run, print the change against OLD per scenario (regressions > 5% flagged)
  --to NEW.json         with --compare: compare two reports, run nothing
  --threshold PCT       regression threshold for --compare (default 5)
  --fail-on-regression  with --compare: exit 3 when a regression is flagged
  --profile             profile the gateway's workers (--cpu-prof) on the selected scenarios instead of
                        measuring; profiles + summary go to bench/profiles/<stamp>-<scenario>/
  --profile-top N       functions in the profile summary (default 15)
  -h, --help            this text
`;

/** A bad flag value: exit 2, like a flag parseArgs does not know. */
class UsageError extends Error {}

function list(values: unknown): string[] {
  const arr = Array.isArray(values) ? values : values === undefined ? [] : [values];
  return arr.flatMap((v) => String(v).split(',')).map((s) => s.trim()).filter(Boolean);
}

function positiveInt(name: string, v: unknown, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} wants an integer >= ${min}, got "${String(v)}"`);
  return n;
}

function positiveNum(name: string, v: unknown, dflt: number, min = 0): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`--${name} wants a number >= ${min}, got "${String(v)}"`);
  return n;
}

function stampNow(): string {
  // 2025-01-31T14-05-09: a date a directory name can hold, sortable
  return new Date().toISOString().replace(/[:]/g, '-').slice(0, 19);
}

function fmtDuration(s: number): string {
  s = Math.max(0, Math.round(s));
  const m = Math.floor(s / 60);
  return m ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

function toolVersion(tool: 'wrk' | 'autocannon'): string {
  if (tool === 'autocannon') {
    try {
      return (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'autocannon', 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return 'unknown';
    }
  }
  try {
    execFileSync('wrk', ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const out = `${(e as { stdout?: string }).stdout ?? ''}`;
    const m = /wrk (\S+)/.exec(out);
    if (m) return m[1];
  }
  return 'unknown';
}

/** Progress on stderr: a live status line on a terminal, one line per run otherwise. */
function makeProgress(): Progress & { elapsed(): number } {
  const tty = process.stderr.isTTY === true;
  const started = Date.now();
  let planned = 0;
  let doneSeconds = 0;
  let status = '';
  let runEnds = 0;
  let runSeconds = 0;
  let timer: NodeJS.Timeout | null = null;
  const draw = () => {
    const left = Math.max(0, planned - doneSeconds - Math.max(0, runSeconds - Math.max(0, (runEnds - Date.now()) / 1000)));
    const line = `${status}  [${fmtDuration((Date.now() - started) / 1000)} elapsed, ~${fmtDuration(left)} left]`;
    if (tty) process.stderr.write(`\r\x1b[2K${line}`);
  };
  const clear = () => {
    if (tty) process.stderr.write('\r\x1b[2K');
  };
  return {
    elapsed: () => (Date.now() - started) / 1000,
    plan(total) {
      planned = total;
    },
    run(info) {
      doneSeconds += runSeconds;
      runSeconds = info.seconds + 1;
      runEnds = Date.now() + info.seconds * 1000;
      status = `${info.scenario} @${info.connections} | ${info.warmup ? 'warm-up' : `round ${info.round}/${info.rounds}`} | ${info.contender}`;
      if (tty) {
        if (!timer) timer = setInterval(draw, 1000);
        draw();
      } else {
        const left = Math.max(0, planned - doneSeconds);
        process.stderr.write(`${status} (${info.seconds} s; ~${fmtDuration(left)} left)\n`);
      }
    },
    result(r: RunRecord) {
      clear();
      const cpu = r.cpuUsPerReq.contender === null ? '' : `, ${r.cpuUsPerReq.contender.toFixed(1)} µs CPU/req`;
      const probe = r.probeUs ? `, event-loop probe p99 ${(r.probeUs.p99 / 1000).toFixed(2)} ms max ${(r.probeUs.max / 1000).toFixed(2)} ms (${r.probeUs.count} probes)` : '';
      process.stderr.write(
        `  ${r.scenario} @${r.connections} r${r.round} ${r.label}: ${fmtRps(r.rps)} req/s, p99 ${(r.latencyUs.p99 / 1000).toFixed(2)} ms${cpu}${probe}, ` +
          `errors ${r.errors}, non-2xx ${r.non2xx}, ${r.tool} ${r.loadgenCores.toFixed(2)} cores\n`,
      );
      if (tty) draw();
    },
    note(msg) {
      clear();
      process.stderr.write(`${msg}\n`);
      if (tty && status) draw();
    },
    ...{
      stop() {
        if (timer) clearInterval(timer);
        clear();
      },
    },
  } as Progress & { elapsed(): number; stop(): void };
}

export async function runBenchCli(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: false,
      strict: true,
      options: {
        scenario: { type: 'string', multiple: true },
        rounds: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        connections: { type: 'string', multiple: true },
        workers: { type: 'string' },
        loadgen: { type: 'string' },
        'wrk-threads': { type: 'string' },
        timeout: { type: 'string' },
        upstream: { type: 'string' },
        'with-peer': { type: 'boolean' },
        'with-floors': { type: 'boolean' },
        baseline: { type: 'string' },
        engine: { type: 'string' },
        'baseline-engine': { type: 'string' },
        'no-nginx': { type: 'boolean' },
        'no-haproxy': { type: 'boolean' },
        'no-caddy': { type: 'boolean' },
        rate: { type: 'string' },
        'scenario-connections': { type: 'string', multiple: true },
        'no-micro': { type: 'boolean' },
        'micro-only': { type: 'boolean' },
        out: { type: 'string' },
        compare: { type: 'string' },
        to: { type: 'string' },
        threshold: { type: 'string' },
        'fail-on-regression': { type: 'boolean' },
        profile: { type: 'boolean' },
        'profile-top': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    process.stderr.write(`gateway bench: ${(e as Error).message}\n\n${BENCH_USAGE}`);
    return 2;
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(BENCH_USAGE);
    return 0;
  }
  try {
    return await main(v, args);
  } catch (e) {
    if (e instanceof Aborted) return 130;
    process.stderr.write(`gateway bench: ${(e as Error).message}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
}

type Values = Record<string, string | boolean | string[] | undefined>;

async function main(v: Values, argv: string[]): Promise<number> {
  const threshold = positiveNum('threshold', v.threshold, 5);

  // Compare two existing reports: nothing runs.
  if (v.to !== undefined) {
    if (v.compare === undefined) throw new UsageError('--to needs --compare OLD.json');
    const c = compareReports(readReport(String(v.compare)), readReport(String(v.to)), threshold);
    process.stdout.write(`${formatComparison(c)}\n`);
    return c.regressions && v['fail-on-regression'] ? 3 : 0;
  }
  const oldReport: Report | null = v.compare !== undefined ? readReport(String(v.compare)) : null;

  const { selected, unknown } = selectScenarios(list(v.scenario));
  if (unknown.length) {
    throw new UsageError(`unknown scenario(s): ${unknown.join(', ')} (known: ${SCENARIO_NAMES.join(', ')}; groups: ${Object.keys(GROUPS).join(', ')})`);
  }
  const connections = list(v.connections).map((c) => positiveInt('connections', c, 0));
  const wrkPath = which('wrk');
  const requested = v.loadgen === undefined ? null : String(v.loadgen);
  if (requested !== null && requested !== 'wrk' && requested !== 'autocannon') throw new UsageError(`--loadgen wants wrk or autocannon, got "${requested}"`);
  if (requested === 'wrk' && !wrkPath) throw new Error('--loadgen wrk: wrk is not on PATH (apt-get install wrk)');
  const loadgen: 'wrk' | 'autocannon' = requested ?? (wrkPath ? 'wrk' : 'autocannon');
  const loadgenWhy =
    requested !== null ? 'chosen with --loadgen' : loadgen === 'wrk' ? 'default when installed: it costs ~3× less CPU per request than autocannon' : 'wrk is not installed';
  const upstreamArg = v.upstream === undefined ? 'uws' : String(v.upstream);
  if (upstreamArg !== 'uws' && upstreamArg !== 'http') throw new UsageError(`--upstream wants uws or http, got "${upstreamArg}"`);
  const upstreamKind: 'uws' | 'http' = upstreamArg;
  const servers = findServers(new Set(SERVER_PEERS.filter((n) => v[`no-${n}`] === true)));
  const scenarioConnections: Record<string, number[]> = {};
  for (const item of (v['scenario-connections'] as string[] | undefined) ?? []) {
    const eq = item.indexOf('=');
    const name = item.slice(0, eq).trim();
    if (eq < 0 || !SCENARIO_NAMES.includes(name)) throw new UsageError(`--scenario-connections wants NAME=LIST with a scenario name, got "${item}"`);
    scenarioConnections[name] = list(item.slice(eq + 1)).map((c) => positiveInt('scenario-connections', c, 0));
    if (scenarioConnections[name].length === 0) throw new UsageError(`--scenario-connections ${name}: no connection count`);
  }
  const peerVersion = peerVersions();
  let baselineDir: string | null = null;
  if (v.baseline !== undefined) {
    baselineDir = resolve(String(v.baseline));
    if (!existsSync(join(baselineDir, 'bin', 'gateway.js')) || !existsSync(join(baselineDir, 'dist', 'src', 'cli.js'))) {
      throw new UsageError(`--baseline wants a built checkout of the gateway (bin/gateway.js and dist/), got "${String(v.baseline)}"`);
    }
  }

  const engineOf = (name: string, value: unknown): 'native' | 'undici' | null => {
    if (value === undefined) return null;
    if (value !== 'native' && value !== 'undici') throw new UsageError(`--${name} wants native or undici, got "${String(value)}"`);
    return value;
  };
  const engine = engineOf('engine', v.engine);
  const baselineEngine = engineOf('baseline-engine', v['baseline-engine']);
  if (baselineEngine !== null && baselineDir === null) throw new UsageError('--baseline-engine needs --baseline DIR');

  const workDir = mkdtempSync(join(tmpdir(), 'gateway-bench-'));
  const opts: SuiteOptions = {
    scenarios: selected,
    rounds: positiveInt('rounds', v.rounds, 3),
    durationS: positiveNum('duration', v.duration, 10, 1),
    warmupS: positiveNum('warmup', v.warmup, 2, 0),
    connections: connections.length ? connections : [64, 256],
    workers: positiveInt('workers', v.workers, 2),
    loadgen,
    wrkThreads: positiveInt('wrk-threads', v['wrk-threads'], 1),
    timeoutS: positiveNum('timeout', v.timeout, 10, 1),
    servers,
    withPeer: v['with-peer'] === true,
    peerVersion,
    withFloors: v['with-floors'] === true,
    upstreamKind,
    baselineDir,
    engine,
    baselineEngine,
    workDir,
    rate: positiveNum('rate', v.rate, DEFAULT_OPEN_LOOP_RATE, 1),
    scenarioConnections,
  };

  const progress = makeProgress() as ReturnType<typeof makeProgress> & { stop(): void };
  let interrupted = 0;
  const onSignal = (sig: string) => {
    interrupted++;
    current.aborted = true;
    if (interrupted > 1) {
      killAllNow();
      process.exit(130);
    }
    progress.note(`\n${sig}: stopping everything the suite started ...`);
    if (current.loadgen) void current.loadgen.stop(2000);
  };
  const sigint = () => onSignal('SIGINT');
  const sigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);
  process.on('exit', killAllNow);

  try {
    const fx = makeFixtures(workDir);
    if (v.profile) {
      const summaries = await runProfiles(opts, fx, positiveInt('profile-top', v['profile-top'], 15), (m) => progress.note(m));
      progress.stop();
      for (const s of summaries) process.stdout.write(`${formatProfile(s)}\n`);
      return summaries.length ? 0 : 1;
    }

    const outDir = resolve(v.out === undefined ? join(ROOT, 'bench', 'results', stampNow()) : String(v.out));
    mkdirSync(outDir, { recursive: true });
    const machine = machineInfo();
    const loadAverageAtStart = loadAverage();
    if (loadAverageAtStart > 0.5) progress.note(`note: the load average is ${loadAverageAtStart.toFixed(2)}: something else runs on this machine; runs it disturbs are flagged.`);
    progress.note(
      `load suite: ${machine.cores} cores (${machine.cpuModel}), Node ${machine.node}; load generator ${loadgen} ${toolVersion(loadgen)}; ` +
        `${SERVER_PEERS.map((n) => `${SERVER_TITLES[n]}: ${opts.servers[n]?.version ?? 'not installed'}`).join('; ')}${opts.withPeer ? `; peer: ${peerVersion ?? 'not installed'}` : ''}`,
    );
    if (machine.cores <= 2) progress.note('note: load generator, contender and upstream share these cores; read CPU µs/request first (docs/benchmarking.md).');

    const suite = v['micro-only']
      ? { scenarios: [], runs: [], warnings: [], upstream: { kind: upstreamKind } }
      : await runSuite(opts, fx, progress);
    let micro: MicroResults = {
      router: { status: 'skipped', reason: '--no-micro' },
      tokenBucket: { status: 'skipped', reason: '--no-micro' },
      balancers: { status: 'skipped', reason: '--no-micro' },
      aggregateMerge: { status: 'skipped', reason: '--no-micro' },
      pluginModules: { status: 'skipped', reason: '--no-micro' },
      msgpackConversion: { status: 'skipped', reason: '--no-micro' },
    };
    if (!v['no-micro']) micro = await runMicro(workDir, opts.workers, (m) => progress.note(m));
    progress.stop();

    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const report = buildReport(
      {
        date: new Date().toISOString(),
        machine,
        gateway: { version: pkg.version, commit: gitCommit(ROOT) },
        loadgen: { tool: loadgen, version: toolVersion(loadgen), threads: opts.wrkThreads, why: loadgenWhy },
        upstream: {
          kind: upstreamKind,
          description: upstreamKind === 'uws' ? 'uWebSockets.js server, 1 process, 17-byte JSON answer (1 MiB on /1m)' : 'node:http server, 1 process, 17-byte JSON answer (1 MiB on /1m)',
        },
        nginx: opts.servers.nginx?.version ?? null,
        servers: Object.fromEntries(SERVER_PEERS.map((n) => [n, opts.servers[n]?.version ?? null])) as Record<ServerPeer, string | null>,
        peer: opts.withPeer ? peerVersion : null,
        options: {
          rounds: opts.rounds, durationS: opts.durationS, warmupS: opts.warmupS, connections: opts.connections, workers: opts.workers,
          scenarios: opts.scenarios, wrkThreads: opts.wrkThreads, timeoutS: opts.timeoutS, withPeer: opts.withPeer, withFloors: opts.withFloors, rate: opts.rate,
          scenarioConnections: opts.scenarioConnections, argv: argv.join(' '),
        },
        durationS: progress.elapsed(),
        loadAverageAtStart,
      },
      suite,
      micro,
    );
    const charts = buildCharts(report);
    for (const [file, svg] of charts.files) writeFileSync(join(outDir, file), svg);
    writeFileSync(join(outDir, 'report.json'), `${JSON.stringify(report, null, 1)}\n`);
    let md = renderMarkdown(report, charts);
    let regressions = 0;
    if (oldReport) {
      const c = compareReports(oldReport, report, threshold);
      regressions = c.regressions;
      md += `\n## Compared with ${String(v.compare)}\n\n${formatComparison(c, true)}\n`;
      process.stdout.write(`\n${formatComparison(c)}\n`);
    }
    writeFileSync(join(outDir, 'report.md'), md);
    process.stdout.write(`\n${terminalTable(report)}\n`);
    for (const mk of [report.micro.router, report.micro.tokenBucket, report.micro.balancers, report.micro.aggregateMerge, report.micro.upstreamEngine, report.micro.pluginModules, report.micro.msgpackConversion]) if (mk?.table) process.stdout.write(`\n${mk.table}\n`);
    if (report.micro.tokenBucket.status !== 'ran') process.stdout.write(`\ntoken-bucket micro-benchmark: ${report.micro.tokenBucket.status}: ${report.micro.tokenBucket.reason ?? ''}\n`);
    if (report.warnings.length) process.stdout.write(`\n${report.warnings.length} warning(s): see report.md\n`);
    process.stdout.write(`\nreport: ${join(outDir, 'report.md')}\n        ${join(outDir, 'report.json')}\n        ${[...charts.files.keys()].map((f) => join(outDir, f)).join('\n        ')}\n`);
    const failed = report.scenarios.filter((s) => s.status === 'failed');
    if (failed.length) process.stderr.write(`${failed.length} scenario(s) failed: ${failed.map((s) => `${s.name} (${s.reason})`).join('; ')}\n`);
    if (regressions && v['fail-on-regression']) return 3;
    return failed.length ? 1 : 0;
  } catch (e) {
    progress.stop();
    if (e instanceof Aborted || current.aborted) {
      await stopAll();
      process.stderr.write('interrupted: everything the suite started is stopped; no report written\n');
      throw new Aborted();
    }
    throw e;
  } finally {
    await stopAll();
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
    rmSync(workDir, { recursive: true, force: true });
  }
}
