/** A real `ws` client with awaitable messages, pings and close, for the relay tests. */
import WebSocket, { type ClientOptions } from 'ws';
import type { IncomingHttpHeaders } from 'node:http';

export interface Message {
  data: Buffer;
  isBinary: boolean;
}

export interface TestClient {
  ws: WebSocket;
  /** The 101's headers. */
  headers: IncomingHttpHeaders;
  pings: Buffer[];
  pongs: Buffer[];
  /** The next message (waits for it). */
  next(ms?: number): Promise<Message>;
  closed: Promise<{ code: number; reason: string }>;
}

export interface Refusal {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** Opens a WebSocket through the gateway; rejects with the Refusal when the answer is not 101. */
export function openWs(url: string, protocols: string[] = [], options: ClientOptions = {}): Promise<TestClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false, ...options });
    const queue: Message[] = [];
    const waiters: Array<(m: Message) => void> = [];
    let headers: IncomingHttpHeaders = {};
    const client: TestClient = {
      ws,
      get headers() {
        return headers;
      },
      pings: [],
      pongs: [],
      next(ms = 5000) {
        const m = queue.shift();
        if (m !== undefined) return Promise.resolve(m);
        return new Promise((res, rej) => {
          const t = setTimeout(() => rej(new Error('no message within ' + ms + ' ms')), ms);
          waiters.push((msg) => {
            clearTimeout(t);
            res(msg);
          });
        });
      },
      closed: new Promise((res) => ws.on('close', (code, reason) => res({ code, reason: reason.toString() }))),
    };
    ws.on('upgrade', (r) => (headers = r.headers));
    ws.on('message', (data: Buffer, isBinary) => {
      const m = { data, isBinary };
      const w = waiters.shift();
      if (w) w(m);
      else queue.push(m);
    });
    ws.on('ping', (d) => client.pings.push(d));
    ws.on('pong', (d) => client.pongs.push(d));
    ws.on('open', () => resolve(client));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { refusal: { status: res.statusCode ?? 0, headers: res.headers, body } })));
    });
    ws.on('error', (err) => reject(err));
  });
}

/** The answer to an upgrade that is expected to be refused. */
export async function refusedWs(url: string, protocols: string[] = [], options: ClientOptions = {}): Promise<Refusal> {
  try {
    const c = await openWs(url, protocols, options);
    c.ws.terminate();
  } catch (err) {
    const r = (err as { refusal?: Refusal }).refusal;
    if (r !== undefined) return r;
    throw err;
  }
  throw new Error('the upgrade was accepted');
}
