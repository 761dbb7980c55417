/**
 * The floors for --with-floors: the proxy path with nothing of the gateway around the upstream
 * engine, so that a run tells what uWS.js and the addon cost from what the gateway's own layers
 * cost (the "sketch"; docs/benchmarking.md, "Floors"). Two layers, one process per worker
 * under node:cluster, uWS.js listening with SO_REUSEPORT like the gateway's workers:
 *
 *   - `addon`: uWS.js's handler writes the request line and Host into one reused Buffer and hands
 *     it to a free UpstreamConnection of the addon (native/upstream_connection.h) with one send();
 *     the addon's one response event is written with one writeStatus (the prepared head, the
 *     status line copied in front as src/upstream/native.ts does) and end() of the body's view.
 *     No pool object, no handler interface, no routing, headers, trace context or metrics.
 *   - `engine`: the same front through the native engine's UpstreamDispatcher (NativeEndpoint:
 *     the pool, the dispatch contract, serializeHead, the prepared head), still without the rest.
 *
 * Measuring tools, not proxies: they serve what the `proxy` scenario sends (a GET of a small
 * answer that arrives in one read, on the addon layer) and answer anything else with a 502.
 *
 * `node dist/bench/contenders/floor-server.js --layer addon|engine --port P --upstream-port U --workers N --pool K`;
 * prints READY on stdout once every worker listens.
 */
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import type { HttpResponse } from 'uWebSockets.js';

const { values } = parseArgs({
  options: {
    layer: { type: 'string' },
    port: { type: 'string' },
    'upstream-port': { type: 'string' },
    workers: { type: 'string', default: '2' },
    pool: { type: 'string', default: '128' },
  },
});

const layer = values.layer;
if (layer !== 'addon' && layer !== 'engine') throw new Error('--layer addon|engine');
const port = Number(values.port);
const upstreamPort = Number(values['upstream-port']);
const pool = Number(values.pool);
const workers = Number(values.workers);
const HOST_LINE = `host: 127.0.0.1:${upstreamPort}\r\n`;
const TIMEOUT_MS = 10_000;

