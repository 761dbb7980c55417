/**
 * Test harness for the response parser engines: feeds a byte string split at given points,
 * records the callback stream, normalizes it (split-independent form) and summarizes it into
 * messages. Shared by the behaviour suite, the regression suite, the differential fuzzing and the
 * llhttp comparison.
 */
import { expect } from 'vitest';
import {
  FLAG_CHUNKED,
  FLAG_CLOSE_DELIMITED,
  FLAG_INFORMATIONAL,
  FLAG_KEEP_ALIVE,
  FLAG_NO_BODY,
  FLAG_UPGRADE,
  REQUEST_OTHER,
  STATUS_ERROR,
  STATUS_OK,
  STATUS_UPGRADED,
  createResponseParser,
  parseErrorName,
  type ParserLimits,
  type RequestKind,
  type ResponseParserEngineKind,
} from '../../src/native/http-response-parser.js';
import { mulberry32 } from '../../src/util/prng.js';

export type Engine = ResponseParserEngineKind;
export const ENGINES: readonly Engine[] = ['native', 'reference'];

export type Ev =
  | ['begin']
  | ['head', number, number, number, number, number, string[], string]
  | ['body', string]
  | ['trailers', string[]]
  | ['complete']
  /** outcome: "OK", "UPGRADED@<stream offset>" or "<ERROR_NAME>@<stream position>" */
  | ['end', string];

export interface FeedOptions {
  /** expect() calls made before feeding (default one REQUEST_OTHER). */
  kinds?: RequestKind[];
  limits?: ParserLimits;
  /** Call finish() after the last byte (default true). */
  finish?: boolean;
}

export const latin1 = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));
const text = (d: Uint8Array, a: number, b: number) => Buffer.from(d.buffer, d.byteOffset + a, b - a).toString('latin1');

/**
 * Parses `input` fed in the pieces cut at `cuts` (sorted offsets strictly inside the input).
 * Pieces alternate between a view into the whole input (offset/length arguments) and a fresh copy
 * (so a read outside the slice would show). Records every callback and the outcome.
 */
export function feed(engine: Engine, input: Uint8Array, cuts: readonly number[], opts: FeedOptions = {}): Ev[] {
  const evs: Ev[] = [];
  let current: Uint8Array | null = null;
  let lo = 0;
  let hi = 0;
  const p = createResponseParser(
    {
      onMessageBegin: () => evs.push(['begin']),
      onHead: (status, minor, flags, cl, kat, headers, reason) => evs.push(['head', status, minor, flags, cl, kat, headers, reason]),
      onBody: (data, start, end) => {
        if (data !== current || start < lo || end > hi || start >= end) throw new Error(`body slice [${start}, ${end}) outside the fed [${lo}, ${hi})`);
        evs.push(['body', text(data, start, end)]);
      },
      onTrailers: (t) => evs.push(['trailers', t]),
      onMessageComplete: () => evs.push(['complete']),
    },
    opts.limits,
    engine,
  );
  for (const k of opts.kinds ?? [REQUEST_OTHER]) p.expect(k);
  const bounds = [0, ...cuts, input.length];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const a = bounds[i];
    const b = bounds[i + 1];
    let st: number;
    let base: number;
    if (i % 2 === 0) {
      current = input;
      lo = a;
      hi = b;
      base = 0;
      st = p.execute(input, a, b - a);
    } else {
      current = input.slice(a, b);
      lo = 0;
      hi = b - a;
      base = a;
      st = p.execute(current);
    }
    if (st === STATUS_UPGRADED) {
      evs.push(['end', `UPGRADED@${base + p.upgradeOffset}`]);
      return evs;
    }
    if (st === STATUS_ERROR) {
      evs.push(['end', `${parseErrorName(p.errorCode)}@${p.errorPosition}`]);
      return evs;
    }
    if (st !== STATUS_OK) throw new Error(`execute returned ${st}`);
  }
  if (opts.finish === false) {
    evs.push(['end', 'OK']);
    return evs;
  }
  const st = p.finish();
  evs.push(['end', st === STATUS_ERROR ? `${parseErrorName(p.errorCode)}@${p.errorPosition}` : 'OK']);
  return evs;
}

/** Adjacent body records merged: the form that must not depend on how the input was split. */
export function normalize(evs: readonly Ev[]): Ev[] {
  const out: Ev[] = [];
  for (const e of evs) {
    const last = out[out.length - 1];
    if (e[0] === 'body' && last !== undefined && last[0] === 'body') out[out.length - 1] = ['body', last[1] + e[1]];
    else out.push(e);
  }
  return out;
}

