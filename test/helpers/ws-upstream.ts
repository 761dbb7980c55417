/**
 * A real `ws` upstream for the WebSocket relay tests: an HTTP server whose upgrades a
 * WebSocketServer (noServer) handles. It echoes every message with its type, records each
 * handshake and what reaches it (pings, pongs, closes), and obeys text commands `cmd:{json}`:
 *   { "close": [code, reason] }           closes with that code
 *   { "ping": "data" }                    pings the client
 *   { "terminate": true }                 drops the TCP connection without a close frame
 *   { "send": bytes, "binary": bool }     sends one message of that size
 *   { "fragments": ["a", "b", "c"] }      sends one text message in those fragments
 *   { "flood": bytes, "chunk": bytes }    sends `bytes` in binary messages of `chunk`, as fast as
 *                                         its socket takes them, then "flood-done"
 * Paths starting with /refuse are answered 403 with a JSON body and an X-Upstream-Reason
 * header instead of 101. Plain requests get 200 "plain".
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface SeenUpgrade {
  url: string;
  headers: IncomingHttpHeaders;
}

export interface WsUpstream {
  port: number;
  url: string;
  server: Server;
  upgrades: SeenUpgrade[];
  /** Connections the WebSocketServer accepted. */
  sockets: WebSocket[];
  pings: Buffer[];
  pongs: Buffer[];
  closes: Array<{ code: number; reason: string }>;
  /** TCP connections the server accepted (a refused upgrade never reaches it when this stays 0). */
  connections: number;
  /** Stop reading every accepted socket (a slow upstream). */
  pauseReading(): void;
  resumeReading(): void;
  /** Bytes of binary messages received so far. */
  receivedBytes: number;
  close(): Promise<void>;
}

export async function startWsUpstream(opts: { maxPayload?: number } = {}): Promise<WsUpstream> {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('plain');
  });
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxPayload ?? 64 * 1024 * 1024,
    perMessageDeflate: false,
    // The upstream picks the last subprotocol offered, so the client sees the upstream's choice.
    handleProtocols: (protocols) => [...protocols].pop() ?? false,
  });
  const up: WsUpstream = {
    port: 0, url: '', server, upgrades: [], sockets: [], pings: [], pongs: [], closes: [], connections: 0, receivedBytes: 0,
    pauseReading: () => up.sockets.forEach((s) => s.pause()),
    resumeReading: () => up.sockets.forEach((s) => s.resume()),
    close: () => new Promise((resolve) => {
      for (const s of up.sockets) s.terminate();
      wss.close();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  server.on('connection', () => up.connections++);
  server.on('upgrade', (req, socket: Socket, head) => {
    up.upgrades.push({ url: req.url ?? '', headers: req.headers });
    if (req.url?.startsWith('/refuse')) {
      const body = JSON.stringify({ refused: true });
      socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nX-Upstream-Reason: no-entry\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      up.sockets.push(ws);
      ws.on('ping', (d) => up.pings.push(d));
      ws.on('pong', (d) => up.pongs.push(d));
      ws.on('close', (code, reason) => up.closes.push({ code, reason: reason.toString() }));
      ws.on('error', () => {});
      ws.on('message', (data: Buffer, isBinary) => {
        if (isBinary) up.receivedBytes += data.length;
        const text = isBinary ? '' : data.toString();
        if (!text.startsWith('cmd:')) return ws.send(data, { binary: isBinary });
        const cmd = JSON.parse(text.slice(4));
        if (cmd.close) ws.close(cmd.close[0], cmd.close[1]);
        else if (cmd.ping !== undefined) ws.ping(cmd.ping);
        else if (cmd.terminate) ws.terminate();
        else if (cmd.send !== undefined) ws.send(cmd.binary ? Buffer.alloc(cmd.send, 7) : 'x'.repeat(cmd.send), { binary: !!cmd.binary });
        else if (cmd.fragments) {
          const parts: string[] = cmd.fragments;
          parts.forEach((p, i) => ws.send(p, { fin: i === parts.length - 1, binary: false }));
        } else if (cmd.flood !== undefined) {
          let left: number = cmd.flood;
          const chunk = Buffer.alloc(cmd.chunk, 1);
          const pump = () => {
            while (left > 0 && ws.readyState === ws.OPEN) {
              left -= chunk.length;
              ws.send(chunk);
              // Keep at most ~1 MB in this process: the rest waits in the kernel and the gateway.
              if (ws.bufferedAmount > 1024 * 1024) return void setTimeout(pump, 5);
            }
            if (ws.readyState === ws.OPEN) ws.send('flood-done');
          };
          pump();
        }
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  up.port = (server.address() as { port: number }).port;
  up.url = `http://127.0.0.1:${up.port}`;
  return up;
}

/** Resolves when `cond()` holds (polled), or rejects after `ms`. */
export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const started = Date.now();
  while (!cond()) {
    if (Date.now() - started > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
