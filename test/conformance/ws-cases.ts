/**
 * WebSocket conformance cases in the spirit of the Autobahn TestSuite's fuzzing client, groups
 * 1-7 and 9 (Autobahn's wstest itself needs Python 2 and cannot be installed here). Each case
 * writes frames byte for byte through the gateway to a conformant echo server (`ws`) and says
 * what a conformant server must do:
 *   - `echo`: answer these frames (data messages echoed, pongs), then close cleanly when the
 *     client closes with 1000;
 *   - `fail`: fail the connection (RFC 6455 §7.1.7): close it, with a close frame whose code is
 *     one of `codes` or without any (the TCP connection just ends).
 */
import { OP, closePayload, frame } from './ws-wire.js';

export interface Expected {
  opcode: number;
  payload: Buffer;
}

export interface WsCase {
  id: string;
  group: number;
  title: string;
  /** Written in order; a number is a pause of that many ms. */
  send: Array<Buffer | number>;
  /** echo: then the server's close frame carries `closeWith` (default 1000, the runner's own close). */
  expect: { kind: 'echo'; frames: Expected[]; closeWith?: number } | { kind: 'fail'; codes: number[] };
  /** Cases with long sends. */
  timeoutMs?: number;
  /** The case sends a close itself (else the runner closes with 1000 after the echo). */
  closes?: boolean;
}

const text = (s: string | Buffer): Expected => ({ opcode: OP.text, payload: Buffer.from(s) });
const bin = (b: Buffer): Expected => ({ opcode: OP.binary, payload: b });
const pong = (b: Buffer | string = ''): Expected => ({ opcode: OP.pong, payload: Buffer.from(b) });
const fail = (...codes: number[]) => ({ kind: 'fail' as const, codes });
const echo = (...frames: Expected[]) => ({ kind: 'echo' as const, frames });

/** Splits `b` into chunks of `n` bytes (a frame written in pieces). */
function chunks(b: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += n) out.push(b.subarray(i, i + n));
  return out;
}

function bytes(n: number, fill = 0xfe): Buffer {
  return Buffer.alloc(n, fill);
}

function asciiText(n: number): string {
  return '*'.repeat(n);
}

