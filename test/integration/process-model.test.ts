/**
 * The process model: workers share the port with SO_REUSEPORT, a killed worker comes back,
 * SIGHUP swaps configs under load without a failed request and keeps the upstream pools it can,
 * a bad reload keeps the old config, SIGTERM drains in-flight requests and exits 0.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { echoUpstream, sleep, startGateway, startUpstream, withTestEngine, type Gateway, type Upstream } from '../helpers/gateway.js';
import { childPids, establishedOnPort, replacementWorker } from '../helpers/procs.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function gatewayWith(config: Record<string, unknown>): Promise<Gateway> {
  const gw = await startGateway(config);
  cleanup.push(() => gw.stop());
  return gw;
}

async function upstream(): Promise<Upstream> {
  const up = await echoUpstream();
  cleanup.push(() => up.close());
  return up;
}

function baseConfig(up: Upstream, body = 'v1') {
  return {
    upstreams: { app: { targets: [{ url: up.url }] } },
    routes: [
      { id: 'app', paths: ['/app/*'], upstream: 'app' },
      { id: 'version', paths: ['/version'], respond: { status: 200, body } },
    ],
  };
}

async function getText(url: string, dispatcher?: Agent): Promise<{ status: number; text: string }> {
  const res = await request(url, { dispatcher });
  return { status: res.statusCode, text: await res.body.text() };
}

describe('workers', () => {
  it('runs the configured number of workers and the kernel spreads connections over them', async () => {
    const up = await upstream();
    const gw = await gatewayWith(baseConfig(up));
    const workers = childPids(gw.proc.pid!);
    expect(workers).toHaveLength(2);
    // 32 kept-alive connections held open at once: with SO_REUSEPORT both workers get some.
    const agent = new Agent({ connections: 32, keepAliveTimeout: 30_000 });
    await Promise.all(Array.from({ length: 32 }, () => getText(gw.url + '/app/x', agent)));
    const perWorker = workers.map((pid) => establishedOnPort(pid, gw.port));
    expect(perWorker.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(16);
    expect(perWorker.every((n) => n > 0)).toBe(true);
    await agent.close();
  });

  it('restarts a worker killed with SIGKILL and keeps serving', async () => {
    const up = await upstream();
    const gw = await gatewayWith(baseConfig(up));
    const [victim, survivor] = childPids(gw.proc.pid!);
    process.kill(victim, 'SIGKILL');
    await gw.waitForLog('"worker died; restarting"');
    let workers: number[] = [];
    for (let i = 0; i < 100; i++) {
      workers = childPids(gw.proc.pid!);
      if (workers.length === 2 && !workers.includes(victim)) break;
      await sleep(100);
    }
    expect(workers).toContain(survivor);
    expect(workers).not.toContain(victim);
    expect(workers).toHaveLength(2);
    await sleep(300); // the new worker's listen
    for (let i = 0; i < 20; i++) expect((await getText(gw.url + '/app/x')).status).toBe(200);
  });
});

describe('all workers at once', () => {
  it('when every worker dies together, the primary stays up and brings them back', async () => {
    const up = await upstream();
    const gw = await gatewayWith(baseConfig(up)); // no admin API: nothing else keeps the primary's loop busy
    const before = childPids(gw.proc.pid!);
    for (const pid of before) process.kill(pid, 'SIGKILL');
    let after: number[] = [];
    for (let i = 0; i < 100; i++) {
      await sleep(100);
      after = childPids(gw.proc.pid!);
      if (after.length === 2 && after.every((p) => !before.includes(p))) break;
    }
    expect(gw.proc.exitCode).toBeNull();
    expect(after).toHaveLength(2);
    expect(after.some((p) => before.includes(p))).toBe(false);
    // The new workers need a moment to boot and listen: wait (bounded) until the port answers.
    let served = false;
    for (let i = 0; i < 100 && !served; i++) {
      served = await getText(gw.url + '/app/x').then((r) => r.status === 200, () => false);
      if (!served) await sleep(100);
    }
    expect(served).toBe(true);
    for (let i = 0; i < 10; i++) expect((await getText(gw.url + '/app/x')).status).toBe(200);
  });
});

describe('crash loops', () => {
  it('a worker slot that keeps dying is given up on and reported; the other worker keeps serving', async () => {
    const up = await upstream();
    const gw = await gatewayWith(baseConfig(up));
    const [slot0] = childPids(gw.proc.pid!);
    const survivors = new Set(childPids(gw.proc.pid!).filter((p) => p !== slot0));
    // Kill whatever process occupies the first slot, six times, as fast as it comes back.
    let victim = slot0;
    for (let kill = 0; kill < 6; kill++) {
      process.kill(victim, 'SIGKILL');
      if (kill === 5) break;
      let next: number | undefined;
      for (let i = 0; i < 200 && next === undefined; i++) {
        await sleep(25);
        next = childPids(gw.proc.pid!).find((p) => !survivors.has(p) && p !== victim);
      }
      expect(next).toBeDefined();
      victim = next!;
    }
    const logText = await gw.waitForLog('crash-looping');
    expect(logText).toContain('"worker is crash-looping; not restarting it"');
    await sleep(500);
    // No replacement is forked for the given-up slot, and the gateway still serves.
    expect(childPids(gw.proc.pid!)).toEqual([...survivors]);
    for (let i = 0; i < 10; i++) expect((await getText(gw.url + '/app/x')).status).toBe(200);
  });
});

describe('reload', () => {
  it('SIGHUP swaps a new config into every worker under load with zero failed requests', async () => {
    const up = await upstream();
    const gw = await gatewayWith(baseConfig(up, 'v1'));
    const agent = new Agent({ connections: 16 });
    let failures = 0;
    let served = 0;
    let running = true;
    const seen = new Set<string>();
    const loop = async () => {
      while (running) {
        try {
          const [a, b] = await Promise.all([getText(gw.url + '/app/x', agent), getText(gw.url + '/version', agent)]);
          if (a.status !== 200 || b.status !== 200) failures++;
          seen.add(b.text);
          served += 2;
        } catch {
          failures++;
        }
      }
    };
    const loops = Array.from({ length: 8 }, loop);
    for (const v of ['v2', 'v3', 'v4']) {
      await sleep(300);
      writeFileSync(gw.configPath, JSON.stringify(withTestEngine({ workers: 2, listen: { host: '127.0.0.1', port: gw.port }, ...baseConfig(up, v) })));
      gw.proc.kill('SIGHUP');
      await gw.waitForLog(`"config reloaded"`);
      gw.stderr = gw.stderr.replace(/"config reloaded"/g, '"config-reloaded-seen"');
    }
    await sleep(300);
    running = false;
    await Promise.all(loops);
    await agent.close();
    expect(failures).toBe(0);
    expect(served).toBeGreaterThan(100);
    expect(seen.has('v1')).toBe(true);
    expect(seen.has('v4')).toBe(true);
    expect((await getText(gw.url + '/version')).text).toBe('v4');
    // Same workers throughout: a reload restarts nothing.
    expect(gw.stderr).not.toContain('worker died');
  });

  it('a reload keeps the upstream connections of an unchanged upstream; changed connection settings get a new pool and the old one closes', async () => {
    const up = await upstream();
    const open = new Set<import('node:net').Socket>();
    up.server.on('connection', (sock) => {
      open.add(sock);
      sock.on('close', () => open.delete(sock));
    });
    const config = (body: string, idleMs: number) => ({
      workers: 2,
      listen: { host: '127.0.0.1', port: gw.port },
      upstreams: { app: { targets: [{ url: up.url }], connectionsPerWorker: 2, maxConnectionsPerWorker: 2, timeouts: { idleMs } } },
      routes: [
        { id: 'app', paths: ['/app/*'], upstream: 'app' },
        { id: 'version', paths: ['/version'], respond: { status: 200, body } },
      ],
    });
    const gw: Gateway = await gatewayWith({
      upstreams: { app: { targets: [{ url: up.url }], connectionsPerWorker: 2, maxConnectionsPerWorker: 2, timeouts: { idleMs: 60_000 } } },
      routes: [
        { id: 'app', paths: ['/app/*'], upstream: 'app' },
        { id: 'version', paths: ['/version'], respond: { status: 200, body: 'v1' } },
      ],
    });
    // Many client connections (so both workers proxy), 4 requests in flight at a time.
    const traffic = async () => {
      for (let round = 0; round < 10; round++) {
        const agents = Array.from({ length: 4 }, () => new Agent({ pipelining: 0 }));
        const answers = await Promise.all(agents.map((a) => getText(gw.url + '/app/x', a)));
        await Promise.all(agents.map((a) => a.close()));
        for (const a of answers) expect(a.status).toBe(200);
      }
    };
    const reload = async (cfg: Record<string, unknown>, body: string) => {
      writeFileSync(gw.configPath, JSON.stringify(withTestEngine(cfg)));
      gw.proc.kill('SIGHUP');
      await gw.waitForLog('"config reloaded"');
      gw.stderr = gw.stderr.replace(/"config reloaded"/g, '"config-reloaded-seen"');
      // Both workers run it (a fresh connection each time lands on either).
      for (let i = 0; i < 6; i++) {
        const agent = new Agent({ pipelining: 0 });
        expect((await getText(gw.url + '/version', agent)).text).toBe(body);
        await agent.close();
      }
    };

    await traffic();
    const warm = up.connections;
    expect(warm).toBeGreaterThan(0);
    expect(warm).toBeLessThanOrEqual(4); // 2 workers x connectionsPerWorker 2

    // A route changed, the upstream not: the same pooled connections carry the traffic.
    await reload(config('v2', 60_000), 'v2');
    await traffic();
    expect(up.connections).toBe(warm);
    expect(open.size).toBe(warm);

    // The upstream's connection settings changed: a new pool, and the old connections close
    // (they are idle once the requests in flight at the reload are done).
    await reload(config('v3', 30_000), 'v3');
    await traffic();
    expect(up.connections).toBeGreaterThan(warm);
    for (let i = 0; i < 50 && open.size > up.connections - warm; i++) await sleep(100);
    expect(open.size).toBeLessThanOrEqual(up.connections - warm);
  });

  it('a bad config on SIGHUP is refused with its errors and the old config keeps serving', async () => {
    const up = await upstream();
    const gw = await gatewayWith(baseConfig(up, 'good'));
    writeFileSync(
      gw.configPath,
      JSON.stringify({
        workers: 2,
        listen: { host: '127.0.0.1', port: gw.port },
        upstreams: { app: { targets: [{ url: up.url }] } },
        routes: [{ id: 'x', paths: ['/x'], upstream: 'nope' }],
      }),
    );
    gw.proc.kill('SIGHUP');
    const logText = await gw.waitForLog('reload refused');
    expect(logText).toContain('/routes/0/upstream');
    expect((await getText(gw.url + '/version')).text).toBe('good');
  });
});

describe('shutdown', () => {
  it('SIGTERM finishes in-flight requests, stops accepting, and exits 0', async () => {
    const slow = await startUpstream((_req, res) => setTimeout(() => res.end('slow-done'), 1500));
    cleanup.push(() => slow.close());
    const gw = await gatewayWith({ upstreams: { slow: { targets: [{ url: slow.url }] } }, routes: [{ id: 's', paths: ['/slow'], upstream: 'slow' }] });
    const inflight = getText(gw.url + '/slow');
    await sleep(300);
    gw.proc.kill('SIGTERM');
    await sleep(300);
    // New connections are refused while the old request drains.
    await expect(getText(gw.url + '/slow')).rejects.toThrow();
    const done = await inflight;
    expect(done).toEqual({ status: 200, text: 'slow-done' });
    const exit = await gw.exited;
    expect(exit.code).toBe(0);
  });

  it('SIGTERM while a restarted worker is still booting (before its hello): the drain reaches it and the gateway exits 0', async () => {
    // The drain deadline is far beyond the wait below: a drain message lost on the booting
    // worker would leave the primary waiting for it until the deadline's SIGKILL.
    const gw = await startGateway(baseConfig(await upstream()), { env: { GATEWAY_DRAIN_MS: '120000' } });
    cleanup.push(() => gw.stop());
    const primary = gw.proc.pid!;
    const [victim, survivor] = childPids(primary);
    process.kill(victim, 'SIGKILL');
    await gw.waitForLog(`"workerPid":${victim},`);
    const replacement = await replacementWorker(primary, victim, [survivor]);
    expect(replacement).toBeDefined();
    // At once: the replacement is still loading its modules, its IPC listener not attached yet.
    gw.proc.kill('SIGTERM');
    const exit = await Promise.race([gw.exited, sleep(15_000).then(() => 'still running')]);
    expect(exit, gw.stderr.split('\n').slice(-8).join('\n')).toEqual({ code: 0, signal: null });
  });
});
