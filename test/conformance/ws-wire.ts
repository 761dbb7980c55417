/**
 * A raw WebSocket client over TCP for the conformance cases: it writes frames byte for byte
 * (malformed ones included) and reads the server's frames as they come.
 */
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';

export const OP = { cont: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

export interface FrameOptions {
  fin?: boolean;
  /** RSV1..3 as the 3 bits 0b100 / 0b010 / 0b001. */
  rsv?: number;
  mask?: boolean;
}

/** One client frame (masked unless told otherwise). */
export function frame(opcode: number, payload: Buffer | string = Buffer.alloc(0), o: FrameOptions = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const fin = o.fin ?? true;
  const mask = o.mask ?? true;
  const b0 = (fin ? 0x80 : 0) | ((o.rsv ?? 0) << 4) | opcode;
  const n = data.length;
  const len = n < 126 ? Buffer.from([n]) : n < 65536 ? Buffer.from([126, n >> 8, n & 0xff]) : Buffer.concat([Buffer.from([127]), u64(n)]);
  len[0] |= mask ? 0x80 : 0;
  if (!mask) return Buffer.concat([Buffer.from([b0]), len, data]);
  const key = randomBytes(4);
  const masked = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) masked[i] = data[i] ^ key[i & 3];
  return Buffer.concat([Buffer.from([b0]), len, key, masked]);
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** A close frame's payload: code (2 bytes) and reason. */
export function closePayload(code: number, reason: Buffer | string = ''): Buffer {
  const r = typeof reason === 'string' ? Buffer.from(reason) : reason;
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

export interface ServerFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  payload: Buffer;
}

export interface RawConnection {
  socket: Socket;
  /** The handshake's answer head. */
  head: string;
  send(...parts: Buffer[]): void;
  /** Every frame received so far. */
  frames: ServerFrame[];
  /** Resolves when the TCP connection is closed (by either side). */
  ended: Promise<void>;
  isEnded(): boolean;
  /** Waits until `cond` holds or the connection ends or `ms` pass. */
  waitFor(cond: () => boolean, ms?: number): Promise<void>;
}

export function rawConnect(port: number, path = '/'): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let buf = Buffer.alloc(0);
    let head: string | null = null;
    let ended = false;
    let wake: (() => void) | null = null;
    const conn: RawConnection = {
      socket,
      head: '',
      send: (...parts) => {
        if (!socket.destroyed) socket.write(Buffer.concat(parts));
      },
      frames: [],
      ended: new Promise((r) => socket.on('close', () => {
        ended = true;
        wake?.();
        r();
      })),
      isEnded: () => ended,
      waitFor: async (cond, ms = 3000) => {
        const until = Date.now() + ms;
        while (!cond() && !ended && Date.now() < until) {
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, 20);
          });
          wake = null;
        }
      },
    };
    socket.on('error', () => {});
    socket.on('connect', () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (head === null) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = buf.subarray(0, end).toString('latin1');
        buf = buf.subarray(end + 4);
        conn.head = head;
        if (!head.startsWith('HTTP/1.1 101')) {
          socket.destroy();
          return reject(new Error('no 101: ' + head));
        }
        resolve(conn);
      }
      for (;;) {
        if (buf.length < 2) break;
        let len = buf[1] & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) break;
          len = buf.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) break;
          len = Number(buf.readBigUInt64BE(2));
          off = 10;
        }
        if (buf.length < off + len) break;
        conn.frames.push({ fin: (buf[0] & 0x80) !== 0, rsv: (buf[0] >> 4) & 7, opcode: buf[0] & 0x0f, payload: Buffer.from(buf.subarray(off, off + len)) });
        buf = buf.subarray(off + len);
      }
      wake?.();
    });
  });
}
