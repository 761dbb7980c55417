/**
 * The WebSocket relay end to end: real `ws` clients, the real gateway (primary + 2 workers), a
 * real `ws` upstream. Messages of every kind, subprotocols and extensions, forwarded headers,
 * pings both ways, close codes both ways, the route's plugins on the upgrade request, refusals,
 * limits, idle timeout, metrics and the access log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { freePort, gatewayCli, rawRequest, sleep, startGateway, type Gateway } from '../helpers/gateway.js';
import { startWsUpstream, until, type WsUpstream } from '../helpers/ws-upstream.js';
import { openWs, refusedWs } from '../helpers/ws-client.js';

const TOKEN = 'admin-token-for-websocket-tests';
let up: WsUpstream;
let gw: Gateway;
let adminPort: number;
let base: string;

beforeAll(async () => {
  up = await startWsUpstream();
  adminPort = await freePort();
  const dead = await freePort(); // nobody listens there
  gw = await startGateway(
    {
      admin: { host: '127.0.0.1', port: adminPort, token: 'env:TEST_ADMIN_TOKEN' },
      upstreams: { app: { targets: [{ url: up.url }] }, dead: { targets: [{ url: `http://127.0.0.1:${dead}` }] } },
      consumers: [{ id: 'alice', apiKeys: [gatewayCli('hash-key', 'k-alice')] }],
      plugins: { requestId: {} },
      routes: [
        { id: 'ws', paths: ['/ws', '/ws/*'], upstream: 'app', plugins: { requestHeaders: { set: { 'x-added': 'by-plugin' } } } },
        { id: 'ws-key', paths: ['/secure'], upstream: 'app', plugins: { apiKey: {} } },
        { id: 'ws-ip', paths: ['/denied'], upstream: 'app', plugins: { ipRestriction: { deny: ['127.0.0.1'] } } },
        { id: 'ws-rl', paths: ['/limited'], upstream: 'app', plugins: { rateLimit: { requestsPerSecond: 0.01, burst: 1 } } },
        { id: 'ws-off', paths: ['/nows'], upstream: 'app', websocket: false },
        { id: 'ws-small', paths: ['/small'], upstream: 'app', websocket: { maxMessageBytes: 1024 } },
        { id: 'ws-idle', paths: ['/idle'], upstream: 'app', websocket: { idleTimeoutMs: 500 } },
        { id: 'ws-refuse', paths: ['/refuse'], upstream: 'app' },
        { id: 'ws-down', paths: ['/down'], upstream: 'dead' },
        { id: 'stub', paths: ['/stub'], respond: { status: 200, body: 'stub' } },
      ],
    },
    { env: { TEST_ADMIN_TOKEN: TOKEN } },
  );
  base = `ws://127.0.0.1:${gw.port}`;
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

async function metrics(): Promise<string> {
  const res = await request(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return res.body.text();
}

/** A metric's value (its first line matching all label fragments), or null. */
function metricValue(text: string, name: string, ...labels: string[]): number | null {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    if (labels.every((l) => line.includes(l))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return null;
}

describe('messages', () => {
  it('relays text, binary, empty and large messages both ways, in order and with their type', async () => {
    const c = await openWs(`${base}/ws`);
    c.ws.send('hello');
    c.ws.send(Buffer.from([0, 1, 2, 255]));
    c.ws.send('');
    const big = Buffer.alloc(3 * 1024 * 1024, 0xab);
    c.ws.send(big);
    c.ws.send('héllo ✓ 𝄞'); // multi-byte UTF-8 passes as it is
    const got = [await c.next(), await c.next(), await c.next(), await c.next(), await c.next()];
    expect(got.map((m) => m.isBinary)).toEqual([false, true, false, true, false]);
    expect(got[0].data.toString()).toBe('hello');
    expect([...got[1].data]).toEqual([0, 1, 2, 255]);
    expect(got[2].data.length).toBe(0);
    expect(got[3].data.equals(big)).toBe(true);
    expect(got[4].data.toString()).toBe('héllo ✓ 𝄞');
    c.ws.close();
    await c.closed;
  });

  it('fragmented messages arrive whole, either way', async () => {
    const c = await openWs(`${base}/ws`);
    // Client to upstream: three fragments of one text message (the upstream echoes it whole).
    c.ws.send('frag-', { fin: false });
    c.ws.send('ment', { fin: false });
    c.ws.send('ed', { fin: true });
    const echoed = await c.next();
    expect(echoed).toMatchObject({ isBinary: false });
    expect(echoed.data.toString()).toBe('frag-mented');
    // Upstream to client.
    c.ws.send('cmd:' + JSON.stringify({ fragments: ['one ', 'two ', 'three'] }));
    expect((await c.next()).data.toString()).toBe('one two three');
    c.ws.close();
    await c.closed;
  });
});

describe('the handshake', () => {
  it('the client sees the subprotocol the upstream chose, and no extension: permessage-deflate is refused on both hops', async () => {
    const c = await openWs(`${base}/ws/sub`, ['chat.v1', 'chat.v2'], { perMessageDeflate: true });
    expect(c.ws.protocol).toBe('chat.v2'); // the upstream picks the last one offered
    expect(c.ws.extensions).toBe('');
    const seen = up.upgrades.at(-1)!;
    expect(seen.headers['sec-websocket-protocol']?.split(',').map((p) => p.trim())).toEqual(['chat.v1', 'chat.v2']);
    expect(seen.headers['sec-websocket-extensions']).toBeUndefined();
    c.ws.close();
    await c.closed;
  });

  it('no subprotocol offered: none accepted', async () => {
    const c = await openWs(`${base}/ws`);
    expect(c.ws.protocol).toBe('');
    expect(up.upgrades.at(-1)!.headers['sec-websocket-protocol']).toBeUndefined();
    c.ws.close();
    await c.closed;
  });

  it('the upstream gets the forwarded headers a proxied request gets, the path and query, and the plugins\' edits', async () => {
    const c = await openWs(`${base}/ws/room/7?token=abc`, [], { headers: { 'x-client': 'yes', origin: 'https://app.example' } });
    const seen = up.upgrades.at(-1)!;
    expect(seen.url).toBe('/ws/room/7?token=abc');
    const h = seen.headers;
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-forwarded-host']).toBe(`127.0.0.1:${gw.port}`);
    expect(h['x-real-ip']).toBe('127.0.0.1');
    expect(h.via).toBe('1.1 gateway');
    expect(h.host).toBe(`127.0.0.1:${up.port}`);
    expect(h['x-added']).toBe('by-plugin');
    expect(h['x-client']).toBe('yes');
    expect(h.origin).toBe('https://app.example');
    // The gateway's own handshake towards the upstream, not the client's.
    expect(h['sec-websocket-version']).toBe('13');
    expect(h.upgrade).toBe('websocket');
    // One request id, the same on both sides.
    expect(h['x-request-id']).toMatch(/.+/);
    expect(c.headers['x-request-id']).toBe(h['x-request-id']);
    expect(c.headers.via).toBe('1.1 gateway');
    c.ws.close();
    await c.closed;
  });

  it('an upstream that refuses the upgrade: its status, headers and body reach the client as they are', async () => {
    const r = await refusedWs(`${base}/refuse`);
    expect(r.status).toBe(403);
    expect(r.headers['x-upstream-reason']).toBe('no-entry');
    expect(r.headers['content-type']).toBe('application/json');
    expect(JSON.parse(r.body)).toEqual({ refused: true });
  });

  it('an upstream that cannot be reached: 502 upstream_unavailable JSON', async () => {
    const r = await refusedWs(`${base}/down`);
    expect(r.status).toBe(502);
    expect(JSON.parse(r.body).error.code).toBe('upstream_unavailable');
  });

  it('websocket: false answers an upgrade with 400 upgrade_refused; the route still proxies plain requests', async () => {
    const before = up.upgrades.length;
    const r = await refusedWs(`${base}/nows`);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error.code).toBe('upgrade_refused');
    expect(up.upgrades.length).toBe(before);
    const plain = await request(`http://127.0.0.1:${gw.port}/nows`);
    expect(plain.statusCode).toBe(200);
    expect(await plain.body.text()).toBe('plain');
  });

  it('a respond route refuses an upgrade with 400', async () => {
    const r = await refusedWs(`${base}/stub`);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error.code).toBe('upgrade_refused');
  });

  it('a WebSocket version other than 13 is 426 with Sec-WebSocket-Version: 13', async () => {
    const raw = await rawRequest(gw.port, `GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n`, 800);
    expect(raw).toMatch(/^HTTP\/1\.1 426 /);
    expect(raw.toLowerCase()).toContain('sec-websocket-version: 13');
    expect(raw).toContain('"unsupported_websocket_version"');
  });

  it('a GET with a WebSocket key but no Upgrade header is a plain request', async () => {
    const raw = await rawRequest(gw.port, `GET /ws HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nConnection: close\r\n\r\n`, 800);
    expect(raw).toMatch(/^HTTP\/1\.1 200 /);
    expect(raw).toContain('plain');
  });
});

