/**
 * Clients that misbehave in every ordinary way at once (slow readers, readers that stop, aborts
 * before and during the answer and the upload, keep-alive sequences, HEAD), 64 of them, 16 at a
 * time, against one bulk upstream: every exchange ends, every completed download is whole, and
 * afterwards nothing is left in flight to the upstream (the admin API's `inflight` per target).
 *
 * What it guards: an exchange the gateway never finishes holds an upstream connection for good,
 * and a client that can cause that can take the pool one connection at a time. Such a leak was
 * found on the undici engine (an empty body chunk after a pause ended the answer early, and the
 * paused upstream was never released; docs/upstream-engine.md "Fixed: downloads that stopped
 * short"). This mix did not reproduce that one (it needs a pause to fall on the last buffered byte
 * just before a quiet moment of the upstream; test/unit/upstream-engines.test.ts pins it at the
 * engine): it checks the invariant any such leak breaks. The route has no deadline (timeoutMs 0),
 * so nothing is cleaned up behind a leak's back. The behaviours are drawn from a fixed seed: a
 * failure names the seed and the client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { request } from 'undici';
import { freePort, sleep, startGateway, type Gateway } from '../helpers/gateway.js';
import { startBigUpstream } from '../helpers/big-upstream.js';
import { mulberry32 } from '../../src/util/prng.js';

const MB = 1024 * 1024;
const TOTAL = 8 * MB;
/** The trickled download: long enough for a reader just slower than it to fill the socket buffers on the way. */
const TRICKLE = 48 * MB;
const TOKEN = 'client-chaos-admin-token';
const SEED = 0x5eed;
const CLIENTS = 64;
const AT_ONCE = 16;

let upstream: ChildProcess;
let gw: Gateway;
let adminPort = 0;

beforeAll(async () => {
  const big = await startBigUpstream(TOTAL);
  upstream = big.proc;
  adminPort = await freePort();
  gw = await startGateway(
    {
      admin: { host: '127.0.0.1', port: adminPort, token: 'env:CHAOS_ADMIN_TOKEN' },
      accessLog: false,
      limits: { maxBodyBytes: 64 * MB },
      upstreams: { big: { targets: [{ url: big.url }] } },
      routes: [{ id: 'big', paths: ['/big/*'], upstream: 'big', stripPrefix: '/big', timeoutMs: 0 }],
    },
    { env: { CHAOS_ADMIN_TOKEN: TOKEN } },
  );
  await gw.waitForLog('"admin API listening"');
});

afterAll(async () => {
  await gw?.stop();
  upstream?.kill();
});

type Behaviour = 'fast' | 'slow' | 'slow-trickle' | 'stop-reading' | 'abort-mid-body' | 'abort-before-answer' | 'keep-alive' | 'head' | 'upload' | 'abort-mid-upload';
const BEHAVIOURS: Behaviour[] = ['fast', 'slow', 'slow-trickle', 'stop-reading', 'abort-mid-body', 'abort-before-answer', 'keep-alive', 'head', 'upload', 'abort-mid-upload'];

interface Outcome {
  behaviour: Behaviour;
  /** What was wrong; '' when the exchange ended as this behaviour expects. */
  problem: string;
}

/**
 * Reads HTTP/1.1 answers from a socket: the heads and how many body bytes followed each
 * (Content-Length bodies only: the upstream sends nothing else). `onBody` sees every body chunk.
 */
class AnswerReader {
  private buf = Buffer.alloc(0);
  private want = -1;
  got = 0;
  heads: string[] = [];
  bodies: number[] = [];
  constructor(private readonly headOnly: () => boolean, private readonly onBody: (n: number) => void = () => {}) {}

