/**
 * Relayed WebSockets across the gateway's life: a SIGHUP reload keeps them (new upgrades get the
 * new config), a SIGTERM drain keeps them until its deadline, then closes both sides with 1001
 * and exits without waiting any longer for them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { sleep, startGateway, type Gateway } from '../helpers/gateway.js';
import { startWsUpstream, until, type WsUpstream } from '../helpers/ws-upstream.js';
import { openWs, refusedWs } from '../helpers/ws-client.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

async function setup(drainMs?: number): Promise<{ up: WsUpstream; gw: Gateway; config: (websocket: unknown) => Record<string, unknown> }> {
  const up = await startWsUpstream();
  cleanup.push(() => up.close());
  const config = (websocket: unknown) => ({
    upstreams: { app: { targets: [{ url: up.url }] } },
    routes: [{ id: 'ws', paths: ['/*'], upstream: 'app', websocket }],
  });
  const gw = await startGateway(config({}), drainMs !== undefined ? { env: { GATEWAY_DRAIN_MS: String(drainMs) } } : {});
  cleanup.push(() => gw.stop());
  return { up, gw, config };
}

describe('reload', () => {
  it('a relayed connection survives a SIGHUP reload; new upgrades use the new config', async () => {
    const { gw, config } = await setup();
    const url = `ws://127.0.0.1:${gw.port}/live`;
    const c = await openWs(url);
    c.ws.send('before');
    expect((await c.next()).data.toString()).toBe('before');
    writeFileSync(gw.configPath, JSON.stringify({ workers: 2, listen: { host: '127.0.0.1', port: gw.port }, ...config(false) }));
    gw.proc.kill('SIGHUP');
    await gw.waitForLog('"config reloaded"');
    c.ws.send('after');
    expect((await c.next()).data.toString()).toBe('after');
    const r = await refusedWs(url);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error.code).toBe('upgrade_refused');
    c.ws.send('still');
    expect((await c.next()).data.toString()).toBe('still');
    c.ws.close(1000);
    expect((await c.closed).code).toBe(1000);
  });
});

describe('drain', () => {
  it('SIGTERM: relayed connections keep working until the drain deadline, then both sides get 1001 and the gateway exits', async () => {
    const { up, gw } = await setup(1500);
    const clients = [await openWs(`ws://127.0.0.1:${gw.port}/a`), await openWs(`ws://127.0.0.1:${gw.port}/b`)];
    const closes = clients.map((c) => c.closed);
    let closed = false;
    void Promise.all(closes).then(() => (closed = true));
    gw.proc.kill('SIGTERM');
    await gw.waitForLog('"draining"');
    // Before the deadline: still relaying.
    await sleep(500);
    expect(closed).toBe(false);
    for (const c of clients) {
      c.ws.send('during drain');
      expect((await c.next()).data.toString()).toBe('during drain');
    }
    for (const closed of closes) expect(await closed).toEqual({ code: 1001, reason: 'gateway shutting down' });
    await until(() => up.closes.length === 2, 3000, 'upstream closes');
    expect(up.closes.map((c) => c.code)).toEqual([1001, 1001]);
    const exit = await gw.exited;
    expect(exit.code).toBe(0);
  });
});
