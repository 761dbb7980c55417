/**
 * rateLimit scope "cluster": two gateway instances (separate primaries, separate ports, two
 * workers each) against a real redis-server this test starts on a free port (installed by
 * .ci/run from apt). The combined admitted count obeys the limit within the documented bound
 * (docs/plugins/rate-limit.md, "Cluster scope"), and with Redis down or hung each failOpen
 * setting does what it says without ever hanging a request.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { freePort, sleep, startGateway, type Gateway } from '../helpers/gateway.js';

const hasRedis = spawnSync('redis-server', ['--version']).status === 0;

interface RedisServer {
  proc: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const t = setTimeout(() => done(false), 300);
    const done = (ok: boolean) => {
      clearTimeout(t);
      s.destroy();
      resolve(ok);
    };
    s.on('error', () => done(false));
    s.on('data', (d) => done(d.toString().startsWith('+PONG')));
    s.write('PING\r\n');
  });
}

async function startRedis(port: number): Promise<RedisServer> {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  for (let i = 0; i < 100 && !(await ping(port)); i++) await sleep(50);
  if (!(await ping(port))) throw new Error('redis-server did not start');
  return {
    proc,
    port,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGCONT');
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

const RPS = 50;
const BURST = 20;
const WORKERS = 2;
const NODES = 2;
// The lease size of cluster.ts for these numbers: clamp(ceil(rps * 50 ms), 1, floor(burst / 4)).
const LEASE = Math.max(1, Math.min(Math.ceil(RPS * 0.05), Math.max(1, Math.floor(BURST / 4))));

let redis: RedisServer;
let redisPort: number;
const gws: Gateway[] = [];

const ADMIN_TOKEN = 'cluster-test-admin-token-0123456789';
let adminPort = 0;

function nodeConfig(port: number, admin?: number): Record<string, unknown> {
  return {
    ...(admin !== undefined ? { admin: { host: '127.0.0.1', port: admin, token: ADMIN_TOKEN } } : {}),
    workers: WORKERS,
    accessLog: false,
    trustedProxies: ['127.0.0.1'], // each test picks its client addresses (fresh buckets)
    cluster: { redis: `redis://127.0.0.1:${port}`, keyPrefix: `gw-test-${process.pid}:` },
    upstreams: { app: { targets: [{ url: 'http://127.0.0.1:1' }] } },
    routes: [
      { id: 'shared', paths: ['/shared'], respond: { body: 'ok' }, plugins: { rateLimit: { requestsPerSecond: RPS, burst: BURST, key: 'route', scope: 'cluster' } } },
      { id: 'open', paths: ['/open'], respond: { body: 'ok' }, plugins: { rateLimit: { requestsPerSecond: 1, burst: 1, scope: 'cluster', failOpen: true } } },
      { id: 'closed', paths: ['/closed'], respond: { body: 'ok' }, plugins: { rateLimit: { requestsPerSecond: 1, burst: 1, scope: 'cluster', failOpen: false } } },
    ],
  };
}

beforeAll(async () => {
  if (!hasRedis) return;
  redisPort = await freePort();
  redis = await startRedis(redisPort);
  adminPort = await freePort();
  gws.push(...(await Promise.all([startGateway(nodeConfig(redisPort, adminPort)), startGateway(nodeConfig(redisPort))])));
  await gws[0].waitForLog('"admin API listening"');
});

afterAll(async () => {
  await Promise.all(gws.map((g) => g.stop()));
  await redis?.stop();
});

/** A counter's total over its label sets, from node 0's admin /metrics (workers flush every second). */
async function metric(name: string): Promise<number> {
  const res = await request(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const text = await res.body.text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name + '{') || line.startsWith(name + ' ')) sum += Number(line.split(' ').pop());
  return sum;
}

async function timed(url: string, headers: Record<string, string> = {}) {
  const t0 = performance.now();
  const res = await request(url, { headers, headersTimeout: 5000, bodyTimeout: 5000 });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, ms: performance.now() - t0 };
}

