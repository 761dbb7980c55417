/**
 * Reloads are serialized and every worker ends up on the newest accepted config:
 * - a reload that arrives while a worker is dead, forked or starting still completes, with its
 *   own version, and the replacement serves that version once it is ready (20 rounds of
 *   SIGKILL a worker + SIGHUP 0-500 ms later, seeded), also one accepted between the
 *   replacement's hello and its first listen;
 * - concurrent POST /reload are all answered; requests that arrive while a reload runs
 *   coalesce into the next one;
 * - SIGHUPs that arrive while a reload runs coalesce into exactly one more reload.
 *
 * A different seed reproduces other interleavings: RELOAD_TEST_SEED=<n>.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { request } from 'undici';
import { echoUpstream, freePort, sleep, startGateway, type Gateway } from '../helpers/gateway.js';
import { childPids, cpuTicks, replacementWorker, signalPending } from '../helpers/procs.js';
import { mulberry32 } from '../../src/util/prng.js';

const TOKEN = 'admin-token-for-reload-tests-0123';
const SEED = Number(process.env.RELOAD_TEST_SEED ?? 0x5eed2024);

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

type Route = { id: string; paths: string[]; respond: { status: number; body: string } };

interface Setup {
  gw: Gateway;
  adminPort: number;
  /** Writes the config file with these routes (the rest stays as the gateway started). */
  write(routes: Route[]): void;
}

async function gatewayWithAdmin(routes: Route[]): Promise<Setup> {
  const up = await echoUpstream();
  cleanup.push(() => up.close());
  const adminPort = await freePort();
  const port = await freePort();
  const configFor = (rs: Route[]) => ({
    workers: 2,
    listen: { host: '127.0.0.1', port },
    admin: { host: '127.0.0.1', port: adminPort, token: 'env:TEST_ADMIN_TOKEN' },
    upstreams: { app: { targets: [{ url: up.url }] } },
    routes: [{ id: 'app', paths: ['/app/*'], upstream: 'app' }, ...rs],
  });
  const gw = await startGateway(configFor(routes), { env: { TEST_ADMIN_TOKEN: TOKEN } });
  cleanup.push(() => gw.stop());
  await gw.waitForLog('"admin API listening"');
  await waitForReady(adminPort);
  return { gw, adminPort, write: (rs) => writeFileSync(gw.configPath, JSON.stringify(configFor(rs))) };
}

async function admin(adminPort: number, method: 'GET' | 'POST', path: string) {
  const res = await request(`http://127.0.0.1:${adminPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}` },
    headersTimeout: 20_000, // a reload answers within its 10 s deadline
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: () => JSON.parse(text) };
}

/** GET over a new TCP connection of its own (SO_REUSEPORT picks the worker per connection). */
function freshGet(port: number, path: string): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}

/** Polls /readyz (bounded) until it is 200. */
async function waitForReady(adminPort: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await admin(adminPort, 'GET', '/readyz')).status !== 200) {
    if (Date.now() > deadline) throw new Error(`/readyz not 200 within ${timeoutMs} ms`);
    await sleep(25);
  }
}

/** Polls the log (bounded) until `needle` occurs `n` times; the count seen. */
async function waitForCount(gw: Gateway, needle: string, n: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (count(gw.stderr, needle) < n && Date.now() < deadline) await sleep(5);
  return count(gw.stderr, needle);
}

type SlotStatus = { index: number; pid: number | null; version: number | null; state: string; error?: string };

/** Polls /readyz (bounded) until it is 200 with every slot ready on `version`. */
async function waitForAllOn(adminPort: number, version: number, timeoutMs = 15_000): Promise<SlotStatus[]> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    const r = await admin(adminPort, 'GET', '/readyz');
    const body = r.json() as { version: number; slots: SlotStatus[] };
    last = { status: r.status, ...body };
    if (r.status === 200 && body.version === version && body.slots.every((s) => s.state === 'ready' && s.pid !== null && s.version === version)) {
      return body.slots;
    }
    await sleep(25);
  }
  throw new Error(`workers not all ready on version ${version} within ${timeoutMs} ms; last /readyz: ${JSON.stringify(last)}`);
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

function reloadedLines(gw: Gateway): Array<{ version: number; complete: boolean; workers: SlotStatus[] }> {
  return gw.stderr
    .split('\n')
    .filter((l) => l.includes('"msg":"config reloaded"'))
    .map((l) => JSON.parse(l));
}

