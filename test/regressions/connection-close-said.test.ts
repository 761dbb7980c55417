/**
 * An answer after which the gateway closes the connection says `Connection: close`, exactly once
 * (RFC 9112 §9.6: a server that receives "close" SHOULD send it in its final response).
 *
 * uWS sets its own close flag when the client's first Connection value is 5 bytes long (`close`
 * in any case, but also `abcde`), and its end() with the close flag then writes no
 * `Connection: close` ("the client already said so"). For `abcde` uWS closes a connection the
 * client never asked to close. The native head scan reports that flag (HEAD_UWS_CLOSES) and the
 * gateway writes the header itself on those answers (Transaction.sayClose); where uWS's flag is
 * not set (`keep-alive, close`, a chunked request) uWS writes it. Before, answers to the first
 * group went out without the header.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { responseStatuses, sleep, startGateway, startUpstream, type Gateway, type Upstream } from '../helpers/gateway.js';

let up: Upstream;
let gw: Gateway;
const seen: string[] = [];

beforeAll(async () => {
  up = await startUpstream((req, res) => {
    seen.push(req.url!);
    req.resume();
    req.on('end', () => {
      if (req.url!.startsWith('/empty')) return res.writeHead(204).end();
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 5 }).end('hello');
    });
  });
  gw = await startGateway({
    upstreams: { app: { targets: [{ url: up.url }] } },
    routes: [
      { id: 'local', paths: ['/local'], methods: ['GET'], respond: { status: 200, body: 'local' } },
      { id: 'app', paths: ['/app/*', '/empty'], upstream: 'app' },
    ],
  });
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

/** Writes `first` and, 100 ms after the first answer's head, `next`; reads until the server closes (bounded). */
function exchange(first: string, next: string): Promise<{ raw: string; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = connect(gw.port, '127.0.0.1');
    let raw = '';
    let sentNext = false;
    const done = (closed: boolean) => {
      clearTimeout(cap);
      sock.destroy();
      resolve({ raw, closed });
    };
    const cap = setTimeout(() => done(false), 3000);
    sock.on('data', (c) => {
      raw += c.toString('latin1');
      if (!sentNext && raw.includes('\r\n\r\n')) {
        sentNext = true;
        setTimeout(() => sock.writable && sock.write(next), 100);
      }
    });
    sock.on('close', () => done(true));
    sock.on('error', () => {});
    sock.write(first);
  });
}

function connectionLines(raw: string): string[] {
  const head = raw.slice(0, raw.indexOf('\r\n\r\n')).toLowerCase().split('\r\n');
  return head.filter((l) => l.startsWith('connection:'));
}

const NEXT = 'GET /app/next HTTP/1.1\r\nHost: a\r\n\r\n';

describe('Connection: close is said on every answer that closes', () => {
  // [what, the request line, the status]
  const answers: Array<[string, string, number]> = [
    ['a proxied answer', 'GET /app/x', 200],
    ['a proxied HEAD', 'HEAD /app/x', 200],
    ['a proxied 204', 'GET /empty', 204],
    ['a respond route', 'GET /local', 200],
    ['an unrouted 404', 'GET /nowhere', 404],
    ['a 405', 'DELETE /local', 405],
  ];
  const closing: Array<[string, string]> = [
    ['close', 'Connection: close'],
    ['CLOSE', 'Connection: CLOSE'],
    ['close with spaces around it', 'Connection:   close  '],
    ['a 5-byte value uWS closes on (abcde)', 'Connection: abcde'],
    ['keep-alive, close (uWS writes the line)', 'Connection: keep-alive, close'],
    ['a second Connection line with close', 'Connection: keep-alive\r\nConnection: close'],
  ];
  for (const [what, line, status] of answers) {
    it.each(closing)(`${what}, the client's %s: one Connection: close, then the connection closes`, async (_name, connection) => {
      const before = seen.length;
      const { raw, closed } = await exchange(`${line} HTTP/1.1\r\nHost: a\r\n${connection}\r\n\r\n`, NEXT);
      expect(responseStatuses(raw), raw).toEqual([status]);
      expect(connectionLines(raw), raw).toEqual(['connection: close']);
      expect(closed, raw).toBe(true);
      await sleep(50);
      expect(seen.slice(before)).not.toContain('/app/next');
    });
  }

  it('keep-alive (10 bytes) keeps the connection and says nothing of closing', async () => {
    const before = seen.length;
    const sock = connect(gw.port, '127.0.0.1');
    let raw = '';
    sock.on('data', (c) => (raw += c.toString('latin1')));
    sock.write('GET /app/k1 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n');
    for (let i = 0; i < 200 && responseStatuses(raw).length < 1; i++) await sleep(10);
    sock.write(NEXT);
    for (let i = 0; i < 200 && responseStatuses(raw).length < 2; i++) await sleep(10);
    sock.destroy();
    expect(responseStatuses(raw)).toEqual([200, 200]);
    expect(raw.toLowerCase()).not.toContain('connection: close');
    expect(seen.slice(before)).toEqual(['/app/k1', '/app/next']);
  });
});
