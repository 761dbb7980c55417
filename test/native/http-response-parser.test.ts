/**
 * One behaviour suite for both response parser engines (native addon and TS reference): every
 * rule of the contract in src/native/http-response-parser-types.ts, with exact bytes. Every input
 * is also fed cut at every byte boundary and byte by byte, and must give the same (normalized)
 * callback stream each time.
 */
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_LIMITS,
  MAX_PENDING_REQUESTS,
  REQUEST_CONNECT,
  REQUEST_HEAD,
  REQUEST_OTHER,
  STATUS_ERROR,
  STATUS_OK,
  STATUS_UPGRADED,
  createResponseParser,
  nativeResponseParserAvailable,
  parseErrorName,
  resolveLimits,
  type RequestKind,
  type ResponseParserEngineKind,
} from '../../src/native/http-response-parser.js';
import { ENGINES, latin1, parseAllSplits, type FeedOptions } from './http-response-parser-harness.js';

const parseWith = parseAllSplits;

const CRLF = '\r\n';
const h = (...lines: string[]) => lines.join(CRLF) + CRLF + CRLF;

it('the native addon is built and exports the response parser', () => {
  expect(nativeResponseParserAvailable()).toBe(true);
});

it('createResponseParser rejects an unknown engine', () => {
  expect(() => createResponseParser({}, {}, 'fast' as ResponseParserEngineKind)).toThrow(TypeError);
});

it('the native parser works in a worker thread', async () => {
  const addon = join(fileURLToPath(new URL('../../', import.meta.url)), 'build', 'Release', 'gateway_native.node');
  const source = `
    const { parentPort } = require('node:worker_threads');
    const { ResponseParser } = require(${JSON.stringify(addon)});
    const p = new ResponseParser(1024, 10, 10);
    p.expect(0);
    const st = p.execute(Buffer.from('HTTP/1.1 204 No Content\\r\\n\\r\\n'), 0, 27);
    const out = new Int32Array(p.output);
    parentPort.postMessage([st, out[0], out[1], out[4], out[5], out[6]]);`;
  const worker = new Worker(source, { eval: true });
  const [message] = (await once(worker, 'message')) as [unknown];
  await worker.terminate();
  // status OK, 13 event ints (begin 1 + head 11 + complete 1), 27 consumed, begin, head 204
  expect(message).toEqual([0, 13, 27, 1, 2, 204]);
});

it('the native addon pauses when its event buffer or head store is full, and makes progress', () => {
  const addon = join(fileURLToPath(new URL('../../', import.meta.url)), 'build', 'Release', 'gateway_native.node');
  const { ResponseParser } = createRequire(import.meta.url)(addon) as {
    ResponseParser: new (a: number, b: number, c: number) => { output: ArrayBuffer; execute(d: Uint8Array, o: number, l: number): number; expect(k: number): boolean };
  };
  const run = (maxHead: number, input: string, responses: number) => {
    const p = new ResponseParser(maxHead, 100, 1024);
    const out = new Int32Array(p.output);
    for (let i = 0; i < responses; i++) p.expect(0);
    const bytes = latin1(input);
    const statuses: number[] = [];
    for (let off = 0; off < bytes.length; ) {
      const st = p.execute(bytes, off, bytes.length - off);
      statuses.push(st);
      expect(out[1]).toBeGreaterThan(0);
      off += out[1];
      if (st !== 1) break;
    }
    return statuses;
  };
  // 100 interim heads x 13 event ints > the 1024-int event buffer
  const many = run(16384, h('HTTP/1.1 100 Continue').repeat(100) + h('HTTP/1.1 204 No Content'), 1);
  expect(many.length).toBeGreaterThan(1);
  expect(many.slice(0, -1).every((st) => st === 1)).toBe(true);
  expect(many[many.length - 1]).toBe(STATUS_OK);
  // heads of ~900 bytes with maxHeadSize 1000: the 2000-byte store holds two per call
  const big = run(1000, h('HTTP/1.1 204 No Content', `X: ${'v'.repeat(870)}`).repeat(5), 5);
  expect(big).toEqual([1, 1, STATUS_OK]);
});

describe('limits', () => {
  it('resolveLimits fills defaults and rejects bad values', () => {
    expect(resolveLimits()).toEqual(DEFAULT_LIMITS);
    expect(resolveLimits({ maxHeaders: 0 }).maxHeaders).toBe(0);
    for (const bad of [{ maxHeadSize: 15 }, { maxHeadSize: 1.5 }, { maxHeadSize: 2 ** 24 + 1 }, { maxHeaders: -1 }, { maxHeaders: 65536 },
      { maxChunkExtensionSize: 2 ** 20 + 1 }, { maxHeadSize: NaN }, { maxHeadSize: '100' as unknown as number }]) {
      expect(() => resolveLimits(bad), JSON.stringify(bad)).toThrow(RangeError);
    }
  });
});

