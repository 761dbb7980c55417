/**
 * Upstream health through the real gateway (primary + 2 workers) and real upstreams that fail on
 * command: active probes run once per target for the whole machine and steer traffic away from an
 * unhealthy target; every target unhealthy is 503 at once; outlier detection ejects a failing
 * target machine-wide but never the last available one; the circuit breaker opens and answers 503
 * without touching the upstream, lets one probe through, and closes; maxPendingPerWorker sheds load.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { freePort, sleep, startGateway, startUpstream, type Gateway, type Upstream } from '../helpers/gateway.js';

interface Controlled extends Upstream {
  name: string;
  /** What /health answers. */
  healthStatus: number;
  /** What everything else answers. */
  status: number;
  probes: number;
  served: number;
  delayMs: number;
}

async function controlled(name: string): Promise<Controlled> {
  let c!: Controlled; // the object returned below: the handler reads and counts on it
  const up = await startUpstream((req, res) => {
    if (req.url === '/health') {
      c.probes++;
      res.writeHead(c.healthStatus);
      return res.end();
    }
    c.served++;
    const answer = () => {
      res.writeHead(c.status, { 'x-target': name, 'content-type': 'text/plain' });
      res.end(name);
    };
    if (c.delayMs > 0) setTimeout(answer, c.delayMs);
    else answer();
  });
  c = Object.assign(up, { name, healthStatus: 200, status: 200, probes: 0, served: 0, delayMs: 0 });
  return c;
}

let a: Controlled;
let b: Controlled;
let c: Controlled;
let gw: Gateway;
let adminPort: number;
const TOKEN = 'resilience-admin-token-0123456789';

async function get(path: string): Promise<{ status: number; target: string; code: string | null }> {
  const r = await request(gw.url + path);
  const text = await r.body.text();
  let code: string | null = null;
  if (r.statusCode >= 500 && r.headers['content-type'] === 'application/json') code = JSON.parse(text).error.code;
  return { status: r.statusCode, target: String(r.headers['x-target'] ?? ''), code };
}

