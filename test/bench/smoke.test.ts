/**
 * CI smoke test of the load suite: one short round of every kind of scenario, against every peer
 * server (nginx, haproxy, Caddy: .ci/run installs them; the test fails if one is missing, so the
 * peers' configs stay tested), with wrk or autocannon, whichever is installed:
 * - `direct`, `proxy` (all peers and the two floors: --with-floors), `resilience-on` (the gateway against its `reference`),
 *   `lb-consistent-hash` (4 upstream ports, x-user varied per request by bench/wrk-x-user.lua);
 * - `open-loop` at a low fixed rate (the suite's own client), `routes-100`, `cache-hit` (gateway,
 *   nginx proxy_cache, haproxy cache), `msgpack-1k`, `tracing-1` (spans counted by the sink).
 * Checks that the report files exist and parse, that requests were served, that none failed, and
 * what the upstream's counters say: connections reused, cache hits not reaching it, spans
 * arriving. No timing is asserted.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_BIN, ROOT } from '../helpers/gateway.js';

const CONNECTIONS = 16;
const RATE = 400;
const DURATION_S = 1;

interface Run {
  scenario: string;
  contender: string;
  requests: number;
  errors: number;
  non2xx: number;
  rps: number;
  latencyUs: { p50: number; p99: number; max: number };
  cpuUsPerReq: { contender: number | null; upstream: number; loadgen: number };
  cpuSplitUsPerReq: { user: number; system: number } | null;
  targets?: { ports: number[]; delayMs: number[]; requests: number[] };
  upstreamSeen?: { requests: number; newConnections: number };
  otlp?: { exports: number; spans: number };
  openLoop?: { rate: number; maxQueued: number };
}

interface ReportJson {
  schema: string;
  meta: { machine: { cores: number; cpuModel: string; node: string }; gateway: { commit: string }; loadgen: { tool: string }; servers: Record<string, string | null> };
  scenarios: Array<{ name: string; status: string; reason?: string; contenders: Array<{ name: string; status: string; reason?: string }> }>;
  aggregates: Array<{ scenario: string; contender: string }>;
  runs: Run[];
  headline: Array<{ others?: Array<{ contender: string; cpuVsNginx: number | null }> }>;
  upstream?: {
    resilience: Array<{ connections: number; cpuDeltaUs: number | null }>;
    balancers: Array<{ scenario: string; contender: string; targetShares: number[] | null }>;
  };
  features?: {
    connectionReuse: Array<{ scenario: string; contender: string }>;
    openLoop: Array<{ contender: string; rate: number }>;
    routes: Array<{ contender: string; routes: number }>;
    cache: Array<{ contender: string; upstreamPer1k: number | null }>;
    msgpack: Array<{ scenario: string; usPerKiB: number | null }>;
    tracing: Array<{ ratio: number; deltaUs: number | null; spansPerRequest: number | null }>;
  };
}

function run(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [GATEWAY_BIN, 'bench', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => p.kill('SIGINT'), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function isSvg(text: string): boolean {
  return text.startsWith('<svg xmlns="http://www.w3.org/2000/svg"') && text.trimEnd().endsWith('</svg>');
}

const SCENARIOS = ['direct', 'proxy', 'resilience-on', 'lb-consistent-hash', 'open-loop', 'routes-100', 'cache-hit', 'msgpack-1k', 'tracing-1'];

describe('load suite smoke (bench/)', () => {
  const out = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  let result: { code: number | null; stdout: string; stderr: string };
  let report: ReportJson;
  const runsOf = (scenario: string, contender?: string) => report.runs.filter((r) => r.scenario === scenario && (contender === undefined || r.contender === contender));

  beforeAll(async () => {
    result = await run(
      [
        '--scenario', SCENARIOS.join(','),
        '--rounds', '1', '--duration', String(DURATION_S), '--warmup', '0', '--connections', String(CONNECTIONS), '--rate', String(RATE),
        '--with-floors', '--no-micro', '--out', out,
      ],
      150_000,
    );
    if (result.code !== 0) console.error(result.stderr.slice(-4000));
    report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as ReportJson;
  }, 160_000);

  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('exits 0 and prints the table', () => {
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/scenario\s+conns\s+contender/);
  });

  it('writes report.json that parses, with machine facts, the servers, and every scenario run', () => {
    expect(report.schema).toBe('uws-gateway-bench/1');
    expect(report.meta.machine.cores).toBeGreaterThan(0);
    expect(report.meta.machine.node).toBe(process.version);
    expect(report.meta.gateway.commit).not.toBe('');
    expect(['wrk', 'autocannon']).toContain(report.meta.loadgen.tool);
    for (const server of ['nginx', 'haproxy', 'caddy']) {
      expect(report.meta.servers[server], `${server} is not installed (apt-get install ${server}; .ci/run does)`).toMatch(/^\d/);
    }
    const byName = new Map(report.scenarios.map((s) => [s.name, s]));
    for (const name of SCENARIOS) expect(byName.get(name)?.status, `${name}: ${byName.get(name)?.reason}`).toBe('ran');
    for (const s of report.scenarios) for (const c of s.contenders) expect(c.status, `${s.name} ${c.name}: ${c.reason}`).not.toBe('failed');
  });

  it('served requests in every run, with no errors and no non-2xx', () => {
    const contenders = report.runs.map((r) => `${r.scenario}/${r.contender}`);
    for (const c of ['direct/direct', 'resilience-on/gateway', 'resilience-on/reference', 'lb-consistent-hash/gateway', 'lb-consistent-hash/nginx']) expect(contenders).toContain(c);
    for (const c of ['gateway', 'nginx', 'haproxy', 'caddy']) {
      expect(contenders).toContain(`proxy/${c}`);
      expect(contenders).toContain(`open-loop/${c}`);
      expect(contenders).toContain(`routes-100/${c}`);
    }
    for (const c of ['gateway', 'reference', 'nginx', 'haproxy']) expect(contenders).toContain(`cache-hit/${c}`);
    // The floors run where they are defined (proxy) and nowhere else.
    for (const c of ['floor-engine', 'floor-addon']) {
      expect(contenders).toContain(`proxy/${c}`);
      expect(contenders.filter((x) => x.endsWith(`/${c}`))).toEqual([`proxy/${c}`]);
    }
    for (const r of report.runs) {
      const what = `${r.scenario}/${r.contender}`;
      expect(r.requests, what).toBeGreaterThan(0);
      expect(r.errors, what).toBe(0);
      expect(r.non2xx, what).toBe(0);
      expect(r.latencyUs.p50, what).toBeGreaterThan(0);
      expect(r.latencyUs.max, what).toBeGreaterThanOrEqual(r.latencyUs.p99);
      if (r.contender !== 'direct') {
        expect(r.cpuUsPerReq.contender, what).toBeGreaterThan(0);
        // The same /proc readings split into user and system time: they add up to the total.
        const split = r.cpuSplitUsPerReq;
        expect(split, what).not.toBeNull();
        expect(split!.user, what).toBeGreaterThanOrEqual(0);
        expect(split!.system, what).toBeGreaterThanOrEqual(0);
        expect(split!.user + split!.system, what).toBeCloseTo(r.cpuUsPerReq.contender!, 6);
      }
    }
    // A proxy runs user code for every request: over the proxy runs, user time is never all zero.
    for (const r of runsOf('proxy')) expect(r.cpuSplitUsPerReq!.user, r.contender).toBeGreaterThan(0);
  });

  it('counts the upstream connections: the load generator\'s own when direct, pooled ones through every proxy', () => {
    // wrk opens its connections inside the run: the upstream accepts those (the counter probe's own
    // connection is taken out), and one more now and then: wrk reconnects a connection whose
    // request it stopped waiting for at the end of a run.
    for (const r of runsOf('direct')) {
      expect(r.upstreamSeen?.newConnections).toBeGreaterThanOrEqual(CONNECTIONS);
      expect(r.upstreamSeen?.newConnections).toBeLessThanOrEqual(CONNECTIONS + 2);
    }
    // No warm-up here, so each proxy fills its pool in this run: about one upstream connection per
    // client connection, not one per request. The gateway's pool is held to that; the peers get
    // more room (haproxy's idle-connection reuse opened 37 for 16 client connections in one CI
    // run): what is checked of them is that the counter sees a pool, not one connection a request.
    for (const r of runsOf('proxy')) {
      expect(r.upstreamSeen, r.contender).toBeDefined();
      expect(r.upstreamSeen!.requests, r.contender).toBeGreaterThanOrEqual(r.requests);
      expect(r.upstreamSeen!.newConnections, r.contender).toBeGreaterThan(0);
      const ours = r.contender === 'gateway' || r.contender.startsWith('floor-');
      const bound = ours ? 2 * CONNECTIONS + 4 : 4 * CONNECTIONS + 4;
      expect(r.upstreamSeen!.newConnections, `${r.contender}: ${r.upstreamSeen!.newConnections} new upstream connections for ${r.requests} requests`).toBeLessThanOrEqual(bound);
    }
    expect(report.features?.connectionReuse.some((x) => x.scenario === 'proxy' && x.contender === 'caddy')).toBe(true);
  });

  it('open-loop sends the schedule: every request of rate × duration answered or counted', () => {
    const runs = runsOf('open-loop');
    expect(runs.length).toBe(5); // direct + 4 servers
    for (const r of runs) {
      expect(r.openLoop?.rate, r.contender).toBe(RATE);
      expect(r.requests + r.errors, r.contender).toBe(RATE * DURATION_S);
    }
    expect(report.features?.openLoop.map((x) => x.contender).sort()).toEqual(['caddy', 'direct', 'gateway', 'haproxy', 'nginx']);
  });

  it('cache-hit: the hits do not reach the upstream, the reference\'s requests all do', () => {
    for (const r of runsOf('cache-hit')) {
      const perRequest = r.upstreamSeen!.requests / r.requests;
      // one fill per gateway worker at most (per-worker stores; no warm-up here)
      if (r.contender === 'reference') expect(perRequest, r.contender).toBeGreaterThanOrEqual(1);
      else expect(r.upstreamSeen!.requests, r.contender).toBeLessThanOrEqual(2);
    }
    expect(report.features?.cache.map((x) => x.contender).sort()).toEqual(['gateway', 'haproxy', 'nginx', 'reference']);
  });

  it('routes-100 runs on every server; msgpack-1k gives a cost per KiB; tracing-1 spans reach the sink', () => {
    expect(report.features?.routes.filter((x) => x.routes === 100).map((x) => x.contender).sort()).toEqual(['caddy', 'gateway', 'haproxy', 'nginx']);
    expect(typeof report.features?.msgpack.find((x) => x.scenario === 'msgpack-1k')?.usPerKiB).toBe('number');
    const [g] = runsOf('tracing-1', 'gateway');
    const [ref] = runsOf('tracing-1', 'reference');
    // 2 spans per request (server + upstream), all sampled; a few may still be queued at the count,
    // and the requests still in flight when the load generator stopped (one per connection at
    // most) were served and traced but not counted by it.
    expect(g.otlp!.spans, `${g.otlp!.spans} spans for ${g.requests} requests`).toBeGreaterThan(g.requests);
    expect(g.otlp!.spans).toBeLessThanOrEqual(2 * (g.requests + CONNECTIONS));
    expect(ref.otlp!.spans).toBe(0);
    expect(report.features?.tracing[0].ratio).toBe(1);
  });

  it('compares resilience-on with its reference, the balancers with round-robin, the peers with nginx', () => {
    expect(report.upstream?.resilience.length).toBe(1);
    expect(typeof report.upstream?.resilience[0].cpuDeltaUs).toBe('number');
    expect(report.upstream?.balancers.some((b) => b.scenario === 'lb-consistent-hash' && b.contender === 'gateway')).toBe(true);
    const others = report.headline[0].others?.map((o) => o.contender);
    expect(others).toEqual(['haproxy', 'caddy', 'floor-engine', 'floor-addon']);
    for (const o of report.headline[0].others ?? []) expect(typeof o.cpuVsNginx).toBe('number');
  });

  it('lb-consistent-hash spreads the x-user keys over all 4 targets, for every contender', () => {
    const lb = runsOf('lb-consistent-hash');
    expect(lb.length).toBeGreaterThan(0);
    for (const r of lb) {
      expect(r.targets?.requests.length, r.contender).toBe(4);
      for (const n of r.targets!.requests) expect(n, `${r.contender}: ${r.targets!.requests.join('/')}`).toBeGreaterThan(r.requests * 0.1);
      expect(r.targets!.requests.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(r.requests);
    }
  });

  it('writes report.md with every section, and the SVG charts', () => {
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    for (const heading of [
      '## Headline',
      '### proxy',
      '## Resilience features: success-path cost',
      '## Balancers over 4 targets',
      `## Open loop at ${RATE} req/s`,
      '## Route table scaling',
      '## Cache hits (cache-hit)',
      '## MessagePack conversion (msgpack-*)',
      '## Tracing cost (tracing-*)',
      '## Upstream connection reuse',
    ]) {
      expect(md).toContain(heading);
    }
    expect(md).toContain('| user µs/req | system µs/req |');
    for (const f of ['rps.svg', 'cpu.svg', `latency-direct-${CONNECTIONS}.svg`, `latency-proxy-${CONNECTIONS}.svg`, `latency-open-loop-${CONNECTIONS}.svg`]) {
      expect(existsSync(join(out, f)), f).toBe(true);
      expect(isSvg(readFileSync(join(out, f), 'utf8')), f).toBe(true);
    }
    expect(readFileSync(join(out, `latency-proxy-${CONNECTIONS}.svg`), 'utf8')).toContain('<path d="M');
  });

  it('--compare of the report with itself flags no regression', async () => {
    const file = join(out, 'report.json');
    const c = await run(['--compare', file, '--to', file], 20_000);
    expect(c.code).toBe(0);
    expect(c.stdout).toContain('no regression over 5%');
  });
});
