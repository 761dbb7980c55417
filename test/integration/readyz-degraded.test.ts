/**
 * GET /readyz "degraded": an upstream connection still held by a request the gateway ended more
 * than 5 s ago. Produced for real on the undici engine: the upstream is a listening socket whose
 * accept queue is full (a process that listens with the smallest backlog and never accepts), so
 * the gateway's connect to it never completes; the client gives up; the request has ended but
 * its connection is still busy connecting (connectMs is long).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { request } from 'undici';
import { freePort, sleep, startGateway, type Gateway } from '../helpers/gateway.js';

const TOKEN = 'admin-token-for-tests-0123456789';

/** A process that listens (backlog 1) and then blocks its event loop: nothing is ever accepted. */
const NEVER_ACCEPTS = `
const s = require('node:net').createServer();
s.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
  process.stdout.write(String(s.address().port) + '\\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
});`;

let listener: ChildProcess;
let listenerPort: number;
const fillers: Socket[] = [];
let gw: Gateway;
let adminPort: number;

/** Connects to the listener; true when the handshake completed (false: the queue is full). */
function fill(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(listenerPort, '127.0.0.1');
    fillers.push(s);
    s.on('error', () => resolve(false));
    const t = setTimeout(() => resolve(false), 500);
    s.on('connect', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

beforeAll(async () => {
  listener = spawn(process.execPath, ['-e', NEVER_ACCEPTS], { stdio: ['ignore', 'pipe', 'inherit'] });
  listenerPort = await new Promise<number>((resolve) => listener.stdout!.once('data', (d) => resolve(Number(String(d).trim()))));
  // Fill the accept queue: the kernel completes handshakes until it is full, then drops SYNs.
  let filled = false;
  for (let i = 0; i < 8 && !filled; i++) filled = !(await fill());
  expect(filled).toBe(true);
  adminPort = await freePort();
  gw = await startGateway(
    {
      workers: 1,
      admin: { host: '127.0.0.1', port: adminPort, token: 'env:TEST_ADMIN_TOKEN' },
      upstreams: { slow: { engine: 'undici', targets: [{ url: `http://127.0.0.1:${listenerPort}` }], timeouts: { connectMs: 60_000 } } },
      routes: [{ id: 'slow', paths: ['/slow'], upstream: 'slow', timeoutMs: 0 }],
    },
    { env: { TEST_ADMIN_TOKEN: TOKEN } },
  );
  await gw.waitForLog('"admin API listening"');
});

afterAll(async () => {
  await gw?.stop();
  for (const s of fillers) s.destroy();
  listener?.kill('SIGKILL');
});

async function readyz(): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await request(`http://127.0.0.1:${adminPort}/readyz`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: r.statusCode, body: (await r.body.json()) as Record<string, unknown> };
}

describe('GET /readyz degraded', () => {
  it('a connection held by an ended request for more than 5 s: 503 "degraded" with the count', async () => {
    expect(await readyz()).toMatchObject({ status: 200, body: { status: 'ready' } });
    // The client sends a request and gives up while the gateway is still connecting.
    const client = connect(gw.port, '127.0.0.1');
    await new Promise<void>((resolve) => client.on('connect', () => resolve()));
    client.write('GET /slow HTTP/1.1\r\nHost: gw\r\n\r\n');
    await sleep(300);
    client.destroy();
    let r = await readyz();
    for (let i = 0; i < 80 && r.status === 200; i++) {
      await sleep(250);
      r = await readyz();
    }
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({
      status: 'degraded',
      reason: 'upstream connections held by ended requests',
      stuckConnections: 1,
      workers: 1,
      version: 1,
      slots: [{ index: 0, state: 'ready' }],
    });
  });
});
