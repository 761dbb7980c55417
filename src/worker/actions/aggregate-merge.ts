/**
 * The merge of an aggregation: the backends' JSON answers spliced into one object,
 * `{"<as>":<body>,"<as>":<body>}`, after checking that each body is one valid JSON text in UTF-8.
 *
 * Splicing rather than JSON.parse + JSON.stringify (measured, docs/aggregation.md): a byte
 * validator plus one copy costs a fraction of a parse and a stringify, allocates no objects, and
 * keeps every backend's bytes as they were sent: 64-bit ids (12345678901234567890) keep their
 * digits, where a parse would round them to a double, and `1.0`, key order and duplicate keys
 * stay the backend's. The one change: whitespace around a body (and a UTF-8 BOM) is dropped.
 *
 * Pure and self-contained: the same function runs on the event loop for small answers and on
 * the offload pool (src/offload/tasks.ts) for large ones, so both paths give the same bytes.
 */
import { isUtf8 } from 'node:buffer';

// Byte values.
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

/** JSON whitespace: space, tab, LF, CR. */
function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}
function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}
function isHex(c: number): boolean {
  return (c >= ZERO && c <= NINE) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
}

/** Bytes that may stand for themselves inside a string: not a control character, `"` or `\\`. */
const PLAIN = new Uint8Array(256);
for (let c = 0x20; c < 256; c++) PLAIN[c] = c === QUOTE || c === BACKSLASH ? 0 : 1;

/** After a string starting at `i` (its opening quote): the index past its closing quote, or -1. */
function scanString(b: Uint8Array, i: number): number {
  const n = b.length;
  i++;
  while (i < n) {
    // hot path: the run of plain bytes (UTF-8 sequences included; isUtf8 checks them once).
    while (i < n && PLAIN[b[i]] === 1) i++;
    if (i >= n) return -1;
    const c = b[i];
    if (c === QUOTE) return i + 1;
    if (c < 0x20) return -1; // control characters must be escaped
    if (i + 1 >= n) return -1;
    const e = b[i + 1];
    if (e === 0x75) {
      // \uXXXX (lone surrogates are accepted, as JSON.parse does)
      if (i + 5 >= n || !isHex(b[i + 2]) || !isHex(b[i + 3]) || !isHex(b[i + 4]) || !isHex(b[i + 5])) return -1;
      i += 6;
    } else if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
      i += 2;
    } else {
      return -1;
    }
  }
  return -1;
}

/** After a number starting at `i`: the index past it, or -1 (RFC 8259 §6 grammar). */
function scanNumber(b: Uint8Array, i: number): number {
  const n = b.length;
  if (b[i] === MINUS) i++;
  if (i >= n) return -1;
  if (b[i] === ZERO) i++;
  else if (isDigit(b[i])) while (i < n && isDigit(b[i])) i++;
  else return -1;
  if (i < n && b[i] === DOT) {
    i++;
    if (i >= n || !isDigit(b[i])) return -1;
    while (i < n && isDigit(b[i])) i++;
  }
  if (i < n && (b[i] | 0x20) === 0x65) {
    i++;
    if (i < n && (b[i] === PLUS || b[i] === MINUS)) i++;
    if (i >= n || !isDigit(b[i])) return -1;
    while (i < n && isDigit(b[i])) i++;
  }
  return i;
}

function scanLiteral(b: Uint8Array, i: number, word: string): number {
  if (i + word.length > b.length) return -1;
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word.charCodeAt(k)) return -1;
  return i + word.length;
}

function skipWs(b: Uint8Array, i: number): number {
  while (i < b.length && isWs(b[i])) i++;
  return i;
}

/** Where the JSON value of a body is: its bytes without the whitespace (and BOM) around them. */
export interface JsonBounds {
  start: number;
  end: number;
}

/**
 * The bounds of the single JSON value `b` holds, or null when `b` is not exactly one JSON text
 * (RFC 8259) in valid UTF-8. Iterative (an explicit stack of open containers), so nesting depth
 * is bounded by memory, not by the call stack.
 */
