/**
 * Chaos (issue 10): under a steady load through the gateway, one of three targets is killed
 * (SIGKILL: the kernel resets its connections) and started again every second for 20 s. With
 * retries on for GETs, passive health and short connect timeouts, clients see (almost) no errors
 * and nothing hangs.
 *
 * The bound, and why: a request is lost only when every attempt meets a dying target: the first
 * attempt on the target being killed (reset) and the retry on... another target, which is up (only
 * one is down at a time), so a request fails only if the retry also lands on a target killed in
 * that same instant, or the retry budget is spent. Observed: 0 errors in most runs; the assertion
 * allows 0.5% of requests.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { sleep, startGateway, type Gateway } from '../helpers/gateway.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/port-upstream.mjs', import.meta.url));

function startAt(port: number, name: string): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, [FIXTURE, String(port), name], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    proc.stdout!.once('data', (d: Buffer) => resolve({ proc, port: Number(d.toString().trim()) }));
    proc.once('exit', (code) => reject(new Error(`upstream ${name} exited ${code} before listening`)));
  });
}

const procs: ChildProcess[] = [];
let gw: Gateway | null = null;

afterAll(async () => {
  await gw?.stop();
  for (const p of procs) p.kill('SIGKILL');
});

describe('chaos: a target killed and restarted every second for 20 s', () => {
  it('clients see at most 0.5% errors, and every request ends', async () => {
    const targets = await Promise.all(['t0', 't1', 't2'].map((n) => startAt(0, n)));
    for (const t of targets) procs.push(t.proc);
    gw = await startGateway({
      upstreams: {
        app: {
          targets: targets.map((t) => ({ url: `http://127.0.0.1:${t.port}` })),
          timeouts: { connectMs: 300, responseHeadersMs: 3000, idleMs: 60000 },
          retries: { attempts: 2, on: ['connect-failure', 'reset', '502', '503'], idempotentOnly: true, budgetPercent: 50 },
          healthCheck: { passive: { consecutiveFailures: 2, ejectMs: 800 } },
        },
      },
      routes: [{ id: 'app', paths: ['/*'], upstream: 'app', timeoutMs: 5000 }],
    });
    const agent = new Agent({ connections: 16 });
    let ok = 0;
    const errors: string[] = [];
    let pending = 0;
    const end = Date.now() + 20_000;
    const load = Array.from({ length: 8 }, async () => {
      while (Date.now() < end) {
        pending++;
        try {
          const r = await request(gw!.url + '/x?ms=2', { dispatcher: agent, headersTimeout: 8000, bodyTimeout: 8000 });
          const text = await r.body.text();
          if (r.statusCode === 200) ok++;
          else errors.push(`${r.statusCode} ${text.slice(0, 80)}`);
        } catch (err) {
          errors.push(String((err as Error).message));
        } finally {
          pending--;
        }
      }
    });
    const chaos = (async () => {
      for (let i = 0; Date.now() < end - 1000; i++) {
        const k = i % 3;
        const t = targets[k];
        t.proc.kill('SIGKILL');
        await new Promise((r) => t.proc.once('exit', r));
        await sleep(300);
        const again = await startAt(t.port, `t${k}`);
        targets[k] = again;
        procs.push(again.proc);
        await sleep(700);
      }
    })();
    await Promise.all([...load, chaos]);
    await agent.close();
    const total = ok + errors.length;
    console.log(`chaos: ${total} requests, ${errors.length} errors (${((errors.length / total) * 100).toFixed(3)}%)${errors.length ? ': ' + [...new Set(errors)].slice(0, 5).join(' | ') : ''}`);
    expect(pending).toBe(0);
    expect(total).toBeGreaterThan(2000);
    expect(errors.length).toBeLessThanOrEqual(Math.ceil(total * 0.005));
  });
});
