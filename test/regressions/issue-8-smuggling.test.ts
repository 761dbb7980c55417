/**
 * Issue 8 (edge hardening), defect 4 and the uWS parser leniencies behind it: uWebSockets.js
 * 20.57.0 decodes chunked bodies leniently (a trailer becomes the next request, a chunk size
 * starting with a space or a byte >= 0x80 reads as 0, ";"-"@" and "g" count as hex digits, the
 * CRLF after chunk data is not checked) and an empty header name hides every header after it.
 * The gateway cannot patch that parser, so it makes a smuggled request impossible in its own
 * layer: a connection that carried a chunked body is closed after the answer, nothing goes
 * upstream (and nothing is answered) before uWS has parsed everything it read, and uWS drops a
 * connection on which another request follows while an answer is pending. Each test sends the
 * exact bytes and checks that the smuggled request never reaches an upstream and that the
 * gateway never answers twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { recordingUpstream, responseStatuses, sleep, startGateway, type Gateway, type RecordingUpstream } from '../helpers/gateway.js';

let up: RecordingUpstream;
let gw: Gateway;

beforeAll(async () => {
  up = await recordingUpstream();
  gw = await startGateway({
    upstreams: { app: { targets: [{ url: up.url }] } },
    routes: [
      { id: 'public', paths: ['/public/*'], upstream: 'app' },
      { id: 'stub', paths: ['/stub'], respond: { status: 200, body: 'stub' } },
    ],
  });
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

/** Writes `parts` on one connection (`gapMs` apart) and collects the answer until close or quiet. */
const CAP_MS = 5000;

function exchange(parts: Array<string | Buffer>, gapMs = 80, quietMs = 600): Promise<{ raw: string; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = connect(gw.port, '127.0.0.1');
    let raw = '';
    let closed = false;
    let timer: NodeJS.Timeout;
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ raw, closed });
    };
    const quiet = () => {
      clearTimeout(timer);
      timer = setTimeout(done, quietMs);
    };
    sock.on('data', (c) => {
      raw += c.toString('latin1');
      quiet();
    });
    sock.on('close', () => {
      closed = true;
      done();
    });
    sock.on('error', () => {});
    parts.forEach((p, i) => setTimeout(() => sock.write(typeof p === 'string' ? Buffer.from(p, 'latin1') : p), i * gapMs));
    // Until the server closes, or quietMs after the last bytes; a gateway slow to answer (a
    // loaded machine) gets up to CAP_MS for its first byte.
    timer = setTimeout(done, parts.length * gapMs + CAP_MS);
  });
}

const SMUGGLED = 'GET /public/SMUGGLED HTTP/1.1\r\nHost: a\r\n\r\n';
const smuggledSeen = () => up.seen.filter((s) => s.url.includes('SMUGGLED')).length;

describe('defect 4: nothing can be smuggled behind a chunked body', () => {
  const cases: Array<[string, Array<string>]> = [
    ['a trailer field, the smuggled request sent later', ['POST /public/first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX:', SMUGGLED]],
    ['a trailer field, the smuggled request in the same write', ['POST /public/first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX:' + SMUGGLED]],
    // " 2c" is read as 0 by uWS (end of body): the 44 bytes after it would be a request.
    ['a chunk size with a leading space', ['POST /public/first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n 2c\r\n' + SMUGGLED.padEnd(44, 'x') + '\r\n0\r\n\r\n']],
    ['an empty chunk size', ['POST /public/first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\n' + SMUGGLED]],
    ['a chunk size starting with a byte >= 0x80', ['POST /public/first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\xc0\r\n' + SMUGGLED]],
    // ";" through "@" and "g" count as hex digits in uWS: "g" is 16, so 16 bytes are data and then a "request" follows.
    ['a "hex" digit g', ['POST /public/first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\ng\r\n0123456789abcdef\r\n0\r\n\r\n' + SMUGGLED]],
    ['a "hex" digit ;', ['POST /public/first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;\r\nabcdefghijklm\r\n0\r\n\r\n' + SMUGGLED]],
    // The CRLF after chunk data is not checked: "helloXX" swallows the two bytes after the data.
    ['no CRLF after the chunk data', ['POST /public/first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n' + SMUGGLED]],
    ['a well-formed chunked body followed by a pipelined request', ['POST /public/first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' + SMUGGLED]],
    ['a well-formed chunked body, the next request sent later', ['POST /public/first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', SMUGGLED]],
    ['chunked to a respond route', ['POST /stub HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX:' + SMUGGLED]],
  ];

  it.each(cases)('%s: the smuggled request never reaches the upstream; at most one answer', async (_name, parts) => {
    const before = smuggledSeen();
    const { raw } = await exchange(parts);
    const statuses = responseStatuses(raw);
    expect(statuses.length, raw).toBeLessThanOrEqual(1);
    await sleep(50);
    expect(smuggledSeen()).toBe(before);
    // Whatever the first request got, a chunked request's answer closes the connection.
    if (statuses.length === 1) expect(raw.toLowerCase()).toContain('connection: close');
  });

  it('the first request of the trailer case, answered, is the whole body as uWS decoded it', async () => {
    const before = up.seen.length;
    const { raw } = await exchange(['POST /public/first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX:', SMUGGLED]);
    expect(responseStatuses(raw)).toEqual([200]);
    const seen = up.seen.slice(before);
    expect(seen.map((s) => s.url)).toEqual(['/public/first']);
    expect(seen[0].body.toString()).toBe('hello');
  });
});

