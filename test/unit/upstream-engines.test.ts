/**
 * Both upstream engines (src/upstream/native.ts, the default for http://, and src/upstream/undici.ts)
 * through the gateway's upstream contract (src/upstream/dispatch.ts), against real node:http and
 * raw node:net upstreams: one suite run over both (like test/native/router.test.ts runs over both
 * routers), plus what only the native engine does (the malformed-response corpus through its
 * strict parser, the unsolicited 100 Continue).
 *
 * Covered: refused requests free their connection (undici's own Pool wedged on them), FIFO waiting
 * with per-request deadlines, aborts wherever the request is (queued, running, mid-body) freeing
 * the connection, the keep-alive race flag, keep-alive reuse and the Keep-Alive: timeout= hint,
 * 304/204/HEAD framing, 1xx, headers/body timeouts, resets mid-body, connect failures, pause and
 * resume, streamed request bodies (Content-Length and chunked), microtasks draining between
 * callbacks, and 200 MB each way with flat RSS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { UndiciEndpoint } from '../../src/upstream/undici.js';
import { NativeEndpoint } from '../../src/upstream/native.js';
import type { UpstreamDispatcher, UpstreamFailure, UpstreamHandler, UpstreamRequest } from '../../src/upstream/dispatch.js';
import { CORPUS } from '../native/http-response-corpus.js';
import { createResponseParser, parseErrorName, REQUEST_HEAD, REQUEST_OTHER, STATUS_ERROR, STATUS_UPGRADED } from '../../src/native/http-response-parser.js';

const ENGINES = ['native', 'undici'] as const;
type EngineKind = (typeof ENGINES)[number];

interface Settings {
  keepAlive: number;
  maxConnections: number;
  connectMs: number;
  idleMs: number;
}

function makeEngine(kind: EngineKind, origin: string, s: Settings): UpstreamDispatcher {
  return kind === 'native' ? new NativeEndpoint(origin, s) : new UndiciEndpoint(origin, s);
}

let server: Server;
let origin = '';
const RANDOM = randomBytes(8 * 1024 * 1024);

beforeAll(async () => {
  server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const url = new URL(req.url!, 'http://x');
    const ms = Number(url.searchParams.get('ms') ?? '0');
    if (url.pathname === '/echo-body') {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (c: Buffer) => {
        bytes += c.length;
        hash.update(c);
      });
      req.on('end', () => res.end(JSON.stringify({ bytes, sha: hash.digest('hex'), te: req.headers['transfer-encoding'] ?? null, cl: req.headers['content-length'] ?? null })));
      return;
    }
    if (url.pathname === '/big') {
      // `n` bytes of a deterministic pattern, streamed with backpressure.
      const n = Number(url.searchParams.get('n'));
      res.writeHead(200, { 'content-length': String(n) });
      const chunk = pattern(64 * 1024);
      let sent = 0;
      const pump = (): void => {
        while (sent < n) {
          const c = n - sent >= chunk.length ? chunk : chunk.subarray(0, n - sent);
          sent += c.length;
          if (!res.write(c)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    if (url.pathname === '/random') {
      // RANDOM (8 MB that never repeat: memory reused too early shows as wrong bytes), in pieces
      // of 100 000 bytes, so that reads never line up with anything.
      res.writeHead(200, { 'content-length': String(RANDOM.length) });
      let sent = 0;
      const pump = (): void => {
        while (sent < RANDOM.length) {
          const c = RANDOM.subarray(sent, sent + 100_000);
          sent += c.length;
          if (!res.write(c)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    if (url.pathname === '/trickle') {
      // 12 pieces of 4 KiB, one every 15 ms: each arrives as a read of its own.
      res.writeHead(200, { 'content-length': String(12 * 4096) });
      let sent = 0;
      const t = setInterval(() => {
        res.write(pattern(4096));
        if (++sent === 12) {
          clearInterval(t);
          res.end();
        }
      }, 15);
      return;
    }
    if (url.pathname === '/slow-body') {
      res.writeHead(200, { 'content-length': '10' });
      res.write('12345');
      setTimeout(() => res.end('67890'), ms);
      return;
    }
    if (url.pathname === '/echo-v') {
      // The x-v value's bytes as received (rawHeaders are latin1: one char per byte).
      const i = req.rawHeaders.findIndex((n, k) => k % 2 === 0 && n.toLowerCase() === 'x-v');
      res.end(i === -1 ? '' : Buffer.from(req.rawHeaders[i + 1], 'latin1').toString('hex'));
      return;
    }
    req.resume();
    setTimeout(() => res.end(`ok ${url.pathname}`), ms);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

function pattern(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

interface Result {
  status: number;
  headers: string[];
  body: Buffer;
  informational: number[];
  error: UpstreamFailure | null;
}

interface SendOptions extends Partial<UpstreamRequest> {
  path: string;
  /** Called for every chunk; return false to pause (then `resume` is called back by the test). */
  onChunk?: (chunk: Buffer, resume: () => void) => boolean;
  onHead?: () => void;
  /** Keep only the byte count and a hash of the body (big transfers). */
  hashOnly?: boolean;
}

