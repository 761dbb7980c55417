/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) on the request path: parsing the
 * client's `traceparent`, and ids for new traces and spans.
 *
 * Every request that reaches a route gets a trace: the client's (a valid `traceparent` keeps its
 * trace id; the gateway's hop is a new span under the client's), or a new one. The upstream always
 * receives a valid `traceparent` naming the gateway's upstream (client) span, and `tracestate`
 * when the client's `traceparent` was valid (an invalid one makes tracestate meaningless: spec
 * §3.3.1). This holds with or without the `tracing` config; `tracing` adds the sampling decision
 * for new traces and the export of recorded spans (tracing.ts).
 *
 * The ids of the traceparent sent upstream come from the OS's random bytes, drawn 512 requests at
 * a time (crypto.randomBytes per request would cost a microsecond). Span ids made elsewhere
 * (tracing, aggregate) and the sampling draw use a xoshiro128** generator seeded from the OS per
 * process: they need uniqueness, not secrecy (spec §6.1 asks for randomness, which a well-seeded
 * generator gives).
 */
import { randomBytes, randomFillSync } from 'node:crypto';

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push(i.toString(16).padStart(2, '0'));

const seed = randomBytes(16);
let s0 = seed.readUInt32LE(0) | 1;
let s1 = seed.readUInt32LE(4);
let s2 = seed.readUInt32LE(8);
let s3 = seed.readUInt32LE(12);

/** xoshiro128**: 32 random bits. */
export function random32(): number {
  const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
  const t = s1 << 9;
  s2 ^= s0;
  s3 ^= s1;
  s1 ^= s2;
  s0 ^= s3;
  s2 ^= t;
  s3 = rotl(s3, 11);
  return result;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function hex32(x: number): string {
  return HEX[x >>> 24] + HEX[(x >>> 16) & 255] + HEX[(x >>> 8) & 255] + HEX[x & 255];
}

/** 16 hex digits, never all zeros. */
export function newSpanId(): string {
  let a = random32();
  const b = random32();
  if (a === 0 && b === 0) a = 1;
  return hex32(a) + hex32(b);
}

function isLowerHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

function allZero(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) !== 0x30) return false;
  return true;
}

/** The parts of a valid traceparent the gateway keeps. */
export interface ParentContext {
  readonly traceId: string;
  readonly spanId: string;
  /** The sampled flag (bit 0 of trace-flags). */
  readonly sampled: boolean;
}

/**
 * A valid `traceparent`, or null. Version 00 is exactly 55 characters; a later version (not ff)
 * may carry more after a `-`, and its first four fields are read the same way (spec §4.3).
 */
export function parseTraceparent(v: string): ParentContext | null {
  if (v.length < 55) return null;
  if (!isLowerHex(v, 0, 2) || v.charCodeAt(2) !== 0x2d || v.charCodeAt(35) !== 0x2d || v.charCodeAt(52) !== 0x2d) return null;
  const version = v.slice(0, 2);
  if (version === 'ff') return null;
  if (version === '00' ? v.length !== 55 : v.length > 55 && v.charCodeAt(55) !== 0x2d) return null;
  if (!isLowerHex(v, 3, 35) || !isLowerHex(v, 36, 52) || !isLowerHex(v, 53, 55)) return null;
  if (allZero(v, 3, 35) || allZero(v, 36, 52)) return null;
  const flags = parseInt(v.slice(53, 55), 16);
  return { traceId: v.slice(3, 35), spanId: v.slice(36, 52), sampled: (flags & 1) === 1 };
}

/**
 * Ready-made traceparents for new traces, TP_POOL at a time in one flat string: version 00, trace
 * and span ids from the OS's random bytes (one randomFillSync per refill), flags 00. A request
 * takes a slice of it, which V8 makes without copying; building and stringifying one per request
 * cost ~0.4 µs. A slice keeps the pool string (~28 KB) alive while it lives: a request's lifetime.
 */
const TP_LEN = 55;
const TP_POOL = 512;
const poolRandom = Buffer.allocUnsafeSlow(TP_POOL * 24);
const poolBytes = Buffer.allocUnsafeSlow(TP_POOL * TP_LEN);
const HEX_HI = new Uint8Array(256);
const HEX_LO = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  HEX_HI[i] = HEX[i].charCodeAt(0);
  HEX_LO[i] = HEX[i].charCodeAt(1);
}
let pool = '';
let poolNext = TP_POOL;

/** Writes `n` random bytes from poolRandom[r..] as 2n hex digits at poolBytes[o..]; never all zeros (spec §3.2.2.3-4). */
function putRandomHex(r: number, n: number, o: number): void {
  let any = 0;
  for (let k = 0; k < n; k++) {
    const b = poolRandom[r + k];
    any |= b;
    poolBytes[o++] = HEX_HI[b];
    poolBytes[o++] = HEX_LO[b];
  }
  if (any === 0) poolBytes[o - 1] = 0x31;
}

function refillPool(): void {
  randomFillSync(poolRandom);
  for (let i = 0; i < TP_POOL; i++) {
    const o = i * TP_LEN;
    const r = i * 24;
    poolBytes[o] = 0x30;
    poolBytes[o + 1] = 0x30;
    poolBytes[o + 2] = 0x2d;
    putRandomHex(r, 16, o + 3);
    poolBytes[o + 35] = 0x2d;
    putRandomHex(r + 16, 8, o + 36);
    poolBytes[o + 52] = 0x2d;
    poolBytes[o + 53] = 0x30;
    poolBytes[o + 54] = 0x30;
  }
  pool = poolBytes.toString('latin1');
  poolNext = 0;
}

/**
 * The traceparent the upstream gets for a request: version 00, `traceId` (32 lower-hex digits) or
 * a new trace when it is null, a new span id (the gateway's upstream span), the sampled flag. The
 * trace id is characters 3-35 of the result and the span id 36-52 (`slice` them: no copy).
 */
export function newTraceparent(traceId: string | null, sampled: boolean): string {
  if (poolNext === TP_POOL) refillPool();
  const at = poolNext++ * TP_LEN;
  if (traceId === null) return sampled ? pool.slice(at, at + 53) + '01' : pool.slice(at, at + TP_LEN);
  // "-<span id>-" from the pool, between the client's trace id and the flags.
  return '00-' + traceId + pool.slice(at + 35, at + 53) + (sampled ? '01' : '00');
}

/** The traceparent the upstream gets: version 00, the trace, the gateway's upstream span, the decision. */
export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return '00-' + traceId + '-' + spanId + (sampled ? '-01' : '-00');
}