describe.skipIf(!hasRedis)('rateLimit scope "cluster" (two gateways, one redis-server)', () => {
  it('both nodes together admit at most burst + rate * elapsed', async () => {
    const agent = new Agent({ connections: 16 });
    try {
      const start = process.hrtime.bigint();
      const deadline = start + 2_500_000_000n;
      let firstDone = 0n;
      let lastDone = start;
      const admitted = [0, 0];
      let refused = 0;
      let other = 0;
      const loop = async (node: number) => {
        while (process.hrtime.bigint() < deadline) {
          const res = await request(gws[node].url + '/shared', { dispatcher: agent });
          await res.body.dump();
          lastDone = process.hrtime.bigint();
          if (firstDone === 0n) firstDone = lastDone;
          if (res.statusCode === 200) admitted[node]++;
          else if (res.statusCode === 429) refused++;
          else other++;
        }
      };
      await Promise.all(Array.from({ length: 24 }, (_, i) => loop(i % 2)));
      const total = admitted[0] + admitted[1];
      const elapsed = Number(lastDone - start) / 1e9;
      const busy = Number(deadline - firstDone) / 1e9;
      const bound = BURST + RPS * elapsed;
      // Under-admission allowance: tokens leased to a worker and not used when the test stops.
      const stranded = NODES * WORKERS * LEASE;
      console.log(
        `cluster: ${total} admitted (${admitted.join(' + ')}), ${refused} refused in ${elapsed.toFixed(3)} s; ` +
          `bound ${bound.toFixed(1)}; lease ${LEASE} (at most ${stranded} stranded)`,
      );
      expect(other).toBe(0);
      expect(admitted[0]).toBeGreaterThan(0);
      expect(admitted[1]).toBeGreaterThan(0);
      // A fresh key has no lease granted before the window: the bound has no extra term here.
      expect(total).toBeLessThanOrEqual(Math.floor(bound));
      expect(total).toBeGreaterThanOrEqual(0.9 * (BURST + RPS * busy) - stranded);
      await sleep(1200); // workers flush metrics every second
      expect(await metric('gateway_rate_limit_rejected_total')).toBeGreaterThan(0);
    } finally {
      await agent.close();
    }
  });

  it('limits per key across nodes: the second node sees what the first one used', async () => {
    const ip = { 'x-forwarded-for': '203.0.113.9' };
    const a = await timed(gws[0].url + '/open', ip);
    expect(a.status).toBe(200);
    expect(a.headers['ratelimit-policy']).toBe('"open";q=1;w=1');
    const b = await timed(gws[1].url + '/open', ip);
    expect(b.status).toBe(429);
    expect(Number(b.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(b.text).error.code).toBe('rate_limited');
  });

  it('Redis down: failOpen admits, failOpen false answers 503, both at once; recovers when Redis is back', async () => {
    await redis.stop();
    await sleep(300); // the clients notice the closed connection
    let n = 0;
    for (const g of gws) {
      for (let i = 0; i < 5; i++) {
        const ip = { 'x-forwarded-for': `198.51.100.${++n}` }; // fresh keys: no lease or cached answer
        const open = await timed(g.url + '/open', ip);
        expect(open.status).toBe(200);
        expect(open.ms).toBeLessThan(1000);
        const closed = await timed(g.url + '/closed', ip);
        expect(closed.status).toBe(503);
        expect(closed.ms).toBeLessThan(1000);
        expect(closed.headers['content-type']).toBe('application/json');
        expect(JSON.parse(closed.text).error).toMatchObject({ status: 503, code: 'rate_limit_unavailable' });
      }
    }
    await gws[0].waitForLog('Redis unreachable for a cluster-scoped limit');
    await sleep(1200);
    expect(await metric('gateway_rate_limit_redis_errors_total')).toBeGreaterThanOrEqual(10); // 5 open + 5 closed on node 0
    redis = await startRedis(redisPort);
    // ioredis reconnects within its 1 s back-off, each node on its own: wait for both (a fresh
    // key per probe, so that no probe spends the token of another).
    for (const g of gws) {
      let status = 0;
      for (let i = 0; i < 60 && status !== 200; i++) {
        await sleep(100);
        status = (await timed(g.url + '/closed', { 'x-forwarded-for': `198.51.100.${100 + i}` })).status;
      }
      expect(status).toBe(200);
    }
    const back = { 'x-forwarded-for': '198.51.100.200' };
    expect((await timed(gws[0].url + '/closed', back)).status).toBe(200);
    expect((await timed(gws[1].url + '/closed', back)).status).toBe(429); // one token per second, shared
  });

  it('Redis hung (SIGSTOP): requests are answered within the command timeout, never hang', async () => {
    redis.proc.kill('SIGSTOP');
    try {
      // Fresh keys: each must ask Redis, which never answers; the command timeout (250 ms) ends it.
      const results = await Promise.all([
        timed(gws[0].url + '/closed', { 'x-forwarded-for': '192.0.2.1' }),
        timed(gws[1].url + '/closed', { 'x-forwarded-for': '192.0.2.2' }),
        timed(gws[0].url + '/open', { 'x-forwarded-for': '192.0.2.3' }),
        timed(gws[1].url + '/open', { 'x-forwarded-for': '192.0.2.4' }),
      ]);
      for (const r of results) expect(r.ms).toBeLessThan(2000);
      expect(results.map((r) => r.status)).toEqual([503, 503, 200, 200]);
    } finally {
      redis.proc.kill('SIGCONT');
    }
  });
});
