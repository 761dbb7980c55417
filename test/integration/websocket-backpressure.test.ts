/**
 * Backpressure of the WebSocket relay, measured on the real gateway worker's memory:
 *   - a client that stops reading for 10 s while the upstream sends 100 MB: the upstream is
 *     paused, the worker's RSS grows by far less than 64 MB, and once the client reads again all
 *     100 MB arrive;
 *   - an upstream that stops reading while the client keeps sending: uWS 20.57.0 cannot stop
 *     reading a client, so the relay bounds what it holds and closes both sides with 1008.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, startGateway, type Gateway } from '../helpers/gateway.js';
import { childPids, rssBytes } from '../helpers/procs.js';
import { startWsUpstream, until, type WsUpstream } from '../helpers/ws-upstream.js';
import { openWs } from '../helpers/ws-client.js';

const MB = 1024 * 1024;
const BOUND = 64 * MB;
/** What the client may send to an upstream that stopped reading before the relay must have closed. */
const SEND_CAP = 200 * MB;

let up: WsUpstream;
let gw: Gateway;
let worker: number;

beforeAll(async () => {
  up = await startWsUpstream({ maxPayload: 128 * MB });
  gw = await startGateway({
    workers: 1,
    accessLog: false,
    upstreams: { app: { targets: [{ url: up.url }] } },
    routes: [{ id: 'ws', paths: ['/*'], upstream: 'app' }],
  });
  worker = childPids(gw.proc.pid!)[0];
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

/** Samples the worker's RSS every 50 ms until stopped; returns the peak. */
function watchRss(): { stop(): number } {
  let peak = rssBytes(worker);
  const t = setInterval(() => (peak = Math.max(peak, rssBytes(worker))), 50);
  return { stop: () => (clearInterval(t), peak) };
}

describe('backpressure', () => {
  it('a client that stops reading for 10 s pauses the upstream: memory stays bounded and all 100 MB arrive after', async () => {
    const c = await openWs(`ws://127.0.0.1:${gw.port}/down`);
    c.ws.send('warm-up');
    await c.next();
    const baseline = rssBytes(worker);
    const rss = watchRss();
    c.ws.pause(); // the client reads nothing more
    c.ws.send('cmd:' + JSON.stringify({ flood: 100 * MB, chunk: 64 * 1024 }));
    await sleep(10_000);
    const peakWhilePaused = rss.stop();
    // Received so far: only what fit in the buffers on the way (gateway, kernel), far from 100 MB.
    let received = 0;
    let done = false;
    c.ws.removeAllListeners('message'); // counted here, not queued by the test client
    c.ws.on('message', (d: Buffer, isBinary) => {
      if (isBinary) received += d.length;
      else if (d.toString() === 'flood-done') done = true;
    });
    c.ws.resume();
    await until(() => done, 15_000, 'the whole flood');
    expect(received).toBeGreaterThanOrEqual(100 * MB - 64 * 1024);
    if (process.env.WS_BENCH_LOG) console.log('client paused: worker RSS growth', (peakWhilePaused - baseline) / MB, 'MB');
    expect(peakWhilePaused - baseline).toBeLessThan(BOUND);
    c.ws.close();
    await c.closed;
  }, 40_000);

  it('an upstream that stops reading while the client keeps sending: both sides closed with 1008, memory bounded', async () => {
    const c = await openWs(`ws://127.0.0.1:${gw.port}/up`);
    c.ws.send('warm-up');
    await c.next();
    const baseline = rssBytes(worker);
    const rss = watchRss();
    up.pauseReading();
    const chunk = Buffer.alloc(64 * 1024, 3);
    let sent = 0;
    let closed: { code: number; reason: string } | null = null;
    void c.closed.then((r) => (closed = r));
    const started = Date.now();
    // The client keeps sending (up to 200 MB) until the relay gives up on the upstream: how much
    // passes before the close reaches the client depends on the machine's speed, not the bound.
    while (sent < SEND_CAP && closed === null && Date.now() - started < 20_000) {
      if (c.ws.bufferedAmount > MB) {
        await sleep(2);
        continue;
      }
      c.ws.send(chunk);
      sent += chunk.length;
      // Node writes to a socket synchronously while the kernel takes it: yield now and then, or
      // this loop never sees the close (nor reads anything) however early the relay closes.
      if (sent % MB === 0) await new Promise((r) => setImmediate(r));
    }
    const result = await c.closed;
    const peak = rss.stop();
    up.resumeReading();
    expect(result).toEqual({ code: 1008, reason: 'upstream not reading' });
    expect(sent).toBeLessThan(SEND_CAP);
    if (process.env.WS_BENCH_LOG) console.log('upstream paused: worker RSS growth', (peak - baseline) / MB, 'MB after', sent / MB, 'MB sent');
    expect(peak - baseline).toBeLessThan(BOUND);
  }, 40_000);
});
