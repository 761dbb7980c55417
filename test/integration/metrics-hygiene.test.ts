/**
 * /metrics as Prometheus tooling sees it, on the real gateway after traffic of every kind
 * (answers, 404s, 429s, upstream 503s and retries), reloads applied and refused, and open
 * client connections:
 * - `promtool check metrics` (Debian's prometheus package; .ci/run installs it) finds nothing;
 * - each worker's event-loop delay, the client connections and the reload results are there;
 * - every PromQL expression of config/examples/grafana-dashboard.json names only metrics this
 *   /metrics has, and only functions PromQL has.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Client, request } from 'undici';
import { ROOT, echoUpstream, freePort, sleep, startGateway, startUpstream, waitForLogLines, type Gateway, type Upstream } from '../helpers/gateway.js';

const TOKEN = 'admin-token-for-metrics-tests-0123';
let ok: Upstream;
let failing: Upstream;
let gw: Gateway;
let adminPort: number;
let text = '';

async function metrics(): Promise<string> {
  const res = await request(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return res.body.text();
}

async function get(path: string): Promise<number> {
  const r = await request(gw.url + path);
  await r.body.dump();
  return r.statusCode;
}

/** The value of the first sample matching `re` (a line of the text format), or NaN. */
function sample(re: RegExp, from = text): number {
  const m = new RegExp(`^${re.source} (\\S+)$`, 'm').exec(from);
  return m === null ? NaN : Number(m[1]);
}

/** Sample names (not family names: histogram buckets are `_bucket`) of a text exposition. */
function sampleNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const line of exposition.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    names.add(/^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)![0]);
  }
  return names;
}