if (cluster.isPrimary) {
  let listening = 0;
  let stopping = false;
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on('message', (_w, msg) => {
    if (msg === 'listening' && ++listening === workers) process.stdout.write(`READY ${JSON.stringify({ port, pid: process.pid })}\n`);
  });
  cluster.on('exit', (w, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    process.stderr.write(`floor worker ${w.process.pid} died (${code ?? signal})\n`);
    process.exit(1);
  });
  const stop = () => {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const { loadUws } = await import('../../src/uws.js');
  const uws = loadUws();
  const forward = layer === 'addon' ? await addonLayer() : await engineLayer();
  uws
    .App()
    .any('/*', (res, req) => {
      const method = req.getCaseSensitiveMethod();
      const url = req.getUrl();
      const query = req.getQuery();
      const target = query === undefined || query === '' ? url : `${url}?${query}`;
      if (method !== 'GET') return badGateway(res);
      forward(res, target);
    })
    .listen('127.0.0.1', port, (token) => {
      if (!token) {
        process.stderr.write(`floor worker: cannot listen on ${port}\n`);
        process.exit(1);
      }
      process.send?.('listening');
    });
  process.on('SIGTERM', () => process.exit(0));
}

type Forward = (res: HttpResponse, target: string) => void;

/** Whether the client went away (uWS's onAborted), per response object. */
const aborted = new WeakSet<HttpResponse>();

function badGateway(res: HttpResponse): void {
  if (aborted.has(res)) return;
  res.cork(() => {
    res.writeStatus('502 Bad Gateway');
    res.end('{"error":"bad_gateway","message":"the floor serves only a GET of a small answer"}');
  });
}

/** The `addon` layer: the addon's connections, driven directly. */
async function addonLayer(): Promise<Forward> {
  const native = await import('../../src/upstream/native.js');
  const { statusLineBytes } = await import('../../src/errors.js');
  const addon = native.nativeEngineAddon();
  const S = addon.scratch;
  const at = addon.sendSlot;
  const room = addon.preparedRoom;
  let slab = Buffer.alloc(0);
  const head = Buffer.allocUnsafeSlow(16 * 1024);

  interface Conn {
    res: HttpResponse | null;
    /** The addon closed it: never sent on again. */
    closed: boolean;
    handle: ReturnType<typeof handleOf>;
  }
  const free: Conn[] = [];
  const waiting: Array<{ res: HttpResponse; target: string }> = [];
  /** Connections open or opening; at most `pool`, opened when a request finds none free (as the gateway's pool does). */
  let open = 0;

  function onEvent(this: Conn, ev: number, newSlab?: ArrayBuffer): boolean {
    if (newSlab !== undefined) slab = Buffer.from(newSlab);
    if (ev === native.EV_CONNECTED) {
      release(this);
      return true;
    }
    if (ev === native.EV_ERROR) {
      // Closed by the addon (an error, idle, or the upstream's close).
      this.closed = true;
      open--;
      const res = this.res;
      this.res = null;
      if (res !== null) badGateway(res);
      if (waiting.length > 0) connect();
      return true;
    }
    if (ev !== native.EV_RESPONSE) return true;
    const f = S[native.S_FLAGS];
    const base = S[native.S_BASE];
    const res = this.res!;
    this.res = null;
    if ((f & native.F_COMPLETE) === 0 || (f & native.F_PREPARED) === 0 || base < 0) {
      // More than one small read: not what the floor serves.
      retire(this);
      badGateway(res);
      return true;
    }
    if (!aborted.has(res)) {
      const line = statusLineBytes(S[native.S_STATUS]);
      let answerHead: Buffer = line;
      if (S[native.S_FIRST_LENGTH] >= 0) {
        const linesAt = base + room;
        const start = linesAt - 2 - line.length;
        slab.set(line, start);
        slab[linesAt - 2] = 0x0d;
        slab[linesAt - 1] = 0x0a;
        answerHead = slab.subarray(start, linesAt + S[native.S_PREPARED_LENGTH]);
      }
      const bodyAt = base + S[native.S_BODY_START];
      const body = slab.subarray(bodyAt, bodyAt + S[native.S_BODY_LENGTH]);
      res.cork(() => {
        res.writeStatus(answerHead);
        res.end(body);
      });
    }
    if ((f & native.F_REUSABLE) !== 0) release(this);
    else retire(this);
    return true;
  }

  function handleOf(c: Conn) {
    return new addon.Ctor(c as never, onEvent as never, 60_000);
  }

  function connect(): void {
    const c: Conn = { res: null, closed: false, handle: null as never };
    c.handle = handleOf(c);
    open++;
    const r = c.handle.connect('127.0.0.1', upstreamPort, 2000);
    if (r !== 0) throw new Error(`floor: connect failed (${addon.errName(r)})`);
  }

  /** Closes a connection that is not reused (the addon sends no event after close()). */
  function retire(c: Conn): void {
    c.closed = true;
    c.handle.close();
    open--;
    if (waiting.length > 0) connect();
  }

  function release(c: Conn): void {
    const next = waiting.shift();
    if (next === undefined) free.push(c);
    else send(c, next.res, next.target);
  }

  function send(c: Conn, res: HttpResponse, target: string): void {
    let o = head.write('GET ', 0, 'latin1');
    o += head.write(target, o, 'latin1');
    o += head.write(' HTTP/1.1\r\n', o, 'latin1');
    o += head.write(HOST_LINE, o, 'latin1');
    o += head.write('connection: keep-alive\r\n\r\n', o, 'latin1');
    c.res = res;
    S[at] = o;
    S[at + 1] = 2;
    S[at + 2] = 0;
    S[at + 3] = native.SEND_PREPARED;
    S[at + 4] = TIMEOUT_MS;
    S[at + 5] = TIMEOUT_MS;
    if (c.handle.send(head, null, null) !== 0) {
      c.res = null;
      retire(c);
      badGateway(res);
    }
  }

  return (res, target) => {
    res.onAborted(() => aborted.add(res));
    let c = free.pop();
    while (c !== undefined && c.closed) c = free.pop();
    if (c !== undefined) return send(c, res, target);
    waiting.push({ res, target });
    if (open < pool) connect();
  };
}

/** The `engine` layer: the native engine's UpstreamDispatcher with a minimal handler. */
async function engineLayer(): Promise<Forward> {
  const { NativeEndpoint } = await import('../../src/upstream/native.js');
  type Handler = import('../../src/upstream/dispatch.js').UpstreamHandler;
  const endpoint = new NativeEndpoint(`http://127.0.0.1:${upstreamPort}`, { keepAlive: pool, maxConnections: pool, connectMs: 2000, idleMs: 60_000 });
  const host = `127.0.0.1:${upstreamPort}`;

  class Answer implements Handler {
    head: Buffer | null = null;
    body: Buffer | null = null;
    abort: ((reason?: Error) => void) | null = null;
    constructor(readonly res: HttpResponse) {}
    onConnect(abort: (reason?: Error) => void): void {
      this.abort = abort;
    }
    onInformational(): void {}
    onHeaders(): boolean {
      throw new Error('the floor takes prepared heads only');
    }
    onPreparedHeaders(_status: number, head: Buffer): boolean {
      this.head = head;
      return true;
    }
    onData(chunk: Buffer): boolean {
      this.body = this.body === null ? chunk : Buffer.concat([this.body, chunk]);
      return true;
    }
    onComplete(): void {
      const res = this.res;
      if (aborted.has(res)) return;
      res.cork(() => {
        res.writeStatus(this.head!);
        res.end(this.body ?? '');
      });
    }
    onError(): void {
      badGateway(this.res);
    }
  }

  return (res, target) => {
    const answer = new Answer(res);
    res.onAborted(() => {
      aborted.add(res);
      answer.abort?.();
    });
    endpoint.dispatch({ method: 'GET', path: target, headers: ['host', host], body: null, headersTimeoutMs: TIMEOUT_MS, bodyTimeoutMs: TIMEOUT_MS }, answer);
  };
}
