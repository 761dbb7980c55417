/**
 * What the dashboard costs the primary: CPU per GET /dashboard/data (what an open dashboard
 * asks every second) and, to compare, per GET /metrics, with 10, 100 and 1,000 routes that have
 * all seen traffic (the JSON and the metrics grow with the routes that have counts).
 *
 * For each route count: the gateway (2 workers) starts with the routes on one local upstream,
 * every route is requested once, then the primary's CPU (utime + stime from /proc) is read over
 * an idle stretch (its 1 s sampling, the workers' reports) and over N back-to-back polls; the
 * cost of a poll is the difference divided by N. GET /healthz, which does nothing, is the floor
 * (node:http and the connection). Clock ticks are 10 ms: N is large enough for
 * that not to matter. Numbers on a shared machine are rough; they are reported, not asserted.
 *
 *   npm run build && node dist/bench/dashboard-poll-bench.js [--polls 400] [--routes 10,100,1000]
 */
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { freePort, sleep, start, waitForLine } from './spawn.js';
import { processCpuSeconds } from './proc.js';

const TOKEN = 'dashboard-bench-token-0123456789';
const GATEWAY = fileURLToPath(new URL('../../bin/gateway.js', import.meta.url));

async function get(url: string, headers: Record<string, string> = {}): Promise<number> {
  const r = await request(url, { headers });
  const body = await r.body.arrayBuffer();
  return body.byteLength;
}

async function measure(routes: number, polls: number) {
  const upstream = createServer((_, res) => res.end('ok')).listen(0, '127.0.0.1');
  await new Promise((r) => upstream.once('listening', r));
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
  const [port, adminPort] = [await freePort(), await freePort()];
  const config = {
    workers: 2,
    listen: { host: '127.0.0.1', port },
    admin: { host: '127.0.0.1', port: adminPort, token: TOKEN },
    accessLog: false,
    upstreams: Object.fromEntries(
      ['a', 'b', 'c', 'd'].map((u) => [u, { targets: [{ url: upstreamUrl }] }]),
    ),
    routes: Array.from({ length: routes }, (_, i) => ({ id: `route-${i}`, paths: [`/r${i}/*`], upstream: 'abcd'[i % 4] })),
  };
  const file = join(mkdtempSync(join(tmpdir(), 'gw-dash-bench-')), 'gateway.json');
  writeFileSync(file, JSON.stringify(config));
  const gw = start('gateway', process.execPath, [GATEWAY, 'start', '-c', file]);
  try {
    await waitForLine(gw, (l) => l.includes('"admin API listening"'));
    for (let i = 0; i < routes; i += 50) await Promise.all(Array.from({ length: Math.min(50, routes - i) }, (_, j) => get(`http://127.0.0.1:${port}/r${i + j}/x`)));
    await sleep(2500); // the workers' reports and a few 1 s samples
    const auth = { authorization: `Bearer ${TOKEN}` };
    const base = `http://127.0.0.1:${adminPort}`;

    const idleMs = 3000;
    const idle0 = processCpuSeconds(gw.pid);
    await sleep(idleMs);
    const idlePerMs = (processCpuSeconds(gw.pid) - idle0) / idleMs;

    const run = async (path: string) => {
      const cpu0 = processCpuSeconds(gw.pid);
      const t0 = performance.now();
      let bytes = 0;
      for (let i = 0; i < polls; i++) bytes = await get(base + path, auth);
      const ms = performance.now() - t0;
      const cpu = processCpuSeconds(gw.pid) - cpu0 - idlePerMs * ms;
      return { cpuUsPerPoll: Math.max(0, (cpu * 1e6) / polls), bytes };
    };
    const floor = await run('/healthz'); // what any admin call costs (node:http, the connection)
    const data = await run('/dashboard/data');
    const metrics = await run('/metrics');
    return { routes, polls, idleCpuPercent: idlePerMs * 1e5, floor, data, metrics };
  } finally {
    await gw.stop();
    upstream.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { polls: { type: 'string', default: '400' }, routes: { type: 'string', default: '10,100,1000' } } });
  const polls = Number(values.polls);
  console.log('| routes | primary idle CPU | GET /healthz (the floor) | GET /dashboard/data: CPU per poll | bytes | GET /metrics: CPU per scrape | bytes |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|');
  for (const routes of String(values.routes).split(',').map(Number)) {
    const r = await measure(routes, polls);
    console.log(
      `| ${r.routes} | ${r.idleCpuPercent.toFixed(2)} % | ${(r.floor.cpuUsPerPoll / 1000).toFixed(2)} ms | ${(r.data.cpuUsPerPoll / 1000).toFixed(2)} ms | ${r.data.bytes} | ${(r.metrics.cpuUsPerPoll / 1000).toFixed(2)} ms | ${r.metrics.bytes} |`,
    );
  }
}

void main();