  feed(c: Buffer): void {
    this.buf = this.buf.length === 0 ? c : Buffer.concat([this.buf, c]);
    for (;;) {
      if (this.want < 0) {
        const end = this.buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = this.buf.subarray(0, end).toString('latin1');
        this.buf = this.buf.subarray(end + 4);
        this.heads.push(head);
        const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
        this.want = this.headOnly() || cl === null ? 0 : Number(cl[1]);
        this.got = 0;
      }
      const take = Math.min(this.want - this.got, this.buf.length);
      this.got += take;
      if (take > 0) this.onBody(take);
      this.buf = this.buf.subarray(take);
      if (this.got < this.want) return;
      this.bodies.push(this.got);
      this.want = -1;
      if (this.buf.length === 0) return;
    }
  }
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Runs one client; resolves with what went wrong (never rejects). Bounded: 30 s. */
async function client(port: number, behaviour: Behaviour, rnd: () => number): Promise<Outcome> {
  const s = await open(port);
  s.on('error', () => {});
  let isClosed = false;
  const closed = new Promise<void>((r) => s.once('close', () => ((isClosed = true), r())));
  const ended = (problem: string): Outcome => {
    s.destroy();
    return { behaviour, problem };
  };
  const within = <T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> => Promise.race([p, sleep(ms).then(() => 'timeout' as const)]);

  if (behaviour === 'abort-before-answer') {
    s.write('GET /big/down HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(Math.floor(rnd() * 5));
    return ended('');
  }
  if (behaviour === 'upload' || behaviour === 'abort-mid-upload') {
    const size = 2 * MB;
    const stopAt = behaviour === 'upload' ? size : Math.floor(rnd() * size);
    const reader = new AnswerReader(() => false);
    s.on('data', (c: Buffer) => reader.feed(c));
    s.write(`POST /big/up HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`);
    const piece = Buffer.alloc(64 * 1024, 'u');
    for (let sent = 0; sent < stopAt; sent += piece.length) {
      if (!s.write(piece.subarray(0, Math.min(piece.length, stopAt - sent)))) await new Promise((r) => s.once('drain', r));
    }
    if (behaviour === 'abort-mid-upload') return ended('');
    const done = await within((async () => { while (reader.bodies.length < 1) await sleep(5); })(), 30_000);
    if (done === 'timeout') return ended('no answer to the upload within 30 s');
    return ended(reader.heads[0].startsWith('HTTP/1.1 200') ? '' : `upload answered ${reader.heads[0].slice(0, 12)}`);
  }

  const requests = behaviour === 'keep-alive' ? 3 : 1;
  const path = behaviour === 'keep-alive' ? '/big/small' : behaviour === 'slow-trickle' ? `/big/trickle?mb=${TRICKLE / MB}` : '/big/down';
  const method = behaviour === 'head' ? 'HEAD' : 'GET';
  const abortAfter = behaviour === 'abort-mid-body' ? Math.floor(rnd() * TOTAL) : -1;
  let sinceSleep = 0;
  const reader = new AnswerReader(
    () => method === 'HEAD',
    (n) => {
      sinceSleep += n;
      // A slow reader: stops for a few ms every 256 KiB (about 10-50 MB/s).
      if (behaviour === 'slow' && sinceSleep >= 256 * 1024) {
        sinceSleep = 0;
        s.pause();
        setTimeout(() => s.resume(), 5 + Math.floor(rnd() * 15));
      }
      // Just slower than the trickling upstream, reading all the time: the gateway meets
      // backpressure on a piece and is let go again before the next piece arrives.
      if (behaviour === 'slow-trickle' && sinceSleep >= 32 * 1024) {
        sinceSleep = 0;
        s.pause();
        setTimeout(() => s.resume(), 1);
      }
    },
  );
  s.on('data', (c: Buffer) => {
    reader.feed(c);
    // Keep-alive: the next request once the previous answer is in (uWS refuses pipelining).
    if (reader.bodies.length === sentRequests && sentRequests < requests) send();
  });
  let sentRequests = 0;
  const send = (): void => {
    sentRequests++;
    s.write(`${method} ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  };
  send();
  if (behaviour === 'stop-reading') {
    // Reads a little, then nothing: uWS cuts it after limits.idleTimeoutMs; here it goes first.
    await sleep(50);
    s.pause();
    await sleep(300 + Math.floor(rnd() * 300));
    return ended('');
  }
  if (abortAfter >= 0) {
    const r = await within((async () => { while (reader.got < abortAfter && reader.bodies.length === 0 && !isClosed) await sleep(1); })(), 30_000);
    if (isClosed) return ended(`closed by the gateway at ${reader.got} of ${TOTAL} bytes`);
    return ended(r === 'timeout' ? `stalled at ${reader.got} of ${TOTAL} bytes before the abort point` : '');
  }
  const r = await within((async () => { while (reader.bodies.length < requests && !isClosed) await sleep(2); })(), 30_000);
  if (reader.bodies.length < requests) {
    const where = `${reader.bodies.length} of ${requests} answers, ${reader.got} bytes into the current one`;
    return ended(r === 'timeout' ? `stalled: ${where}` : `closed by the gateway: ${where}`);
  }
  const expected = method === 'HEAD' ? 0 : path === '/big/small' ? 5 : behaviour === 'slow-trickle' ? TRICKLE : TOTAL;
  const wrong = reader.bodies.find((n) => n !== expected);
  s.end();
  await within(closed, 100);
  return ended(wrong !== undefined ? `a body of ${wrong} bytes, not ${expected}` : reader.heads.some((h) => !h.startsWith('HTTP/1.1 200')) ? `answered ${reader.heads.map((h) => h.slice(9, 12)).join(',')}` : '');
}

async function upstreamInflight(): Promise<number> {
  const res = await request(`http://127.0.0.1:${adminPort}/upstreams`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const body = (await res.body.json()) as Record<string, { targets: Array<{ inflight: number }> }>;
  return body.big.targets.reduce((n, t) => n + t.inflight, 0);
}

describe('client chaos', () => {
  it(`${CLIENTS} clients that read slowly, stop, abort, upload and reuse connections: every exchange ends, downloads are whole, nothing stays in flight`, async () => {
    const rnd = mulberry32(SEED);
    const plan = Array.from({ length: CLIENTS }, (_, i) => BEHAVIOURS[i % BEHAVIOURS.length]).sort(() => rnd() - 0.5);
    const outcomes: Outcome[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: AT_ONCE }, async () => {
        while (next < plan.length) {
          const i = next++;
          const o = await client(gw.port, plan[i], rnd);
          outcomes[i] = o;
        }
      }),
    );
    const problems = outcomes.map((o, i) => (o.problem ? `client ${i} (${o.behaviour}, seed ${SEED}): ${o.problem}` : '')).filter(Boolean);
    expect(problems).toEqual([]);
    // The aborted exchanges end as the gateway notices (at once for a closed socket, after
    // limits.idleTimeoutMs for a client that stopped reading: 10 s by default).
    const deadline = Date.now() + 25_000;
    let inflight = await upstreamInflight();
    while (inflight > 0 && Date.now() < deadline) {
      await sleep(100);
      inflight = await upstreamInflight();
    }
    expect(inflight).toBe(0);
    const after = await request(`${gw.url}/big/small`);
    expect(after.statusCode).toBe(200);
    expect(await after.body.text()).toBe('small');
  });
});
