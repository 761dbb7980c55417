/**
 * WebSocket echo load (neither wrk nor autocannon speaks WebSocket): `connections` clients each
 * keep one binary message of `bodyBytes` in flight and time its echo.
 * `node dist/bench/loadgen-ws.js '<LoadSpec JSON>'` prints `BENCH-RESULT {...}`.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { encode, newHistogram } from './histogram.js';
import type { ChildResult, LoadSpec } from './loadgen.js';

const spec = JSON.parse(process.argv[2]) as LoadSpec;
const hist = newHistogram();
let messages = 0;
let errors = 0;
let handshakeFailures = 0;
let stopping = false;
const sockets: Socket[] = [];

// One masked binary frame, reused: FIN + binary opcode, MASK bit + length, mask key, payload.
function clientFrame(size: number): Buffer {
  const mask = randomBytes(4);
  const payload = randomBytes(size);
  const head = size < 126 ? Buffer.from([0x82, 0x80 | size]) : Buffer.from([0x82, 0x80 | 126, size >> 8, size & 0xff]);
  const masked = Buffer.alloc(size);
  for (let i = 0; i < size; i++) masked[i] = payload[i] ^ mask[i & 3];
  return Buffer.concat([head, mask, masked]);
}

const frame = clientFrame(Math.max(1, Math.min(spec.bodyBytes, 65535)));

function client(): void {
  const sock = connect({ host: '127.0.0.1', port: spec.port, noDelay: true });
  sockets.push(sock);
  let upgraded = false;
  let buf: Buffer = Buffer.alloc(0);
  let sentAt = 0n;
  const send = () => {
    if (stopping) return;
    sentAt = process.hrtime.bigint();
    sock.write(frame);
  };
  sock.on('connect', () => {
    sock.write(
      `GET ${spec.path} HTTP/1.1\r\nHost: 127.0.0.1:${spec.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
        Object.entries(spec.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') +
        '\r\n',
    );
  });
  sock.on('data', (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    if (!upgraded) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!/^HTTP\/1\.1 101/.test(buf.subarray(0, end).toString('latin1'))) {
        handshakeFailures++;
        sock.destroy();
        return;
      }
      upgraded = true;
      buf = buf.subarray(end + 4);
      send();
    }
    for (;;) {
      if (buf.length < 2) return;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + len) return;
      const opcode = buf[0] & 0x0f;
      buf = buf.subarray(off + len);
      if (opcode === 0x2 || opcode === 0x1) {
        messages++;
        hist.recordValue(Math.max(1, Number((process.hrtime.bigint() - sentAt) / 1000n)));
        send();
      } else if (opcode === 0x8) {
        if (!stopping) errors++;
        sock.destroy();
        return;
      }
    }
  });
  sock.on('error', () => {
    if (!stopping) errors++;
  });
}

const started = process.hrtime.bigint();
for (let i = 0; i < spec.connections; i++) client();
setTimeout(() => {
  stopping = true;
  const durationS = Number(process.hrtime.bigint() - started) / 1e9;
  for (const s of sockets) s.destroy();
  const out: ChildResult = {
    requests: messages,
    durationS,
    errors: errors + handshakeFailures,
    errorDetail: { socket: errors, handshake: handshakeFailures },
    non2xx: handshakeFailures,
    hist: encode(hist),
  };
  process.stdout.write(`BENCH-RESULT ${JSON.stringify(out)}\n`);
  process.exit(0);
}, spec.durationS * 1000);
