/**
 * The undici engine (src/upstream/undici.ts) on its own, against a real node:http upstream: a
 * request undici refuses frees its connection (undici's own Pool wedged on it), requests waiting for
 * a connection are served in order or time out on their own deadline, aborting works wherever the
 * request is, and a failure on a reused connection is flagged as such (the keep-alive race).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { UndiciEndpoint } from '../../src/upstream/undici.js';
import type { UpstreamFailure, UpstreamHandler, UpstreamRequest } from '../../src/upstream/dispatch.js';

let server: Server;
let origin = '';
let requests = 0;

beforeAll(async () => {
  server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    requests++;
    const url = new URL(req.url!, 'http://x');
    const ms = Number(url.searchParams.get('ms') ?? '0');
    setTimeout(() => res.end(`ok ${url.pathname}`), ms);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

interface Result {
  status: number;
  body: string;
  error: UpstreamFailure | null;
  abort: (reason?: Error) => void;
}

/** Dispatches and resolves when the handler hears the end (complete or error). */
function send(engine: UndiciEndpoint, req: Partial<UpstreamRequest> & { path: string }): { done: Promise<Result>; abort: () => void } {
  let abort: (reason?: Error) => void = () => {};
  const done = new Promise<Result>((resolve) => {
    let status = 0;
    let body = '';
    const handler: UpstreamHandler = {
      onConnect: (a) => (abort = a),
      onInformational: () => {},
      onHeaders: (s) => ((status = s), true),
      onData: (c) => ((body += c.toString()), true),
      onComplete: () => resolve({ status, body, error: null, abort }),
      onError: (e) => resolve({ status, body, error: e, abort }),
    };
    engine.dispatch({ method: 'GET', headers: ['host', 'x'], body: null, headersTimeoutMs: 5000, bodyTimeoutMs: 5000, ...req }, handler);
  });
  return { done, abort: () => abort(new Error('test abort')) };
}

const settings = { keepAlive: 2, maxConnections: 2, connectMs: 1000, idleMs: 60_000 };

describe('UndiciEndpoint', () => {
  it('requests undici refuses free their connection: 200 of them, then normal requests still flow', async () => {
    const engine = new UndiciEndpoint(origin, settings);
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

  it('past maxConnections, requests wait in order and each is bounded by its own headersTimeoutMs', async () => {
    const engine = new UndiciEndpoint(origin, settings);
    const slow = [send(engine, { path: '/a?ms=600' }), send(engine, { path: '/b?ms=600' })];
    const waiting = send(engine, { path: '/c' });
    const impatient = send(engine, { path: '/d', headersTimeoutMs: 200 });
    expect(engine.stats.queued).toBe(2);
    const d = await impatient.done;
    expect(d.error?.kind).toBe('timeout');
    expect(d.error?.waitedForConnection).toBe(true);
    const c = await waiting.done;
    expect(c.status).toBe(200);
    expect(c.body).toBe('ok /c');
    for (const s of slow) expect((await s.done).status).toBe(200);
    expect(engine.stats.queued).toBe(0);
    await engine.close();
  });

  it('aborting a waiting request removes it; aborting a running one frees its connection', async () => {
    const engine = new UndiciEndpoint(origin, { ...settings, maxConnections: 1, keepAlive: 1 });
    const running = send(engine, { path: '/r?ms=2000' });
    const queued = send(engine, { path: '/q' });
    queued.abort();
    expect((await queued.done).error?.kind).toBe('aborted');
    running.abort();
    expect((await running.done).error?.kind).toBe('aborted');
    const after = await send(engine, { path: '/after' }).done;
    expect(after.status).toBe(200);
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
    const engine = new UndiciEndpoint(`http://127.0.0.1:${(racy.address() as { port: number }).port}`, { ...settings, maxConnections: 1, keepAlive: 1 });
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
});
