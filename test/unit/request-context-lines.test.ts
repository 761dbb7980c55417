/**
 * RequestContext over the client's lines as bytes (src/plugins/context.ts): what plugins read and
 * edit must be what they would read and edit in the string list readHeaders makes, and the lines
 * sent upstream (upstreamLines) exactly those not removed. The integration test
 * (test/integration/head-forwarding.test.ts) holds the whole path to the same upstream bytes; this
 * holds each operation, including the orders a plugin can call them in.
 */
import { describe, expect, it } from 'vitest';
import { RequestContext } from '../../src/plugins/context.js';
import { splitHeaderLines } from '../../src/upstream/dispatch.js';
import { countLines, lineValue, takeLines, takenCount, takenLength } from '../../src/worker/header-lines.js';

const CLIENT = [
  ['user-agent', 'curl/8'],
  ['cookie', 'a=1'],
  ['accept', '*/*'],
  ['cookie', 'b=2'],
  ['x-api-key', 'k\u00e9y'], // an 8-bit byte: one char per byte both ways
] as const;

function lines(pairs: readonly (readonly [string, string])[]): Buffer {
  return Buffer.from(pairs.map(([n, v]) => `${n}: ${v}\r\n`).join(''), 'latin1');
}

/** The same request both ways: the client's lines as bytes (plus the gateway's list), and all of it as strings. */
function both(): [RequestContext, RequestContext, string[]] {
  const gatewayAdded = ['traceparent', '00-1-2-01'];
  const list = [...gatewayAdded];
  const asBytes = new RequestContext('GET', '/', '', 'h', list, '1.2.3.4', '1.2.3.4', 'r', lines(CLIENT), CLIENT.length);
  const asStrings = new RequestContext('GET', '/', '', 'h', [...CLIENT.flat(), ...gatewayAdded], '1.2.3.4', '1.2.3.4', 'r');
  return [asBytes, asStrings, list];
}

/** What goes upstream: the lines as bytes (as pairs) followed by the list. */
function upstream(ctx: RequestContext, list: string[]): string[] {
  const raw = ctx.upstreamLines();
  if (raw !== null) expect(splitHeaderLines(raw).length / 2).toBe(ctx.upstreamLineCount);
  return [...(raw !== null ? splitHeaderLines(raw) : []), ...list];
}

type Op = (ctx: RequestContext) => unknown;
const OPS: Record<string, Op> = {
  readCookie: (c) => c.header('cookie'),
  readKey: (c) => c.header('x-api-key'),
  readMissing: (c) => c.header('x-none'),
  countCookie: (c) => c.headerCount('cookie'),
  removeCookie: (c) => c.removeHeader('cookie'),
  removeKey: (c) => c.removeHeader('x-api-key'),
  removeMissing: (c) => c.removeHeader('x-none'),
  removeTrace: (c) => c.removeHeader('traceparent'),
  setCookie: (c) => c.setHeader('cookie', 'c=3'),
  setNew: (c) => c.setHeader('x-new', '1'),
  appendCookie: (c) => c.appendHeader('cookie', 'd=4'),
  readAll: (c) => [...c.headers],
};

