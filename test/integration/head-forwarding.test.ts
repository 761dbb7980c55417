/**
 * The client's header lines on a route without plugins go upstream as the addon copied them from
 * the raw head (native/uws_head.cc ForwardLines, RequestHead.rawHeaders); on a route with a plugin
 * they are read one by one in JS (src/worker/head.ts readHeaders). Through the real gateway and a
 * recording node:http upstream, the same generated heads sent to both routes must reach the
 * upstream with the same header lines, in the same order, byte for byte (the gateway's random
 * traceparent aside), and get the same status. test/native/head-forward-diff.test.ts holds the two
 * readings to the same output head by head; this holds the whole path to it (the head's
 * serialization with the copied lines, the engine's send, the answer).
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawSequence, recordingUpstream, startGateway, type Gateway, type RecordingUpstream } from '../helpers/gateway.js';
import { HeadGen } from '../helpers/head-gen.js';

let up: RecordingUpstream;
let gw: Gateway;

beforeAll(async () => {
  up = await recordingUpstream();
  gw = await startGateway({
    workers: 1,
    upstreams: { app: { targets: [{ url: up.url }], connectionsPerWorker: 4 } },
    routes: [
      // requestHeaders {} changes nothing, but a route with a plugin reads its heads in JS.
      { id: 'js', paths: ['/js/*'], upstream: 'app', plugins: { requestHeaders: {} } },
      { id: 'plain', paths: ['/plain/*'], upstream: 'app' },
    ],
  });
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

/** Sends one head on its own connection; resolves with the status once the answer is complete (or the connection ends). */
function exchange(port: number, head: string): Promise<number> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let out = Buffer.alloc(0);
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(out.toString('latin1'))?.[1] ?? 0));
    };
    const timer = setTimeout(done, 2000);
    sock.on('data', (c: Buffer) => {
      out = Buffer.concat([out, c]);
      const text = out.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
      if (out.length >= end + 4 + length) done();
    });
    sock.on('close', done);
    sock.on('error', done);
    sock.write(Buffer.from(head, 'latin1'));
  });
}

/** What the upstream saw of the request last recorded since `before`: header lines without the traceparent. */
function seenLines(before: number): string[] | null {
  if (up.seen.length === before) return null;
  const h = up.seen[up.seen.length - 1].rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < h.length; i += 2) if (h[i].toLowerCase() !== 'traceparent') out.push(`${h[i]}: ${h[i + 1]}`);
  return out;
}

describe('header forwarding: routes without plugins (native copy) and with (JS)', () => {
  it('a browser head reaches the upstream whole from the plain route, hop-by-hop and spoofable lines dropped', async () => {
    const head =
      'GET /plain/page HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0\r\n' +
      'Accept: text/html,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.9\r\nCookie: session=abc; theme=dark\r\n' +
      'Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-Real-IP: 6.6.6.6\r\nX-Forwarded-For: 6.6.6.6\r\nProxy-Authorization: Basic eA==\r\n' +
      'X_Internal: 1\r\nSec-Fetch-Mode:   navigate  \r\nUpgrade-Insecure-Requests: 1\r\n\r\n';
    const before = up.seen.length;
    expect(await exchange(gw.port, head)).toBe(200);
    expect(seenLines(before)).toEqual([
      'user-agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0',
      'accept: text/html,*/*;q=0.8',
      'accept-language: en-US,en;q=0.9',
      'cookie: session=abc; theme=dark',
      'sec-fetch-mode: navigate',
      'upgrade-insecure-requests: 1',
      'x-forwarded-for: 127.0.0.1',
      'x-forwarded-proto: http',
      'x-forwarded-host: shop.example',
      `x-forwarded-port: ${gw.port}`,
      'x-real-ip: 127.0.0.1',
      'via: 1.1 gateway',
      `host: ${new URL(up.url).host}`,
      'connection: keep-alive',
    ]);
  });

  it("the forwarding lines kept for a connection follow each request's own Host and Via", async () => {
    // The gateway serializes them once per connection and reuses them while the values stay the same.
    const before = up.seen.length;
    const req = (host: string, via: string) => `GET /plain/kept HTTP/1.1\r\nHost: ${host}\r\n${via}\r\n`;
    await rawSequence(gw.port, [req('a.example', ''), req('a.example', ''), req('b.example:81', ''), req('b.example:81', 'Via: 1.0 front\r\n'), req('a.example', '')], 100, 400);
    const seen = up.seen.slice(before).map((r) => {
      const h = r.rawHeaders;
      const value = (name: string) => h[h.findIndex((n, i) => i % 2 === 0 && n.toLowerCase() === name) + 1];
      return [value('x-forwarded-host'), value('via')];
    });
    expect(seen).toEqual([
      ['a.example', '1.1 gateway'],
      ['a.example', '1.1 gateway'],
      ['b.example:81', '1.1 gateway'],
      ['b.example:81', '1.0 front, 1.1 gateway'],
      ['a.example', '1.1 gateway'],
    ]);
  });

  it('generated heads reach the upstream the same way from both routes', async () => {
    const gen = new HeadGen(4711);
    let compared = 0;
    for (let i = 0; i < 300; i++) {
      const suffix = `/r${i}?q=1`;
      const head = gen.head('/js' + suffix, true);
      let before = up.seen.length;
      const jsStatus = await exchange(gw.port, head);
      const viaJs = seenLines(before);
      before = up.seen.length;
      const plainStatus = await exchange(gw.port, head.replace('GET /js/', 'GET /plain/'));
      const viaPlain = seenLines(before);
      expect(plainStatus, head).toBe(jsStatus);
      expect(viaPlain, head).toEqual(viaJs);
      if (viaJs !== null) compared++;
    }
    // Most heads are forwarded (the rest are refused alike, by uWS or by the gateway).
    expect(compared).toBeGreaterThan(200);
  }, 60_000);
});
