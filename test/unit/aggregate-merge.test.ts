/**
 * The aggregation's pieces that need no process: the JSON validator against V8's JSON.parse
 * (a fixed corpus, then seeded random texts and mutations of them), the splice, the param
 * encoding of backend paths, and the Content-Type rule.
 */
import { describe, expect, it } from 'vitest';
import { isUtf8 } from 'node:buffer';
import { jsonBounds, keyPrefix, mergeJson } from '../../src/worker/actions/aggregate-merge.js';
import { encodeParam } from '../../src/runtime/compile.js';
import { isJsonContentType } from '../../src/worker/actions/aggregate.js';
import { mulberry32 } from '../../src/util/prng.js';

const VALID = [
  '0', '-0', '1', '-12.5e+3', '1E-2', '0.5', '123456789012345678901234567890', 'true', 'false', 'null',
  '""', '"a"', '"\\"\\\\\\/\\b\\f\\n\\r\\t"', '"\\u00e9\\uD83D\\uDE00"', '"\\ud800"', '"é 😀"',
  '[]', '{}', '[1,[2,[3,[]]],{}]', '{"a":1,"b":[true,false,null],"c":{"d":"e"}}', '{"a":1,"a":2}',
  ' \t\r\n{ "a" : [ 1 , 2 ] }\n', '[' + '['.repeat(5000) + ']'.repeat(5000) + ']',
];

const INVALID = [
  '', ' ', '01', '-', '1.', '.5', '1e', '1e+', '+1', '0x10', 'NaN', 'Infinity', 'tru', 'nul', 'True',
  '"', '"abc', '"\\x"', '"\\u12"', '"\\u12g4"', '"a\nb"', '"tab\there"', "'a'",
  '[', '[1', '[1,]', '[,1]', '[1 2]', '{', '{"a"}', '{"a":}', '{"a":1,}', '{a:1}', '{"a" 1}', '{1:2}', '{"a":1]', '[1}',
  '1 2', '{} {}', '[]x', '{"a":1}}', '"a"b',
];

/** The answer V8 gives: is `b` one JSON text (decoded as UTF-8, which is what the bytes mean)? */
function v8Accepts(b: Buffer): boolean {
  try {
    JSON.parse(b.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

describe('jsonBounds: the byte validator', () => {
  it('accepts what JSON.parse accepts and returns the value without the whitespace around it', () => {
    for (const t of VALID) {
      const b = Buffer.from(t);
      const at = jsonBounds(b);
      expect(at, t.slice(0, 40)).not.toBeNull();
      expect(b.subarray(at!.start, at!.end).toString()).toBe(t.trim());
      expect(v8Accepts(b)).toBe(true);
    }
  });

  it('refuses what JSON.parse refuses', () => {
    for (const t of INVALID) {
      expect(jsonBounds(Buffer.from(t)), JSON.stringify(t)).toBeNull();
      expect(v8Accepts(Buffer.from(t)), JSON.stringify(t)).toBe(false);
    }
  });

  it('refuses bytes that are not UTF-8 (JSON.parse never sees them: a decoder would replace them)', () => {
    expect(jsonBounds(Buffer.from([0x22, 0xff, 0x22]))).toBeNull();
    expect(jsonBounds(Buffer.from([0x22, 0xc3, 0x22]))).toBeNull(); // a truncated sequence
    expect(jsonBounds(Buffer.from([0x22, 0xc3, 0xa9, 0x22]))).not.toBeNull(); // "é"
  });

  it('skips a UTF-8 byte order mark (RFC 8259 §8.1)', () => {
    const b = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(' [1] ')]);
    expect(jsonBounds(b)).toEqual({ start: 4, end: 7 });
  });

  it('agrees with JSON.parse on seeded random texts and mutations of them', () => {
    const seed = 20261201;
    const rnd = mulberry32(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
    const value = (depth: number): unknown => {
      const r = rnd();
      if (depth > 4 || r < 0.3) return pick([0, -1, 1.5e300, 3.14, 'x', 'é\n"\\', '', true, false, null, 12345678901234567890]);
      if (r < 0.65) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth + 1));
      const o: Record<string, unknown> = {};
      for (let i = 0; i < Math.floor(rnd() * 4); i++) o[pick(['a', 'b', 'ü', '"q"', ''])] = value(depth + 1);
      return o;
    };
    const bytes = Buffer.from(' \t\n\r{}[]",:\\-+.eE0123456789tfnulx\u00e9');
    let accepted = 0;
    for (let n = 0; n < 3000; n++) {
      let text = JSON.stringify(value(0), null, rnd() < 0.3 ? 2 : undefined);
      if (rnd() < 0.2) text = ` ${text}\n`;
      let b = Buffer.from(text);
      const mutate = rnd();
      if (mutate < 0.3) b = b.subarray(0, Math.floor(rnd() * b.length));
      else if (mutate < 0.7 && b.length > 0) {
        b = Buffer.from(b);
        b[Math.floor(rnd() * b.length)] = bytes[Math.floor(rnd() * bytes.length)];
      }
      if (!isUtf8(b)) continue; // a mutation that broke a UTF-8 sequence: covered above
      const ours = jsonBounds(b) !== null;
      expect(ours, `seed ${seed} case ${n}: ${JSON.stringify(b.toString())}`).toBe(v8Accepts(b));
      if (ours) accepted++;
    }
    expect(accepted).toBeGreaterThan(1000); // the generator makes valid texts too
  });
});

