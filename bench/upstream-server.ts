/**
 * The load suite's upstream, run in its own process so its CPU is measured apart from everything
 * else: `node dist/bench/upstream-server.js --port P --kind uws|http [--extra-port P[:DELAY_MS]]... [--otlp-port P]`.
 *
 * - `GET /1m`: 1 MiB of bytes (the download-1m scenario).
 * - `GET /json-1m`: 1 MiB of JSON (the aggregate-1m scenarios).
 * - `GET /json/<n>k` (n in JSON_SIZES_KIB): a JSON document of exactly n KiB (the msgpack-* scenarios).
 * - anything else, any method: a small JSON body (17 bytes). A request body is read to the end
 *   first (post-64k).
 * - `/ws` (uws kind only, main port only): WebSocket echo.
 * - `--extra-port P[:DELAY_MS]` (repeatable): one more listening port in the same process and on
 *   the same event loop, answering the same; with DELAY_MS every answer on that port is sent that
 *   many milliseconds late (a timer: the process is not kept busy, the other ports are not
 *   slowed). The lb-* scenarios balance over such ports.
 * - `--otlp-port P`: an OTLP/HTTP sink on its own port (the tracing-* scenarios' collector):
 *   `POST /v1/traces` is read to the end and answered 200 `{}`; it counts the exports, their bytes
 *   and the spans in them (occurrences of `"spanId"`: the gateway's OTLP JSON has no links).
 * - `GET /__bench/stats` on the main port: per listening port (index 0 = the main port) the
 *   requests answered and the TCP connections accepted so far, and the sink's counters, for the
 *   harness: how a balancer spread the load, how often a proxy opened a new upstream connection,
 *   how many requests a cache let through, how many spans arrived. Its own connection counts as
 *   one accept on the main port.
 *
 * Prints `READY {"port":..,"kind":..,"extra":[{"port":..,"delayMs":..}],"otlpPort":..}` on stdout
 * once every port listens; exits on SIGTERM/SIGINT.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { JSON_1M_BYTES, JSON_1M_PATH, JSON_PATH_PREFIX, JSON_SIZES_KIB, MIB, OTLP_PATH, SMALL_BODY, STATS_PATH, jsonDocument, jsonPath, type UpstreamStats } from './upstream-api.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    kind: { type: 'string', default: 'uws' },
    'extra-port': { type: 'string', multiple: true, default: [] },
    'otlp-port': { type: 'string' },
  },
});

const small = Buffer.from(SMALL_BODY);
const big = Buffer.alloc(MIB, 'x');
const bigJson = Buffer.from(jsonDocument(JSON_1M_BYTES));
const jsonDocs = new Map<string, Buffer>(JSON_SIZES_KIB.map((k) => [jsonPath(k), Buffer.from(jsonDocument(k * 1024))]));
const OTLP_OK = Buffer.from('{}');

interface Listener {
  /** Requested port (0 = any), then the actual one. */
  port: number;
  delayMs: number;
}

const listeners: Listener[] = [{ port: Number(values.port), delayMs: 0 }];
for (const spec of values['extra-port'] as string[]) {
  const m = /^(\d+)(?::(\d+))?$/.exec(spec);
  if (!m) {
    process.stderr.write(`upstream: --extra-port wants PORT or PORT:DELAY_MS, got "${spec}"\n`);
    process.exit(2);
  }
  listeners.push({ port: Number(m[1]), delayMs: m[2] === undefined ? 0 : Number(m[2]) });
}
/** Requests answered and connections accepted per listener (index as in `listeners`). */
const counts = listeners.map(() => 0);
const accepts = listeners.map(() => 0);
const otlp = values['otlp-port'] === undefined ? null : { port: Number(values['otlp-port']), requests: 0, bytes: 0, spans: 0, accepts: 0 };

function statsJson(): string {
  const s: UpstreamStats = { ports: listeners.map((l) => l.port), delayMs: listeners.map((l) => l.delayMs), requests: counts, accepts, otlp };
  return JSON.stringify(s);
}

const SPAN_ID = Buffer.from('"spanId"');
function countSpans(body: Buffer): number {
  let n = 0;
  for (let i = body.indexOf(SPAN_ID); i >= 0; i = body.indexOf(SPAN_ID, i + SPAN_ID.length)) n++;
  return n;
}

function recordExport(body: Buffer): void {
  otlp!.requests++;
  otlp!.bytes += body.length;
  otlp!.spans += countSpans(body);
}

/** The answer for a GET path: [body, content type]. */
function answerFor(url: string): [Buffer, string] {
  if (url === '/1m') return [big, 'application/octet-stream'];
  if (url === JSON_1M_PATH) return [bigJson, 'application/json'];
  if (url.startsWith(JSON_PATH_PREFIX)) {
    const doc = jsonDocs.get(url);
    if (doc) return [doc, 'application/json'];
  }
  return [small, 'application/json'];
}

function ready(kind: string): void {
  const [main, ...extra] = listeners;
  process.stdout.write(`READY ${JSON.stringify({ port: main.port, kind, pid: process.pid, extra, otlpPort: otlp?.port ?? null })}\n`);
}

