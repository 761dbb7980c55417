/**
 * A client that uploads faster than the worker takes the body must not hold the worker.
 *
 * uWS 20.57's uSockets reads a socket again at once, without looking at pause(), for as long as
 * each read fills its whole 512 KiB buffer. A client that keeps the kernel's receive queue above
 * that kept the worker in one loop for its whole upload: the spool's writes could not complete
 * (nor the streamed body's chunks leave), the body piled up in memory (CI saw a worker grow by
 * 200 MB for a 200 MB upload), and no other connection of that worker was accepted or answered
 * until the upload ended. The gateway now limits such a client socket's SO_RCVBUF
 * (src/worker/read-loop-guard.ts), after which every read comes back short and pause() holds.
 *
 * One worker, so that the second connection lands on the worker the upload holds; the client
 * runs in this process and the gateway in its own, so the client refills the socket while the
 * worker works, as a fast client on a fast network does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { bigRoutes, startBigUpstream } from '../helpers/big-upstream.js';
import { request } from 'undici';
import { startGateway, type Gateway } from '../helpers/gateway.js';
import { childPids, rssBytes } from '../helpers/procs.js';

const MB = 1024 * 1024;
const TOTAL = 128 * MB;
const CHUNK = Buffer.alloc(256 * 1024, 'abcdefgh');
/** The other request starts once this much of the upload is sent. */
const PROBE_AT = 16 * MB;
/** Worker RSS growth allowed for the upload: a few blocks, socket buffers, what piles up before the limit (with the fix 0-17 MB seen; without it 59-134 MB). */
const MEMORY_BOUND = 48 * MB;

let upstream: ChildProcess;
let gw: Gateway;

beforeAll(async () => {
  const big = await startBigUpstream();
  upstream = big.proc;
  gw = await startGateway({
    workers: 1,
    limits: { maxBodyBytes: 512 * MB },
    // The native engine hands the body's blocks back (RecyclingBody): part of what the memory bound checks.
    upstreams: { big: { targets: [{ url: big.url }], engine: 'native' } },
    routes: bigRoutes('big'),
  });
});

afterAll(async () => {
  await gw?.stop();
  upstream?.kill();
});

describe('a client uploading faster than the worker takes it', () => {
  it.each([
    ['/big/up', 'spooled, Content-Length', true],
    ['/streamed/up', 'streamed, Content-Length', true],
    ['/big/up', 'spooled, chunked', false],
  ])('%s (%s): another connection is answered while the upload goes on, and the worker holds only a few MB', async (path, _how, withLength) => {
    const [worker] = childPids(gw.proc.pid!);
    const before = rssBytes(worker);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(worker))), 50);
    let sent = 0;
    let probe: Promise<{ status: number; text: string; sentWhenAnswered: number }> | null = null;
    async function* body() {
      for (; sent < TOTAL; sent += CHUNK.length) {
        if (probe === null && sent >= PROBE_AT) {
          probe = request(gw.url + '/big/small').then(async (r) => ({ status: r.statusCode, text: await r.body.text(), sentWhenAnswered: sent }));
        }
        yield CHUNK;
      }
    }
    const res = await request(gw.url + path, { method: 'POST', body: body(), headers: withLength ? { 'content-length': String(TOTAL) } : {} });
    const result = (await res.body.json()) as { bytes: number };
    clearInterval(sampler);
    expect(res.statusCode).toBe(200);
    expect(result.bytes).toBe(TOTAL);
    expect(probe).not.toBeNull();
    const answered = await probe!;
    expect(answered.status).toBe(200);
    expect(answered.text).toBe('small');
    // Answered soon after it was asked, while most of the upload was still to come (with the fix:
    // 16-37 MB of 128 sent by then; without it, up to all 128: the worker only answered once the
    // loop let go).
    expect(answered.sentWhenAnswered).toBeLessThan(TOTAL / 2);
    expect(peak - before).toBeLessThan(MEMORY_BOUND);
  });
});