describe('the route\'s plugins run on the upgrade request', () => {
  it('apiKey: no key is 401 JSON and never reaches the upstream; a valid key is relayed', async () => {
    const before = up.upgrades.length;
    const r = await refusedWs(`${base}/secure`);
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body).error.code).toBe('unauthorized');
    expect(up.upgrades.length).toBe(before);
    const c = await openWs(`${base}/secure`, [], { headers: { 'x-api-key': 'k-alice' } });
    c.ws.send('in');
    expect((await c.next()).data.toString()).toBe('in');
    // The credential itself is not forwarded (apiKey hides it), the upgrade is.
    expect(up.upgrades.length).toBe(before + 1);
    c.ws.close();
    await c.closed;
  });

  it('ipRestriction: 403', async () => {
    const before = up.upgrades.length;
    const r = await refusedWs(`${base}/denied`);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).error.code).toBe('forbidden');
    expect(up.upgrades.length).toBe(before);
  });

  it('rateLimit: the second upgrade is 429 with Retry-After', async () => {
    const c = await openWs(`${base}/limited`);
    const before = up.upgrades.length;
    const r = await refusedWs(`${base}/limited`);
    expect(r.status).toBe(429);
    expect(r.headers['retry-after']).toBeDefined();
    expect(up.upgrades.length).toBe(before);
    c.ws.close();
    await c.closed;
  });
});

