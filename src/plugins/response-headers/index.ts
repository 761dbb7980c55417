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
    // The same on every answer: no hook per answer (the pipeline adds them to each request's
    // list). Only values of what a prepared head's tail takes (Transaction.responseTail: visible
    // ASCII, space, HTAB; the addon refuses anything else); any other value is added by the hook
    // as before (uWS writes it as it is, beyond ASCII as UTF-8).
    if (set.every(([, v]) => /^[\t\x20-\x7e]*$/.test(v))) return { fixedResponseHeaders: set.flat(), removeResponseHeaders: remove };
    return {
      onResponseHeaders(ctx) {
        for (let i = 0; i < set.length; i++) ctx.addResponseHeader(set[i][0], set[i][1]);
      },
      removeResponseHeaders: remove,
    };
  },
});