/** Checks the event grammar: (begin head body* trailers? complete)* [begin head? body*] end. */
export function checkGrammar(evs: readonly Ev[]): string | null {
  let st: 'idle' | 'begun' | 'head' | 'trailers' = 'idle';
  for (let i = 0; i < evs.length; i++) {
    const k = evs[i][0];
    const bad = () => `event ${i} ${k} after ${st}`;
    if (k === 'end') return i === evs.length - 1 ? null : 'events after end';
    if (k === 'begin') {
      if (st !== 'idle') return bad();
      st = 'begun';
    } else if (k === 'head') {
      if (st !== 'begun') return bad();
      st = 'head';
    } else if (k === 'body') {
      if (st !== 'head') return bad();
    } else if (k === 'trailers') {
      if (st !== 'head') return bad();
      st = 'trailers';
    } else if (k === 'complete') {
      if (st !== 'head' && st !== 'trailers') return bad();
      st = 'idle';
    }
  }
  return 'no end';
}

export function flagNames(flags: number): string[] {
  const names: string[] = [];
  if (flags & FLAG_INFORMATIONAL) names.push('INFORMATIONAL');
  if (flags & FLAG_KEEP_ALIVE) names.push('KEEP_ALIVE');
  if (flags & FLAG_CHUNKED) names.push('CHUNKED');
  if (flags & FLAG_NO_BODY) names.push('NO_BODY');
  if (flags & FLAG_UPGRADE) names.push('UPGRADE');
  if (flags & FLAG_CLOSE_DELIMITED) names.push('CLOSE_DELIMITED');
  return names;
}

export interface Message {
  status?: number;
  minor?: number;
  flags?: string[];
  contentLength?: number;
  keepAliveTimeout?: number;
  headers?: string[];
  reason?: string;
  body: string;
  trailers?: string[];
  complete: boolean;
}

export interface Summary {
  messages: Message[];
  outcome: string;
}

export function summarize(evs: readonly Ev[]): Summary {
  const messages: Message[] = [];
  let outcome = '(none)';
  for (const e of evs) {
    const m = messages[messages.length - 1];
    switch (e[0]) {
      case 'begin':
        messages.push({ body: '', complete: false });
        break;
      case 'head':
        Object.assign(m, {
          status: e[1],
          minor: e[2],
          flags: flagNames(e[3]),
          contentLength: e[4],
          keepAliveTimeout: e[5],
          headers: e[6],
          reason: e[7],
        });
        break;
      case 'body':
        m.body += e[1];
        break;
      case 'trailers':
        m.trailers = e[1];
        break;
      case 'complete':
        m.complete = true;
        break;
      case 'end':
        outcome = e[1];
        break;
    }
  }
  return { messages, outcome };
}

/** Every single cut (for inputs up to `maxAll` bytes) plus byte-at-a-time; random cuts beyond. */
export function splitPlans(n: number, rnd: () => number, maxAll = 600): number[][] {
  const plans: number[][] = [[]];
  if (n <= 1) return plans;
  if (n <= maxAll) {
    for (let k = 1; k < n; k++) plans.push([k]);
    plans.push(Array.from({ length: n - 1 }, (_, i) => i + 1));
  } else {
    for (let r = 0; r < 40; r++) plans.push([Math.floor(rnd() * (n - 1)) + 1]);
  }
  for (let r = 0; r < 8; r++) {
    const cuts = new Set<number>();
    const count = 1 + Math.floor(rnd() * Math.min(12, n - 1));
    while (cuts.size < count) cuts.add(1 + Math.floor(rnd() * (n - 1)));
    plans.push([...cuts].sort((a, b) => a - b));
  }
  return plans;
}

/**
 * Parses `input` (latin1) whole, then cut at every byte boundary and byte by byte (random cuts
 * when longer than `maxAll`): every normalized stream must equal the whole one. Returns its summary.
 */
export function parseAllSplits(engine: Engine, input: string, opts: FeedOptions = {}, maxAll = 400): Summary {
  const bytes = latin1(input);
  const whole = normalize(feed(engine, bytes, [], opts));
  const grammar = checkGrammar(whole);
  if (grammar !== null) throw new Error(`bad event grammar: ${grammar}: ${JSON.stringify(whole)}`);
  const rnd = mulberry32(bytes.length * 7919 + 1);
  for (const cuts of splitPlans(bytes.length, rnd, maxAll)) {
    const got = normalize(feed(engine, bytes, cuts, opts));
    if (JSON.stringify(got) !== JSON.stringify(whole)) {
      expect(got, `cut at ${JSON.stringify(cuts.length > 20 ? 'every byte' : cuts)}`).toEqual(whole);
    }
  }
  return summarize(whole);
}