export function jsonBounds(b: Uint8Array): JsonBounds | null {
  let i = 0;
  if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) i = 3; // RFC 8259 §8.1: a BOM may be ignored
  i = skipWs(b, i);
  const start = i;
  // Open containers: 1 = object, 2 = array.
  let stack = new Uint8Array(32);
  let depth = 0;
  const n = b.length;
  for (;;) {
    // A value starts at i.
    if (i >= n) return null;
    const c = b[i];
    if (c === LBRACE || c === LBRACKET) {
      if (depth === stack.length) {
        const bigger = new Uint8Array(depth * 2);
        bigger.set(stack);
        stack = bigger;
      }
      stack[depth++] = c === LBRACE ? 1 : 2;
      i = skipWs(b, i + 1);
      if (i >= n) return null;
      if (b[i] === (c === LBRACE ? RBRACE : RBRACKET)) {
        depth--;
        i++;
      } else if (c === LBRACE) {
        // The first member: "key" :
        if (b[i] !== QUOTE) return null;
        i = scanString(b, i);
        if (i < 0) return null;
        i = skipWs(b, i);
        if (i >= n || b[i] !== COLON) return null;
        i = skipWs(b, i + 1);
        continue;
      } else {
        continue; // the first element
      }
    } else if (c === QUOTE) {
      i = scanString(b, i);
    } else if (c === MINUS || isDigit(c)) {
      i = scanNumber(b, i);
    } else if (c === 0x74) {
      i = scanLiteral(b, i, 'true');
    } else if (c === 0x66) {
      i = scanLiteral(b, i, 'false');
    } else if (c === 0x6e) {
      i = scanLiteral(b, i, 'null');
    } else {
      return null;
    }
    if (i < 0) return null;
    // After a value: close containers, or go on to the next element or member.
    for (;;) {
      const end = i;
      i = skipWs(b, i);
      if (depth === 0) {
        if (i !== n) return null; // something after the value
        return isUtf8(b) ? { start, end } : null;
      }
      if (i >= n) return null;
      const d = b[i];
      const inObject = stack[depth - 1] === 1;
      if (d === COMMA) {
        i = skipWs(b, i + 1);
        if (inObject) {
          if (i >= n || b[i] !== QUOTE) return null;
          i = scanString(b, i);
          if (i < 0) return null;
          i = skipWs(b, i);
          if (i >= n || b[i] !== COLON) return null;
          i = skipWs(b, i + 1);
        }
        break; // the next value
      }
      if (d !== (inObject ? RBRACE : RBRACKET)) return null;
      depth--;
      i++;
    }
  }
}

/** The key of a backend in the merged object as bytes: `"<as>":` (JSON-escaped). */
export function keyPrefix(as: string): Uint8Array {
  // An own ArrayBuffer (not a slice of Node's shared pool): cheap to clone to a pool thread.
  return new Uint8Array(Buffer.from(JSON.stringify(as) + ':'));
}

export interface MergeInput {
  /** Per backend, its `"<as>":` bytes (keyPrefix). */
  readonly prefixes: readonly Uint8Array[];
  /** Per backend, its answer body, or null when it is left out (a failed optional backend). */
  readonly bodies: readonly (Uint8Array | null)[];
  /** Per backend, whether it is required: an invalid required body stops the merge. */
  readonly required: readonly boolean[];
}

export interface MergeResult {
  /** The merged object; null when a required body was invalid. */
  readonly merged: Buffer | null;
  /** Indexes of the bodies that were not valid JSON (left out of `merged`). */
  readonly invalid: number[];
}

/**
 * Validates every body and splices the valid ones into one object, in backend order. The
 * result has an ArrayBuffer of its own (it can be transferred back from a pool thread).
 */
export function mergeJson(input: MergeInput): MergeResult {
  const { prefixes, bodies, required } = input;
  const bounds: (JsonBounds | null)[] = new Array(bodies.length);
  const invalid: number[] = [];
  let total = 2; // { }
  let members = 0;
  for (let k = 0; k < bodies.length; k++) {
    const body = bodies[k];
    if (body === null) {
      bounds[k] = null;
      continue;
    }
    const at = jsonBounds(body);
    bounds[k] = at;
    if (at === null) {
      invalid.push(k);
      if (required[k]) return { merged: null, invalid };
      continue;
    }
    total += prefixes[k].length + (at.end - at.start);
    members++;
  }
  if (members > 1) total += members - 1; // commas
  const out = Buffer.allocUnsafeSlow(total);
  let o = 0;
  out[o++] = LBRACE;
  let first = true;
  for (let k = 0; k < bodies.length; k++) {
    const at = bounds[k];
    if (at === null) continue;
    if (!first) out[o++] = COMMA;
    first = false;
    out.set(prefixes[k], o);
    o += prefixes[k].length;
    out.set(bodies[k]!.subarray(at.start, at.end), o);
    o += at.end - at.start;
  }
  out[o++] = RBRACE;
  return { merged: out, invalid };
}