export function wsCases(): WsCase[] {
  const cases: WsCase[] = [];
  const add = (c: WsCase) => cases.push(c);

  // ------------------------------------------------------------------ 1 framing
  [0, 125, 126, 127, 128, 65535, 65536].forEach((n, i) => {
    add({ id: `1.1.${i + 1}`, group: 1, title: `text message of ${n} bytes`, send: [frame(OP.text, asciiText(n))], expect: echo(text(asciiText(n))) });
    add({ id: `1.2.${i + 1}`, group: 1, title: `binary message of ${n} bytes`, send: [frame(OP.binary, bytes(n))], expect: echo(bin(bytes(n))) });
  });
  add({ id: '1.1.8', group: 1, title: 'text message of 65535 bytes written in 997-byte chunks', send: chunks(frame(OP.text, asciiText(65535)), 997), expect: echo(text(asciiText(65535))) });

  // ------------------------------------------------------------------ 2 pings and pongs
  add({ id: '2.1', group: 2, title: 'ping without payload', send: [frame(OP.ping)], expect: echo(pong()) });
  add({ id: '2.2', group: 2, title: 'ping with a text payload', send: [frame(OP.ping, 'Hello, world!')], expect: echo(pong('Hello, world!')) });
  add({ id: '2.3', group: 2, title: 'ping with a binary payload', send: [frame(OP.ping, Buffer.from([0, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0, 0xff]))], expect: echo(pong(Buffer.from([0, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0, 0xff]))) });
  add({ id: '2.4', group: 2, title: 'ping with 125 bytes', send: [frame(OP.ping, bytes(125))], expect: echo(pong(bytes(125))) });
  add({ id: '2.5', group: 2, title: 'ping with 126 bytes (over the control frame limit)', send: [frame(OP.ping, bytes(126))], expect: fail(1002) });
  add({ id: '2.6', group: 2, title: 'ping with 125 bytes written in 1-byte chunks', send: chunks(frame(OP.ping, bytes(125)), 1), expect: echo(pong(bytes(125))), timeoutMs: 5000 });
  add({ id: '2.7', group: 2, title: 'unsolicited pong without payload: ignored', send: [frame(OP.pong)], expect: echo() });
  add({ id: '2.8', group: 2, title: 'unsolicited pong with payload: ignored', send: [frame(OP.pong, 'unsolicited')], expect: echo() });
  add({ id: '2.9', group: 2, title: 'unsolicited pong, then ping', send: [frame(OP.pong, 'unsolicited'), frame(OP.ping, 'ping payload')], expect: echo(pong('ping payload')) });
  add({ id: '2.10', group: 2, title: '10 pings in a row', send: Array.from({ length: 10 }, (_, i) => frame(OP.ping, `p${i}`)), expect: echo(...Array.from({ length: 10 }, (_, i) => pong(`p${i}`))) });
  add({ id: '2.11', group: 2, title: '10 pings, each written in 1-byte chunks', send: Array.from({ length: 10 }, (_, i) => chunks(frame(OP.ping, `p${i}`), 1)).flat(), expect: echo(...Array.from({ length: 10 }, (_, i) => pong(`p${i}`))) });

  // ------------------------------------------------------------------ 3 reserved bits
  add({ id: '3.1', group: 3, title: 'text with RSV1 set (no extension negotiated)', send: [frame(OP.text, 'Hello', { rsv: 0b100 })], expect: fail(1002) });
  add({ id: '3.2', group: 3, title: 'good text, then text with RSV2, then ping', send: [frame(OP.text, 'Hello'), frame(OP.text, 'Hello', { rsv: 0b010 }), frame(OP.ping, 'x')], expect: fail(1002) });
  add({ id: '3.3', group: 3, title: 'text with RSV3 (RSV 3)', send: [frame(OP.text, 'Hello', { rsv: 0b011 })], expect: fail(1002) });
  add({ id: '3.4', group: 3, title: 'text with RSV 4', send: [frame(OP.text, 'Hello', { rsv: 0b100 }), 50], expect: fail(1002) });
  add({ id: '3.5', group: 3, title: 'binary with RSV 5', send: [frame(OP.binary, bytes(8), { rsv: 0b101 })], expect: fail(1002) });
  add({ id: '3.6', group: 3, title: 'ping with RSV 6', send: [frame(OP.ping, 'x', { rsv: 0b110 })], expect: fail(1002) });
  add({ id: '3.7', group: 3, title: 'close with RSV 7', send: [frame(OP.close, closePayload(1000), { rsv: 0b111 })], expect: fail(1002) });

  // ------------------------------------------------------------------ 4 opcodes
  [3, 4, 5, 6, 7].forEach((op, i) => {
    add({ id: `4.1.${i + 1}`, group: 4, title: `reserved non-control opcode ${op}`, send: [frame(op, i % 2 ? 'payload' : '')], expect: fail(1002) });
  });
  [0xb, 0xc, 0xd, 0xe, 0xf].forEach((op, i) => {
    add({ id: `4.2.${i + 1}`, group: 4, title: `reserved control opcode ${op}`, send: [frame(op, i % 2 ? 'payload' : '')], expect: fail(1002) });
  });
  add({ id: '4.1.6', group: 4, title: 'good text, reserved opcode 3, ping', send: [frame(OP.text, 'Hello'), frame(3, 'x'), frame(OP.ping)], expect: fail(1002) });

  // ------------------------------------------------------------------ 5 fragmentation
  add({ id: '5.1', group: 5, title: 'ping in 2 fragments', send: [frame(OP.ping, 'frag1', { fin: false }), frame(OP.cont, 'frag2')], expect: fail(1002) });
  add({ id: '5.2', group: 5, title: 'pong in 2 fragments', send: [frame(OP.pong, 'frag1', { fin: false }), frame(OP.cont, 'frag2')], expect: fail(1002) });
  add({ id: '5.3', group: 5, title: 'text in 2 fragments', send: [frame(OP.text, 'frag1', { fin: false }), frame(OP.cont, 'frag2')], expect: echo(text('frag1frag2')) });
  add({ id: '5.4', group: 5, title: 'text in 2 fragments, bytes written one by one', send: chunks(Buffer.concat([frame(OP.text, 'frag1', { fin: false }), frame(OP.cont, 'frag2')]), 1), expect: echo(text('frag1frag2')) });
  add({ id: '5.5', group: 5, title: 'text in 2 fragments with a pause between', send: [frame(OP.text, 'frag1', { fin: false }), 100, frame(OP.cont, 'frag2')], expect: echo(text('frag1frag2')) });
  add({ id: '5.6', group: 5, title: 'text in 2 fragments with a ping between', send: [frame(OP.text, 'fragment1', { fin: false }), frame(OP.ping, 'pongme!'), frame(OP.cont, 'fragment2')], expect: echo(pong('pongme!'), text('fragment1fragment2')) });
  add({ id: '5.7', group: 5, title: 'text in 2 fragments with a ping between, bytes one by one', send: chunks(Buffer.concat([frame(OP.text, 'fragment1', { fin: false }), frame(OP.ping, 'pongme!'), frame(OP.cont, 'fragment2')]), 1), expect: echo(pong('pongme!'), text('fragment1fragment2')) });
  add({ id: '5.8', group: 5, title: 'binary in 3 fragments with a ping between', send: [frame(OP.binary, bytes(10, 1), { fin: false }), frame(OP.cont, bytes(10, 2), { fin: false }), frame(OP.ping, 'p'), frame(OP.cont, bytes(10, 3))], expect: echo(pong('p'), bin(Buffer.concat([bytes(10, 1), bytes(10, 2), bytes(10, 3)]))) });
  add({ id: '5.9', group: 5, title: 'continuation with FIN, nothing to continue', send: [frame(OP.cont, 'non-continuation payload'), frame(OP.text, 'Hello, world!')], expect: fail(1002) });
  add({ id: '5.10', group: 5, title: 'continuation without FIN, nothing to continue', send: [frame(OP.cont, 'non-continuation payload', { fin: false }), frame(OP.text, 'Hello, world!')], expect: fail(1002) });
  add({ id: '5.15', group: 5, title: 'text fragments, then a new text before the end', send: [frame(OP.text, 'fragment1', { fin: false }), frame(OP.cont, 'fragment2'), frame(OP.cont, 'fragment3', { fin: false }), frame(OP.text, 'fragment4')], expect: fail(1002) });
  add({ id: '5.18', group: 5, title: 'two text starts', send: [frame(OP.text, 'fragment1', { fin: false }), frame(OP.text, 'fragment2')], expect: fail(1002) });
  add({ id: '5.19', group: 5, title: 'text in 5 fragments with 2 pings between, and pauses', send: [frame(OP.text, 'f1', { fin: false }), frame(OP.cont, 'f2', { fin: false }), frame(OP.ping, 'p1'), 50, frame(OP.cont, 'f3', { fin: false }), 50, frame(OP.cont, 'f4', { fin: false }), frame(OP.ping, 'p2'), frame(OP.cont, 'f5')], expect: echo(pong('p1'), pong('p2'), text('f1f2f3f4f5')) });

  // ------------------------------------------------------------------ 6 UTF-8
  const valid = Buffer.from('κόσμε Hello-µ@ßöäüàá-UTF-8!! 𝄞 \u{10FFFF}');
  add({ id: '6.1.1', group: 6, title: 'empty text', send: [frame(OP.text, '')], expect: echo(text('')) });
  add({ id: '6.1.2', group: 6, title: 'empty text in 3 empty fragments', send: [frame(OP.text, '', { fin: false }), frame(OP.cont, '', { fin: false }), frame(OP.cont, '')], expect: echo(text('')) });
  add({ id: '6.2.1', group: 6, title: 'valid UTF-8 in one frame', send: [frame(OP.text, valid)], expect: echo(text(valid)) });
  add({ id: '6.2.2', group: 6, title: 'valid UTF-8 split inside code points, one fragment per byte', send: [...[...valid].map((b, i) => frame(i === 0 ? OP.text : OP.cont, Buffer.from([b]), { fin: i === valid.length - 1 }))], expect: echo(text(valid)) });
  const invalid: Array<[string, number[]]> = [
    ['a lone continuation byte', [0x80]],
    ['a truncated 2-byte sequence', [0xc3]],
    ['an overlong encoding of "/"', [0xc0, 0xaf]],
    ['an overlong 3-byte NUL', [0xe0, 0x80, 0x80]],
    ['a UTF-16 surrogate (U+D800)', [0xed, 0xa0, 0x80]],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['the byte 0xFF', [0xff]],
    ['valid text then 0xFE', [0x48, 0x65, 0x6c, 0x6c, 0x6f, 0xfe]],
  ];
  invalid.forEach(([what, b], i) => {
    add({ id: `6.3.${i + 1}`, group: 6, title: `invalid UTF-8: ${what}`, send: [frame(OP.text, Buffer.from(b))], expect: fail(1007) });
  });
  add({ id: '6.4.1', group: 6, title: 'invalid UTF-8 in the 2nd of 3 fragments', send: [frame(OP.text, 'κόσμε', { fin: false }), frame(OP.cont, Buffer.from([0xf4, 0x90, 0x80, 0x80]), { fin: false }), frame(OP.cont, 'edited')], expect: fail(1007) });
  add({ id: '6.4.2', group: 6, title: 'a code point split across fragments, invalid once complete', send: [frame(OP.text, Buffer.from([0xed]), { fin: false }), frame(OP.cont, Buffer.from([0xa0, 0x80]))], expect: fail(1007) });

  // ------------------------------------------------------------------ 7 close handling
  add({ id: '7.1.1', group: 7, title: 'text, then close', send: [frame(OP.text, 'Hello World!')], expect: echo(text('Hello World!')) });
  add({ id: '7.1.2', group: 7, closes: true, title: 'close twice (the second ignored)', send: [frame(OP.close, closePayload(1000)), frame(OP.close, closePayload(1000))], expect: echo() });
  add({ id: '7.1.3', group: 7, closes: true, title: 'ping after close (ignored)', send: [frame(OP.close, closePayload(1000)), frame(OP.ping, 'Hello')], expect: echo() });
  add({ id: '7.1.4', group: 7, closes: true, title: 'text after close (ignored)', send: [frame(OP.close, closePayload(1000)), frame(OP.text, 'Hello')], expect: echo() });
  add({ id: '7.1.5', group: 7, closes: true, title: 'a text fragment, close, the rest', send: [frame(OP.text, 'fragment1', { fin: false }), frame(OP.close, closePayload(1000)), frame(OP.cont, 'fragment2')], expect: echo() });
  add({ id: '7.3.1', group: 7, closes: true, title: 'close without payload', send: [frame(OP.close)], expect: { ...echo(), closeWith: 1005 } });
  add({ id: '7.3.2', group: 7, title: 'close with a 1-byte payload', send: [frame(OP.close, Buffer.from([0x03]))], expect: fail(1002) });
  add({ id: '7.3.3', group: 7, closes: true, title: 'close with code 1000 only', send: [frame(OP.close, closePayload(1000))], expect: echo() });
  add({ id: '7.3.4', group: 7, closes: true, title: 'close with code and reason', send: [frame(OP.close, closePayload(1000, 'Hello World!'))], expect: echo() });
  add({ id: '7.3.5', group: 7, closes: true, title: 'close with a 123-byte reason', send: [frame(OP.close, closePayload(1000, '*'.repeat(123)))], expect: echo() });
  add({ id: '7.3.6', group: 7, title: 'close with a 124-byte reason (payload 126 bytes)', send: [frame(OP.close, closePayload(1000, '*'.repeat(124)))], expect: fail(1002) });
  add({ id: '7.5.1', group: 7, title: 'close with an invalid UTF-8 reason', send: [frame(OP.close, closePayload(1000, Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64])))], expect: fail(1007, 1002) });
  for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]) {
    add({ id: `7.7.${code}`, group: 7, closes: true, title: `close with the valid code ${code}`, send: [frame(OP.close, closePayload(code))], expect: { ...echo(), closeWith: code } });
  }
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]) {
    add({ id: `7.9.${code}`, group: 7, title: `close with the invalid code ${code}`, send: [frame(OP.close, closePayload(code))], expect: fail(1002) });
  }

  // ------------------------------------------------------------------ 9 limits and performance
  for (const [i, n] of [64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024, 16 * 1024 * 1024].entries()) {
    add({ id: `9.1.${i + 1}`, group: 9, title: `text message of ${n} bytes`, send: [frame(OP.text, asciiText(n))], expect: echo(text(asciiText(n))), timeoutMs: 20_000 });
    add({ id: `9.2.${i + 1}`, group: 9, title: `binary message of ${n} bytes`, send: [frame(OP.binary, bytes(n))], expect: echo(bin(bytes(n))), timeoutMs: 20_000 });
  }
  for (const [i, f] of [64, 256, 4096, 65536, 1024 * 1024].entries()) {
    const total = 4 * 1024 * 1024;
    const parts: Buffer[] = [];
    for (let off = 0; off < total; off += f) parts.push(frame(off === 0 ? OP.binary : OP.cont, bytes(f, 0x41), { fin: off + f >= total }));
    add({ id: `9.4.${i + 1}`, group: 9, title: `4 MiB binary message in fragments of ${f} bytes`, send: [Buffer.concat(parts)], expect: echo(bin(bytes(total, 0x41))), timeoutMs: 20_000 });
  }
  add({ id: '9.7.1', group: 9, title: '1,000 text messages of 16 bytes in one write', send: [Buffer.concat(Array.from({ length: 1000 }, () => frame(OP.text, '0123456789abcdef')))], expect: echo(...Array.from({ length: 1000 }, () => text('0123456789abcdef'))), timeoutMs: 20_000 });
  add({ id: '9.8.1', group: 9, title: '1,000 binary messages of 16 bytes in one write', send: [Buffer.concat(Array.from({ length: 1000 }, () => frame(OP.binary, bytes(16))))], expect: echo(...Array.from({ length: 1000 }, () => bin(bytes(16)))), timeoutMs: 20_000 });
  add({ id: '9.9.1', group: 9, title: 'a text message 1 byte over the route\'s maxMessageBytes (16 MiB): 1009', send: [frame(OP.text, asciiText(16 * 1024 * 1024 + 1))], expect: fail(1009), timeoutMs: 20_000 });
  return cases;
}