async function startUws(host: string): Promise<void> {
  const { loadUws } = await import('../src/uws.js');
  const uws = loadUws();
  type Res = import('uWebSockets.js').HttpResponse;
  const apps: Array<import('uWebSockets.js').TemplatedApp> = [];
  const listen = (app: import('uWebSockets.js').TemplatedApp, port: number) =>
    new Promise<number>((resolve, reject) => {
      app.listen(host, port, (token) => {
        if (!token) return reject(new Error(`uws upstream: cannot listen on ${host}:${port}`));
        resolve(uws.us_socket_local_port(token));
      });
    });
  /** Reads a request body to the end; `done` gets it (a copy: uWS neuters the chunks). */
  const readBody = (res: Res, state: { aborted: boolean }, done: (body: Buffer) => void) => {
    const parts: Buffer[] = [];
    res.onData((chunk, isLast) => {
      parts.push(Buffer.from(chunk.slice(0)));
      if (isLast && !state.aborted) done(parts.length === 1 ? parts[0] : Buffer.concat(parts));
    });
  };
  for (let index = 0; index < listeners.length; index++) {
    const { delayMs } = listeners[index];
    const app = uws.App();
    apps.push(app);
    // count > 0: a connection opened (uWS calls the filter on open with +1 and on close with -1)
    app.filter((_res, count) => {
      if (Number(count) > 0) accepts[index]++;
    });
    const send = (res: Res, body: Buffer, type: string) => {
      counts[index]++;
      res.cork(() => {
        res.writeStatus('200 OK').writeHeader('content-type', type).end(body);
      });
    };
    // A late answer: the response may be aborted by then (the client or proxy gave up).
    const answer =
      delayMs <= 0
        ? (res: Res, body: Buffer, type: string, _state?: { aborted: boolean }) => send(res, body, type)
        : (res: Res, body: Buffer, type: string, state?: { aborted: boolean }) => {
            const st = state ?? { aborted: false };
            if (!state) res.onAborted(() => (st.aborted = true));
            setTimeout(() => {
              if (!st.aborted) send(res, body, type);
            }, delayMs);
          };
    if (index === 0) {
      app.ws('/ws', {
        maxPayloadLength: 16 * MIB,
        idleTimeout: 120,
        message: (ws, message, isBinary) => {
          ws.send(message, isBinary);
        },
      });
      app.get(STATS_PATH, (res) => {
        res.cork(() => {
          res.writeStatus('200 OK').writeHeader('content-type', 'application/json').end(statsJson());
        });
      });
    }
    app.get('/*', (res, req) => {
      const [body, type] = answerFor(req.getUrl());
      answer(res, body, type);
    });
    app.any('/*', (res, req) => {
      const method = req.getCaseSensitiveMethod();
      const hasBody = method !== 'HEAD' && (req.getHeader('content-length') !== '' || req.getHeader('transfer-encoding') !== '');
      if (!hasBody) {
        answer(res, small, 'application/json');
        return;
      }
      const state = { aborted: false };
      res.onAborted(() => {
        state.aborted = true;
      });
      res.onData((_chunk, isLast) => {
        if (isLast && !state.aborted) answer(res, small, 'application/json', state);
      });
    });
    listeners[index].port = await listen(app, listeners[index].port);
  }
  if (otlp) {
    const sink = uws.App();
    apps.push(sink);
    sink.filter((_res, count) => {
      if (Number(count) > 0) otlp.accepts++;
    });
    sink.post(OTLP_PATH, (res) => {
      const state = { aborted: false };
      res.onAborted(() => (state.aborted = true));
      readBody(res, state, (body) => {
        recordExport(body);
        res.cork(() => {
          res.writeStatus('200 OK').writeHeader('content-type', 'application/json').end(OTLP_OK);
        });
      });
    });
    sink.any('/*', (res) => {
      res.cork(() => {
        res.writeStatus('404 Not Found').end();
      });
    });
    otlp.port = await listen(sink, otlp.port);
  }
  ready('uws');
  const stop = () => {
    for (const app of apps) app.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function startHttp(host: string): Promise<void> {
  const servers: Server[] = [];
  const listen = async (server: Server, port: number): Promise<number> => {
    servers.push(server);
    await new Promise<void>((resolve) => server.listen({ host, port, backlog: 4096 }, resolve));
    return (server.address() as { port: number }).port;
  };
  const options = { keepAliveTimeout: 120_000, requestTimeout: 0, headersTimeout: 60_000 };
  for (let index = 0; index < listeners.length; index++) {
    const { delayMs } = listeners[index];
    const handle = (req: IncomingMessage, res: ServerResponse) => {
      if (index === 0 && req.url === STATS_PATH) {
        const body = statsJson();
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        req.resume();
        return;
      }
      const write = () => {
        if (res.destroyed) return;
        counts[index]++;
        const [body, type] = req.method === 'GET' ? answerFor(req.url ?? '/') : [small, 'application/json'];
        res.writeHead(200, { 'content-type': type, 'content-length': body.length });
        res.end(body);
      };
      const send = delayMs <= 0 ? write : () => void setTimeout(write, delayMs);
      if (req.method === 'GET' || req.method === 'HEAD') {
        send();
        req.resume();
      } else {
        req.on('data', () => {});
        req.on('end', send);
      }
    };
    const server = createServer(options, handle);
    server.maxRequestsPerSocket = 0;
    server.on('connection', () => accepts[index]++);
    listeners[index].port = await listen(server, listeners[index].port);
  }
  if (otlp) {
    const sink = createServer(options, (req, res) => {
      if (req.method !== 'POST' || req.url !== OTLP_PATH) {
        res.writeHead(404).end();
        req.resume();
        return;
      }
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        recordExport(Buffer.concat(parts));
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': OTLP_OK.length });
        res.end(OTLP_OK);
      });
    });
    sink.on('connection', () => otlp.accepts++);
    otlp.port = await listen(sink, otlp.port);
  }
  ready('http');
  const stop = () => {
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const host = String(values.host);
if (values.kind === 'http') {
  await startHttp(host);
} else {
  await startUws(host);
}
