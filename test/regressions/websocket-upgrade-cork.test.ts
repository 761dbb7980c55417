/**
 * uWebSockets.js 20.57.0 closes some WebSocket connections right after their 101 when the upgrade
 * is made inside `res.cork()`, as an asynchronous upgrade is usually written. uWS's
 * HttpResponse::cork tells an upgrade made in its callback by the socket's address changing; but
 * adopting the socket into the WebSocket context reallocates it in place (the WebSocket's data is
 * smaller than the response's), so cork() goes on with the new WebSocket as the HTTP response it
 * was, and reads the response's state from bytes past the WebSocket's data, which the allocator
 * has meanwhile taken back; where they hold the connection-close bit, cork() shuts the socket
 * down (fixed upstream in uNetworking/uWebSockets#1929, July 2026, not in this build). The client
 * sees its 101, then a FIN without a close frame (1006); the upstream sees the gateway go away
 * (1001). Seen here: about 1 upgrade in 800, more often under load, some worker processes far
 * more than others (the allocator's bytes). The gateway upgrades outside cork()
 * (src/worker/actions/websocket.ts).
 *
 * The gateway runs with glibc's MALLOC_PERTURB_=16: freed memory is filled with 0x10 bytes, the
 * connection-close bit without the response-pending bit, so the bug shows on ~2 % of upgrades
 * (20 of 1,000 here with the upgrade inside cork()) instead of depending on luck.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from '../helpers/gateway.js';
import { startWsUpstream, type WsUpstream } from '../helpers/ws-upstream.js';
import { openWs } from '../helpers/ws-client.js';

let up: WsUpstream;
let gw: Gateway;

beforeAll(async () => {
  up = await startWsUpstream();
  gw = await startGateway(
    {
      upstreams: { app: { targets: [{ url: up.url }] } },
      plugins: { requestId: {} },
      routes: [{ id: 'ws', paths: ['/ws'], upstream: 'app' }],
    },
    { env: { MALLOC_PERTURB_: '16' } },
  );
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

/** One relayed connection from open to close: what went wrong, or '' when all went right. */
async function oneRelay(i: number): Promise<string> {
  const c = await openWs(`ws://127.0.0.1:${gw.port}/ws`);
  c.ws.send(`m${i}`);
  const echo = await Promise.race([c.next(5000).catch(() => null), c.closed.then(() => null)]);
  if (echo === null) {
    c.ws.terminate();
    return `#${i}: no echo (closed ${(await c.closed).code})`;
  }
  if (echo.data.toString() !== `m${i}`) return `#${i}: echo ${echo.data.toString()}`;
  const code = 4000 + (i % 900);
  c.ws.close(code, 'bye');
  const closed = await c.closed;
  return closed.code === code ? '' : `#${i}: closed ${closed.code}`;
}

describe('asynchronous upgrades (uWS cork() after an upgrade)', () => {
  it('1,000 upgrades, 20 at a time: every relay carries its message and ends with the client\'s own close', async () => {
    const problems: string[] = [];
    for (let batch = 0; batch < 50; batch++) {
      const results = await Promise.all(Array.from({ length: 20 }, (_, k) => oneRelay(batch * 20 + k)));
      problems.push(...results.filter((r) => r !== ''));
    }
    expect(problems).toEqual([]);
    // Upgrading outside cork() costs no warning: uWS warns of uncorked writes only for the JS calls.
    expect(gw.stderr).not.toContain('corked callback');
  });
});
