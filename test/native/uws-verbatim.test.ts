/**
 * Pins what the proxy relies on from uWebSockets.js when it relays an upstream head in one call
 * (ProxyTransaction.writeHead with the native engine's prepared head in one writeStatus, src/upstream/dispatch.ts
 * onPreparedHeaders) and when it relays a 1xx: uWS writes writeStatus's argument and writeHeader's
 * name and value VERBATIM ("HTTP/1.1 " + status + CRLF, name + ": " + value + CRLF), CR LF inside
 * included, and nothing in between. An upgrade of uWS that escapes, checks or reorders these
 * bytes must fail here, loudly, before it breaks the relay.
 */
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { loadUws } from '../../src/uws.js';
import { tryEndPiece } from '../../src/worker/transaction.js';
import { limitReceiveBuffer } from '../../src/native/uws-head.js';

type ListenSocket = import('uWebSockets.js').us_listen_socket;
type TemplatedApp = import('uWebSockets.js').TemplatedApp;

/** Writes `request` raw and resolves with everything read until the answer ends with `ending`. */
function rawExchange(port: number, request: string, ending = '\r\n\r\nok'): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no complete answer within 5 s; got ${JSON.stringify(out)}`));
    }, 5000);
    s.on('data', (c) => {
      out += c.toString('latin1');
      if (out.endsWith(ending)) {
        clearTimeout(timer);
        s.destroy();
        resolve(out);
      }
    });
    s.on('error', reject);
    s.write(request);
  });
}

function rawGet(port: number, path: string, ending?: string): Promise<string> {
  return rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`, ending);
}

/** Listens on a free port, runs `use(port)`, and closes the listen socket whatever happens. */
async function withListening(app: TemplatedApp, use: (port: number) => Promise<void>): Promise<void> {
  const uws = loadUws();
  const token = await new Promise<ListenSocket>((res, rej) => app.listen('127.0.0.1', 0, (t) => (t ? res(t) : rej(new Error('listen failed')))));
  try {
    await use(uws.us_socket_local_port(token));
  } finally {
    uws.us_listen_socket_close(token);
  }
}

describe('uWebSockets.js writes status and headers verbatim', () => {
  it('one writeHeader(name, "v1\\r\\nname2: v2") writes two header lines; writeStatus("200 OK") the status line, and writeStatus("200 OK\\r\\nname: v") the status line and a header; Buffers and strings alike', async () => {
    const uws = loadUws();
    const app = uws.App();
    const block = Buffer.from('x-first: one\r\nx-second: two, three\r\nx-third: 8\xe9bit', 'latin1');
    app.get('/block', (res) => {
      res.cork(() => {
        res.writeStatus('200 OK');
        res.writeHeader(block.subarray(0, 7), block.subarray(9));
        res.writeHeader('via', '1.1 gateway');
        res.end('ok');
      });
    });
    // The native engine's prepared head: the status line and the lines in one writeStatus, a view into a bigger buffer.
    const head = Buffer.from('..200 OK\r\nx-first: one\r\nx-second: 8\xe9bit..', 'latin1');
    app.get('/head', (res) => {
      res.cork(() => {
        res.writeStatus(head.subarray(2, head.length - 2));
        res.writeHeader('via', '1.1 gateway');
        res.end('ok');
      });
    });
    app.get('/interim', (res) => {
      res.cork(() => {
        res.writeStatus('103 Early Hints');
        res.writeHeader('link', Buffer.from('</a>\r\n'));
        res.writeHeader('HTTP/1.1 200 OK\r\nvia', '1.1 gateway');
        res.end('ok');
      });
    });
    await withListening(app, async (port) => {
      const a = await rawGet(port, '/block');
      expect(a.startsWith('HTTP/1.1 200 OK\r\nx-first: one\r\nx-second: two, three\r\nx-third: 8\xe9bit\r\nvia: 1.1 gateway\r\n')).toBe(true);
      const h = await rawGet(port, '/head');
      expect(h.startsWith('HTTP/1.1 200 OK\r\nx-first: one\r\nx-second: 8\xe9bit\r\nvia: 1.1 gateway\r\n')).toBe(true);
      const b = await rawGet(port, '/interim');
      expect(b.startsWith('HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nvia: 1.1 gateway\r\n')).toBe(true);
    });
  });
});

describe('uWebSockets.js completes a response on an empty tryEnd', () => {
  it('tryEnd(empty, total) reports the response done before total bytes; tryEndPiece takes an empty piece without uWS, and the body still ends whole', async () => {
    // The proxy relays Content-Length bodies piece by piece with tryEnd. uWS treats a tryEnd
    // without data as the end (its shortcut for HEAD's reported length): an empty piece from an
    // engine ended the answer early, and the client waited for the rest forever.
    const uws = loadUws();
    const app = uws.App();
    let raw: [boolean, boolean] | null = null;
    const pieces: [boolean, boolean][] = [];
    app.get('/raw', (res) => {
      res.onAborted(() => {});
      res.cork(() => {
        res.writeStatus('200 OK');
        raw = res.tryEnd(Buffer.alloc(0), 10);
      });
    });
    app.get('/piece', (res) => {
      res.onAborted(() => {});
      res.cork(() => {
        res.writeStatus('200 OK');
        pieces.push(tryEndPiece(res, Buffer.alloc(0), 10));
        pieces.push(tryEndPiece(res, Buffer.from('01234'), 10));
        pieces.push(tryEndPiece(res, Buffer.alloc(0), 10));
        pieces.push(tryEndPiece(res, Buffer.from('56789'), 10));
      });
    });
    await withListening(app, async (port) => {
      const a = await rawGet(port, '/raw', '\r\n\r\n');
      expect(a).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(raw).toEqual([true, true]); // done, with 0 of 10 bytes sent
      const b = await rawGet(port, '/piece', '0123456789');
      expect(b).toMatch(/content-length: 10\r\n\r\n0123456789$/i);
      expect(pieces).toEqual([[true, false], [true, false], [true, false], [true, true]]);
    });
  });
});

describe('the addon reaches the client socket behind a uWS HttpResponse (limitReceiveBuffer)', () => {
  it('sets SO_RCVBUF on that socket (the kernel reports it doubled), and reports -2 once the response is over', async () => {
    // The gateway limits a fast uploader's receive buffer because uSockets reads again, pause()
    // or not, while each read fills its 512 KiB buffer (src/worker/read-loop-guard.ts). A uWS whose
    // socket layout differs gives -1 here.
    const uws = loadUws();
    const app = uws.App();
    const seen: number[] = [];
    app.post('/up', (res) => {
      res.onAborted(() => {});
      seen.push(limitReceiveBuffer(res, 192 * 1024));
      seen.push(limitReceiveBuffer(res, 64 * 1024));
      res.onData((_chunk, last) => {
        if (!last) return;
        res.end('ok');
        seen.push(limitReceiveBuffer(res, 192 * 1024));
      });
    });
    await withListening(app, async (port) => {
      const answer = await rawExchange(port, 'POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello');
      expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(seen).toEqual([2 * 192 * 1024, 2 * 64 * 1024, -2]);
    });
  });
});
