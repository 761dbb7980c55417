/**
 * A connection the gateway answers with `Connection: close` serves nothing more, also when the
 * answer is streamed.
 *
 * The gateway closes the connection after the answer to a chunked request (uWS's chunked decoder
 * is lenient: a front proxy may read the body differently and take what follows for more body),
 * to a client's `Connection: close`, and while draining. uWS closes a connection only after an
 * answer it ended with its close flag; a streamed answer (the upstream's body in more than one
 * read) ends with tryEnd or the chunked end, which have none. Found by the corpus replay under
 * load: the answer went out without `Connection: close`, the connection stayed open, and a
 * request sent 50 ms later was served (the upstream saw it); with a chunked upstream answer,
 * uWS's own `Connection: close` line landed inside the body. Each case fails on the commit
 * before the fix.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { request } from 'undici';
import { freePort, responseStatuses, sleep, startGateway, startUpstream, type Gateway, type Upstream } from '../helpers/gateway.js';

let up: Upstream;
let gw: Gateway;
let adminPort: number;
const seen: string[] = [];
const ADMIN_TOKEN = 'admin-token-close-after-streamed-01';

beforeAll(async () => {
  // The body in two writes 30 ms apart: the gateway gets the head and the first bytes first,
  // and streams (a short body in one read is held and written whole, with uWS's close flag).
  up = await startUpstream((req, res) => {
    seen.push(req.url!);
    req.resume();
    req.on('end', () => {
      const chunked = req.url!.startsWith('/chunked');
      res.writeHead(200, chunked ? { 'content-type': 'text/plain' } : { 'content-type': 'text/plain', 'content-length': 10 });
      res.write('hello');
      setTimeout(() => res.end('world'), 30);
    });
  });
  adminPort = await freePort();
  gw = await startGateway({
    admin: { host: '127.0.0.1', port: adminPort, token: ADMIN_TOKEN },
    upstreams: { app: { targets: [{ url: up.url }] } },
    routes: [{ id: 'app', paths: ['/*'], upstream: 'app' }],
  });
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

/** Writes `first`, then `next` once the answer to `first` is complete; reads until the server closes (bounded). */
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
    const cap = setTimeout(() => done(false), 5000);
    sock.on('data', (c) => {
      raw += c.toString('latin1');
      if (!sentNext && raw.includes('world')) {
        sentNext = true;
        // The answer is complete (its last bytes are here): a client that ignores its
        // Connection: close, or a front proxy that took these bytes for more body, sends on.
        setTimeout(() => sock.writable && sock.write(next), 50);
      }
    });
    sock.on('close', () => done(true));
    sock.on('error', () => {});
    sock.write(first);
  });
}

const NEXT = (tag: string) => `GET /next-${tag} HTTP/1.1\r\nHost: a\r\n\r\n`;

describe('a streamed answer that closes the connection', () => {
  it.each([
    ['a chunked request, a Content-Length answer', '/length/a', 'POST /length/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    ['a chunked request, a chunked answer', '/chunked/a', 'POST /chunked/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    ['an empty chunk size (uWS reads 0), a Content-Length answer', '/length/b', 'POST /length/b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\n\r\n'],
    ['the client\'s Connection: close, a Content-Length answer', '/length/c', 'GET /length/c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'],
    ['the client\'s Connection: close, a chunked answer', '/chunked/c', 'GET /chunked/c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'],
  ])('%s: one whole answer that says Connection: close, and nothing served after it', async (_name, path, first) => {
    const tag = path.replaceAll('/', '');
    const before = seen.length;
    const { raw, closed } = await exchange(first, NEXT(tag));
    expect(responseStatuses(raw), raw).toEqual([200]);
    const head = raw.slice(0, raw.indexOf('\r\n\r\n')).toLowerCase().split('\r\n');
    expect(head.filter((l) => l.startsWith('connection:')), raw).toEqual(['connection: close']);
    const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
    expect(body, raw).toBe(path.startsWith('/chunked') ? '5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n' : 'helloworld');
    expect(closed).toBe(true);
    await sleep(100);
    expect(seen.slice(before)).toEqual([path]);
  });

  it('a request refused that way is counted in gateway_requests_refused_on_closing_connection_total', async () => {
    const refused = async () => {
      const res = await request(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const line = (await res.body.text()).split('\n').find((l) => l.startsWith('gateway_requests_refused_on_closing_connection_total '));
      return line === undefined ? 0 : Number(line.split(' ')[1]);
    };
    // Settle what the cases above counted (workers flush their counters every second).
    let before = await refused();
    for (let i = 0; i < 3; i++) {
      await sleep(1100);
      const now = await refused();
      if (now === before) break;
      before = now;
    }
    // A chunked request: uWS keeps its connection open after the streamed answer, and the
    // request after it is refused by the gateway.
    const { closed } = await exchange('POST /length/m HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', NEXT('m'));
    expect(closed).toBe(true);
    let n = before;
    for (let i = 0; i < 50 && n === before; i++) {
      await sleep(100);
      n = await refused();
    }
    expect(n - before).toBe(1);
  });

  it('a keep-alive request with a streamed answer keeps its connection: the next request is served', async () => {
    const before = seen.length;
    const sock = connect(gw.port, '127.0.0.1');
    let raw = '';
    sock.on('data', (c) => (raw += c.toString('latin1')));
    sock.write('GET /length/k1 HTTP/1.1\r\nHost: a\r\n\r\n');
    for (let i = 0; i < 200 && !raw.includes('world'); i++) await sleep(10);
    sock.write('GET /length/k2 HTTP/1.1\r\nHost: a\r\n\r\n');
    for (let i = 0; i < 200 && responseStatuses(raw).length < 2; i++) await sleep(10);
    sock.destroy();
    expect(responseStatuses(raw)).toEqual([200, 200]);
    expect(raw.toLowerCase()).not.toContain('connection: close');
    expect(seen.slice(before)).toEqual(['/length/k1', '/length/k2']);
  });
});
