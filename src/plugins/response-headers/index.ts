/** responseHeaders: set / remove headers on the answer the client gets (the upstream's or the gateway's). */
import { definePlugin } from '../api.js';
import { checkHeaders } from '../request-headers/check.js';
import { HeadersPluginSchema } from '../request-headers/schema.js';

export const responseHeadersPlugin = definePlugin({
  name: 'responseHeaders',
  phase: 'transform',
  schema: HeadersPluginSchema,
  check: checkHeaders,
  compile(conf) {
    const set = Object.entries(conf.set).map(([k, v]) => [k.toLowerCase(), String(v)] as const);
    // A header we set replaces the upstream's copy, so it is removed from the upstream answer too.
    const remove = [...conf.remove.map((k) => k.toLowerCase()), ...set.map(([k]) => k)];
    // The same on every answer: no hook per answer (the pipeline adds them to each request's list).
    return {
      fixedResponseHeaders: set.flat(),
      removeResponseHeaders: remove,
    };
  },
});
