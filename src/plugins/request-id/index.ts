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

export const requestIdPlugin = definePlugin({
  name: 'requestId',
  phase: 'requestId',
  schema: RequestIdPluginSchema,
  check(conf, r) {
    checkHeaderName(r, '/header', conf.header);
  },
  compile() {
    return {};
  },
});
