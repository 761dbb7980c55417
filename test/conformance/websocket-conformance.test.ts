/**
 * WebSocket conformance through the gateway: the cases of test/conformance/ws-cases.ts (Autobahn
 * groups 1-7 and 9) written byte for byte by a raw TCP client to the real gateway, which relays
 * them to a conformant echo server (`ws`). What the gateway does differently from a strict
 * server is pinned in DEVIATIONS and documented in docs/websocket.md (Conformance).
 * WS_CONFORMANCE_REPORT=1 prints the per-group table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from '../helpers/gateway.js';
import { startWsUpstream, until, type WsUpstream } from '../helpers/ws-upstream.js';
import { OP, closePayload, frame, rawConnect, type ServerFrame } from './ws-wire.js';
import { wsCases, type WsCase } from './ws-cases.js';

/**
 * Where uWS 20.57.0 (the gateway's client side) is not what the case asks for, and what it does
 * instead: the case then asserts that behaviour, so a uWS upgrade that changes it is noticed.
 */
const DEVIATIONS: Record<string, string> = {
  // A close frame with a 1-byte payload: uWS reads it as "no status" and answers with an empty
  // close frame; the upstream gets no status either (RFC 6455 §5.5.1: a protocol error, 1002).
  '7.3.2': 'failed: close 1005; upstream 1005',
  // A close reason that is not UTF-8, or a code no endpoint may send: uWS fails the connection
  // with an empty close frame instead of 1007/1002; the relay closes the upstream with 1002.
  '7.5.1': 'failed: close 1005; upstream 1002',
  ...Object.fromEntries([0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535].map((code) => [`7.9.${code}`, 'failed: close 1005; upstream 1002'])),
  // Valid codes uWS 20.57.0 does not accept from a client: 1012-1014 (IANA-registered) and the
  // 3000-3999 range (registered for libraries and frameworks). It treats them as the invalid ones.
  ...Object.fromEntries([1012, 1013, 1014, 3000, 3999].map((code) => [`7.7.${code}`, 'frames [], close 1005'])),
};

let up: WsUpstream;
let socketsBefore = 0;
/** The close code each upstream socket got (by socket). */
const upstreamCodes = new WeakMap<object, number>();
function closeOf(s: object): number | undefined {
  return upstreamCodes.get(s);
}
let gw: Gateway;
const results: Array<{ c: WsCase; outcome: string; ok: boolean }> = [];

beforeAll(async () => {
  up = await startWsUpstream({ maxPayload: 64 * 1024 * 1024 });
  up.server.on('upgrade', () => setImmediate(() => {
    for (const s of up.sockets) if (!upstreamCodes.has(s)) s.once('close', (code: number) => upstreamCodes.set(s, code));
  }));
  gw = await startGateway({
    workers: 1,
    accessLog: false,
    upstreams: { echo: { targets: [{ url: up.url }] } },
    routes: [{ id: 'echo', paths: ['/*'], upstream: 'echo' }],
  });
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
  if (process.env.WS_CONFORMANCE_REPORT) {
    const groups = new Map<number, { pass: number; total: number; notes: string[] }>();
    for (const r of results) {
      const g = groups.get(r.c.group) ?? { pass: 0, total: 0, notes: [] };
      g.total++;
      if (r.ok) g.pass++;
      if (DEVIATIONS[r.c.id] !== undefined || !r.ok) g.notes.push(`${r.c.id} ${r.outcome}`);
      groups.set(r.c.group, g);
    }
    for (const [g, s] of [...groups].sort((a, b) => a[0] - b[0])) console.log(`group ${g}: ${s.pass}/${s.total} as specified; ${s.notes.join('; ')}`);
    for (const r of results) console.log(`${r.c.id}\t${r.ok ? 'ok' : 'DIFF'}\t${r.outcome}\t${r.c.title}`);
  }
});

function describeFrames(frames: ServerFrame[]): string {
  return frames.map((f) => `${f.opcode.toString(16)}${f.fin ? '' : '-'}:${f.payload.length}`).join(',');
}

function closeCode(f: ServerFrame | undefined): number | null {
  if (f === undefined) return null;
  return f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
}

async function runCase(c: WsCase): Promise<{ outcome: string; ok: boolean }> {
  const conn = await rawConnect(gw.port, '/conformance');
  await until(() => up.sockets.length > socketsBefore, 3000, 'the upstream connection');
  const upstreamSocket = up.sockets[socketsBefore++];
  const sentClose = c.closes === true;
  for (const part of c.send) {
    if (typeof part === 'number') await new Promise((r) => setTimeout(r, part));
    else conn.send(part);
  }
  const timeout = c.timeoutMs ?? 3000;
  if (c.expect.kind === 'echo') {
    const want = c.expect.frames;
    await conn.waitFor(() => conn.frames.filter((f) => f.opcode !== OP.close).length >= want.length || conn.frames.some((f) => f.opcode === OP.close), timeout);
    if (!sentClose) conn.send(frame(OP.close, closePayload(1000)));
    await conn.waitFor(() => conn.frames.some((f) => f.opcode === OP.close), timeout);
    await conn.waitFor(() => false, conn.isEnded() ? 0 : 1000); // the server ends TCP after the close
    conn.socket.destroy();
    const data = conn.frames.filter((f) => f.opcode !== OP.close);
    const close = conn.frames.find((f) => f.opcode === OP.close);
    const same = data.length === want.length && data.every((f, i) => f.fin && f.opcode === want[i].opcode && f.payload.equals(want[i].payload));
    const outcome = `frames [${describeFrames(data)}], close ${closeCode(close)}`;
    return { outcome, ok: same && closeCode(close) === (c.expect.closeWith ?? 1000) };
  }
  await conn.waitFor(() => conn.isEnded(), timeout);
  const ended = conn.isEnded();
  conn.socket.destroy();
  const close = conn.frames.find((f) => f.opcode === OP.close);
  const code = closeCode(close);
  // The relay closes the upstream too, with the code the client's failure calls for.
  await until(() => upstreamSocket.readyState === upstreamSocket.CLOSED, 3000, 'the upstream close').catch(() => {});
  const upstream = `upstream ${upstreamSocket.readyState === upstreamSocket.CLOSED ? (closeOf(upstreamSocket) ?? '?') : 'open'}`;
  const outcome = !ended ? `still open after ${timeout} ms (frames [${describeFrames(conn.frames)}])` : (close === undefined ? 'failed: TCP closed without a close frame' : `failed: close ${code}`) + `; ${upstream}`;
  // RFC 6455 §7.1.7: failing is closing; a close frame, when sent, carries the case's code.
  return { outcome, ok: ended && (close === undefined || c.expect.codes.includes(code!)) && upstream === `upstream ${c.expect.codes[0]}` };
}

const cases = wsCases();
for (const group of [1, 2, 3, 4, 5, 6, 7, 9]) {
  describe(`group ${group}`, () => {
    for (const c of cases.filter((x) => x.group === group)) {
      it(`${c.id} ${c.title}`, async () => {
        const r = await runCase(c);
        results.push({ c, ...r });
        const deviation = DEVIATIONS[c.id];
        if (deviation !== undefined) expect(r.outcome).toBe(deviation);
        else expect(r, r.outcome).toMatchObject({ ok: true });
      }, (c.timeoutMs ?? 3000) * 2 + 5000);
    }
  });
}
