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
 */
import { definePlugin, type BodyReplacer, type LocalReply, type RequestBodyRewriter } from '../api.js';
import { EncodingPluginSchema } from './schema.js';
import { isJson, isMsgpack, prefersMsgpack } from './media.js';
import { jsonToMsgpack, msgpackToJson } from './msgpack.js';

/** JSON answers up to this size are held and converted; larger ones stream through as JSON. */
export const MAX_CONVERTED_BYTES = 8 * 1024 * 1024;

const MSGPACK_HEADERS = ['content-type', 'application/msgpack'] as const;

const toMsgpack: BodyReplacer = {
  maxBytes: MAX_CONVERTED_BYTES,
  replace(body) {
    const r = jsonToMsgpack(body);
    // Labelled JSON but not JSON: relayed as the upstream sent it.
    return r.ok ? { body: r.body, headers: MSGPACK_HEADERS } : null;
  },
};

const fromMsgpack: RequestBodyRewriter = {
  wants: (ctx) => isMsgpack(ctx.header('content-type')),
  rewrite(_ctx, body): LocalReply | { body: Buffer; contentType: string } {
    const r = msgpackToJson(body);
    if (!r.ok) return { status: 400, code: 'bad_body', message: `The request body is not valid MessagePack for JSON: ${r.reason}.` };
    return { body: r.body, contentType: 'application/json' };
  },
};

export const encodingPlugin = definePlugin({
  name: 'encoding',
  phase: 'transform',
  schema: EncodingPluginSchema,
  compile(conf) {
    if (!conf.msgpack) return {};
    return {
      onRequestBody: fromMsgpack,
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
