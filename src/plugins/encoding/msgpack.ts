/**
 * JSON <-> MessagePack, the conversions of the `encoding` plugin. Pure functions over bytes (no
 * gateway state), so they run the same on the event loop and on the offload pool's threads.
 *
 * MessagePack to JSON is strict: the body must be exactly one MessagePack value (trailing bytes
 * are an error), and values JSON cannot carry are refused rather than mangled: `bin` and unknown
 * extension types, the never-used byte 0xc1, NaN and infinities. Integers beyond 2^53 keep their
 * exact digits (JSON numbers have no size limit; JavaScript's do). Timestamps (extension -1)
 * become ISO 8601 strings.
 *
 * JSON to MessagePack uses plain maps (no msgpackr "records" extension), so any MessagePack
 * decoder reads the answer.
 */
import { C1, Packr, Unpackr } from 'msgpackr';
import { randomBytes } from 'node:crypto';

const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' as 'bigint' }); // 'auto' (numbers up to 2^53, else bigint) is missing from the typings

/** Marks a bigint's digits inside JSON.stringify's output; unguessable, so no string can fake it. */
const BIG = '\u0000' + randomBytes(8).toString('hex') + ':';
const BIG_QUOTED = new RegExp(`"${JSON.stringify(BIG).slice(1, -1).replace(/\\/g, '\\\\')}(-?\\d+)"`, 'g');

export type Converted = { ok: true; body: Buffer } | { ok: false; reason: string };

/** A MessagePack request body as JSON text, or why it cannot be. */
export function msgpackToJson(body: Uint8Array): Converted {
  let value: unknown;
  try {
    value = unpackr.unpack(body);
  } catch (err) {
    return { ok: false, reason: 'malformed MessagePack: ' + (err as Error).message };
  }
  let refused: string | null = null;
  let big = false;
  const text = JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
    const original = this[key];
    if (typeof original === 'bigint') {
      big = true;
      return BIG + original.toString();
    }
    if (original instanceof Uint8Array) refused ??= 'a bin value has no JSON form';
    else if (original === C1) refused ??= 'the byte 0xc1 is not MessagePack';
    else if (typeof original === 'number' && !Number.isFinite(original)) refused ??= 'NaN and infinities have no JSON form';
    else if (original === undefined && key !== '') refused ??= 'an undefined value has no JSON form';
    return v;
  });
  if (refused !== null) return { ok: false, reason: refused };
  if (text === undefined) return { ok: false, reason: 'the value has no JSON form' };
  return { ok: true, body: Buffer.from(big ? text.replace(BIG_QUOTED, '$1') : text) };
}

/** A JSON answer as MessagePack, or why it cannot be (it is not JSON after all). */
export function jsonToMsgpack(body: Uint8Array): Converted {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch (err) {
    return { ok: false, reason: 'not JSON: ' + (err as Error).message };
  }
  return { ok: true, body: packr.pack(value) };
}
