/**
 * requestId: configured under `plugins` (CONFIG.md), implemented by the core
 * (src/worker/request-id.ts and head.ts read or make the id with the request head, before any
 * plugin runs, and answers given before routing carry the global one). So the descriptor has a
 * schema and a check, and no hooks; the runtime compiler reads the header name from the
 * route's effective plugins.
 */
import { definePlugin } from '../api.js';
import { checkHeaderName, isFramingHeader } from '../check-kit.js';
import { RequestIdPluginSchema } from './schema.js';

/**
 * Besides the framing headers (isFramingHeader), the ones the id would collide with on the way up
 * or back: Host, Date, and the lines the gateway writes itself (Via, the trace context, the
 * forwarding headers, Proxy-*).
 */
const GATEWAY_WRITTEN = /^(host|date|via|traceparent|tracestate|forwarded|x-real-ip|x-forwarded-(for|proto|host|port|prefix)|proxy-.+)$/i;

export const requestIdPlugin = definePlugin({
  name: 'requestId',
  phase: 'requestId',
  schema: RequestIdPluginSchema,
  check(conf, r) {
    checkHeaderName(r, '/header', conf.header);
    if (typeof conf.header === 'string' && (isFramingHeader(conf.header) || GATEWAY_WRITTEN.test(conf.header))) {
      r.error('/header', `the request id cannot travel in ${r.show('/header', conf.header)}: the gateway writes, removes or frames that header itself`);
    }
  },
  compile() {
    return {};
  },
});