beforeAll(async () => {
  ok = await echoUpstream();
  failing = await startUpstream((req, res) => {
    res.writeHead(req.url === '/health' ? 200 : 503, { 'content-type': 'text/plain' });
    res.end('no');
  });
  adminPort = await freePort();
  const config = {
    admin: { host: '127.0.0.1', port: adminPort, token: 'env:TEST_ADMIN_TOKEN' },
    accessLog: false,
    upstreams: {
      ok: { targets: [{ url: ok.url }], healthCheck: { active: { path: '/health', intervalMs: 500 } } },
      failing: { targets: [{ url: failing.url }], retries: { attempts: 1 }, circuitBreaker: {} },
    },
    routes: [
      { id: 'app', paths: ['/app/*'], upstream: 'ok' },
      { id: 'limited', paths: ['/limited'], upstream: 'ok', plugins: { rateLimit: { requestsPerSecond: 1, burst: 1 } } },
      { id: 'fail', paths: ['/fail'], upstream: 'failing' },
      { id: 'say "hi"\\n', paths: ['/odd'], respond: { status: 200 } }, // label escaping
    ],
  };
  gw = await startGateway(config, { env: { TEST_ADMIN_TOKEN: TOKEN } });
  await gw.waitForLog('"admin API listening"');

  for (let i = 0; i < 10; i++) expect(await get('/app/x')).toBe(200);
  const limited = await Promise.all(Array.from({ length: 5 }, () => get('/limited')));
  expect(limited).toContain(429);
  // One connection, so one worker: its retry budget (3 + 20 % of 8 first attempts) runs out.
  const one = new Client(gw.url);
  for (let i = 0; i < 8; i++) {
    const r = await one.request({ method: 'GET', path: '/fail' });
    await r.body.dump();
    expect(r.statusCode).toBe(503);
  }
  await one.close();
  expect(await get('/odd')).toBe(200);
  expect(await get('/nothing-here')).toBe(404);

  // A reload applied (SIGHUP) and one refused (admin, a broken file).
  const file = readFileSync(gw.configPath, 'utf8');
  gw.proc.kill('SIGHUP');
  await waitForLogLines(gw, 'config audit', 1);
  writeFileSync(gw.configPath, '{ "listen": ');
  const refused = await request(`http://127.0.0.1:${adminPort}/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  await refused.body.dump();
  expect(refused.statusCode).toBe(400);
  writeFileSync(gw.configPath, file);

  // Every worker reports every second: wait for the counts and the workers' stats (bounded).
  for (let i = 0; i < 100; i++) {
    text = await metrics();
    if (
      sample(/gateway_requests_total\{route="fail",status="503"\}/) >= 8 &&
      sample(/gateway_requests_total\{route="",status="404"\}/) === 1 &&
      text.includes('gateway_requests_total{route="say') &&
      sample(/gateway_event_loop_delay_seconds_count\{worker="0"\}/) > 0 &&
      sample(/gateway_event_loop_delay_seconds_count\{worker="1"\}/) > 0
    ) break;
    await sleep(100);
  }
});

afterAll(async () => {
  await gw?.stop();
  await ok?.close();
  await failing?.close();
});

describe('metrics hygiene', () => {
  it('promtool check metrics finds nothing to report', () => {
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
    if (r.error) throw new Error(`promtool could not run (${r.error.message}): apt-get install prometheus (.ci/run does)`);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
    // What it checked: every kind of traffic is in there.
    expect(sample(/gateway_requests_total\{route="limited",status="429"\}/)).toBeGreaterThan(0);
    expect(sample(/gateway_rate_limit_rejected_total\{route="limited"\}/)).toBeGreaterThan(0);
    expect(sample(/gateway_upstream_retries_total\{upstream="failing",reason="503"\}/)).toBeGreaterThan(0);
    expect(sample(/gateway_upstream_retry_budget_exhausted_total\{upstream="failing"\}/)).toBeGreaterThan(0);
    expect(sample(/gateway_requests_total\{route="",status="404"\}/)).toBe(1);
    expect(text).toContain('gateway_requests_total{route="say \\"hi\\"\\\\n",status="200"} 1');
  });

  it('exports each worker\'s event-loop delay (a summary and a max gauge), and the reload results', () => {
    expect(text).toContain('# TYPE gateway_event_loop_delay_seconds summary');
    for (const w of ['0', '1']) {
      expect(sample(new RegExp(`gateway_event_loop_delay_seconds_count\\{worker="${w}"\\}`))).toBeGreaterThan(0);
      const p50 = sample(new RegExp(`gateway_event_loop_delay_seconds\\{worker="${w}",quantile="0.5"\\}`));
      const p99 = sample(new RegExp(`gateway_event_loop_delay_seconds\\{worker="${w}",quantile="0.99"\\}`));
      const max = sample(new RegExp(`gateway_event_loop_delay_max_seconds\\{worker="${w}"\\}`));
      // What comes on top of the 10 ms sampling interval: ordered, and a loop is never exactly on time.
      expect(p50).toBeGreaterThanOrEqual(0);
      expect(p99).toBeGreaterThanOrEqual(p50);
      expect(max).toBeGreaterThanOrEqual(p99);
      expect(max).toBeGreaterThan(0);
      expect(max).toBeLessThan(5); // seconds: the interval is taken off, not added
    }
    expect(sample(/gateway_config_reloads_total\{source="signal",result="applied"\}/)).toBe(1);
    expect(sample(/gateway_config_reloads_total\{source="admin",result="refused"\}/)).toBe(1);
    expect(sample(/gateway_config_reloads_total\{source="watch",result="applied"\}/)).toBe(0);
    expect(sample(/gateway_config_last_reload_successful/)).toBe(0);
    expect(sample(/gateway_config_version/)).toBe(2);
    expect(text).toMatch(/^gateway_config_info\{version="2",hash="[0-9a-f]{16}"\} 1$/m);
  });

  it('counts open client connections, per worker', async () => {
    const sockets: Socket[] = [];
    const total = (t: string) => sample(/gateway_client_connections\{worker="0"\}/, t) + sample(/gateway_client_connections\{worker="1"\}/, t);
    try {
      for (let i = 0; i < 6; i++) {
        const s = connect(gw.port, '127.0.0.1');
        await new Promise((resolve) => s.once('connect', resolve));
        sockets.push(s);
      }
      let seen = 0;
      for (let i = 0; i < 60 && seen < 6; i++) {
        seen = total(await metrics());
        if (seen < 6) await sleep(100);
      }
      expect(seen).toBe(6);
    } finally {
      for (const s of sockets) s.destroy();
    }
    let after = 6;
    for (let i = 0; i < 60 && after > 0; i++) {
      after = total(await metrics());
      if (after > 0) await sleep(100);
    }
    expect(after).toBe(0);
  });

  it('every expression of the Grafana dashboard names only exported metrics and PromQL functions', () => {
    const dashboard = JSON.parse(readFileSync(join(ROOT, 'config/examples/grafana-dashboard.json'), 'utf8'));
    const exprs: string[] = [];
    const visit = (panels: Array<{ targets?: Array<{ expr: string }>; panels?: unknown[] }>) => {
      for (const p of panels) {
        for (const t of p.targets ?? []) exprs.push(t.expr);
        visit((p.panels ?? []) as never);
      }
    };
    visit(dashboard.panels);
    expect(exprs.length).toBeGreaterThanOrEqual(15);
    const exported = sampleNames(text);
    const used = new Set<string>();
    for (const expr of exprs) {
      const { metrics: names, functions } = promqlNames(expr);
      expect(names.length, expr).toBeGreaterThan(0);
      for (const n of names) {
        expect(exported.has(n), `${n} (in ${expr}) is not in /metrics`).toBe(true);
        used.add(n);
      }
      for (const f of functions) expect(PROMQL_FUNCTIONS.has(f), `${f}() (in ${expr}) is not a PromQL function`).toBe(true);
    }
    // The template variable's query (Grafana's label_values(metric, label)).
    for (const v of dashboard.templating.list) {
      const q = typeof v.query === 'string' ? v.query : v.query?.query;
      const m = /^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*),/.exec(q ?? '');
      if (m) expect(exported.has(m[1]), m[1]).toBe(true);
    }
    // The panels the dashboard is for.
    for (const n of [
      'gateway_requests_total', 'gateway_request_duration_seconds_bucket', 'gateway_upstream_health', 'gateway_upstream_breaker_state',
      'gateway_rate_limit_rejected_total', 'gateway_event_loop_delay_seconds', 'gateway_client_connections', 'gateway_config_reloads_total',
    ]) expect(used.has(n), n).toBe(true);
  });

  it('the PromQL tokenizer tells metric names from functions, labels, keywords, durations and variables', () => {
    expect(promqlNames('histogram_quantile(0.99, sum by (route, le) (rate(a_bucket{instance=~"$instance",x="b_total"}[$__rate_interval])))')).toEqual({ metrics: ['a_bucket'], functions: ['histogram_quantile', 'sum', 'rate'] });
    expect(promqlNames('sum without (worker) (b) / on (instance) group_left (version) c offset 5m * 1e3 + Inf')).toEqual({ metrics: ['b', 'c'], functions: ['sum'] });
    expect(promqlNames('max(x[5m:1m]) and bool y')).toEqual({ metrics: ['x', 'y'], functions: ['max'] });
  });
});

const PROMQL_FUNCTIONS = new Set([
  'sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group',
  'abs', 'absent', 'absent_over_time', 'ceil', 'changes', 'clamp', 'clamp_max', 'clamp_min', 'day_of_month', 'day_of_week',
  'days_in_month', 'delta', 'deriv', 'exp', 'floor', 'histogram_quantile', 'holt_winters', 'hour', 'idelta', 'increase',
  'irate', 'label_join', 'label_replace', 'ln', 'log2', 'log10', 'minute', 'month', 'predict_linear', 'rate', 'resets',
  'round', 'scalar', 'sgn', 'sort', 'sort_desc', 'sqrt', 'time', 'timestamp', 'vector', 'year',
  'avg_over_time', 'min_over_time', 'max_over_time', 'sum_over_time', 'count_over_time', 'quantile_over_time',
  'stddev_over_time', 'stdvar_over_time', 'last_over_time', 'present_over_time',
]);
const PROMQL_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan', 'atan2']);

/**
 * The metric names and functions of a PromQL expression: identifiers outside strings, label
 * matchers `{...}`, ranges `[...]` and label lists (`by (...)`, `on (...)`, `group_left (...)`:
 * removed, so `sum by (x) (` reads `sum (`), that are not keywords, `$variables` or numbers;
 * those followed by `(` are functions.
 */
function promqlNames(expr: string): { metrics: string[]; functions: string[] } {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, ' ');
  const metrics: string[] = [];
  const functions: string[] = [];
  const re = /(\$\{?)?([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g;
  for (let m = re.exec(stripped); m !== null; m = re.exec(stripped)) {
    const [, variable, name, call] = m;
    const before = stripped[m.index - 1] ?? '';
    if (variable !== undefined || /[0-9.]/.test(before) || PROMQL_KEYWORDS.has(name.toLowerCase())) continue;
    if (call !== undefined) functions.push(name);
    else if (!/^\d/.test(name)) metrics.push(name);
  }
  return { metrics, functions };
}