describe('an empty header name hides the headers after it in uWS: the gateway reads the raw head and refuses it', () => {
  it.each([
    ['a hidden Content-Length, body in the same write', ['POST /public/a HTTP/1.1\r\nHost: x\r\n: x\r\nContent-Length: 44\r\n\r\n' + SMUGGLED]],
    // Found by the corpus replay: with the body in a later read, uWS served it as a second request.
    ['a hidden Content-Length, the body sent later', ['GET /public/a HTTP/1.1\r\nHost: x\r\n: x\r\nContent-Length: 44\r\n\r\n', SMUGGLED]],
    ['":" alone hides a Content-Length, the body sent later', ['GET /public/a HTTP/1.1\r\nHost: x\r\n:\r\nContent-Length: 44\r\n\r\n', SMUGGLED]],
    ['a hidden Content-Length, to a respond route', ['POST /stub HTTP/1.1\r\nHost: x\r\n: x\r\nContent-Length: 44\r\n\r\n' + SMUGGLED]],
    ['a hidden Transfer-Encoding', ['POST /public/a HTTP/1.1\r\nHost: x\r\n: x\r\nTransfer-Encoding: chunked\r\n\r\n2c\r\n' + SMUGGLED + '\r\n0\r\n\r\n']],
  ])('%s: 400 bad_header and closed, never a second request', async (_name, parts) => {
    const before = smuggledSeen();
    const { raw } = await exchange(parts);
    // With the body in the same read, uWS drops the connection under the pending 400 instead.
    const statuses = responseStatuses(raw);
    expect(parts.length === 1 ? [[], [400]] : [[400]], raw).toContainEqual(statuses);
    if (statuses.length === 1) expect(raw).toContain('"bad_header"');
    await sleep(50);
    expect(smuggledSeen()).toBe(before);
  });
});

describe('keep-alive clients with Content-Length bodies lose nothing', () => {
  it('50 POSTs one after another on one connection: 50 answers, the connection stays open, every body whole', async () => {
    const sock = connect(gw.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    let raw = '';
    let closed = false;
    sock.on('data', (c) => (raw += c.toString('latin1')));
    sock.on('close', () => (closed = true));
    const before = up.seen.length;
    for (let i = 0; i < 50; i++) {
      const body = `body-${i}-`.padEnd(100 + i, 'x');
      const want = responseStatuses(raw).length + 1;
      sock.write(`POST /public/ka/${i} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      for (let t = 0; t < 200 && responseStatuses(raw).length < want; t++) await sleep(5);
    }
    expect(responseStatuses(raw)).toEqual(Array(50).fill(200));
    expect(closed).toBe(false);
    const seen = up.seen.slice(before);
    expect(seen.map((s) => s.url)).toEqual(Array.from({ length: 50 }, (_, i) => `/public/ka/${i}`));
    expect(seen.map((s) => s.body.length)).toEqual(Array.from({ length: 50 }, (_, i) => 100 + i));
    sock.destroy();
  });
});

describe('a Connection "close" option anywhere closes the connection (uWS honours only a 5-byte first value)', () => {
  // Found by the corpus replay: with `Connection: keep-alive, close` uWS kept the connection open,
  // so bytes a front proxy sends after it (to a connection it considers finished) were served.
  it.each([
    'Connection: keep-alive, close',
    'Connection: close, X-Foo',
    'Connection: close, close',
    'Connection: keep-alive\r\nConnection: close',
    'Connection: CLOSE ,x',
  ])('%s: one answer with Connection: close, the next request never served', async (line) => {
    for (const path of ['/public/c', '/stub', '/nowhere']) {
      const before = smuggledSeen();
      const { raw, closed } = await exchange([`GET ${path} HTTP/1.1\r\nHost: x\r\n${line}\r\n\r\n`, SMUGGLED], 80);
      expect(responseStatuses(raw).length, raw).toBe(1);
      expect(raw.toLowerCase()).toContain('connection: close');
      expect(closed).toBe(true);
      await sleep(30);
      expect(smuggledSeen()).toBe(before);
    }
  });
});

