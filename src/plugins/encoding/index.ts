/**
 * encoding: MessagePack in front of JSON upstreams (docs/plugins/encoding.md).
 *   - a request body sent as MessagePack (Content-Type application/msgpack, x-msgpack or
 *     vnd.msgpack) goes upstream as JSON (Content-Type application/json); one that is malformed
 *     or holds what JSON cannot carry is 400 `bad_body` and never reaches the upstream;
 *   - a JSON answer (application/json, +json) to a client that prefers MessagePack (Accept) is
 *     converted (Content-Type application/msgpack); every JSON answer of the route carries
 *     `Vary: Accept`, so caches keep the two forms apart;
 *   - anything else passes untouched: answers that are not JSON, compressed ones (a
 *     Content-Encoding), HEAD/204/304, and JSON answers over MAX_CONVERTED_BYTES (relayed as
 *     they stream, unconverted).
 * Bodies over OFFLOAD_ABOVE_BYTES are converted on the worker's offload pool (src/offload/pool.ts),
 * so a large conversion does not stall the other requests of the event loop; smaller ones, and
 * any the pool cannot take (its queue full), inline.
 */
import { definePlugin, type BodyReplacer, type LocalReply, type RequestBodyRewriter } from '../api.js';
import { EncodingPluginSchema } from './schema.js';
import { isJson, isMsgpack, prefersMsgpack } from './media.js';
import { jsonToMsgpack, msgpackToJson, type Converted } from './msgpack.js';
import { OFFLOAD_POOL, OffloadQueueFull, type OffloadPool } from '../../offload/pool.js';
import { counter } from '../../observability/metrics.js';
import { isPromise } from '../../util/promise.js';
import { log } from '../../observability/log.js';

/** JSON answers up to this size are held and converted; larger ones stream through as JSON. */
export const MAX_CONVERTED_BYTES = 8 * 1024 * 1024;

/**
 * Bodies larger than this are converted on the offload pool. Measured (bench/msgpack-bench.ts,
 * docs/plugins/encoding.md): below it, converting inline costs the event loop less than handing
 * the body to a thread and taking the answer back.
 */
export const OFFLOAD_ABOVE_BYTES = 32 * 1024;

const MSGPACK_HEADERS = ['content-type', 'application/msgpack'] as const;

const conversions = counter('gateway_encoding_conversions_total', 'Bodies the encoding plugin converted, by direction (to_msgpack, to_json) and where: "loop" (the event loop) or "pool" (the offload pool).', ['direction', 'where']);

type Direction = 'to_msgpack' | 'to_json';

/** Converts on the pool above the threshold (inline if it cannot take the job), else inline. */
function convert(pool: OffloadPool, direction: Direction, body: Buffer): Converted | Promise<Converted> {
  const inline = () => {
    conversions.inc(direction, 'loop');
    return direction === 'to_msgpack' ? jsonToMsgpack(body) : msgpackToJson(body);
  };
  if (!pool.available || body.length <= OFFLOAD_ABOVE_BYTES) return inline();
  // The body is copied to the thread, not transferred: its memory may belong to the engine or to
  // Node's shared buffer pool. The answer comes back transferred.
  return pool.run(direction === 'to_msgpack' ? 'toMsgpack' : 'toJson', body).then(
    (r) => {
      conversions.inc(direction, 'pool');
      return r;
    },
    // Its queue full, or a thread gone: the conversion itself never throws (it answers why not).
    (err: unknown) => {
      if (!(err instanceof OffloadQueueFull)) log('warn', 'encoding: the offload pool failed a conversion; converted inline', { error: (err as Error).message });
      return inline();
    },
  );
}

function answerReplacer(pool: OffloadPool): BodyReplacer {
  // Labelled JSON but not JSON: relayed as the upstream sent it.
  const replacement = (r: Converted) => (r.ok ? { body: r.body, headers: MSGPACK_HEADERS } : null);
  return {
    maxBytes: MAX_CONVERTED_BYTES,
    replace(body) {
      const r = convert(pool, 'to_msgpack', body);
      return isPromise(r) ? r.then(replacement) : replacement(r);
    },
  };
}

function requestRewriter(pool: OffloadPool): RequestBodyRewriter {
  const outcome = (r: Converted): LocalReply | { body: Buffer; contentType: string } =>
    r.ok
      ? { body: r.body, contentType: 'application/json' }
      : { status: 400, code: 'bad_body', message: `The request body is not valid MessagePack for JSON: ${r.reason}.` };
  return {
    wants: (ctx) => isMsgpack(ctx.header('content-type')),
    rewrite(_ctx, body) {
      const r = convert(pool, 'to_json', body);
      return isPromise(r) ? r.then(outcome) : outcome(r);
    },
  };
}

export const encodingPlugin = definePlugin({
  name: 'encoding',
  phase: 'transform',
  schema: EncodingPluginSchema,
  compile(conf, deps) {
    if (!conf.msgpack) return {};
    const pool = deps.use(OFFLOAD_POOL);
    const toMsgpack = answerReplacer(pool);
    return {
      onRequestBody: requestRewriter(pool),
      onUpstreamAnswer(ctx, answer) {
        if (!isJson(answer.header('content-type'))) return undefined;
        answer.addHeader('vary', 'accept');
        const s = answer.status;
        if (answer.method === 'HEAD' || s === 204 || s === 304 || s < 200) return undefined;
        const ce = answer.header('content-encoding');
        if (ce !== undefined && ce.toLowerCase() !== 'identity') return undefined;
        return prefersMsgpack(ctx.header('accept')) ? toMsgpack : undefined;
      },
    };
  },
});