describe('reload while a worker restarts', () => {
  // Four gateways of five rounds each: a slot that dies more than 5 times in 60 s is given up on
  // by design, and each round kills the worker that was not restarted in the round before, so
  // each slot dies at most 3 times per gateway (restart backoffs 100, 200, 400 ms).
  const GATEWAYS = 4;
  const ROUNDS_PER_GATEWAY = 5;

  it('20 rounds of SIGKILL a worker + SIGHUP 0-500 ms later: every reload completes with its own version and every worker serves it', async () => {
    const rand = mulberry32(SEED);
    let round = 0;
    for (let g = 0; g < GATEWAYS; g++) {
      const routes: Route[] = [];
      const { gw, adminPort, write } = await gatewayWithAdmin(routes);
      let restarted: number | null = null;
      for (let r = 0; r < ROUNDS_PER_GATEWAY; r++) {
        round++;
        const version = r + 2;
        const ctx = `seed ${SEED}, round ${round}`;
        const before = childPids(gw.proc.pid!);
        expect(before, ctx).toHaveLength(2);
        const victim = restarted === null ? before[Math.floor(rand() * 2)] : before.find((p) => p !== restarted)!;
        const offsetMs = Math.floor(rand() * 501);

        process.kill(victim, 'SIGKILL');
        const killedAt = Date.now();
        routes.push({ id: `r${round}`, paths: [`/r${round}`], respond: { status: 200, body: `v${round}` } });
        write(routes);
        // Readiness: once the primary has seen the death, /readyz is 503 until the replacement
        // serves the newest config (its restart waits at least 100 ms).
        const readiness = gw.waitForLog(`"workerPid":${victim},`).then(() => admin(adminPort, 'GET', '/readyz'));
        await sleep(Math.max(0, offsetMs - (Date.now() - killedAt)));
        gw.proc.kill('SIGHUP');
        expect((await readiness).status, ctx).toBe(503);

        // The reload completes (its own version, every worker process on it), and the round
        // ends with every worker ready on it...
        await gw.waitForLog(new RegExp(`"msg":"config reloaded","version":${version}[,}]`), 15_000);
        const line = reloadedLines(gw).find((l) => l.version === version)!;
        expect(line.complete, `${ctx}: ${JSON.stringify(line)}`).toBe(true);
        const slots = await waitForAllOn(adminPort, version);
        const now = childPids(gw.proc.pid!);
        expect(slots.map((s) => s.pid).sort((a, b) => a! - b!), ctx).toEqual(now);
        expect(now, ctx).not.toContain(victim);
        // ... and serving it: fresh connections (spread over both workers) all get the new route.
        const answers = await Promise.all(Array.from({ length: 20 }, () => freshGet(gw.port, `/r${round}`)));
        expect(answers, ctx).toEqual(Array.from({ length: 20 }, () => ({ status: 200, body: `v${round}` })));
        restarted = now.find((p) => !before.includes(p))!;
      }
      // One reload per SIGHUP, versions 2..6 in order; no worker ever failed a config.
      expect(reloadedLines(gw).map((l) => l.version)).toEqual([2, 3, 4, 5, 6]);
      expect(gw.stderr).not.toContain('failed to apply');
      expect(gw.stderr).not.toContain('crash-looping');
      await gw.stop();
    }
  });
});

describe('reload while a worker starts', () => {
  it('a reload accepted between a replacement\'s hello and its listen: the replacement ends on the newest config', async () => {
    const { gw, adminPort, write } = await gatewayWithAdmin([]);
    const primary = gw.proc.pid!;
    const [victim, survivor] = childPids(primary);
    process.kill(victim, 'SIGKILL');
    await gw.waitForLog(`"workerPid":${victim},`);
    // Pause the primary as soon as the replacement is forked: the replacement boots, says
    // hello into the IPC channel and waits; the primary reads hello and the SIGHUP together
    // when it resumes, so version 1 goes out on hello and version 2 right behind it, while
    // the worker is still starting. The reload waits for it, and it is counted ready only on 2.
    const replacement = await replacementWorker(primary, victim, [survivor]);
    expect(replacement).toBeDefined();
    process.kill(primary, 'SIGSTOP');
    try {
      // The replacement has booted when it stops using CPU (it waits for its config).
      let last = -1;
      for (let stable = 0, i = 0; stable < 4 && i < 400; i++) {
        await sleep(25);
        const t = cpuTicks(replacement!);
        stable = t === last ? stable + 1 : 0;
        last = t;
      }
      write([{ id: 's', paths: ['/s'], respond: { status: 200, body: 's2' } }]);
      process.kill(primary, 'SIGHUP');
    } finally {
      process.kill(primary, 'SIGCONT');
    }
    await gw.waitForLog(/"msg":"config reloaded","version":2[,}]/, 15_000);
    const line = reloadedLines(gw).find((l) => l.version === 2)!;
    expect(line.complete, JSON.stringify(line)).toBe(true);
    expect(line.workers.map((w) => [w.pid, w.version])).toEqual(
      expect.arrayContaining([
        [survivor, 2],
        [replacement, 2],
      ]),
    );
    await waitForAllOn(adminPort, 2);
    const fresh = await Promise.all(Array.from({ length: 20 }, () => freshGet(gw.port, '/s')));
    expect(fresh).toEqual(Array.from({ length: 20 }, () => ({ status: 200, body: 's2' })));
  });
});

