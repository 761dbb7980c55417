/**
 * CI smoke test of the load suite: one short round of `direct`, `proxy`, `resilience-on` (the
 * gateway against itself with the proxy config, the `reference` contender) and
 * `lb-consistent-hash` (4 upstream ports, x-user varied per request by bench/wrk-x-user.lua),
 * against nginx too when it is on PATH, with wrk or autocannon, whichever is installed. Checks
 * that the report files exist and parse, that requests were served, and that none failed. No
 * timing is asserted.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_BIN, ROOT } from '../helpers/gateway.js';

interface Run {
  scenario: string;
  contender: string;
  requests: number;
  errors: number;
  non2xx: number;
  rps: number;
  latencyUs: { p50: number; p99: number; max: number };
  cpuUsPerReq: { contender: number | null; upstream: number; loadgen: number };
  targets?: { ports: number[]; delayMs: number[]; requests: number[] };
}

interface ReportJson {
  schema: string;
  meta: { machine: { cores: number; cpuModel: string; node: string }; gateway: { commit: string }; loadgen: { tool: string } };
  scenarios: Array<{ name: string; status: string; reason?: string; contenders: Array<{ name: string; status: string; reason?: string }> }>;
  aggregates: Array<{ scenario: string; contender: string }>;
  runs: Run[];
  upstream?: {
    resilience: Array<{ connections: number; cpuDeltaUs: number | null }>;
    balancers: Array<{ scenario: string; contender: string; targetShares: number[] | null }>;
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

describe('load suite smoke (bench/)', () => {
  const out = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  let result: { code: number | null; stdout: string; stderr: string };
  let report: ReportJson;

  beforeAll(async () => {
    result = await run(
      ['--scenario', 'direct,proxy,resilience-on,lb-consistent-hash', '--rounds', '1', '--duration', '2', '--warmup', '0', '--connections', '16', '--no-micro', '--out', out],
      120_000,
    );
    if (result.code !== 0) console.error(result.stderr.slice(-4000));
  }, 130_000);

  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('exits 0 and prints the table', () => {
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/scenario\s+conns\s+contender/);
  });

  it('writes report.json that parses, with machine facts and both scenarios run', () => {
    report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as ReportJson;
    expect(report.schema).toBe('uws-gateway-bench/1');
    expect(report.meta.machine.cores).toBeGreaterThan(0);
    expect(report.meta.machine.node).toBe(process.version);
    expect(report.meta.gateway.commit).not.toBe('');
    expect(['wrk', 'autocannon']).toContain(report.meta.loadgen.tool);
    const byName = new Map(report.scenarios.map((s) => [s.name, s]));
    expect(byName.get('direct')?.status).toBe('ran');
    expect(byName.get('proxy')?.status, byName.get('proxy')?.reason).toBe('ran');
    expect(byName.get('resilience-on')?.status, byName.get('resilience-on')?.reason).toBe('ran');
    expect(byName.get('lb-consistent-hash')?.status, byName.get('lb-consistent-hash')?.reason).toBe('ran');
    for (const s of report.scenarios) for (const c of s.contenders) expect(c.status, `${s.name} ${c.name}: ${c.reason}`).not.toBe('failed');
  });

  it('served requests in every run, with no errors and no non-2xx', () => {
    const contenders = report.runs.map((r) => `${r.scenario}/${r.contender}`);
    expect(contenders).toContain('direct/direct');
    expect(contenders).toContain('proxy/gateway');
    expect(contenders).toContain('resilience-on/gateway');
    expect(contenders).toContain('resilience-on/reference');
    expect(contenders).toContain('lb-consistent-hash/gateway');
    for (const r of report.runs) {
      expect(r.requests, `${r.scenario}/${r.contender}`).toBeGreaterThan(0);
      expect(r.errors, `${r.scenario}/${r.contender}`).toBe(0);
      expect(r.non2xx, `${r.scenario}/${r.contender}`).toBe(0);
      expect(r.latencyUs.p50).toBeGreaterThan(0);
      expect(r.latencyUs.max).toBeGreaterThanOrEqual(r.latencyUs.p99);
      if (r.contender !== 'direct') expect(r.cpuUsPerReq.contender).toBeGreaterThan(0);
    }
  });

  it('lb-consistent-hash spreads the x-user keys over all 4 targets, for every contender', () => {
    const lb = report.runs.filter((r) => r.scenario === 'lb-consistent-hash');
    expect(lb.length).toBeGreaterThan(0);
    for (const r of lb) {
      expect(r.targets?.requests.length, r.contender).toBe(4);
      for (const n of r.targets!.requests) expect(n, `${r.contender}: ${r.targets!.requests.join('/')}`).toBeGreaterThan(r.requests * 0.1);
      expect(r.targets!.requests.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(r.requests);
    }
  });

  it('compares resilience-on with its reference and the balancers with round-robin', () => {
    expect(report.upstream?.resilience.length).toBe(1);
    expect(typeof report.upstream?.resilience[0].cpuDeltaUs).toBe('number');
    expect(report.upstream?.balancers.some((b) => b.scenario === 'lb-consistent-hash' && b.contender === 'gateway')).toBe(true);
  });

  it('writes report.md and the SVG charts', () => {
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toContain('## Headline');
    expect(md).toContain('### proxy');
    expect(md).toContain('## Resilience features: success-path cost');
    expect(md).toContain('## Balancers over 4 targets');
    for (const f of ['rps.svg', 'cpu.svg', 'latency-direct-16.svg', 'latency-proxy-16.svg']) {
      expect(existsSync(join(out, f)), f).toBe(true);
      expect(isSvg(readFileSync(join(out, f), 'utf8')), f).toBe(true);
    }
    expect(readFileSync(join(out, 'latency-proxy-16.svg'), 'utf8')).toContain('<path d="M');
  });

  it('--compare of the report with itself flags no regression', async () => {
    const file = join(out, 'report.json');
    const c = await run(['--compare', file, '--to', file], 20_000);
    expect(c.code).toBe(0);
    expect(c.stdout).toContain('no regression over 5%');
  });
});
