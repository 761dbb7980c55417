/**
 * requestId: configured under `plugins` (CONFIG.md), implemented by the core
 * (src/worker/request-id.ts and head.ts read or make the id with the request head, before any
 * plugin runs, and answers given before routing carry the global one). So the descriptor has a
 * schema and a check, and no hooks; the runtime compiler reads the header name from the
 * route's effective plugins.
 */
import { definePlugin } from '../api.js';
import { checkHeaderName } from '../check-kit.js';
import { RequestIdPluginSchema } from './schema.js';

/**
 * Headers the id would collide with on the way up or back: framing and hop-by-hop ones (the
 * engine refuses them in a request head, and a response must carry its own), Host, Date, and the
 * lines the gateway writes itself (Via, the trace context, the forwarding headers).
 */
const GATEWAY_OWNED =
  /^(connection|keep-alive|te|trailer|transfer-encoding|upgrade|expect|content-length|host|date|via|traceparent|tracestate|forwarded|x-real-ip|x-forwarded-(for|proto|host|port|prefix)|proxy-.+)$/i;

export const requestIdPlugin = definePlugin({
  name: 'requestId',
  phase: 'requestId',
  schema: RequestIdPluginSchema,
  check(conf, r) {
    checkHeaderName(r, '/header', conf.header);
    if (typeof conf.header === 'string' && GATEWAY_OWNED.test(conf.header)) {
      r.error('/header', `the request id cannot travel in ${r.show('/header', conf.header)}: the gateway writes, removes or frames that header itself`);
    }
  },
  compile() {
    return {};
  },
});