describe('RequestContext over the client lines as bytes', () => {
  it('every sequence of three operations reads and sends what the string list does', () => {
    const names = Object.keys(OPS);
    let sequences = 0;
    for (const a of names) {
      for (const b of names) {
        for (const c of names) {
          const [bytes, strings, list] = both();
          for (const op of [a, b, c]) expect(OPS[op](bytes), `${a}, ${b}, ${c}: ${op}`).toEqual(OPS[op](strings));
          expect(upstream(bytes, list), `${a}, ${b}, ${c}`).toEqual(upstream(strings, strings.headers));
          sequences++;
        }
      }
    }
    expect(sequences).toBe(names.length ** 3);
  });

  it('sends the bytes themselves while nothing is removed, and only the lines left once something is', () => {
    const [ctx, , list] = both();
    expect(ctx.header('cookie')).toBe('a=1');
    const raw = ctx.upstreamLines();
    expect(raw).not.toBeNull();
    expect(raw!.equals(lines(CLIENT))).toBe(true);
    expect(ctx.upstreamLineCount).toBe(5);
    expect(list).toEqual(['traceparent', '00-1-2-01']); // nothing turned into strings

    const [edited] = both();
    edited.removeHeader('cookie');
    edited.removeHeader('x-api-key');
    expect(edited.upstreamLines()!.toString('latin1')).toBe('user-agent: curl/8\r\naccept: */*\r\n');
    expect(edited.upstreamLineCount).toBe(2);
  });

  it('reading the whole list turns the lines into strings in the head\'s own array, before the gateway\'s', () => {
    const [ctx, , list] = both();
    ctx.removeHeader('accept');
    expect(ctx.headers).toBe(list);
    expect(list).toEqual(['user-agent', 'curl/8', 'cookie', 'a=1', 'cookie', 'b=2', 'x-api-key', 'k\u00e9y', 'traceparent', '00-1-2-01']);
    expect(ctx.upstreamLines()).toBeNull();
    expect(ctx.upstreamLineCount).toBe(0);
  });

  it('once sent, reading the whole list leaves what was sent alone', () => {
    const [ctx, , list] = both();
    ctx.upstreamLines();
    const view = ctx.headers;
    expect(view).not.toBe(list);
    expect(view).toEqual([...CLIENT.flat(), 'traceparent', '00-1-2-01']);
    expect(list).toEqual(['traceparent', '00-1-2-01']);
  });

  it('removing every line sends none', () => {
    const [ctx] = both();
    for (const name of ['user-agent', 'cookie', 'accept', 'x-api-key']) ctx.removeHeader(name);
    expect(ctx.upstreamLines()).toBeNull();
    expect(ctx.upstreamLineCount).toBe(0);
    expect(ctx.header('cookie')).toBeUndefined();
  });
});

describe('header lines as bytes: lookups and removals (src/worker/header-lines.ts)', () => {
  it('find, count and take every line of a name, wherever it is, keeping the rest in order, for 2,000 generated line sets', () => {
    let seed = 99;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
    // Names that share a prefix or a suffix with the one looked up, and values that hold it.
    const names = ['x-request-id', 'x-request-ids', 'y-x-request-id', 'x-request', 'accept', 'cookie'];
    const values = ['', 'abc', 'x-request-id: 1', '\u00ff\u00e9', 'a'.repeat(90)];
    let taken = 0;
    for (let n = 0; n < 2000; n++) {
      const pairs: [string, string][] = [];
      for (let i = rnd(9); i > 0; i--) pairs.push([names[rnd(names.length)], values[rnd(values.length)]]);
      if (pairs.length === 0) continue;
      // Stale bytes after the length in use (what a removal leaves behind) must not count.
      const buf = Buffer.concat([lines(pairs), Buffer.from('\nx-request-id: stale\r\n', 'latin1')]);
      const length = buf.length - 22;
      const named = pairs.filter(([name]) => name === 'x-request-id');
      const rest = pairs.filter(([name]) => name !== 'x-request-id');
      expect(lineValue(buf, length, 'x-request-id')).toBe(named.length > 0 ? named[0][1] : undefined);
      expect(countLines(buf, length, 'x-request-id')).toBe(named.length);
      const first = takeLines(buf, length, pairs.length, 'x-request-id');
      expect(first).toBe(named.length > 0 ? named[0][1] : undefined);
      if (first === undefined) continue;
      taken++;
      expect(takenCount()).toBe(rest.length);
      expect(buf.subarray(0, takenLength()).toString('latin1')).toBe(lines(rest).toString('latin1'));
      expect(lineValue(buf, takenLength(), 'x-request-id')).toBeUndefined();
    }
    expect(taken).toBeGreaterThan(800);
  });
});