async function admin(path: string): Promise<any> {
  const r = await request(`http://127.0.0.1:${adminPort}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return r.body.json();
}

async function until(what: () => Promise<boolean> | boolean, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await what()) return;
    await sleep(100);
  }
  throw new Error('condition not met in time');
}

beforeAll(async () => {
  [a, b, c] = await Promise.all([controlled('a'), controlled('b'), controlled('c')]);
  adminPort = await freePort();
  gw = await startGateway(
    {
      admin: { host: '127.0.0.1', port: adminPort, token: TOKEN },
      upstreams: {
        probed: {
          targets: [{ url: a.url }, { url: b.url }],
          healthCheck: { active: { path: '/health', intervalMs: 200, timeoutMs: 150, healthyThreshold: 2, unhealthyThreshold: 2 } },
        },
        passive: {
          targets: [{ url: a.url }, { url: c.url }],
          healthCheck: { passive: { consecutiveFailures: 3, ejectMs: 3000 } },
        },
        breaker: {
          targets: [{ url: c.url }],
          circuitBreaker: { maxPendingPerWorker: 2, failureRatio: 0.5, minRequests: 4, windowMs: 10_000, openMs: 1500 },
        },
      },
      routes: [
        { id: 'probed', paths: ['/probed/*'], upstream: 'probed' },
        { id: 'passive', paths: ['/passive/*'], upstream: 'passive' },
        { id: 'breaker', paths: ['/breaker/*'], upstream: 'breaker' },
      ],
    },
    { env: {} },
  );
});

afterAll(async () => {
  await gw?.stop();
  await Promise.all([a, b, c].map((u) => u?.close()));
});

describe('active health checks', () => {
  it('probe each target once per interval for the whole machine, not once per worker', async () => {
    const before = a.probes;
    await sleep(2000);
    const probes = a.probes - before;
    // 2 s at 200 ms: ~10 probes from the primary; two probing workers would make ~20.
    expect(probes).toBeGreaterThanOrEqual(6);
    expect(probes).toBeLessThanOrEqual(13);
  });

  it('an unhealthy target gets no traffic, and gets it back once healthy', async () => {
    b.healthStatus = 500;
    await until(async () => (await admin('/upstreams')).probed.targets[1].health === 'unhealthy');
    const targets = new Set<string>();
    for (let i = 0; i < 30; i++) targets.add((await get('/probed/x')).target);
    expect([...targets]).toEqual(['a']);
    b.healthStatus = 200;
    await until(async () => (await admin('/upstreams')).probed.targets[1].health === 'healthy');
    const back = new Set<string>();
    for (let i = 0; i < 30; i++) back.add((await get('/probed/x')).target);
    expect([...back].sort()).toEqual(['a', 'b']);
  });

  it('every target unhealthy: 503 no_healthy_upstream at once, upstreams untouched', async () => {
    a.healthStatus = 503;
    b.healthStatus = 503;
    await until(async () => (await admin('/upstreams')).probed.targets.every((t: { health: string }) => t.health === 'unhealthy'));
    const served = a.served + b.served;
    const r = await get('/probed/x');
    expect(r.status).toBe(503);
    expect(r.code).toBe('no_healthy_upstream');
    expect(a.served + b.served).toBe(served);
    a.healthStatus = 200;
    b.healthStatus = 200;
    await until(async () => (await admin('/upstreams')).probed.targets.every((t: { health: string }) => t.health === 'healthy'));
  });

  it('shows in the metrics', async () => {
    const r = await request(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const text = await r.body.text();
    expect(text).toMatch(new RegExp(`gateway_upstream_health\\{upstream="probed",target="http://127\\.0\\.0\\.1:${a.port}"\\} 1`));
    expect(text).toContain('# TYPE gateway_upstream_breaker_state gauge');
  });
});

describe('passive outlier detection', () => {
  it('3 failures in a row eject a target for every worker; it comes back after ejectMs', async () => {
    c.status = 500;
    // Drive failures until c is ejected (both workers share the verdict).
    await until(async () => {
      await get('/passive/x');
      return (await admin('/upstreams')).passive.targets[1].health === 'ejected';
    });
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) seen.add((await get('/passive/x')).target);
    expect([...seen]).toEqual(['a']);
    c.status = 200;
    await until(async () => (await admin('/upstreams')).passive.targets[1].health === 'healthy', 6000);
    const back = new Set<string>();
    for (let i = 0; i < 30; i++) back.add((await get('/passive/x')).target);
    expect(back.has('c')).toBe(true);
  });

  it('never ejects the last available target: with both failing, one stays in', async () => {
    a.status = 500;
    c.status = 500;
    try {
      for (let i = 0; i < 40; i++) await get('/passive/x');
      const targets = (await admin('/upstreams')).passive.targets as Array<{ health: string }>;
      expect(targets.filter((t) => t.health === 'healthy').length).toBeGreaterThanOrEqual(1);
      // The answers are the upstream's own 500s, not a gateway 503 window.
      expect((await get('/passive/x')).status).toBe(500);
    } finally {
      a.status = 200;
      c.status = 200;
    }
  });
});

describe('circuit breaker', () => {
  it('opens on the failure ratio: 503 circuit_open at once without touching the upstream; a probe after openMs closes it', async () => {
    await sleep(3200); // any ejection above has run out; c answers 200 again
    c.status = 500;
    for (let i = 0; i < 12; i++) await get('/breaker/x');
    const before = c.served;
    const r = await get('/breaker/x');
    expect(r.status).toBe(503);
    expect(r.code).toBe('circuit_open');
    expect(c.served).toBe(before);
    // Workers report every second: the primary shows it within that.
    await until(async () => (await admin('/upstreams')).breaker.targets[0].breaker !== 'closed', 3000);
    c.status = 200;
    await sleep(1700); // openMs
    // Each worker lets its probe through; both come back closed.
    await until(async () => {
      const rs = await Promise.all([get('/breaker/x'), get('/breaker/x')]);
      return rs.every((x) => x.status === 200) && (await admin('/upstreams')).breaker.targets[0].breaker === 'closed';
    }, 6000);
  });

  it('maxPendingPerWorker sheds load with 503 upstream_busy at once instead of queueing', async () => {
    c.delayMs = 800;
    try {
      const rs = await Promise.all(Array.from({ length: 12 }, () => get('/breaker/slow')));
      const busy = rs.filter((r) => r.code === 'upstream_busy').length;
      const served = rs.filter((r) => r.status === 200).length;
      // 2 per worker in flight, 2 workers: at most 4 served at once; every other one shed at once.
      expect(served).toBeLessThanOrEqual(4);
      expect(served + busy).toBe(12);
      expect(busy).toBeGreaterThanOrEqual(6);
    } finally {
      c.delayMs = 0;
    }
  });
});
