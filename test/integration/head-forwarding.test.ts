/**
 * The client's header lines on a route whose upstreams take lines as bytes go upstream as the
 * addon copied them from the raw head (native/uws_head.cc ForwardLines, RequestHead.rawHeaders),
 * with or without plugins (which see them through RequestContext: parsed when asked, removals cut
 * out of the bytes at dispatch); on a route with a mirror they are read one by one in JS
 * (src/worker/head.ts readHeaders) into strings. Through the real gateway and a recording
 * node:http upstream, the same generated heads sent both ways must reach the upstream with the
 * same header lines, in the same order, byte for byte (the gateway's random traceparent and
 * request ids aside), and get the same status: without plugins, and with plugins that remove, set
 * and replace headers. test/native/head-forward-diff.test.ts holds the two readings to the same
 * output head by head; this holds the whole path to it (the plugins' edits, the head's
 * serialization with the copied lines, the engine's send, the answer).
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawSequence, recordingUpstream, startGateway, type Gateway, type RecordingUpstream } from '../helpers/gateway.js';
import { HeadGen } from '../helpers/head-gen.js';

let up: RecordingUpstream;
let shadow: RecordingUpstream;
let gw: Gateway;

/** Plugins that remove, set and replace request headers (and read one: apiKey would, too). */
const EDITING = {
  requestHeaders: { set: { 'x-bench': '1', cookie: 'replaced=1' }, remove: ['accept-language', 'x-custom'] },
  requestId: { header: 'x-request-id' },
};

beforeAll(async () => {
  up = await recordingUpstream();
  shadow = await recordingUpstream();
  // A mirror (never taken at 0 %) makes a route read its heads in JS: its copies go as strings.
  const mirror = { upstream: 'shadow', percent: 0 };
  gw = await startGateway({
    workers: 1,
    upstreams: { app: { targets: [{ url: up.url }], connectionsPerWorker: 4 }, shadow: { targets: [{ url: shadow.url }] } },
    routes: [
      { id: 'js', paths: ['/js/*'], upstream: 'app', mirror },
      { id: 'plain', paths: ['/plain/*'], upstream: 'app' },
      { id: 'edit-js', paths: ['/edit-js/*'], upstream: 'app', mirror, plugins: EDITING },
      { id: 'edit', paths: ['/edit/*'], upstream: 'app', plugins: EDITING },
    ],
  });
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
  await shadow?.close();
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

/**
 * What the upstream saw of the request last recorded since `before`: header lines without the
 * traceparent, and a request id that is not in `sent` (one the gateway made) as "<made>".
 */
function seenLines(before: number, sent = ''): string[] | null {
  if (up.seen.length === before) return null;
  const h = up.seen[up.seen.length - 1].rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i].toLowerCase();
    if (name === 'traceparent') continue;
    out.push(`${h[i]}: ${name === 'x-request-id' && !sent.includes(h[i + 1]) ? '<made>' : h[i + 1]}`);
  }
  return out;
}

describe('header forwarding: the native copy, with and without plugins, and JS', () => {
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

  it("the plugins' edits reach the upstream from the copied lines as from JS's strings", async () => {
    const lines = (prefix: string) =>
      `GET /${prefix}/page HTTP/1.1\r\nHost: shop.example\r\nAccept-Language: en\r\nCookie: a=1\r\nX-Request-Id: client-7\r\n` +
      'User-Agent: t\r\nCookie: b=2\r\nX-Custom: 1\r\nX-Request-Id: second\r\nAccept: */*\r\n\r\n';
    const seen: (string[] | null)[] = [];
    for (const prefix of ['edit', 'edit-js']) {
      const before = up.seen.length;
      expect(await exchange(gw.port, lines(prefix))).toBe(200);
      seen.push(seenLines(before, 'client-7'));
    }
    // Removed lines and every copy of a replaced one gone, the rest in order; the client's first
    // (safe) request id kept, once, where the gateway puts its own; the set ones after them.
    const expected = ['user-agent: t', 'accept: */*', 'x-request-id: client-7', 'x-bench: 1', 'cookie: replaced=1'];
    expect(seen[0]!.slice(0, expected.length)).toEqual(expected);
    expect(seen[0]).toEqual(seen[1]);
  });

  it('generated heads reach the upstream the same way from the native copy and from JS, with and without plugins', async () => {
    const gen = new HeadGen(4711);
    let compared = 0;
    for (const [js, copy] of [['js', 'plain'], ['edit-js', 'edit']]) {
      for (let i = 0; i < 200; i++) {
        const suffix = `/r${i}?q=1`;
        const head = gen.head(`/${js}` + suffix, true);
        let before = up.seen.length;
        const jsStatus = await exchange(gw.port, head);
        const viaJs = seenLines(before, head);
        before = up.seen.length;
        const copyStatus = await exchange(gw.port, head.replace(`GET /${js}/`, `GET /${copy}/`));
        const viaCopy = seenLines(before, head);
        expect(copyStatus, head).toBe(jsStatus);
        expect(viaCopy, head).toEqual(viaJs);
        if (viaJs !== null) compared++;
      }
    }
    // Most heads are forwarded (the rest are refused alike, by uWS or by the gateway).
    expect(compared).toBeGreaterThan(260);
    expect(shadow.seen.length).toBe(0);
  }, 90_000);
});