interface Sent {
  done: Promise<Result & { bytes: number; sha: string }>;
  abort: () => void;
}

/** Dispatches and resolves when the handler hears the end (complete or error). */
function send(engine: UpstreamDispatcher, opts: SendOptions): Sent {
  let abort: (reason?: Error) => void = () => {};
  const done = new Promise<Result & { bytes: number; sha: string }>((resolve) => {
    let status = 0;
    let headers: string[] = [];
    const chunks: Buffer[] = [];
    const informational: number[] = [];
    const hash = createHash('sha256');
    let bytes = 0;
    let resumeFn: () => void = () => {};
    const finish = (error: UpstreamFailure | null) =>
      resolve({ status, headers, body: Buffer.concat(chunks), informational, error, bytes, sha: hash.digest('hex') });
    const handler: UpstreamHandler = {
      onConnect: (a) => (abort = a),
      onInformational: (s) => void informational.push(s),
      onHeaders: (s, raw, resume) => {
        status = s;
        headers = raw.map((b) => b.toString('latin1'));
        resumeFn = resume;
        opts.onHead?.();
        return true;
      },
      onData: (c) => {
        bytes += c.length;
        if (opts.hashOnly) hash.update(c);
        else chunks.push(Buffer.from(c));
        return opts.onChunk ? opts.onChunk(c, resumeFn) : true;
      },
      onComplete: () => finish(null),
      onError: (e) => finish(e),
    };
    const { onChunk: _c, onHead: _h, hashOnly: _x, ...req } = opts;
    engine.dispatch({ method: 'GET', headers: ['host', 'x'], body: null, headersTimeoutMs: 5000, bodyTimeoutMs: 5000, ...req }, handler);
  });
  return { done, abort: () => abort(new Error('test abort')) };
}

/**
 * A raw upstream: `answer(head, socket, n)` is called for each request head (n counts the requests
 * on that socket), and writes whatever bytes the test wants. Request bodies are not expected.
 */
