/**
 * The load suite's upstream, run in its own process so its CPU is measured apart from everything
 * else: `node dist/bench/upstream-server.js --port P --kind uws|http`.
 *
 * - `GET /1m`: 1 MiB of bytes (the download-1m scenario).
 * - `GET /json-1m`: 1 MiB of JSON (the aggregate-1m scenarios).
 * - anything else, any method: a small JSON body (17 bytes). A request body is read to the end
 *   first (post-64k).
 * - `/ws` (uws kind only): WebSocket echo.
 *
 * Prints `READY {"port":..,"kind":..}` on stdout once it listens; exits on SIGTERM/SIGINT.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { jsonMiB } from './upstream-body.js';

export const SMALL_BODY = '{"hello":"world"}';
export const MIB = 1024 * 1024;

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    kind: { type: 'string', default: 'uws' },
  },
});

const small = Buffer.from(SMALL_BODY);
const big = Buffer.alloc(MIB, 'x');
const bigJson = jsonMiB();

function ready(port: number, kind: string): void {
  process.stdout.write(`READY ${JSON.stringify({ port, kind, pid: process.pid })}\n`);
}

async function startUws(host: string, port: number): Promise<void> {
  const { loadUws } = await import('../src/uws.js');
  const uws = loadUws();
  const app = uws.App();
  const answer = (res: import('uWebSockets.js').HttpResponse, body: Buffer, type: string) => {
    res.cork(() => {
      res.writeStatus('200 OK').writeHeader('content-type', type).end(body);
    });
  };
  app.ws('/ws', {
    maxPayloadLength: 16 * MIB,
    idleTimeout: 120,
    message: (ws, message, isBinary) => {
      ws.send(message, isBinary);
    },
  });
  app.get('/1m', (res) => answer(res, big, 'application/octet-stream'));
  app.get('/json-1m', (res) => answer(res, bigJson, 'application/json'));
  app.any('/*', (res, req) => {
    const method = req.getCaseSensitiveMethod();
    const hasBody = method !== 'GET' && method !== 'HEAD' && (req.getHeader('content-length') !== '' || req.getHeader('transfer-encoding') !== '');
    if (!hasBody) {
      answer(res, small, 'application/json');
      return;
    }
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    res.onData((_chunk, isLast) => {
      if (isLast && !aborted) answer(res, small, 'application/json');
    });
  });
  await new Promise<void>((resolve, reject) => {
    app.listen(host, port, (token) => {
      if (!token) return reject(new Error(`uws upstream: cannot listen on ${host}:${port}`));
      const actual = uws.us_socket_local_port(token);
      ready(actual, 'uws');
      resolve();
    });
  });
  const stop = () => {
    app.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function startHttp(host: string, port: number): Promise<void> {
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const send = () => {
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
  await new Promise<void>((resolve) => server.listen({ host, port, backlog: 4096 }, resolve));
  ready((server.address() as { port: number }).port, 'http');
  const stop = () => {
    server.closeAllConnections();
    server.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const port = Number(values.port);
const host = String(values.host);
if (values.kind === 'http') {
  await startHttp(host, port);
} else {
  await startUws(host, port);
}