describe('pings', () => {
  it('the client\'s ping is answered (by the gateway) and reaches the upstream too', async () => {
    const c = await openWs(`${base}/ws`);
    const pingsBefore = up.pings.length;
    c.ws.ping('are-you-there');
    await until(() => c.pongs.length === 1 && up.pings.length === pingsBefore + 1, 3000, 'pong and relayed ping');
    expect(c.pongs[0].toString()).toBe('are-you-there');
    expect(up.pings.at(-1)!.toString()).toBe('are-you-there');
    c.ws.close();
    await c.closed;
  });

  it('the upstream\'s ping reaches the client and the client\'s pong reaches the upstream', async () => {
    const c = await openWs(`${base}/ws`);
    const pongsBefore = up.pongs.length;
    c.ws.send('cmd:' + JSON.stringify({ ping: 'upstream-probe' }));
    await until(() => c.pings.length === 1 && up.pongs.length === pongsBefore + 1, 3000, 'relayed ping and pong');
    expect(c.pings[0].toString()).toBe('upstream-probe');
    expect(up.pongs.at(-1)!.toString()).toBe('upstream-probe');
    c.ws.close();
    await c.closed;
  });
});

describe('closing', () => {
  it('the client\'s close code and reason reach the upstream', async () => {
    const c = await openWs(`${base}/ws`);
    const before = up.closes.length;
    c.ws.close(4001, 'client says bye');
    expect(await c.closed).toEqual({ code: 4001, reason: 'client says bye' });
    await until(() => up.closes.length === before + 1, 3000, 'upstream close');
    expect(up.closes.at(-1)).toEqual({ code: 4001, reason: 'client says bye' });
  });

  it('the upstream\'s close code and reason reach the client', async () => {
    const c = await openWs(`${base}/ws`);
    c.ws.send('cmd:' + JSON.stringify({ close: [4002, 'server says bye'] }));
    expect(await c.closed).toEqual({ code: 4002, reason: 'server says bye' });
  });

  it('a close without a code stays without one (1005) both ways', async () => {
    const c = await openWs(`${base}/ws`);
    const before = up.closes.length;
    c.ws.close();
    expect((await c.closed).code).toBe(1005);
    await until(() => up.closes.length === before + 1, 3000, 'upstream close');
    expect(up.closes.at(-1)!.code).toBe(1005);
  });

  it('a client that vanishes (no close frame): the upstream gets 1001', async () => {
    const c = await openWs(`${base}/ws`);
    const before = up.closes.length;
    c.ws.terminate();
    await until(() => up.closes.length === before + 1, 3000, 'upstream close');
    expect(up.closes.at(-1)!.code).toBe(1001);
  });

  it('an upstream that vanishes: the client gets 1011', async () => {
    const c = await openWs(`${base}/ws`);
    c.ws.send('cmd:' + JSON.stringify({ terminate: true }));
    expect((await c.closed).code).toBe(1011);
  });
});