describe('concurrent reloads', () => {
  it('10 concurrent POST /reload are all answered 200; overlapping ones coalesce, each reload has its own version', async () => {
    const { gw, adminPort, write } = await gatewayWithAdmin([]);
    write([{ id: 'c', paths: ['/c'], respond: { status: 200, body: 'c' } }]);
    const answers = await Promise.all(Array.from({ length: 10 }, () => admin(adminPort, 'POST', '/reload')));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    const bodies = answers.map((a) => a.json() as { version: number; complete: boolean; workers: SlotStatus[] });
    const versions = [...new Set(bodies.map((b) => b.version))].sort((a, b) => a - b);
    // The reloads that ran have consecutive versions from 2; the first request starts one of
    // its own, any other one joins the next reload, so there are at least 2 and version 2
    // answers exactly one request.
    expect(versions.length).toBeGreaterThanOrEqual(2);
    expect(versions).toEqual(versions.map((_, i) => i + 2));
    expect(bodies.filter((b) => b.version === 2)).toHaveLength(1);
    // Each answer says which version every worker runs: the one that reload installed.
    for (const b of bodies) {
      expect(b.complete).toBe(true);
      expect(b.workers).toHaveLength(2);
      for (const w of b.workers) expect(w).toMatchObject({ version: b.version, state: 'ready' });
    }
    // One "config reloaded" line per reload that ran, in order; one "reload requested" per call.
    expect(reloadedLines(gw).map((l) => l.version)).toEqual(versions);
    expect(count(gw.stderr, '"msg":"reload requested"')).toBe(10);
    // Final state: every worker on the highest version, and serving it.
    const top = versions[versions.length - 1];
    await waitForAllOn(adminPort, top);
    expect((await admin(adminPort, 'GET', '/config')).json().version).toBe(top);
    const fresh = await Promise.all(Array.from({ length: 20 }, () => freshGet(gw.port, '/c')));
    expect(fresh).toEqual(Array.from({ length: 20 }, () => ({ status: 200, body: 'c' })));
  });

  it('5 SIGHUPs back to back while a reload runs: exactly 2 reloads (the first, and one more for the other four)', async () => {
    const { gw, adminPort, write } = await gatewayWithAdmin([]);
    write([{ id: 'h', paths: ['/h'], respond: { status: 200, body: 'h' } }]);
    // A stopped worker cannot answer, so the first reload is still running when the other
    // signals arrive (the kernel would merge signals sent while one is pending: each is sent
    // once the previous one has been delivered).
    const [stopped] = childPids(gw.proc.pid!);
    process.kill(stopped, 'SIGSTOP');
    try {
      for (let i = 0; i < 5; i++) {
        gw.proc.kill('SIGHUP');
        for (let spin = 0; spin < 10_000 && signalPending(gw.proc.pid!, 1); spin++) await new Promise((r) => setImmediate(r));
      }
      // All five handled before the stopped worker can answer the first reload (new code logs
      // each request; bounded, the assertions below say what went wrong if it never comes).
      await waitForCount(gw, '"msg":"reload requested"', 5, 5000);
    } finally {
      process.kill(stopped, 'SIGCONT');
    }
    await gw.waitForLog(/"msg":"config reloaded","version":3[,}]/, 15_000).catch(() => {});
    expect(reloadedLines(gw).map((l) => [l.version, l.complete])).toEqual([
      [2, true],
      [3, true],
    ]);
    expect(count(gw.stderr, '"msg":"reload requested"')).toBe(5);
    const slots = await waitForAllOn(adminPort, 3);
    expect(slots.map((s) => s.version)).toEqual([3, 3]);
    const fresh = await Promise.all(Array.from({ length: 20 }, () => freshGet(gw.port, '/h')));
    expect(fresh).toEqual(Array.from({ length: 20 }, () => ({ status: 200, body: 'h' })));
  });
});
