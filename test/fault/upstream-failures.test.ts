/**
 * Upstream faults: refused (502), slower than the timeout (504), reset mid-body (the client
 * sees the truncation), a client that goes away (the upstream request is cancelled).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { connect } from 'node:net';
import { freePort, rawRequest, sleep, startGateway, startUpstream, type Gateway, type Upstream } from '../helpers/gateway.js';

let slow: Upstream;
let resetting: Upstream;
let gw: Gateway;
let slowAborted = 0;

beforeAll(async () => {
  const deadPort = await freePort(); // nothing listens there
  slow = await startUpstream((req, res) => {
    const delay = Number(new URL(req.url!, 'http://x').searchParams.get('ms') ?? '3000');
    const t = setTimeout(() => res.end('late'), delay);
    res.on('close', () => {
      if (!res.writableEnded) {
        slowAborted++;
        clearTimeout(t);
      }
    });
  });
  resetting = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-length': 100000 });
    res.write('x'.repeat(1000));
    setTimeout(() => res.socket?.destroy(), 50);
  });
  gw = await startGateway({
    upstreams: {
      dead: { targets: [{ url: `http://127.0.0.1:${deadPort}` }] },
      slow: { targets: [{ url: slow.url }], timeouts: { responseHeadersMs: 5000 } },
      resetting: { targets: [{ url: resetting.url }] },
    },
    routes: [
      { id: 'dead', paths: ['/dead'], upstream: 'dead' },
      { id: 'slow', paths: ['/slow'], upstream: 'slow', timeoutMs: 300 },
      { id: 'slow-ok', paths: ['/slow-ok'], upstream: 'slow' },
      { id: 'reset', paths: ['/reset'], upstream: 'resetting' },
    ],
  });
});

afterAll(async () => {
  await gw?.stop();
  await slow?.close();
  await resetting?.close();
});

async function get(path: string) {
  const res = await request(gw.url + path);
  return { status: res.statusCode, headers: res.headers, json: (await res.body.json()) as any };
}

describe('upstream failures', () => {
  it('refused connection is 502 JSON', async () => {
    const r = await get('/dead');
    expect(r.status).toBe(502);
    expect(r.json.error).toMatchObject({ status: 502, code: 'upstream_unavailable' });
  });

  it('an upstream slower than the route timeout is 504 JSON', async () => {
    const r = await get('/slow?ms=3000');
    expect(r.status).toBe(504);
    expect(r.json.error).toMatchObject({ status: 504, code: 'upstream_timeout' });
  });

  it('a reset mid-body cuts the client connection (no silent truncation)', async () => {
    // The client must see the connection end (not sit on a keep-alive connection waiting for the
    // rest until its own timeout) with fewer bytes than Content-Length announced.
    const sock = connect(gw.port, '127.0.0.1');
    let raw = '';
    const closedByServer = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 5000);
      sock.on('data', (c) => (raw += c.toString('latin1')));
      sock.on('close', () => {
        clearTimeout(t);
        resolve(true);
      });
      sock.on('error', () => {});
      sock.write('GET /reset HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    sock.destroy();
    expect(raw).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(raw.toLowerCase()).toContain('content-length: 100000');
    const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
    expect(body.length).toBeLessThan(100000);
    expect(closedByServer).toBe(true);
  });

  it('a client that goes away cancels the upstream request', async () => {
    const before = slowAborted;
    await rawRequest(gw.port, 'GET /slow-ok?ms=2000 HTTP/1.1\r\nHost: x\r\n\r\n', 200);
    for (let i = 0; i < 30 && slowAborted === before; i++) await sleep(100);
    expect(slowAborted).toBe(before + 1);
  });

  it('keeps serving after all of that', async () => {
    const r = await request(gw.url + '/slow-ok?ms=1');
    expect(r.statusCode).toBe(200);
    expect(await r.body.text()).toBe('late');
  });
});