describe('limits', () => {
  it('maxMessageBytes: a larger client message closes both sides with 1009; one at the limit passes', async () => {
    const c = await openWs(`${base}/small`);
    c.ws.send(Buffer.alloc(1024));
    expect((await c.next()).data.length).toBe(1024);
    const before = up.closes.length;
    const received = up.receivedBytes;
    c.ws.send(Buffer.alloc(1025));
    expect((await c.closed).code).toBe(1009);
    await until(() => up.closes.length === before + 1, 3000, 'upstream close');
    expect(up.closes.at(-1)!.code).toBe(1009);
    expect(up.receivedBytes).toBe(received); // the message never reached the upstream
  });

  it('maxMessageBytes: a larger upstream message closes both sides with 1009', async () => {
    const c = await openWs(`${base}/small`);
    const before = up.closes.length;
    c.ws.send('cmd:' + JSON.stringify({ send: 1025, binary: true }));
    expect((await c.closed).code).toBe(1009);
    await until(() => up.closes.length === before + 1, 3000, 'upstream close');
    expect(up.closes.at(-1)!.code).toBe(1009);
  });

  it('idleTimeoutMs: traffic keeps a connection open, silence closes both sides with 1001', async () => {
    const c = await openWs(`${base}/idle`);
    let closed = false;
    void c.closed.then(() => (closed = true));
    // Three times the timeout with a message every 100 ms: still open.
    for (let i = 0; i < 15; i++) {
      c.ws.send('tick');
      await c.next();
      await sleep(100);
    }
    expect(closed).toBe(false);
    const before = up.closes.length;
    expect(await c.closed).toEqual({ code: 1001, reason: 'idle timeout' });
    await until(() => up.closes.length === before + 1, 3000, 'upstream close');
    expect(up.closes.at(-1)!.code).toBe(1001);
  });
});

describe('observability', () => {
  it('metrics: open relays per route (gauge), messages and bytes by direction', async () => {
    const c = await openWs(`${base}/ws/metrics`);
    for (let i = 0; i < 5; i++) {
      c.ws.send('12345');
      await c.next();
    }
    // Flushed to the primary once a second.
    let text = '';
    for (let i = 0; i < 40; i++) {
      text = await metrics();
      if (metricValue(text, 'gateway_websocket_connections', 'route="ws"') === 1 && (metricValue(text, 'gateway_websocket_messages_total', 'route="ws"', 'direction="upstream"') ?? 0) >= 5) break;
      await sleep(100);
    }
    expect(metricValue(text, 'gateway_websocket_connections', 'route="ws"')).toBe(1);
    expect(metricValue(text, 'gateway_websocket_messages_total', 'route="ws"', 'direction="upstream"')).toBeGreaterThanOrEqual(5);
    expect(metricValue(text, 'gateway_websocket_messages_total', 'route="ws"', 'direction="downstream"')).toBeGreaterThanOrEqual(5);
    expect(metricValue(text, 'gateway_websocket_bytes_total', 'route="ws"', 'direction="upstream"')).toBeGreaterThanOrEqual(25);
    expect(text).toContain('# TYPE gateway_websocket_connections gauge');
    c.ws.close();
    await c.closed;
    for (let i = 0; i < 40; i++) {
      text = await metrics();
      if (metricValue(text, 'gateway_websocket_connections', 'route="ws"') === 0) break;
      await sleep(100);
    }
    expect(metricValue(text, 'gateway_websocket_connections', 'route="ws"')).toBe(0);
    expect(metricValue(text, 'gateway_requests_total', 'route="ws"', 'status="101"')).toBeGreaterThanOrEqual(1);
  });

  it('the access log has one line per relayed connection, at its end: status 101, bytes each way, duration', async () => {
    const c = await openWs(`${base}/ws/logged`);
    c.ws.send('abc');
    await c.next();
    c.ws.send('defgh');
    await c.next();
    await sleep(300);
    expect(gw.stdout).not.toContain('"/ws/logged"'); // not before it ends
    c.ws.close(1000);
    await c.closed;
    await until(() => gw.stdout.includes('"/ws/logged"'), 3000, 'access log line');
    const line = JSON.parse(gw.stdout.split('\n').find((l) => l.includes('"/ws/logged"'))!);
    expect(line).toMatchObject({ route: 'ws', status: 101, upstreamStatus: 101, bytesIn: 8, bytesOut: 8 });
    expect(line.durationMs).toBeGreaterThanOrEqual(300);
  });
});
