/**
 * The addon's connection slots (native/uws_head.cc ConnectionSlots), on a real uWebSockets.js
 * server: every request of a connection gets the same slot, open connections never share one,
 * uWS's filter takes a slot back when its connection closes and a later connection gets it again.
 * Hundreds of connections at once push the table past its first size, and closing them in a
 * shuffled order makes the removals shift entries around inside it.
 */
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { loadUws } from '../../src/uws.js';
import { connectionSlot, releaseConnectionSlot } from '../../src/native/uws-head.js';

type ListenSocket = import('uWebSockets.js').us_listen_socket;

describe('connection slots', () => {
  it('one slot per open connection, stable across its requests, given again after it closes', async () => {
    const uws = loadUws();
    const app = uws.App();
    const slotOf = new Map<number, number>(); // client port -> slot
    const released: number[] = [];
    app.any('/*', (res, req) => {
      const port = Number(req.getHeader('x-port'));
      const slot = connectionSlot(res);
      const known = slotOf.get(port);
      res.end(known === undefined || known === slot ? String(slot) : `changed ${known} -> ${slot}`);
      slotOf.set(port, slot);
    });
    app.filter((res, count) => {
      const slot = releaseConnectionSlot(res);
      if ((count as number) < 0 && slot >= 0) released.push(slot);
    });
    const token = await new Promise<ListenSocket>((ok, fail) => app.listen('127.0.0.1', 0, (t) => (t ? ok(t) : fail(new Error('listen failed')))));
    const port = uws.us_socket_local_port(token);
    try {
      const open = new Map<Socket, number>(); // socket -> its slot
      const ask = (s: Socket) =>
        new Promise<number>((resolve, reject) => {
          s.once('data', (c) => {
            const body = c.toString('latin1').split('\r\n\r\n')[1];
            if (!/^\d+$/.test(body)) reject(new Error(body));
            else resolve(Number(body));
          });
          s.write(`GET / HTTP/1.1\r\nHost: x\r\nx-port: ${s.localPort}\r\n\r\n`);
        });
      const openOne = async () => {
        const s = connect(port, '127.0.0.1');
        await new Promise<void>((r) => s.once('connect', () => r()));
        open.set(s, await ask(s));
      };
      const checkAll = async () => {
        for (const [s, slot] of open) expect(await ask(s)).toBe(slot);
        expect(new Set(open.values()).size).toBe(open.size); // no two open connections share a slot
      };
      let seed = 11;
      const random = (k: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % k;
      for (let i = 0; i < 400; i++) await openOne();
      await checkAll();
      for (let round = 0; round < 3; round++) {
        const sockets = [...open.keys()];
        const closing = Array.from({ length: 150 }, () => sockets.splice(random(sockets.length), 1)[0]);
        const freed = closing.map((s) => open.get(s)!);
        released.length = 0;
        await Promise.all(closing.map((s) => new Promise<void>((r) => (s.once('close', () => r()), s.end()))));
        await new Promise((r) => setTimeout(r, 50));
        for (const s of closing) open.delete(s);
        expect([...released].sort((a, b) => a - b)).toEqual([...freed].sort((a, b) => a - b));
        for (let i = 0; i < 150; i++) await openOne();
        // The new connections took the freed slots: the numbers stay as low as the open count.
        expect(Math.max(...open.values())).toBeLessThan(400);
        await checkAll();
      }
      for (const s of open.keys()) s.destroy();
    } finally {
      uws.us_listen_socket_close(token);
    }
  }, 60_000);
});