describe.each(ENGINES)('response parser (%s)', (engine) => {
  const parse = (input: string, opts?: FeedOptions) => parseWith(engine, input, opts);
  const outcome = (input: string, opts?: FeedOptions) => parse(input, opts).outcome;
  const make = (handlers = {}, limits = {}) => createResponseParser(handlers, limits, engine);

  describe('status line', () => {
    it('HTTP/1.1 with a reason, Content-Length body, keep-alive', () => {
      const r = parse(h('HTTP/1.1 200 OK', 'Content-Length: 5') + 'hello');
      expect(r).toEqual({
        messages: [{ status: 200, minor: 1, flags: ['KEEP_ALIVE'], contentLength: 5, keepAliveTimeout: -1,
          headers: ['Content-Length', '5'], reason: 'OK', body: 'hello', complete: true }],
        outcome: 'OK',
      });
    });

    it('HTTP/1.0: minor 0, close by default (close-delimited body until EOF)', () => {
      const r = parse(h('HTTP/1.0 200 OK') + 'all of it');
      expect(r.messages).toMatchObject([{ status: 200, minor: 0, flags: ['CLOSE_DELIMITED'], contentLength: -1, body: 'all of it', complete: true }]);
      expect(r.outcome).toBe('OK');
    });

    it('empty reason after the SP, and no SP at all (accepted, like llhttp)', () => {
      expect(parse(h('HTTP/1.1 204 ')).messages[0]).toMatchObject({ status: 204, reason: '' });
      expect(parse(h('HTTP/1.1 204')).messages[0]).toMatchObject({ status: 204, reason: '' });
    });

    it('the reason is raw: HTAB, inner and outer spaces, obs-text (latin1)', () => {
      expect(parse(h('HTTP/1.1 200  D\xe9j\xe0\tvu ')).messages[0].reason).toBe(' D\xe9j\xe0\tvu ');
    });

    it.each([
      ['HTTP/1.2 200 OK', 'INVALID_VERSION@7'],
      ['HTTP/2.0 200 OK', 'INVALID_VERSION@5'],
      ['HTTP/2 200 OK', 'INVALID_VERSION@5'],
      ['http/1.1 200 OK', 'INVALID_VERSION@0'],
      ['HTTP/1.1\t200 OK', 'INVALID_VERSION@8'],
      [' HTTP/1.1 200 OK', 'INVALID_VERSION@0'],
      ['\r\nHTTP/1.1 200 OK', 'INVALID_VERSION@0'],
      ['ICY 200 OK', 'INVALID_VERSION@0'],
      ['HTTP/1.10 200 OK', 'INVALID_VERSION@8'],
      ['HTTP/1.1', 'INVALID_VERSION@8'], // CR where the SP belongs
      ['HTTP/1.1  200 OK', 'INVALID_STATUS@9'],
      ['HTTP/1.1 20 OK', 'INVALID_STATUS@11'],
      ['HTTP/1.1 2000 OK', 'INVALID_STATUS@12'],
      ['HTTP/1.1 099 X', 'INVALID_STATUS@9'],
      ['HTTP/1.1 600 X', 'INVALID_STATUS@9'],
      ['HTTP/1.1 20x OK', 'INVALID_STATUS@11'],
      ['HTTP/1.1 200x', 'INVALID_STATUS@12'],
      ['HTTP/1.1 -200 OK', 'INVALID_STATUS@9'],
      ['HTTP/1.1 200 O\x00K', 'INVALID_REASON@14'],
      ['HTTP/1.1 200 O\x7fK', 'INVALID_REASON@14'],
      ['HTTP/1.1 200 O\x01K', 'INVALID_REASON@14'],
    ])('%j is %s', (line, expected) => {
      expect(outcome(h(line))).toBe(expected);
    });

    it('line endings: bare LF, bare CR, CR CR LF', () => {
      expect(outcome('HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n')).toBe('BARE_LF@15');
      expect(outcome('HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n')).toBe('BARE_CR@16');
      expect(outcome('HTTP/1.1 200 OK\r\r\n\r\n')).toBe('BARE_CR@16');
      expect(outcome('HTTP/1.1 200\n\r\n')).toBe('BARE_LF@12');
    });
  });

  describe('header fields', () => {
    it('names keep their case, duplicates and order are kept, values are OWS-trimmed', () => {
      const r = parse(h('HTTP/1.1 200 OK', 'X-A: 1', 'x-a:2', 'Set-Cookie: a=b; c', 'Set-Cookie:  \t d = e \t ', 'Empty:', 'Blank: \t ', 'Content-Length: 0'));
      expect(r.messages[0].headers).toEqual(['X-A', '1', 'x-a', '2', 'Set-Cookie', 'a=b; c', 'Set-Cookie', 'd = e', 'Empty', '', 'Blank', '', 'Content-Length', '0']);
    });

    it('obs-text in values is kept (latin1), every tchar is accepted in names', () => {
      const r = parse(h('HTTP/1.1 200 OK', "!#$%&'*+-.^_`|~09azAZ: \x80\xff\xe9 x", 'Content-Length: 0'));
      expect(r.messages[0].headers).toEqual(["!#$%&'*+-.^_`|~09azAZ", '\x80\xff\xe9 x', 'Content-Length', '0']);
    });

    it.each([
      ['X :y', 'INVALID_HEADER_NAME@18'],
      ['X\t:y', 'INVALID_HEADER_NAME@18'],
      [':y', 'INVALID_HEADER_NAME@17'],
      ['X', 'INVALID_HEADER_NAME@18'], // CR where the colon belongs
      ['X(y): z', 'INVALID_HEADER_NAME@18'],
      ['X\x00: z', 'INVALID_HEADER_NAME@18'],
      ['\xe9: z', 'INVALID_HEADER_NAME@17'],
      ['X: a\x00b', 'INVALID_HEADER_VALUE@21'],
      ['X: a\x01b', 'INVALID_HEADER_VALUE@21'],
      ['X: a\x1fb', 'INVALID_HEADER_VALUE@21'],
      ['X: a\x7fb', 'INVALID_HEADER_VALUE@21'],
      ['X: \x00', 'INVALID_HEADER_VALUE@20'],
      ['X: a\rb', 'BARE_CR@22'],
      ['X: a\nY: b', 'BARE_LF@21'],
      ['X: a\r\r', 'BARE_CR@22'],
    ])('the field line %j is %s', (line, expected) => {
      expect(outcome(h('HTTP/1.1 200 OK', line))).toBe(expected);
    });

    it('obs-fold and whitespace before the first field are OBS_FOLD', () => {
      expect(outcome(h('HTTP/1.1 200 OK', 'X: a', ' b'))).toBe('OBS_FOLD@23');
      expect(outcome(h('HTTP/1.1 200 OK', 'X: a', '\tb'))).toBe('OBS_FOLD@23');
      expect(outcome(h('HTTP/1.1 200 OK', ' X: a'))).toBe('OBS_FOLD@17');
    });

    it('a bare LF ending the head is BARE_LF', () => {
      expect(outcome('HTTP/1.1 200 OK\r\nX: a\r\n\n')).toBe('BARE_LF@23');
    });

    it('maxHeadSize: a head of exactly the limit is accepted, one byte more is HEAD_TOO_LARGE at that byte', () => {
      const base = h('HTTP/1.1 200 OK', 'Content-Length: 0', 'X: ');
      const limit = 100;
      const pad = 'a'.repeat(limit - base.length);
      const exact = h('HTTP/1.1 200 OK', 'Content-Length: 0', `X: ${pad}`);
      expect(exact.length).toBe(limit);
      expect(parse(exact, { limits: { maxHeadSize: limit } }).outcome).toBe('OK');
      const over = h('HTTP/1.1 200 OK', 'Content-Length: 0', `X: ${pad}a`);
      expect(outcome(over, { limits: { maxHeadSize: limit } })).toBe(`HEAD_TOO_LARGE@${limit}`);
      // checked before the byte's own validity
      expect(outcome(exact.slice(0, limit - 2) + '\x00\r\n', { limits: { maxHeadSize: limit - 3 } })).toBe(`HEAD_TOO_LARGE@${limit - 3}`);
      // the limit counts the status line too
      expect(outcome(h('HTTP/1.1 200 ' + 'r'.repeat(40)), { limits: { maxHeadSize: 30 } })).toBe('HEAD_TOO_LARGE@30');
    });

    it('the default head limit is 16384 bytes', () => {
      const pad = (n: number) => h('HTTP/1.1 204 No Content', 'X: ' + 'v'.repeat(n));
      const fixed = pad(0).length;
      const p = make();
      p.expect();
      expect(p.execute(latin1(pad(16384 - fixed)))).toBe(STATUS_OK);
      p.expect();
      expect(p.execute(latin1(pad(16385 - fixed)))).toBe(STATUS_ERROR);
      expect(parseErrorName(p.errorCode)).toBe('HEAD_TOO_LARGE');
    });

    it('maxHeaders: the first byte of field line maxHeaders+1 is TOO_MANY_HEADERS', () => {
      expect(outcome(h('HTTP/1.1 200 OK', 'A: 1', 'Content-Length: 0'), { limits: { maxHeaders: 2 } })).toBe('OK');
      expect(outcome(h('HTTP/1.1 200 OK', 'A: 1', 'B: 2', 'Content-Length: 0'), { limits: { maxHeaders: 2 } })).toBe('TOO_MANY_HEADERS@29');
      expect(outcome(h('HTTP/1.1 204 No Content'), { limits: { maxHeaders: 0 } })).toBe('OK');
      expect(outcome(h('HTTP/1.1 204 No Content', 'A: 1'), { limits: { maxHeaders: 0 } })).toBe('TOO_MANY_HEADERS@25');
      // an obs-fold line is not a field: its own error
      expect(outcome(h('HTTP/1.1 200 OK', 'A: 1', ' x'), { limits: { maxHeaders: 1 } })).toBe('OBS_FOLD@23');
    });
  });

  describe('Content-Length', () => {
    const cl = (...values: string[]) => outcome(h('HTTP/1.1 200 OK', ...values.map((v) => `Content-Length: ${v}`)) + 'x'.repeat(5), { finish: false });

    it('digits only, leading zeros allowed, case-insensitive name', () => {
      expect(parse(h('HTTP/1.1 200 OK', 'content-LENGTH: 007') + 'abcdefg').messages[0]).toMatchObject({ contentLength: 7, body: 'abcdefg', complete: true });
      expect(parse(h('HTTP/1.1 200 OK', 'Content-Length: 0')).messages[0]).toMatchObject({ contentLength: 0, body: '', complete: true });
    });

    it.each([['+5'], ['-1'], ['5 5'], ['0x5'], ['5.0'], [''], [' '], ['5,'], [',5'], ['5,,5'], ['5;q'], ['five'], ['\xb5']])(
      'Content-Length: %j is INVALID_CONTENT_LENGTH at the LF',
      (v) => {
        const input = h('HTTP/1.1 200 OK', `Content-Length: ${v}`);
        expect(outcome(input)).toBe(`INVALID_CONTENT_LENGTH@${input.indexOf('\n', 17)}`);
      },
    );

    it('2^53-1 is the largest accepted value', () => {
      const r = parse(h('HTTP/1.1 200 OK', 'Content-Length: 9007199254740991') + 'abc');
      expect(r.messages[0]).toMatchObject({ contentLength: 9007199254740991, body: 'abc', complete: false });
      expect(r.outcome).toMatch(/^UNEXPECTED_EOF@/);
      expect(cl('9007199254740992')).toBe('CONTENT_LENGTH_OVERFLOW@50');
      expect(cl('00000000000000000000000000009007199254740991')).toMatch(/^OK$/);
      expect(cl('99999999999999999999999999')).toBe('CONTENT_LENGTH_OVERFLOW@60');
    });

    it('identical duplicates (lines or a list) are accepted, different ones are CONTENT_LENGTH_MISMATCH', () => {
      expect(parse(h('HTTP/1.1 200 OK', 'Content-Length: 5', 'Content-Length: 5') + 'hello').messages[0]).toMatchObject({ contentLength: 5, body: 'hello', complete: true });
      expect(parse(h('HTTP/1.1 200 OK', 'Content-Length: 5 , 5,5') + 'hello').messages[0]).toMatchObject({ contentLength: 5, body: 'hello' });
      expect(cl('5', '6')).toBe('CONTENT_LENGTH_MISMATCH@54');
      expect(cl('5', '05')).toBe('CONTENT_LENGTH_MISMATCH@55');
      expect(cl('5, 6')).toBe('CONTENT_LENGTH_MISMATCH@38');
    });

    it('per element: syntax, then overflow, then mismatch', () => {
      expect(cl('5, x')).toBe('INVALID_CONTENT_LENGTH@38');
      expect(cl('5, 99999999999999999999')).toBe('CONTENT_LENGTH_OVERFLOW@57');
      expect(cl('99999999999999999999x, 5')).toBe('INVALID_CONTENT_LENGTH@58');
    });

    it('a response longer than its Content-Length: the extra bytes are the next response, never the body', () => {
      expect(parse(h('HTTP/1.1 200 OK', 'Content-Length: 2') + 'hiEXTRA')).toEqual({
        messages: [expect.objectContaining({ body: 'hi', complete: true })],
        outcome: 'UNSOLICITED_RESPONSE@40',
      });
      const two = parse(h('HTTP/1.1 200 OK', 'Content-Length: 2') + 'hi' + h('HTTP/1.1 200 OK', 'Content-Length: 1') + '!', { kinds: [REQUEST_OTHER, REQUEST_OTHER] });
      expect(two.messages.map((m) => m.body)).toEqual(['hi', '!']);
      expect(outcome(h('HTTP/1.1 200 OK', 'Content-Length: 2') + 'hiX', { kinds: [0, 0] })).toBe('INVALID_VERSION@40');
      expect(outcome(h('HTTP/1.1 200 OK', 'Content-Length: 2', 'Connection: close') + 'hi\r\n')).toBe('DATA_AFTER_CLOSE@59');
    });

    it('a response shorter than its Content-Length reports its bytes, then UNEXPECTED_EOF at the end', () => {
      expect(parse(h('HTTP/1.1 200 OK', 'Content-Length: 10') + 'short')).toEqual({
        messages: [expect.objectContaining({ body: 'short', complete: false })],
        outcome: 'UNEXPECTED_EOF@44',
      });
    });
  });

  describe('Transfer-Encoding', () => {
    const te = (...lines: string[]) => h('HTTP/1.1 200 OK', ...lines) + '0\r\n\r\n';

    it('chunked (any case, after other codings, over several lines)', () => {
      for (const lines of [['Transfer-Encoding: chunked'], ['transfer-encoding: ChUnKeD'], ['Transfer-Encoding: gzip, chunked'],
        ['Transfer-Encoding: gzip', 'Transfer-Encoding: chunked'], ['Transfer-Encoding:  gzip ,\tchunked ']]) {
        expect(parse(te(...lines)).messages[0], JSON.stringify(lines)).toMatchObject({ flags: ['KEEP_ALIVE', 'CHUNKED'], contentLength: -1, complete: true });
      }
    });

    it('a coding after chunked, chunked twice, parameters, empty elements: INVALID_TRANSFER_ENCODING at the LF', () => {
      const at = (input: string, line: number) => {
        let k = -1;
        for (let i = 0; i <= line; i++) k = input.indexOf('\n', k + 1);
        return k;
      };
      for (const [lines, line] of [
        [['Transfer-Encoding: chunked, gzip'], 1],
        [['Transfer-Encoding: chunked', 'Transfer-Encoding: gzip'], 2],
        [['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], 2],
        [['Transfer-Encoding: chunked, chunked'], 1],
        [['Transfer-Encoding: chunked;q=1'], 1],
        [['Transfer-Encoding: '], 1],
        [['Transfer-Encoding: chunked,'], 1],
        [['Transfer-Encoding: ,chunked'], 1],
        [['Transfer-Encoding: "chunked"'], 1],
        [['Transfer-Encoding: chunked\xe9'], 1],
      ] as Array<[string[], number]>) {
        const input = te(...lines);
        expect(outcome(input), JSON.stringify(lines)).toBe(`INVALID_TRANSFER_ENCODING@${at(input, line)}`);
      }
    });

    it('a last coding other than chunked is TRANSFER_ENCODING_NOT_CHUNKED at the end of the head', () => {
      const input = te('Transfer-Encoding: gzip');
      expect(outcome(input)).toBe(`TRANSFER_ENCODING_NOT_CHUNKED@${input.indexOf('\r\n\r\n') + 3}`);
      expect(outcome(te('Transfer-Encoding: chunked, identity'))).toMatch(/^INVALID_TRANSFER_ENCODING@/);
    });

    it('Transfer-Encoding with Content-Length is an error (either order), even where there is no body', () => {
      for (const [line, kinds] of [['HTTP/1.1 200 OK', [REQUEST_OTHER]], ['HTTP/1.1 304 Not Modified', [REQUEST_OTHER]], ['HTTP/1.1 200 OK', [REQUEST_HEAD]], ['HTTP/1.1 100 Continue', [REQUEST_OTHER]]] as Array<[string, RequestKind[]]>) {
        for (const order of [['Transfer-Encoding: chunked', 'Content-Length: 5'], ['Content-Length: 5', 'Transfer-Encoding: chunked']]) {
          const input = h(line, ...order) + '0\r\n\r\n';
          expect(outcome(input, { kinds }), `${line} ${JSON.stringify(order)}`).toBe(`TRANSFER_ENCODING_WITH_CONTENT_LENGTH@${input.indexOf('\r\n\r\n') + 3}`);
        }
      }
    });

    it('Transfer-Encoding in an HTTP/1.0 response is TRANSFER_ENCODING_IN_HTTP10 (checked first)', () => {
      const input = h('HTTP/1.0 200 OK', 'Transfer-Encoding: gzip', 'Content-Length: 1') + '0\r\n\r\n';
      expect(outcome(input)).toBe(`TRANSFER_ENCODING_IN_HTTP10@${input.indexOf('\r\n\r\n') + 3}`);
    });
  });

  describe('chunked bodies', () => {
    const chunked = (body: string, opts?: FeedOptions) => parse(h('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked') + body, opts);
    const HEAD_LEN = h('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked').length; // 47

    it('chunks, hex digits of both cases, leading zeros, 16 digits', () => {
      const r = chunked('5\r\nhello\r\nA\r\n0123456789\r\na\r\nabcdefghij\r\n0000000000000001\r\n!\r\n0\r\n\r\n');
      expect(r.messages).toEqual([expect.objectContaining({ body: 'hello0123456789abcdefghij!', complete: true })]);
      expect(r.messages[0].trailers).toBeUndefined();
      expect(r.outcome).toBe('OK');
    });

    it('chunk-size limits: a 17th digit and a value over 2^53-1 are CHUNK_SIZE_OVERFLOW at that digit', () => {
      expect(chunked('00000000000000005\r\n').outcome).toBe(`CHUNK_SIZE_OVERFLOW@${HEAD_LEN + 16}`);
      expect(chunked('20000000000000\r\n').outcome).toBe(`CHUNK_SIZE_OVERFLOW@${HEAD_LEN + 13}`);
      const r = chunked('1FFFFFFFFFFFFF\r\nabc');
      expect(r.messages[0].body).toBe('abc');
      expect(r.outcome).toMatch(/^UNEXPECTED_EOF@/);
    });

    it.each([
      [' 5\r\n', 'INVALID_CHUNK_SIZE', 0],
      ['0x5\r\n', 'INVALID_CHUNK_SIZE', 1],
      ['-5\r\n', 'INVALID_CHUNK_SIZE', 0],
      ['+5\r\n', 'INVALID_CHUNK_SIZE', 0],
      ['\r\n', 'INVALID_CHUNK_SIZE', 0],
      ['g\r\n', 'INVALID_CHUNK_SIZE', 0],
      ['5=x\r\n', 'INVALID_CHUNK_SIZE', 1],
      ['5\n', 'BARE_LF', 1],
      ['5\rX', 'BARE_CR', 2],
      ['5 \r\n', 'INVALID_CHUNK_EXTENSION', 2],
      ['5;\r\n', 'INVALID_CHUNK_EXTENSION', 2],
      ['5;=b\r\n', 'INVALID_CHUNK_EXTENSION', 2],
      ['5;a=\r\n', 'INVALID_CHUNK_EXTENSION', 4],
      ['5;a =\r\n', 'INVALID_CHUNK_EXTENSION', 5],
      ['5;a \r\n', 'INVALID_CHUNK_EXTENSION', 4],
      ['5;a=b c\r\n', 'INVALID_CHUNK_EXTENSION', 6],
      ['5;a=b \r\n', 'INVALID_CHUNK_EXTENSION', 6],
      ['5;a=\x01\r\n', 'INVALID_CHUNK_EXTENSION', 4],
      ['5;a="x\x7f"\r\n', 'INVALID_CHUNK_EXTENSION', 6],
      ['5;a="open\r\n', 'INVALID_CHUNK_EXTENSION', 9],
      ['5;a="x\\\x00"\r\n', 'INVALID_CHUNK_EXTENSION', 7],
      ['5;a="x"y\r\n', 'INVALID_CHUNK_EXTENSION', 7],
      ['5;a;\n', 'BARE_LF', 4],
      ['5;a\rb', 'BARE_CR', 4],
    ])('the chunk line %j is %s', (line, code, offset) => {
      expect(chunked(line).outcome).toBe(`${code}@${HEAD_LEN + offset}`);
    });

    it.each([['5;a'], ['5;a=b'], ['5 ; a = b'], ['5\t;\ta\t=\t"b"'], ['5;a="q\\"x\\\\"'], ['5;a=b;c;d="\xe9"'], ['5;a="x";b'], ['5;a=b ;c']])(
      'the chunk extension %j is accepted and ignored',
      (line) => {
        expect(chunked(`${line}\r\nhello\r\n0\r\n\r\n`)).toMatchObject({ messages: [{ body: 'hello', complete: true }], outcome: 'OK' });
      },
    );

    it('the last chunk may have extensions too', () => {
      expect(chunked('0;done="yes"\r\n\r\n').outcome).toBe('OK');
    });

    it('maxChunkExtensionSize counts the bytes after the digits (CR/LF excluded), checked before validity', () => {
      const opts = { limits: { maxChunkExtensionSize: 4 } };
      expect(chunked('5;abc\r\nhello\r\n0\r\n\r\n', opts).outcome).toBe('OK');
      expect(chunked('5;abcd\r\nhello\r\n0\r\n\r\n', opts).outcome).toBe(`CHUNK_EXTENSION_TOO_LONG@${HEAD_LEN + 5}`);
      expect(chunked('5;ab\x00\x00\r\n', opts).outcome).toBe(`INVALID_CHUNK_EXTENSION@${HEAD_LEN + 4}`);
      expect(chunked('5;abc\x00\r\n', opts).outcome).toBe(`CHUNK_EXTENSION_TOO_LONG@${HEAD_LEN + 5}`);
      // counted per chunk line
      expect(chunked('1;abc\r\nx\r\n1;abc\r\ny\r\n0;abc\r\n\r\n', opts).outcome).toBe('OK');
      expect(chunked('5;\r\n', { limits: { maxChunkExtensionSize: 0 } }).outcome).toBe(`CHUNK_EXTENSION_TOO_LONG@${HEAD_LEN + 1}`);
      expect(chunked('5x\r\n', { limits: { maxChunkExtensionSize: 0 } }).outcome).toBe(`INVALID_CHUNK_SIZE@${HEAD_LEN + 1}`);
    });

    it('the CRLF after chunk data is checked; the data before is reported', () => {
      for (const [tail, offset] of [['X', 8], ['\n', 8], ['\rX', 9], ['\r\r', 9]] as Array<[string, number]>) {
        const r = chunked(`5\r\nhello${tail}`);
        expect(r.messages[0].body).toBe('hello');
        expect(r.outcome, JSON.stringify(tail)).toBe(`INVALID_CHUNK_END@${HEAD_LEN + offset}`);
      }
    });

    it('trailers are reported (flat, like headers) and have no framing meaning', () => {
      const r = chunked('3\r\nabc\r\n0\r\nChecksum: 123 \r\nContent-Length: x\r\nT:\r\n\r\n');
      expect(r.messages[0]).toMatchObject({ body: 'abc', trailers: ['Checksum', '123', 'Content-Length', 'x', 'T', ''], complete: true });
      expect(r.outcome).toBe('OK');
    });

    it('trailer lines follow the field-line grammar', () => {
      const T = HEAD_LEN + 3;
      expect(chunked('0\r\nA: 1\r\n folded\r\n\r\n').outcome).toBe(`OBS_FOLD@${T + 6}`);
      expect(chunked('0\r\nA : 1\r\n\r\n').outcome).toBe(`INVALID_HEADER_NAME@${T + 1}`);
      expect(chunked('0\r\nA: \x00\r\n\r\n').outcome).toBe(`INVALID_HEADER_VALUE@${T + 3}`);
      expect(chunked('0\r\nA: 1\n\r\n').outcome).toBe(`BARE_LF@${T + 4}`);
      expect(chunked('0\r\n\n').outcome).toBe(`BARE_LF@${T}`);
      expect(chunked('0\r\n\rX').outcome).toBe(`BARE_CR@${T + 1}`);
    });

    it('trailer limits: maxHeadSize and maxHeaders apply to the trailer section on its own', () => {
      const T = HEAD_LEN + 3;
      const limits = { maxHeadSize: 64, maxHeaders: 2 };
      expect(chunked('0\r\nA: 1\r\nB: 2\r\n\r\n', { limits }).outcome).toBe('OK');
      expect(chunked('0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n', { limits }).outcome).toBe(`TOO_MANY_TRAILERS@${T + 12}`);
      const pad = 'v'.repeat(64 - 'X: \r\n\r\n'.length);
      expect(chunked(`0\r\nX: ${pad}\r\n\r\n`, { limits }).outcome).toBe('OK');
      expect(chunked(`0\r\nX: ${pad}v\r\n\r\n`, { limits }).outcome).toBe(`TRAILERS_TOO_LARGE@${T + 64}`);
    });

    it('EOF inside a chunked body is UNEXPECTED_EOF (after reporting the bytes it had)', () => {
      for (const body of ['', '5', '5\r', '5\r\nhel', '5\r\nhello', '5\r\nhello\r', '5\r\nhello\r\n', '5\r\nhello\r\n0\r\n', '5\r\nhello\r\n0\r\nT: 1\r\n', '5\r\nhello\r\n0\r\n\r']) {
        const r = chunked(body);
        expect(r.outcome, JSON.stringify(body)).toBe(`UNEXPECTED_EOF@${HEAD_LEN + body.length}`);
        expect(r.messages[0].complete).toBe(false);
      }
    });
  });

  describe('connection reuse', () => {
    it('HTTP/1.1 is keep-alive unless Connection has "close" (any case, in any list position)', () => {
      expect(parse(h('HTTP/1.1 204 No Content')).messages[0].flags).toEqual(['KEEP_ALIVE', 'NO_BODY']);
      for (const v of ['close', 'Close', 'keep-alive, CLOSE', ' , close ,', 'upgrade,close']) {
        expect(parse(h('HTTP/1.1 204 No Content', `Connection: ${v}`)).messages[0].flags, v).toEqual(['NO_BODY']);
      }
      expect(parse(h('HTTP/1.1 204 No Content', 'Connection: closed, x-close, upgrade')).messages[0].flags).toEqual(['KEEP_ALIVE', 'NO_BODY']);
    });

    it('HTTP/1.0 is keep-alive only with a "keep-alive" token and a framed body', () => {
      expect(parse(h('HTTP/1.0 200 OK', 'Content-Length: 0')).messages[0].flags).toEqual([]);
      expect(parse(h('HTTP/1.0 200 OK', 'Connection: Keep-Alive', 'Content-Length: 0')).messages[0].flags).toEqual(['KEEP_ALIVE']);
      expect(parse(h('HTTP/1.0 200 OK', 'Connection: keep-alive, close', 'Content-Length: 0')).messages[0].flags).toEqual([]);
      expect(parse(h('HTTP/1.0 200 OK', 'Connection: keep-alive') + 'x').messages[0]).toMatchObject({ flags: ['CLOSE_DELIMITED'], body: 'x' });
    });

    it('after a response without keep-alive, any byte is DATA_AFTER_CLOSE; EOF is fine', () => {
      expect(outcome(h('HTTP/1.0 200 OK', 'Content-Length: 0') + 'H', { kinds: [0, 0] })).toBe('DATA_AFTER_CLOSE@38');
      expect(outcome(h('HTTP/1.1 200 OK', 'Connection: close', 'Content-Length: 0'), { kinds: [0, 0] })).toBe('OK');
    });

    it('Keep-Alive: timeout=N', () => {
      const kat = (...values: string[]) => parse(h('HTTP/1.1 204 No Content', ...values.map((v) => `Keep-Alive: ${v}`))).messages[0].keepAliveTimeout;
      expect(kat()).toBe(-1);
      expect(kat('timeout=5, max=100')).toBe(5);
      expect(kat('max=100, Timeout=7')).toBe(7);
      expect(kat('max=5', 'TIMEOUT=9')).toBe(9);
      expect(kat('timeout=5, timeout=6')).toBe(5);
      expect(kat('timeout=x, timeout=6')).toBe(-1);
      expect(kat('timeout=', 'timeout=6')).toBe(-1);
      expect(kat('timeout = 5, timeout=6')).toBe(6);
      expect(kat('timeout=2147483647')).toBe(2147483647);
      expect(kat('timeout=2147483648')).toBe(-1);
      expect(kat('timeout=00000000001')).toBe(-1);
      expect(kat('timeout=0000000001')).toBe(1);
      expect(kat('timeout=5;max=1')).toBe(-1);
      expect(kat(' timeout=3 ')).toBe(3);
      expect(parse(h('HTTP/1.0 200 OK', 'Keep-Alive: timeout=4') + 'x').messages[0]).toMatchObject({ flags: ['CLOSE_DELIMITED'], keepAliveTimeout: 4 });
    });
  });

  describe('responses without a body', () => {
    it('204 and 304 never have a body, whatever Content-Length says; the next byte is the next response', () => {
      for (const status of ['204 No Content', '304 Not Modified']) {
        const r = parse(h(`HTTP/1.1 ${status}`, 'Content-Length: 100') + h('HTTP/1.1 200 OK', 'Content-Length: 2') + 'ok', { kinds: [0, 0] });
        expect(r.messages).toEqual([
          expect.objectContaining({ status: Number(status.slice(0, 3)), flags: ['KEEP_ALIVE', 'NO_BODY'], contentLength: 100, body: '', complete: true }),
          expect.objectContaining({ status: 200, body: 'ok', complete: true }),
        ]);
        expect(r.outcome).toBe('OK');
      }
    });

    it('304 with Transfer-Encoding: chunked has no body', () => {
      const r = parse(h('HTTP/1.1 304 Not Modified', 'Transfer-Encoding: chunked'));
      expect(r).toEqual({ messages: [expect.objectContaining({ flags: ['KEEP_ALIVE', 'NO_BODY'], contentLength: -1, complete: true })], outcome: 'OK' });
    });

    it('the response to HEAD has no body; its Content-Length is reported', () => {
      const r = parse(h('HTTP/1.1 200 OK', 'Content-Length: 5') + h('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked') + h('HTTP/1.1 200 OK', 'Content-Length: 1') + '!', {
        kinds: [REQUEST_HEAD, REQUEST_HEAD, REQUEST_OTHER],
      });
      expect(r.messages).toEqual([
        expect.objectContaining({ flags: ['KEEP_ALIVE', 'NO_BODY'], contentLength: 5, body: '', complete: true }),
        expect.objectContaining({ flags: ['KEEP_ALIVE', 'NO_BODY'], contentLength: -1, body: '', complete: true }),
        expect.objectContaining({ flags: ['KEEP_ALIVE'], contentLength: 1, body: '!', complete: true }),
      ]);
      // a HEAD response without Content-Length is not close-delimited
      expect(parse(h('HTTP/1.1 200 OK'), { kinds: [REQUEST_HEAD] }).messages[0].flags).toEqual(['KEEP_ALIVE', 'NO_BODY']);
    });

    it('interim heads: 100 Continue (solicited or not), 103 Early Hints, several in a row, then the final response', () => {
      const r = parse(h('HTTP/1.1 100 Continue') + h('HTTP/1.1 103 Early Hints', 'Link: </a.css>; rel=preload', 'Link: </b.js>; rel=preload') +
        h('HTTP/1.1 102 Processing', 'Content-Length: 7', 'Keep-Alive: timeout=3') + h('HTTP/1.1 200 OK', 'Content-Length: 2') + 'ok');
      expect(r.messages).toEqual([
        { status: 100, minor: 1, flags: ['INFORMATIONAL', 'NO_BODY'], contentLength: -1, keepAliveTimeout: -1, headers: [], reason: 'Continue', body: '', complete: true },
        expect.objectContaining({ status: 103, flags: ['INFORMATIONAL', 'NO_BODY'], headers: ['Link', '</a.css>; rel=preload', 'Link', '</b.js>; rel=preload'], complete: true }),
        expect.objectContaining({ status: 102, flags: ['INFORMATIONAL', 'NO_BODY'], contentLength: -1, keepAliveTimeout: -1, complete: true }),
        expect.objectContaining({ status: 200, flags: ['KEEP_ALIVE'], body: 'ok', complete: true }),
      ]);
      expect(r.outcome).toBe('OK');
    });

    it('interim heads do not answer the request; their framing fields are still checked', () => {
      const p = make();
      p.expect();
      expect(p.execute(latin1(h('HTTP/1.1 100 Continue')))).toBe(STATUS_OK);
      expect(p.pendingRequests).toBe(1);
      expect(outcome(h('HTTP/1.1 100 Continue', 'Content-Length: x'))).toBe('INVALID_CONTENT_LENGTH@41');
    });

    it('101 Switching Protocols: parsing stops after the head, the rest belongs to the new protocol', () => {
      const input = h('HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade') + '\x81\x05hello';
      const r = parse(input);
      expect(r.messages).toEqual([expect.objectContaining({ status: 101, flags: ['NO_BODY', 'UPGRADE'], contentLength: -1, complete: true })]);
      expect(r.outcome).toBe(`UPGRADED@${input.indexOf('\x81')}`);
      const p = make();
      p.expect();
      const bytes = latin1(input);
      expect(p.execute(bytes, 0, 10)).toBe(STATUS_OK);
      expect(p.execute(bytes, 10, bytes.length - 10)).toBe(STATUS_UPGRADED);
      expect(p.upgradeOffset).toBe(input.indexOf('\x81'));
      expect(p.execute(bytes, 80, 2)).toBe(STATUS_UPGRADED); // nothing consumed
      expect(p.upgradeOffset).toBe(80);
      expect(p.finish()).toBe(STATUS_OK);
      // exactly at the end of the data
      const q = make();
      q.expect();
      expect(q.execute(latin1(h('HTTP/1.1 101 Switching Protocols')))).toBe(STATUS_UPGRADED);
      expect(q.upgradeOffset).toBe(h('HTTP/1.1 101 Switching Protocols').length);
    });

    it('CONNECT: a 2xx makes a tunnel, another status is a normal response', () => {
      const input = h('HTTP/1.1 200 Connection Established', 'Content-Length: 3') + 'tunnel';
      expect(parse(input, { kinds: [REQUEST_CONNECT] })).toEqual({
        messages: [expect.objectContaining({ status: 200, flags: ['NO_BODY', 'UPGRADE'], contentLength: 3, complete: true })],
        outcome: `UPGRADED@${input.indexOf('tunnel')}`,
      });
      expect(parse(h('HTTP/1.1 407 Proxy Auth', 'Content-Length: 3') + 'abc', { kinds: [REQUEST_CONNECT] }).messages[0]).toMatchObject({ flags: ['KEEP_ALIVE'], body: 'abc' });
    });
  });

  describe('requests and the end of the stream', () => {
    it('bytes with no outstanding request are UNSOLICITED_RESPONSE', () => {
      expect(outcome(h('HTTP/1.1 200 OK'), { kinds: [] })).toBe('UNSOLICITED_RESPONSE@0');
    });

    it('pipelined requests are answered in order', () => {
      const r = parse(h('HTTP/1.1 200 OK', 'Content-Length: 1') + 'a' + h('HTTP/1.1 200 OK', 'Content-Length: 9') + h('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked') + '1\r\nc\r\n0\r\n\r\n', {
        kinds: [REQUEST_OTHER, REQUEST_HEAD, REQUEST_OTHER],
      });
      expect(r.messages.map((m) => [m.body, m.complete])).toEqual([['a', true], ['', true], ['c', true]]);
      expect(r.outcome).toBe('OK');
    });

    it('finish(): close-delimited body completes; idle is fine; NO_RESPONSE / UNEXPECTED_EOF otherwise', () => {
      expect(outcome('', { kinds: [] })).toBe('OK');
      expect(outcome('', { kinds: [REQUEST_OTHER] })).toBe('NO_RESPONSE@0');
      const one = h('HTTP/1.1 200 OK', 'Content-Length: 0');
      expect(outcome(one, { kinds: [0, 0] })).toBe(`NO_RESPONSE@${one.length}`);
      expect(outcome('H')).toBe('UNEXPECTED_EOF@1');
      expect(outcome('HTTP/1.1 200 OK\r\n')).toBe('UNEXPECTED_EOF@17');
      expect(outcome(h('HTTP/1.1 100 Continue'))).toBe('UNEXPECTED_EOF@25');
      expect(parse(h('HTTP/1.1 200 OK') + 'eof-delimited')).toMatchObject({ messages: [{ flags: ['CLOSE_DELIMITED'], body: 'eof-delimited', complete: true }], outcome: 'OK' });
      expect(parse(h('HTTP/1.1 200 OK'))).toMatchObject({ messages: [{ flags: ['CLOSE_DELIMITED'], body: '', complete: true }], outcome: 'OK' });
    });

    it('after finish(), a byte is DATA_AFTER_FINISH; an empty execute is fine', () => {
      const p = make();
      p.expect();
      expect(p.execute(latin1(h('HTTP/1.1 200 OK', 'Content-Length: 0')))).toBe(STATUS_OK);
      expect(p.finish()).toBe(STATUS_OK);
      expect(p.finish()).toBe(STATUS_OK);
      expect(p.execute(new Uint8Array(0))).toBe(STATUS_OK);
      expect(p.execute(latin1('x'))).toBe(STATUS_ERROR);
      expect([parseErrorName(p.errorCode), p.errorPosition]).toEqual(['DATA_AFTER_FINISH', 38]);
    });

    it('an error is sticky: later calls return STATUS_ERROR and report nothing', () => {
      const calls: string[] = [];
      const p = make({ onMessageBegin: () => calls.push('begin'), onHead: () => calls.push('head'), onBody: () => calls.push('body'), onMessageComplete: () => calls.push('complete') });
      p.expect();
      p.expect();
      expect(p.execute(latin1('HTTP/1.1 200 OK\r\nX: \x00'))).toBe(STATUS_ERROR);
      expect([parseErrorName(p.errorCode), p.errorPosition]).toEqual(['INVALID_HEADER_VALUE', 20]);
      expect(p.execute(latin1(h('HTTP/1.1 204 No Content')))).toBe(STATUS_ERROR);
      expect(p.finish()).toBe(STATUS_ERROR);
      expect(p.errorCode).toBe(8);
      expect(calls).toEqual(['begin']);
      p.reset();
      expect([p.errorCode, p.errorPosition, p.pendingRequests]).toEqual([0, -1, 0]);
      p.expect();
      expect(p.execute(latin1(h('HTTP/1.1 204 No Content')))).toBe(STATUS_OK);
      expect(calls).toEqual(['begin', 'begin', 'head', 'complete']);
    });

    it('expect(): at most MAX_PENDING_REQUESTS outstanding, kinds checked', () => {
      const p = make();
      for (let i = 0; i < MAX_PENDING_REQUESTS; i++) p.expect(REQUEST_OTHER);
      expect(p.pendingRequests).toBe(MAX_PENDING_REQUESTS);
      expect(() => p.expect()).toThrow(RangeError);
      expect(() => p.expect(3 as RequestKind)).toThrow(TypeError);
      const responses = h('HTTP/1.1 204 No Content').repeat(MAX_PENDING_REQUESTS);
      expect(p.execute(latin1(responses))).toBe(STATUS_OK);
      expect(p.pendingRequests).toBe(0);
      p.expect();
      expect(p.pendingRequests).toBe(1);
    });
  });

  describe('API', () => {
    it('onBody gets slices of the very data passed, within [offset, offset + length)', () => {
      const slices: Array<[Uint8Array, number, number]> = [];
      const p = make({ onBody: (d: Uint8Array, s: number, e: number) => slices.push([d, s, e]) });
      p.expect();
      const buf = latin1('..........' + h('HTTP/1.1 200 OK', 'Content-Length: 4') + 'bodyTAIL');
      expect(p.execute(buf, 10, buf.length - 14)).toBe(STATUS_OK);
      expect(slices).toEqual([[buf, buf.length - 8, buf.length - 4]]);
    });

    it('argument checks', () => {
      const p = make();
      p.expect();
      expect(() => p.execute('HTTP' as unknown as Uint8Array)).toThrow(TypeError);
      expect(() => p.execute(new Uint16Array(4) as unknown as Uint8Array)).toThrow(TypeError);
      expect(() => p.execute(new Uint8Array(4), 5)).toThrow(RangeError);
      expect(() => p.execute(new Uint8Array(4), 1, 4)).toThrow(RangeError);
      expect(() => p.execute(new Uint8Array(4), 0.5)).toThrow(RangeError);
      expect(() => p.execute(new Uint8Array(4), -1)).toThrow(RangeError);
      expect(p.execute(new Uint8Array(4), 4)).toBe(STATUS_OK); // empty slice
      expect(p.execute(Buffer.from('HTTP/1.1 204 No Content\r\n\r\n'))).toBe(STATUS_OK);
    });

    it('handlers must not call back into the parser; a throwing handler makes it unusable until reset()', () => {
      let p = make();
      const reenter = make({ onHead: () => p.execute(latin1('x')) });
      p = reenter;
      p.expect();
      expect(() => p.execute(latin1(h('HTTP/1.1 204 No Content')))).toThrow(/called from a parser handler/);
      expect(() => p.finish()).toThrow(/unusable/);
      const thrower = make({ onBody: () => { throw new Error('boom'); } });
      thrower.expect();
      expect(() => thrower.execute(latin1(h('HTTP/1.1 200 OK', 'Content-Length: 1') + 'x'))).toThrow('boom');
      expect(() => thrower.execute(latin1('x'))).toThrow(/unusable/);
      expect(() => thrower.expect()).toThrow(/unusable/);
      thrower.reset();
      thrower.expect();
      expect(thrower.execute(latin1(h('HTTP/1.1 204 No Content')))).toBe(STATUS_OK);
    });

    it('many responses in one slice (past the native event buffer and head store: it pauses and resumes)', () => {
      let heads = 0;
      let completes = 0;
      let body = '';
      const p = make({ onHead: () => heads++, onMessageComplete: () => completes++, onBody: (d: Uint8Array, s: number, e: number) => (body += Buffer.from(d.subarray(s, e)).toString('latin1')) });
      const parts: string[] = [];
      for (let i = 0; i < 21; i++) {
        parts.push(h('HTTP/1.1 204 No Content'), h('HTTP/1.1 200 OK', 'Content-Length: 1') + String(i % 10));
        parts.push(h('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked') + '1\r\na\r\n'.repeat(20) + '0\r\nT: 1\r\n\r\n');
      }
      for (let k = 0; k < 3 * 21; k++) p.expect();
      expect(p.execute(latin1(parts.join('')))).toBe(STATUS_OK);
      expect([heads, completes]).toEqual([63, 63]);
      expect(body.length).toBe(21 + 21 * 20);
    });

    it('heads near the limit, back to back (the native store holds two): all parsed', () => {
      const limits = { maxHeadSize: 1000 };
      const headers: string[][] = [];
      const p = make({ onHead: (_s: number, _m: number, _f: number, _c: number, _k: number, hs: string[]) => headers.push(hs) }, limits);
      const one = (i: number) => h('HTTP/1.1 204 No Content', `X: ${String(i).padEnd(950, 'v')}`);
      for (let i = 0; i < 5; i++) p.expect();
      const all = latin1([0, 1, 2, 3, 4].map(one).join(''));
      // cut inside the third head: the partial head moves to the front of the store
      expect(p.execute(all, 0, 2500)).toBe(STATUS_OK);
      expect(p.execute(all, 2500, all.length - 2500)).toBe(STATUS_OK);
      expect(headers.map((hs) => hs[1].slice(0, 2))).toEqual(['0v', '1v', '2v', '3v', '4v']);
    });
  });
});
