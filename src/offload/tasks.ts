/**
 * The offload pool's task file: what a pool thread can run, one named export per task
 * (OffloadPool.run(name, input) calls the export of that name). A task gets its input by
 * structured clone, with the ArrayBuffers the caller listed transferred rather than copied, and
 * returns its answer the same way: `moved(value, buffers)` hands the listed buffers back without
 * a copy. Tasks are pure functions of their input: no gateway state lives in a pool thread.
 *
 * Loaded by piscina from dist/ (the compiled .js next to pool.js).
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { mergeJson, type MergeInput, type MergeResult } from '../worker/actions/aggregate-merge.js';
import { jsonToMsgpack, msgpackToJson, type Converted } from '../plugins/encoding/msgpack.js';

/** `value` as the task's answer, with `buffers` (inside it) transferred to the caller, not copied. */
function moved<T>(value: T, buffers: ArrayBuffer[]): T {
  return move({ [transferableSymbol]: buffers, [valueSymbol]: value } as never) as unknown as T;
}

/** Aggregation: validate the backends' bodies and splice them into one JSON object. */
export function aggregateMerge(input: MergeInput): MergeResult {
  const result = mergeJson(input);
  return result.merged === null ? result : moved(result, [result.merged.buffer as ArrayBuffer]);
}

/** A conversion's answer with its body in a buffer of its own, transferred back. */
function movedConversion(r: Converted): Converted {
  if (!r.ok) return r;
  // msgpackr packs into a buffer it reuses: copy out what the caller keeps.
  const body = Buffer.allocUnsafeSlow(r.body.length);
  r.body.copy(body);
  return moved({ ok: true, body }, [body.buffer as ArrayBuffer]);
}

/** encoding: a JSON answer as MessagePack (src/plugins/encoding/msgpack.ts). */
export function toMsgpack(body: Uint8Array): Converted {
  return movedConversion(jsonToMsgpack(body));
}

/** encoding: a MessagePack request body as JSON. */
export function toJson(body: Uint8Array): Converted {
  return movedConversion(msgpackToJson(body));
}