describe('mergeJson: the splice', () => {
  const prefixes = ['user', 'orders', 'a"b'].map(keyPrefix);

  it('splices the bodies in backend order, leaving out absent ones, keys JSON-escaped', () => {
    const r = mergeJson({ prefixes, bodies: [Buffer.from(' {"id":1} '), null, Buffer.from('[1,2]')], required: [true, false, false] });
    expect(r.invalid).toEqual([]);
    expect(r.merged!.toString()).toBe('{"user":{"id":1},"a\\"b":[1,2]}');
    expect(JSON.parse(r.merged!.toString())).toEqual({ user: { id: 1 }, 'a"b': [1, 2] });
    // Its own ArrayBuffer: it can be transferred back from a pool thread.
    expect(r.merged!.byteOffset).toBe(0);
    expect(r.merged!.buffer.byteLength).toBe(r.merged!.length);
  });

  it('leaves invalid optional bodies out and reports them; an invalid required body stops the merge', () => {
    const r = mergeJson({ prefixes, bodies: [Buffer.from('1'), Buffer.from('{'), Buffer.from('2')], required: [true, false, true] });
    expect(r.invalid).toEqual([1]);
    expect(r.merged!.toString()).toBe('{"user":1,"a\\"b":2}');
    const bad = mergeJson({ prefixes, bodies: [Buffer.from('1'), Buffer.from('2'), Buffer.from('nope')], required: [true, false, true] });
    expect(bad).toEqual({ merged: null, invalid: [2] });
  });

  it('gives {} when nothing is left', () => {
    expect(mergeJson({ prefixes, bodies: [null, null, null], required: [false, false, false] }).merged!.toString()).toBe('{}');
  });
});

describe('backend path params', () => {
  it('percent-encodes all but unreserved characters and the escapes already there', () => {
    expect(encodeParam('abc-1.2_~', 'segment')).toBe('abc-1.2_~');
    expect(encodeParam("a&b=c+d;e'f(g)*h!i$j,k:l@m", 'segment')).toBe('a%26b%3Dc%2Bd%3Be%27f%28g%29%2Ah%21i%24j%2Ck%3Al%40m');
    expect(encodeParam('x%2Fy%20z', 'segment')).toBe('x%2Fy%20z');
  });
  it('keeps "/" for a wildcard in the path, not in the query', () => {
    expect(encodeParam('a/b&c', 'wildcard')).toBe('a/b%26c');
    expect(encodeParam('a&b/c', 'wildcard')).toBe('a%26b/c');
    expect(encodeParam('a/b&c', 'query')).toBe('a%2Fb%26c');
    expect(encodeParam('a&b/c', 'query')).toBe('a%26b%2Fc');
  });
});

describe('JSON Content-Type', () => {
  it('is application/json or application/*+json, with or without parameters', () => {
    for (const t of ['application/json', 'Application/JSON; charset=utf-8', 'application/problem+json', ' application/vnd.api+json ;x=1']) {
      expect(isJsonContentType(Buffer.from(t)), t).toBe(true);
    }
    for (const t of ['text/json', 'application/jsonp', 'text/plain', 'application/json-seq', '', 'json']) {
      expect(isJsonContentType(Buffer.from(t)), t).toBe(false);
    }
  });
});
