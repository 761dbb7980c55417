/**
 * What the gateway keeps of a client connection (its peer address and the forwarding lines its
 * requests got: src/worker/head.ts ClientConnection) is found by a slot the addon gives each open
 * connection (native/uws_head.cc connectionSlot) and dropped when uWS reports the connection open
 * or closed. Slots and uWS's socket memory are both reused as connections come and go, so the
 * facts of a closed connection must never reach a later one: through one worker, keep-alive
 * connections from different loopback addresses (Linux answers on all of 127/8) open, interleave
 * requests, close and are replaced, and every request's upstream must see its own connection's
 * address in X-Real-IP and X-Forwarded-For.
 */
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from '../helpers/gateway.js';

let up: Server;
let gw: Gateway;

beforeAll(async () => {
  up = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ realIp: req.headers['x-real-ip'], forwardedFor: req.headers['x-forwarded-for'] }));
  });
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  const port = (up.address() as { port: number }).port;
  gw = await startGateway({
    workers: 1,
    upstreams: { app: { targets: [{ url: `http://127.0.0.1:${port}` }] } },
    routes: [{ id: 'app', paths: ['/*'], upstream: 'app' }],
  });
});

afterAll(async () => {
  await gw?.stop();
  up?.close();
});

/** One kept-alive client connection from `from`; requests go one at a time. */
class Client {
  private readonly sock: Socket;
  private buf = Buffer.alloc(0);
  private waiting: ((body: string) => void) | null = null;
  readonly ready: Promise<void>;

  constructor(port: number, readonly from: string) {
    this.sock = connect({ port, host: '127.0.0.1', localAddress: from });
    this.ready = new Promise((resolve, reject) => {
      this.sock.once('connect', resolve);
      this.sock.once('error', reject);
    });
    this.sock.on('data', (c) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.take();
    });
  }

  private take(): void {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0 || this.waiting === null) return;
    const head = this.buf.subarray(0, end).toString('latin1');
    const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? -1);
    if (length < 0 || this.buf.length < end + 4 + length) return;
    const body = this.buf.subarray(end + 4, end + 4 + length).toString();
    this.buf = this.buf.subarray(end + 4 + length);
    const w = this.waiting;
    this.waiting = null;
    w(body);
  }

  get(path: string): Promise<{ realIp: string; forwardedFor: string }> {
    return new Promise((resolve) => {
      this.waiting = (body) => resolve(JSON.parse(body));
      this.sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.sock.once('close', () => resolve());
      this.sock.end();
    });
  }
}

describe('per-connection facts follow the connection', () => {
  it('connections from different addresses that open, interleave and close each see their own address upstream', async () => {
    let open: Client[] = [];
    let n = 0;
    const addr = () => `127.0.0.${2 + (n++ % 200)}`;
    const check = async (c: Client) => {
      const seen = await c.get('/who');
      expect(seen, c.from).toEqual({ realIp: c.from, forwardedFor: c.from });
    };
    for (let round = 0; round < 12; round++) {
      // Top up to six open connections, each from an address no open one has.
      while (open.length < 6) {
        const c = new Client(gw.port, addr());
        await c.ready;
        open.push(c);
      }
      // Two requests each, interleaved across the connections.
      for (let k = 0; k < 2; k++) for (const c of open) await check(c);
      // Close half (the oldest first): their slots and socket memory are given again next round.
      const closing = open.slice(0, 3);
      open = open.slice(3);
      await Promise.all(closing.map((c) => c.close()));
    }
    await Promise.all(open.map((c) => c.close()));
    expect(n).toBe(6 + 11 * 3);
  });

  it('hundreds open at once, closed in shuffled order while new ones come: still each its own', async () => {
    // Past the addon's first table size (128 entries at half load), with removals all over it.
    let seed = 7;
    const random = (k: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % k);
    let n = 0;
    const addr = () => `127.0.${1 + Math.floor(n / 250)}.${1 + (n++ % 250)}`;
    const open: Client[] = [];
    const check = async (c: Client) => expect(await c.get('/who'), c.from).toEqual({ realIp: c.from, forwardedFor: c.from });
    for (let i = 0; i < 300; i++) open.push(new Client(gw.port, addr()));
    await Promise.all(open.map((c) => c.ready));
    await Promise.all(open.map(check));
    for (let step = 0; step < 4; step++) {
      const closing: Client[] = [];
      for (let k = 0; k < 100; k++) closing.push(...open.splice(random(open.length), 1));
      await Promise.all(closing.map((c) => c.close()));
      const fresh = Array.from({ length: 100 }, () => new Client(gw.port, addr()));
      await Promise.all(fresh.map((c) => c.ready));
      open.push(...fresh);
      await Promise.all(open.map(check));
    }
    await Promise.all(open.map((c) => c.close()));
  });
});
