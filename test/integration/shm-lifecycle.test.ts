/**
 * The shared-memory segments over the gateway's life (two per gateway: the rate-limit token
 * buckets and the upstream endpoint state): created by the primary (named after its PID), mapped
 * by every worker (a restarted worker sees the same buckets), removed when the gateway stops or
 * exits early, and segments left behind by a primary killed with SIGKILL removed by the next
 * start, which works normally.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { request } from 'undici';
import { childPids } from '../helpers/procs.js';
import { freePort, sleep, startGateway, type Gateway } from '../helpers/gateway.js';

function segmentsOf(pid: number): string[] {
  return readdirSync('/dev/shm').filter((f) => f.startsWith(`gateway-${pid}-`));
}

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    accessLog: false,
    limits: { rateLimitBuckets: 4096 },
    upstreams: { app: { targets: [{ url: 'http://127.0.0.1:1' }] } },
    routes: [{ id: 'r', paths: ['/r'], respond: { body: 'ok' }, plugins: { rateLimit: { requestsPerSecond: 0.01, burst: 2 } } }],
    ...extra,
  };
}

async function status(gw: Gateway, path = '/r'): Promise<number> {
  const res = await request(gw.url + path);
  await res.body.dump();
  return res.statusCode;
}

async function waitGone(pid: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(50);
  }
  throw new Error(`process ${pid} still alive`);
}

describe('shared-memory segment lifecycle', () => {
  it('is created at start, survives a worker restart with its buckets, and is removed on stop', async () => {
    const gw = await startGateway(config());
    try {
      const segs = segmentsOf(gw.proc.pid!);
      expect(segs).toHaveLength(2);
      expect(await status(gw)).toBe(200);
      expect(await status(gw)).toBe(200);
      expect(await status(gw)).toBe(429);
      // Kill a worker: its replacement maps the same segment, so the bucket stays empty
      // whichever worker a new connection lands on. (One at a time: the primary has nothing
      // else keeping its event loop alive when no admin API is configured.)
      const workers = childPids(gw.proc.pid!);
      expect(workers.length).toBe(2);
      process.kill(workers[0], 'SIGKILL');
      await gw.waitForLog('worker died; restarting');
      for (let i = 0; i < 200 && childPids(gw.proc.pid!).filter((p) => !workers.includes(p)).length < 1; i++) await sleep(50);
      await sleep(1000); // the new worker loads uWS and listens
      const codes: number[] = [];
      for (let i = 0; i < 8; i++) {
        const res = await request(gw.url + '/r', { reset: true }); // a new connection each time
        await res.body.dump();
        codes.push(res.statusCode);
      }
      expect(codes).toEqual(Array(8).fill(429));
      expect(segmentsOf(gw.proc.pid!)).toEqual(segs);
      await gw.stop();
      if ((await gw.exited).code !== 0) console.log(gw.stderr.split('\n').slice(-12).join('\n'));
      expect((await gw.exited).code).toBe(0);
      for (const seg of segs) expect(existsSync(`/dev/shm/${seg}`)).toBe(false);
    } finally {
      await gw.stop();
    }
  });

  it('a segment left by a primary killed with SIGKILL is removed by the next start', async () => {
    const first = await startGateway(config());
    const pid = first.proc.pid!;
    const workers = childPids(pid);
    const left = segmentsOf(pid);
    expect(left).toHaveLength(2);
    first.proc.kill('SIGKILL');
    await first.exited;
    for (const w of workers) await waitGone(w); // workers leave when the primary is gone
    // The killed primary could not clean up. Which start removes the orphan is not asserted:
    // other test files start gateways in parallel and any of them may get there first (that is
    // the feature). What must hold: after the next start it is gone, and that start works.
    const second = await startGateway(config());
    try {
      for (const seg of left) expect(existsSync(`/dev/shm/${seg}`)).toBe(false);
      expect(segmentsOf(second.proc.pid!)).toHaveLength(2);
      expect(await status(second)).toBe(200);
      expect(await status(second)).toBe(200);
      expect(await status(second)).toBe(429);
    } finally {
      await second.stop();
    }
    expect(segmentsOf(second.proc.pid!)).toEqual([]);
  });

  it('is removed when the gateway gives up at start (port taken)', async () => {
    const port = await freePort();
    const squatter = createServer().listen(port, '127.0.0.1');
    await new Promise((r) => squatter.once('listening', r));
    try {
      const gw = await startGateway(config({ listen: { port } }), { noWait: true });
      const { code } = await gw.exited;
      expect(code).not.toBe(0);
      expect(segmentsOf(gw.proc.pid!)).toEqual([]);
    } finally {
      squatter.close();
    }
  });
});
