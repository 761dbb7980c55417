/**
 * The shared endpoint state (src/native/shared-state.ts over native/shared_state.cc): one POSIX
 * shm segment that every process maps as a SharedArrayBuffer. Real processes hammer one slot with
 * Atomics; the machine-wide count is exact, a dead worker's share comes back out, health and
 * ejection written by one process are read by the others, the clock is shared.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { SharedEndpointState, HEALTHY, UNHEALTHY, sharedNowMs } from '../../src/native/shared-state.js';

const NAME = `/gateway-${process.pid}-${Date.now().toString(16)}`;
const state = SharedEndpointState.create(NAME, 128, 8);
const MODULE = new URL('../../dist/src/native/shared-state.js', import.meta.url).href;

afterAll(() => {
  SharedEndpointState.unlink(NAME);
});

/** Runs `body` in a fresh node process with the segment opened as `s` (and `slot`, `w`). */
function child(body: string, w: number): Promise<string> {
  const script = `const { SharedEndpointState, sharedNowMs } = await import(${JSON.stringify(MODULE)});
    const s = SharedEndpointState.open(${JSON.stringify(NAME)}); const w = ${w};
    ${body}`;
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited ${code}: ${err}`))));
  });
}

describe('shared endpoint state', () => {
  it('lives in /dev/shm under the name stale cleanup knows, mode 0600', () => {
    expect(existsSync(`/dev/shm${NAME}`)).toBe(true);
  });

  it('4 processes x 200k acquire/release on one slot, interleaved: the count is exact all along and 0 at the end', async () => {
    const body = `
      let seenNegative = false;
      for (let i = 0; i < 200000; i++) {
        s.acquire(3, w);
        if (s.inflight(3) < 1) seenNegative = true;
        s.release(3, w);
      }
      process.stdout.write(String(seenNegative));`;
    const outs = await Promise.all([0, 1, 2, 3].map((w) => child(body, w)));
    expect(outs).toEqual(['false', 'false', 'false', 'false']);
    expect(state.inflight(3)).toBe(0);
  });

  it("a worker that dies with requests in flight: forgetWorker takes exactly its share back out", async () => {
    await child('for (let i = 0; i < 7; i++) s.acquire(5, w);', 2); // exits holding 7
    await child('for (let i = 0; i < 3; i++) s.acquire(5, w);', 1); // holds 3
    expect(state.inflight(5)).toBe(10);
    expect(state.forgetWorker(2)).toBe(7);
    expect(state.inflight(5)).toBe(3);
    expect(state.forgetWorker(1)).toBe(3);
    expect(state.inflight(5)).toBe(0);
  });

  it('health and ejection written by one process are what the others read', async () => {
    state.setHealth(9, UNHEALTHY);
    expect(await child('process.stdout.write(String(s.health(9)))', 0)).toBe(String(UNHEALTHY));
    await child('s.eject(9, sharedNowMs() + 5000); s.setHealth(9, 0);', 0);
    expect(state.health(9)).toBe(HEALTHY);
    const left = state.ejectedUntil(9) - sharedNowMs();
    expect(left).toBeGreaterThan(3000);
    expect(left).toBeLessThanOrEqual(5000);
  });

  it('reassigning a slot clears health and ejection and bumps its generation', () => {
    state.setHealth(11, UNHEALTHY);
    state.eject(11, sharedNowMs() + 1000);
    const g = state.generation(11);
    state.reassign(11);
    expect(state.health(11)).toBe(HEALTHY);
    expect(state.ejectedUntil(11)).toBe(0);
    expect(state.generation(11)).toBe(g + 1);
  });

  it('a segment that is not a gateway state segment is refused', () => {
    expect(() => SharedEndpointState.open('/gateway-definitely-missing')).toThrow(/shm_open/);
  });
});
