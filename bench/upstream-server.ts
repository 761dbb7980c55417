/**
 * The load suite's upstream, run in its own process so its CPU is measured apart from everything
 * else: `node dist/bench/upstream-server.js --port P --kind uws|http [--extra-port P[:DELAY_MS]]...`.
 *
 * - `GET /1m`: 1 MiB of bytes (the download-1m scenario).
 * - `GET /json-1m`: 1 MiB of JSON (the aggregate-1m scenarios).
 * - anything else, any method: a small JSON body (17 bytes). A request body is read to the end
 *   first (post-64k).
 * - `/ws` (uws kind only, main port only): WebSocket echo.
 * - `--extra-port P[:DELAY_MS]` (repeatable): one more listening port in the same process and on
 *   the same event loop, answering the same; with DELAY_MS every answer on that port is sent that
 *   many milliseconds late (a timer: the process is not kept busy, the other ports are not
 *   slowed). The lb-* scenarios balance over such ports.
 * - `GET /__bench/targets` on the main port: `{"ports":[..],"delayMs":[..],"requests":[..]}`, the
 *   requests answered so far per listening port (index 0 = the main port), for the harness to
 *   see how a balancer spread the load.
 *
 * Prints `READY {"port":..,"kind":..,"extra":[{"port":..,"delayMs":..}]}` on stdout once every
 * port listens; exits on SIGTERM/SIGINT.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { jsonMiB } from './upstream-body.js';

export const SMALL_BODY = '{"hello":"world"}';
export const MIB = 1024 * 1024;
export const TARGETS_PATH = '/__bench/targets';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    kind: { type: 'string', default: 'uws' },
    'extra-port': { type: 'string', multiple: true, default: [] },
  },
});

const small = Buffer.from(SMALL_BODY);
const big = Buffer.alloc(MIB, 'x');
const bigJson = jsonMiB();

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
/** Requests answered per listener (index as in `listeners`). */
const counts = listeners.map(() => 0);

function targetsJson(): string {
  return JSON.stringify({ ports: listeners.map((l) => l.port), delayMs: listeners.map((l) => l.delayMs), requests: counts });
}

function ready(kind: string): void {
  const [main, ...extra] = listeners;
  process.stdout.write(`READY ${JSON.stringify({ port: main.port, kind, pid: process.pid, extra })}\n`);
}

async function startUws(host: string): Promise<void> {
  const { loadUws } = await import('../src/uws.js');
  const uws = loadUws();
  type Res = import('uWebSockets.js').HttpResponse;
  const apps: Array<import('uWebSockets.js').TemplatedApp> = [];
  for (let index = 0; index < listeners.length; index++) {
    const { delayMs } = listeners[index];
    const app = uws.App();
    apps.push(app);
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
      app.get(TARGETS_PATH, (res) => {
        res.cork(() => {
          res.writeStatus('200 OK').writeHeader('content-type', 'application/json').end(targetsJson());
        });
      });
    }
    app.get('/1m', (res) => answer(res, big, 'application/octet-stream'));
    app.get('/json-1m', (res) => answer(res, bigJson, 'application/json'));
    app.any('/*', (res, req) => {
      const method = req.getCaseSensitiveMethod();
      const hasBody = method !== 'GET' && method !== 'HEAD' && (req.getHeader('content-length') !== '' || req.getHeader('transfer-encoding') !== '');
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
    await new Promise<void>((resolve, reject) => {
      app.listen(host, listeners[index].port, (token) => {
        if (!token) return reject(new Error(`uws upstream: cannot listen on ${host}:${listeners[index].port}`));
        listeners[index].port = uws.us_socket_local_port(token);
        resolve();
      });
    });
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
  for (let index = 0; index < listeners.length; index++) {
    const { delayMs } = listeners[index];
    const handle = (req: IncomingMessage, res: ServerResponse) => {
      if (index === 0 && req.url === TARGETS_PATH) {
        const body = targetsJson();
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        req.resume();
        return;
      }
      const write = () => {
        if (res.destroyed) return;
        counts[index]++;
        if (req.url === '/1m' && req.method === 'GET') {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': MIB });
          res.end(big);
        } else if (req.url === '/json-1m' && req.method === 'GET') {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': bigJson.length });
          res.end(bigJson);
        } else {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': small.length });
          res.end(small);
        }
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
    const server = createServer({ keepAliveTimeout: 120_000, requestTimeout: 0, headersTimeout: 60_000 }, handle);
    server.maxRequestsPerSocket = 0;
    servers.push(server);
    await new Promise<void>((resolve) => server.listen({ host, port: listeners[index].port, backlog: 4096 }, resolve));
    listeners[index].port = (server.address() as { port: number }).port;
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