async function rawUpstream(answer: (head: string, sock: Socket, n: number) => void): Promise<{ server: NetServer; origin: string; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const srv = createNetServer((sock) => {
    connections++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    let buf = '';
    let n = 0;
    sock.on('data', (c) => {
      buf += c.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) !== -1) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        answer(head, sock, ++n);
      }
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    server: srv,
    origin: `http://127.0.0.1:${(srv.address() as { port: number }).port}`,
    connections: () => connections,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

const settings: Settings = { keepAlive: 2, maxConnections: 2, connectMs: 1000, idleMs: 60_000 };
const one: Settings = { ...settings, maxConnections: 1, keepAlive: 1 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(ENGINES)('upstream engine: %s', (kind) => {
  it('requests the engine refuses free their connection: 200 of them, then normal requests still flow', async () => {
    const engine = makeEngine(kind, origin, settings);
    const refused = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        send(engine, { path: '/bad', headers: i % 2 ? ['x-bad', 'a\x7fb', 'host', 'x'] : ['host', 'x', 'transfer-encoding', 'gzip'] }).done,
      ),
    );
    for (const r of refused) expect(r.error?.kind).toBe('invalid');
    const ok = await Promise.all(Array.from({ length: 10 }, () => send(engine, { path: '/fine' }).done));
    expect(ok.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(engine.stats.active).toBe(0);
    await engine.close();
  });

  it('a CR LF inside a header value is refused (no header or request smuggling), and so is one in the path', async () => {
    const engine = makeEngine(kind, origin, settings);
    const values = ['a\r\nx-injected: 1', 'a\r\n\r\nGET /smuggled HTTP/1.1', 'a\rb', 'a\nb', 'a\x00b'];
    for (const v of values) expect((await send(engine, { path: '/x', headers: ['host', 'x', 'x-v', v] }).done).error?.kind).toBe('invalid');
    expect((await send(engine, { path: '/a b' }).done).error?.kind).toBe('invalid');
    expect((await send(engine, { path: '/x\r\nx: y' }).done).error?.kind).toBe('invalid');
    expect((await send(engine, { path: '/fine' }).done).status).toBe(200);
    await engine.close();
  });

  it('past maxConnections, requests wait in order and each is bounded by its own headersTimeoutMs', async () => {
    const engine = makeEngine(kind, origin, settings);
    const slow = [send(engine, { path: '/a?ms=600' }), send(engine, { path: '/b?ms=600' })];
    const waiting = send(engine, { path: '/c' });
    const impatient = send(engine, { path: '/d', headersTimeoutMs: 200 });
    expect(engine.stats.queued).toBe(2);
    const d = await impatient.done;
    expect(d.error?.kind).toBe('timeout');
    expect(d.error?.waitedForConnection).toBe(true);
    const c = await waiting.done;
    expect(c.status).toBe(200);
    expect(c.body.toString()).toBe('ok /c');
    for (const s of slow) expect((await s.done).status).toBe(200);
    expect(engine.stats.queued).toBe(0);
    await engine.close();
  });

  it('aborting a waiting request removes it; aborting a running one frees its connection', async () => {
    const engine = makeEngine(kind, origin, one);
    const running = send(engine, { path: '/r?ms=2000' });
    const queued = send(engine, { path: '/q' });
    queued.abort();
    expect((await queued.done).error?.kind).toBe('aborted');
    running.abort();
    expect((await running.done).error?.kind).toBe('aborted');
    const after = await send(engine, { path: '/after' }).done;
    expect(after.status).toBe(200);
    expect(engine.stats).toMatchObject({ active: 0, queued: 0, stuck: 0 });
    await engine.close();
  });

  it('aborting in the middle of the body frees the connection for the next request', async () => {
    const engine = makeEngine(kind, origin, one);
    let sent: Sent | null = null;
    sent = send(engine, { path: '/slow-body?ms=3000', onChunk: () => (setImmediate(() => sent!.abort()), true) });
    const r = await sent.done;
    expect(r.error?.kind).toBe('aborted');
    expect(r.body.toString()).toBe('12345');
    const t0 = performance.now();
    expect((await send(engine, { path: '/next' }).done).status).toBe(200);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(engine.stats).toMatchObject({ active: 0, stuck: 0 });
    await engine.close();
  });

  it('a request that fails on a reused connection before any response byte is flagged reusedConnection (the keep-alive race)', async () => {
    // The upstream answers the first request on a connection and drops the connection on the
    // second without a byte: what a server closing an idle keep-alive connection looks like to the
    // request written into it at that moment.
    const perSocket = new WeakMap<object, number>();
    const racy = createServer((req, res) => {
      const n = (perSocket.get(req.socket) ?? 0) + 1;
      perSocket.set(req.socket, n);
      if (n > 1) return req.socket.destroy();
      res.end('first');
    });
    racy.keepAliveTimeout = 60_000;
    await new Promise<void>((r) => racy.listen(0, '127.0.0.1', r));
    const engine = makeEngine(kind, `http://127.0.0.1:${(racy.address() as { port: number }).port}`, one);
    expect((await send(engine, { path: '/1' }).done).status).toBe(200);
    const second = await send(engine, { path: '/2' }).done;
    expect(second.error?.kind).toBe('reset');
    expect(second.error?.reusedConnection).toBe(true);
    // On a fresh connection the same failure is not a reuse.
    const third = await send(engine, { path: '/3' }).done;
    expect(third.status).toBe(200);
    await engine.close();
    await new Promise<void>((r) => racy.close(() => r()));
  });

  it('keeps connections alive: 30 sequential requests use one upstream connection', async () => {
    const up = await rawUpstream((_h, sock) => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    const engine = makeEngine(kind, up.origin, settings);
    for (let i = 0; i < 30; i++) expect((await send(engine, { path: `/${i}` }).done).body.toString()).toBe('ok');
    expect(up.connections()).toBe(1);
    expect(engine.stats.connections).toBe(1);
    await engine.close();
    await up.close();
  });

  it('retires an idle connection a second before the upstream\'s Keep-Alive: timeout= runs out', async () => {
    const up = await rawUpstream((_h, sock) => sock.write('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=2\r\nContent-Length: 2\r\n\r\nok'));
    const engine = makeEngine(kind, up.origin, settings);
    expect((await send(engine, { path: '/1' }).done).status).toBe(200);
    await sleep(1500); // past 2 s - 1 s
    expect(engine.stats.connections).toBe(0);
    expect((await send(engine, { path: '/2' }).done).status).toBe(200);
    expect(up.connections()).toBe(2);
    await engine.close();
    await up.close();
  });

  it('304 and 204 with a Content-Length complete without a body, HEAD too, and the connection is reused', async () => {
    const answers: Record<string, string> = {
      '/304': 'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 1234\r\n\r\n',
      '/204': 'HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n',
      '/head': 'HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n',
      '/ok': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
    };
    const up = await rawUpstream((head, sock) => sock.write(answers[head.split(' ')[1]]));
    const engine = makeEngine(kind, up.origin, one);
    const a = await send(engine, { path: '/304' }).done;
    expect([a.status, a.body.length, a.error]).toEqual([304, 0, null]);
    const b = await send(engine, { path: '/204' }).done;
    expect([b.status, b.body.length, b.error]).toEqual([204, 0, null]);
    const c = await send(engine, { path: '/head', method: 'HEAD' }).done;
    expect([c.status, c.body.length, c.error]).toEqual([200, 0, null]);
    expect(c.headers).toContain('5000');
    expect((await send(engine, { path: '/ok' }).done).body.toString()).toBe('ok');
    // undici reads past a 304/204's Content-Length as a mismatch and drops the connection.
    if (kind === 'native') expect(up.connections()).toBe(1);
    await engine.close();
    await up.close();
  });

  it('103 Early Hints reach onInformational, then the final answer', async () => {
    const up = await rawUpstream((_h, sock) => sock.write('HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    const engine = makeEngine(kind, up.origin, one);
    const r = await send(engine, { path: '/' }).done;
    expect(r.informational).toEqual([103]);
    expect([r.status, r.body.toString()]).toEqual([200, 'ok']);
    await engine.close();
    await up.close();
  });

  it(kind === 'native' ? 'an unsolicited 100 Continue is skipped: the final answer is relayed' : 'an unsolicited 100 Continue is a protocol error (undici\'s known limit)', async () => {
    const up = await rawUpstream((_h, sock) => sock.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    const engine = makeEngine(kind, up.origin, one);
    const r = await send(engine, { path: '/' }).done;
    if (kind === 'native') {
      expect([r.status, r.body.toString(), r.informational, r.error]).toEqual([200, 'ok', [], null]);
    } else {
      expect(r.error?.kind).toBe('protocol');
    }
    await engine.close();
    await up.close();
  });

  it('an upstream that sends no head in time is a timeout (not waitedForConnection); a silent body, too', async () => {
    const engine = makeEngine(kind, origin, settings);
    const t0 = performance.now();
    const r = await send(engine, { path: '/x?ms=3000', headersTimeoutMs: 300 }).done;
    expect(r.error?.kind).toBe('timeout');
    expect(r.error?.waitedForConnection).toBe(false);
    expect(performance.now() - t0).toBeLessThan(2000);
    const b = await send(engine, { path: '/slow-body?ms=3000', bodyTimeoutMs: 300 }).done;
    expect(b.status).toBe(200);
    expect(b.error?.kind).toBe('timeout');
    expect(b.body.toString()).toBe('12345');
    expect(engine.stats.active).toBe(0);
    await engine.close();
  });

  it('a reset in the middle of the body is a reset; the engine recovers', async () => {
    const up = await rawUpstream((head, sock) => {
      if (head.startsWith('GET /cut')) {
        sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n' + 'x'.repeat(5000));
        setTimeout(() => sock.resetAndDestroy(), 50);
      } else sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const engine = makeEngine(kind, up.origin, one);
    const r = await send(engine, { path: '/cut' }).done;
    expect(r.status).toBe(200);
    expect(r.error?.kind).toBe('reset');
    expect(r.error?.reusedConnection).toBe(false);
    expect(r.body.length).toBe(5000);
    expect((await send(engine, { path: '/ok' }).done).body.toString()).toBe('ok');
    await engine.close();
    await up.close();
  });

  it('an upstream that closes without a byte is a reset; a refused connect is a connect failure', async () => {
    const up = await rawUpstream((_h, sock) => sock.destroy());
    const engine = makeEngine(kind, up.origin, one);
    const r = await send(engine, { path: '/' }).done;
    expect(r.error?.kind).toBe('reset');
    expect(r.error?.reusedConnection).toBe(false);
    await engine.close();
    const port = (up.server.address() as { port: number }).port;
    await up.close();
    const dead = makeEngine(kind, `http://127.0.0.1:${port}`, one);
    const c = await send(dead, { path: '/' }).done;
    expect(c.error?.kind).toBe('connect');
    expect(dead.stats).toMatchObject({ connections: 0, active: 0 });
    await dead.close();
  });

  it('pauses and resumes: 8 MB arrive intact when every chunk pauses the engine', async () => {
    const engine = makeEngine(kind, origin, one);
    const n = 8 * 1024 * 1024;
    let pauses = 0;
    const r = await send(engine, {
      path: `/big?n=${n}`,
      hashOnly: true,
      onChunk: (_c, resume) => {
        pauses++;
        setImmediate(resume);
        return false;
      },
    }).done;
    expect(r.error).toBeNull();
    expect(r.bytes).toBe(n);
    expect(r.sha).toBe(createHash('sha256').update(Buffer.concat(Array.from({ length: n / 65536 }, () => pattern(65536)))).digest('hex'));
    expect(pauses).toBeGreaterThan(10);
    expect((await send(engine, { path: '/after' }).done).status).toBe(200);
    await engine.close();
  });

  it(kind === 'native'
    ? 'a handler that lets go of its chunks (keptChunk false) gets the next ones in the same memory; a handler that keeps them finds them intact'
    : 'keptChunk is never asked (undici hands over Buffers of its own); kept chunks stay intact', async () => {
    const engine = makeEngine(kind, origin, one);
    const expected = createHash('sha256').update(RANDOM).digest('hex');
    /** Downloads /random; `keep`: the handler keeps every chunk as handed over (no copy). */
    const download = (keep: 'no' | 'silent' | 'says-so') => new Promise<{ sha: string; chunks: number; buffers: number; asked: number; kept: Buffer[] }>((resolve, reject) => {
      const hash = createHash('sha256');
      const buffers = new Set<ArrayBufferLike>();
      const kept: Buffer[] = [];
      let chunks = 0;
      let asked = 0;
      const handler: UpstreamHandler = {
        onConnect: () => {},
        onInformational: () => {},
        onHeaders: () => true,
        onData: (c) => {
          chunks++;
          buffers.add(c.buffer);
          if (keep === 'no') hash.update(c);
          else kept.push(c);
          return true;
        },
        onComplete: () => resolve({ sha: keep === 'no' ? hash.digest('hex') : createHash('sha256').update(Buffer.concat(kept)).digest('hex'), chunks, buffers: buffers.size, asked, kept }),
        onError: (e) => reject(e),
      };
      if (keep === 'no') handler.keptChunk = () => (asked++, false);
      if (keep === 'says-so') handler.keptChunk = () => (asked++, true);
      engine.dispatch({ method: 'GET', path: '/random', headers: ['host', 'x'], body: null, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 }, handler);
    });
    const lets = await download('no');
    expect(lets.sha).toBe(expected);
    // Kept chunks are checked only at the end: any reuse of their memory shows in the hash.
    for (const keep of ['silent', 'says-so'] as const) {
      const r = await download(keep);
      expect(r.sha).toBe(expected);
      expect(r.buffers).toBeGreaterThan(r.chunks / 4); // nearly a Buffer per read
    }
    if (kind === 'native') {
      expect(lets.asked).toBeGreaterThan(10);
      expect(lets.buffers).toBeLessThan(lets.chunks / 4); // reads of a response share one Buffer
    } else {
      expect(lets.asked).toBe(0);
    }
    await engine.close();
  });

  it('never hands over an empty chunk: a handler that pauses at the end of every read of a trickling body gets only bytes', async () => {
    // undici, resumed with nothing buffered, parses an empty buffer and reported it as a
    // zero-length chunk; the proxy wrote it as an empty tryEnd, which uWS takes as the end of the
    // answer: the client waited forever for the rest (the stalled 200 MB download).
    const engine = makeEngine(kind, origin, one);
    const lengths: number[] = [];
    const r = await send(engine, {
      path: '/trickle',
      onChunk: (c, resume) => {
        lengths.push(c.length);
        setTimeout(resume, 2); // long before the next piece is written
        return false;
      },
    }).done;
    expect(r.error).toBeNull();
    expect(r.body.length).toBe(12 * 4096);
    expect(lengths.filter((n) => n === 0)).toEqual([]);
    expect(lengths.length).toBeGreaterThanOrEqual(2);
    await engine.close();
  });

  it('streams a Readable request body: with Content-Length as is, without it chunked', async () => {
    const engine = makeEngine(kind, origin, settings);
    const data = pattern(3 * 1024 * 1024 + 17);
    const sha = createHash('sha256').update(data).digest('hex');
    const chunks = () => Readable.from((function* () {
      for (let i = 0; i < data.length; i += 100_000) yield data.subarray(i, i + 100_000);
    })());
    const withCl = await send(engine, { method: 'POST', path: '/echo-body', headers: ['host', 'x', 'content-length', String(data.length)], body: chunks() }).done;
    expect(JSON.parse(withCl.body.toString())).toEqual({ bytes: data.length, sha, te: null, cl: String(data.length) });
    const chunked = await send(engine, { method: 'POST', path: '/echo-body', body: chunks() }).done;
    expect(JSON.parse(chunked.body.toString())).toEqual({ bytes: data.length, sha, te: 'chunked', cl: null });
    const buffered = await send(engine, { method: 'PUT', path: '/echo-body', body: data.subarray(0, 1000) }).done;
    expect(JSON.parse(buffered.body.toString())).toMatchObject({ bytes: 1000, cl: '1000' });
    const empty = await send(engine, { method: 'POST', path: '/echo-body' }).done;
    expect(JSON.parse(empty.body.toString())).toMatchObject({ bytes: 0, cl: '0' });
    await engine.close();
  });

  it(kind === 'native'
    ? 'a RecyclingBody gets every chunk back once, after its bytes are written: reused at once, they still arrive intact'
    : 'a RecyclingBody gets no chunk back (undici keeps chunks queued): the body arrives intact', async () => {
    const engine = makeEngine(kind, origin, settings);
    const data = pattern(8 * 1024 * 1024 + 5);
    const sha = createHash('sha256').update(data).digest('hex');
    const PIECE = 64 * 1024;
    let pushed = 0;
    let allocated = 0;
    const recycled: Buffer[] = [];
    const free: Buffer[] = [];
    let at = 0;
    const body = new Readable({
      highWaterMark: PIECE,
      read() {
        if (at >= data.length) return void this.push(null);
        const n = Math.min(PIECE, data.length - at);
        const buf = free.pop() ?? (allocated++, Buffer.allocUnsafe(PIECE));
        data.copy(buf, 0, at, at + n);
        at += n;
        pushed++;
        this.push(n === PIECE ? buf : buf.subarray(0, n));
      },
    });
    // The source scribbles over a chunk it gets back and hands it out again: an engine that gave
    // one back before it was done with its bytes would send the scribble.
    Object.assign(body, {
      recycle(chunk: Buffer) {
        recycled.push(chunk);
        const whole = Buffer.from(chunk.buffer, chunk.byteOffset, PIECE);
        whole.fill(0xee);
        free.push(whole);
      },
    });
    const r = await send(engine, { method: 'POST', path: '/echo-body', headers: ['host', 'x', 'content-length', String(data.length)], body }).done;
    expect(JSON.parse(r.body.toString())).toEqual({ bytes: data.length, sha, te: null, cl: String(data.length) });
    if (kind === 'native') {
      expect(recycled.length).toBe(pushed);
      expect(new Set(recycled).size).toBe(recycled.length);
      expect(allocated).toBeLessThan(8); // the free list, not a Buffer per chunk (129 chunks)
    } else {
      expect(recycled.length).toBe(0);
    }
    await engine.close();
  });

  it('microtasks and nextTick queued by a callback run before the next callback', async () => {
    const engine = makeEngine(kind, origin, one);
    const seen: string[] = [];
    // The head and '12345' arrive in one read, '67890' 50 ms later.
    const r = await send(engine, {
      path: '/slow-body?ms=50',
      onChunk: (c) => {
        seen.push(c.toString());
        if (seen.length === 1) {
          queueMicrotask(() => seen.push('microtask'));
          process.nextTick(() => seen.push('tick'));
        }
        return true;
      },
    }).done;
    expect(r.error).toBeNull();
    expect(seen[0]).toBe('12345');
    expect(seen.slice(1, 3).sort()).toEqual(['microtask', 'tick']);
    expect(seen[3]).toBe('67890');
    await engine.close();
  });

  it('200 MB each way (a streamed request body, then a streamed response) with flat RSS', async () => {
    const engine = makeEngine(kind, origin, one);
    const total = 200 * 1024 * 1024;
    const block = pattern(256 * 1024);
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    let produced = 0;
    const body = new Readable({
      read() {
        if (produced >= total) return void this.push(null);
        produced += block.length;
        this.push(block);
      },
    });
    const up = await send(engine, { method: 'POST', path: '/echo-body', headers: ['host', 'x'], body }).done;
    expect(JSON.parse(up.body.toString())).toMatchObject({ bytes: total, te: 'chunked' });
    const down = await send(engine, { path: `/big?n=${total}`, hashOnly: true }).done;
    clearInterval(sample);
    expect(down.error).toBeNull();
    expect(down.bytes).toBe(total);
    // Flat: the transfers hold a few chunks at a time, never the bodies.
    expect(peak - rss0).toBeLessThan(96 * 1024 * 1024);
    await engine.close();
  }, 120_000);
});

describe('native engine: the request head check (ValidateHead, 8 value bytes at a time)', () => {
  it('refuses every control byte and DEL at every position of a value; HTAB and 8-bit bytes go through byte for byte', async () => {
    const engine = makeEngine('native', origin, settings);
    const bad = [...Array.from({ length: 32 }, (_, c) => c).filter((c) => c !== 0x09), 0x7f];
    for (const c of bad) {
      for (let at = 0; at < 20; at++) {
        const v = 'abcdefghijklmnopqrst'.slice(0, at) + String.fromCharCode(c) + 'uvwxyz0123456789'.slice(at % 16);
        const r = await send(engine, { path: '/echo-v', headers: ['host', 'x', 'x-v', v] }).done;
        expect(r.error?.code, `0x${c.toString(16)} at ${at}`).toMatch(/^INVALID_HEADER_(VALUE|LINES)$/);
      }
    }
    for (const c of [0x09, 0x80, 0xa0, 0xe9, 0xff]) {
      for (let at = 1; at < 20; at++) {
        // Not at the value's edges: a proxy's leading/trailing whitespace and 8-bit edges are the front's business.
        const v = 'abcdefghijklmnopqrst'.slice(0, at) + String.fromCharCode(c) + 'uvwxyz';
        const r = await send(engine, { path: '/echo-v', headers: ['host', 'x', 'x-v', v] }).done;
        expect(r.error, `0x${c.toString(16)} at ${at}`).toBeNull();
        expect(r.body.toString()).toBe(Buffer.from(v, 'latin1').toString('hex'));
      }
    }
    expect(engine.stats.active).toBe(0);
    await engine.close();
  });
});

describe('native engine: the prepared head (onPreparedHeaders)', () => {
  it('filters hop-by-hop and framing headers, the names Connection lists and the route\'s, and serializes the rest as one block', async () => {
    const head =
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=30\r\n' +
      'Date: Tue, 01 Dec 2026 10:00:00 GMT\r\nProxy-Authenticate: Basic\r\nX-Internal: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n' +
      'Content-Length: 5\r\nX-Obs: caf\xe9  \r\n\r\nhello';
    const up = await rawUpstream((_h, sock) => sock.write(Buffer.from(head, 'latin1')));
    const engine = new NativeEndpoint(up.origin, one);
    const got = await new Promise<{ status: number; block: string; first: string; cl: number; body: string; rawCalled: boolean }>((resolve, reject) => {
      let status = 0;
      let block = '';
      let first = '';
      let cl = 0;
      let body = '';
      let rawCalled = false;
      engine.dispatch(
        { method: 'GET', path: '/', headers: ['host', 'x'], body: null, headersTimeoutMs: 5000, bodyTimeoutMs: 5000, dropResponseHeaders: ['x-internal'] },
        {
          onConnect() {},
          onInformational() {},
          onHeaders: () => ((rawCalled = true), true),
          onPreparedHeaders(s, head, firstLength, c) {
            status = s;
            block = head.toString('latin1');
            first = block.slice('200 OK\r\n'.length, '200 OK\r\n'.length + firstLength);
            cl = c;
            return true;
          },
          onData: (c) => ((body += c.toString()), true),
          onComplete: () => resolve({ status, block, first, cl, body, rawCalled }),
          onError: reject,
        },
      );
    });
    expect(got).toEqual({
      status: 200,
      first: 'Content-Type',
      block: '200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Obs: caf\xe9',
      cl: 5,
      body: 'hello',
      rawCalled: false,
    });
    await engine.close();
    await up.close();
  });

  it('a head with nothing left to relay is the status line alone (firstLength -1); undici never calls it', async () => {
    const up = await rawUpstream((_h, sock) => sock.write('HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\nDate: x\r\n\r\n'));
    for (const kind of ENGINES) {
      const engine = makeEngine(kind, up.origin, one);
      const calls: unknown[] = [];
      await new Promise<void>((resolve, reject) =>
        engine.dispatch(
          { method: 'GET', path: '/', headers: ['host', 'x'], body: null, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 },
          {
            onConnect() {},
            onInformational() {},
            onHeaders: (s) => (calls.push(['raw', s]), true),
            onPreparedHeaders: (s, head, n, c) => (calls.push(['prepared', s, head.toString('latin1'), n, c]), true),
            onData: () => true,
            onComplete: () => resolve(),
            onError: reject,
          },
        ),
      );
      expect(calls).toEqual(kind === 'native' ? [['prepared', 204, '204 No Content', -1, -1]] : [['raw', 204]]);
      await engine.close();
    }
    await up.close();
  });

  /** One request with `responseTail` on `engine`: the prepared head (or the failure code). */
  function prepared(engine: UpstreamDispatcher, path: string, responseTail: string): Promise<{ block: string; first: string } | { error: string }> {
    return new Promise((resolve) => {
      let block = '';
      let first = '';
      engine.dispatch(
        { method: 'GET', path, headers: ['host', 'x'], body: null, headersTimeoutMs: 5000, bodyTimeoutMs: 5000, responseTail },
        {
          onConnect() {},
          onInformational() {},
          onHeaders: () => true,
          onPreparedHeaders(s, head, firstLength) {
            block = head.toString('latin1');
            const at = block.indexOf('\r\n') + 2;
            first = firstLength < 0 ? '' : block.slice(at, at + firstLength);
            return true;
          },
          onData: () => true,
          onComplete: () => resolve({ block, first }),
          onError: (e) => resolve({ error: e.code }),
        },
      );
    });
  }

  it('ends with the response tail: after the relayed lines, or as the only lines (firstLength is then its first name\'s)', async () => {
    const up = await rawUpstream((h, sock) =>
      sock.write(h.startsWith('GET /bare') ? 'HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n' : 'HTTP/1.1 200 OK\r\nX-Up: 1\r\nContent-Length: 2\r\n\r\nok'),
    );
    const engine = new NativeEndpoint(up.origin, one);
    expect(await prepared(engine, '/lines', 'via: 1.1 gateway')).toEqual({ block: '200 OK\r\nX-Up: 1\r\nvia: 1.1 gateway', first: 'X-Up' });
    // Another tail on the same connection replaces the last one; none leaves the upstream's lines alone.
    expect(await prepared(engine, '/bare', 'x-request-id: r-1\r\nvia: 1.1 gateway')).toEqual({ block: '204 No Content\r\nx-request-id: r-1\r\nvia: 1.1 gateway', first: 'x-request-id' });
    expect(await prepared(engine, '/bare', 'x-request-id: r-2\r\nvia: 1.1 gateway')).toEqual({ block: '204 No Content\r\nx-request-id: r-2\r\nvia: 1.1 gateway', first: 'x-request-id' });
    expect(await prepared(engine, '/lines', '')).toEqual({ block: '200 OK\r\nX-Up: 1', first: 'X-Up' });
    expect(await prepared(engine, '/bare', '')).toEqual({ block: '204 No Content', first: '' });
    expect(up.connections()).toBe(1);
    await engine.close();
    await up.close();
  });

  it('refuses a tail that is not lines the gateway may add (nothing is sent; the connection stays usable)', async () => {
    let requests = 0;
    const up = await rawUpstream((_h, sock) => (requests++, sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')));
    const engine = new NativeEndpoint(up.origin, one);
    const bad = [
      'via: 1.1 gateway\r\n', // a trailing CRLF would end the head early
      'via: 1.1 gateway\r\n\r\nHTTP/1.1 200 OK', // a second answer
      'x-a: 1\nx-b: 2', // bare LF
      'x-a: 1\r\x00', // NUL
      'x-a: \x7f', // DEL in a value
      'content-length: 0', // framing
      'transfer-encoding: chunked',
      'connection: close',
      'x a: 1', // not a token
      'via:1.1 gateway', // "name: value" exactly
      ': 1',
      'via',
      'x-long: ' + 'a'.repeat(260), // over the addon's limit
    ];
    for (const tail of bad) expect(await prepared(engine, '/', tail), JSON.stringify(tail)).toEqual({ error: 'INVALID_RESPONSE_TAIL' });
    expect(requests).toBe(0);
    expect(await prepared(engine, '/', 'x-request-id: abc\r\nvia: 1.1 gateway')).toEqual({ block: '200 OK\r\nx-request-id: abc\r\nvia: 1.1 gateway', first: 'x-request-id' });
    expect(requests).toBe(1);
    await engine.close();
    await up.close();
  });
});

describe('native engine: malformed and corner-case responses from the corpus', () => {
  // The expected outcome of each case for one request through the engine, from the reference
  // parser with the engine's limits: a complete response (the extra bytes after it only close the
  // connection), a reset (the upstream closed: NO_RESPONSE, UNEXPECTED_EOF), or a protocol error.
  const cases = CORPUS.filter((c) => (c.kinds ?? [REQUEST_OTHER]).length === 1 && c.limits === undefined);

  function expected(raw: string, kind: number): { outcome: 'complete' | 'reset' | 'protocol'; status: number; body: string; code: string } {
    let status = 0;
    let finals = 0;
    let done = false;
    let body = '';
    let isFinal = false;
    const p = createResponseParser(
      {
        onHead: (s, _m, flags) => {
          isFinal = (flags & 1) === 0;
          if (isFinal) {
            status = s;
            finals++;
          }
        },
        onBody: (d, a, b) => void (finals === 1 && !done && (body += Buffer.from(d.subarray(a, b)).toString('latin1'))),
        onMessageComplete: () => void (isFinal && finals === 1 && (done = true)),
      },
      { maxHeadSize: 16384, maxHeaders: 1024 },
      'reference',
    );
    p.expect(kind as 0);
    let st = p.execute(Buffer.from(raw, 'latin1'));
    if (st !== STATUS_ERROR && st !== STATUS_UPGRADED) st = p.finish();
    if (st === STATUS_UPGRADED) return { outcome: 'protocol', status, body, code: 'UPGRADE_UNSUPPORTED' };
    if (done) return { outcome: 'complete', status, body, code: '' };
    const name = parseErrorName(p.errorCode);
    if (name === 'NO_RESPONSE' || name === 'UNEXPECTED_EOF') return { outcome: 'reset', status, body, code: 'UPSTREAM_CLOSED' };
    return { outcome: 'protocol', status, body, code: `HPE_${name}` };
  }

  let up: Awaited<ReturnType<typeof rawUpstream>>;
  const byPath = new Map<string, string>();
  beforeAll(async () => {
    // Writes the case's bytes and ends the connection (so close-delimited and truncated answers end).
    up = await rawUpstream((head, sock) => sock.end(Buffer.from(byPath.get(head.split(' ')[1]) ?? '', 'latin1')));
  });
  afterAll(() => up.close());

  it(`covers the corpus (${cases.length} single-request cases, 36+ malformed)`, () => {
    expect(cases.filter((c) => c.outcome !== 'OK').length).toBeGreaterThanOrEqual(36);
  });

  it.each(cases.map((c, i) => [c.name, i] as const))('%s', async (_name, i) => {
    const c = cases[i];
    const kind = (c.kinds ?? [REQUEST_OTHER])[0];
    const path = `/case-${i}`;
    byPath.set(path, c.raw);
    const want = expected(c.raw, kind);
    const engine = new NativeEndpoint(up.origin, one);
    const r = await send(engine, { path, method: kind === REQUEST_HEAD ? 'HEAD' : kind === 2 ? 'CONNECT' : 'GET' }).done;
    if (want.outcome === 'complete') {
      expect(r.error).toBeNull();
      expect(r.status).toBe(want.status);
      expect(r.body.toString('latin1')).toBe(want.body);
    } else {
      expect(r.error?.kind).toBe(want.outcome);
      if (want.outcome === 'protocol') expect(r.error?.code).toBe(want.code);
    }
    // Whatever happened, the engine holds nothing.
    await sleep(5);
    expect(engine.stats).toMatchObject({ active: 0, queued: 0, stuck: 0 });
    await engine.close();
  });
});
