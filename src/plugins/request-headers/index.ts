/** requestHeaders: set / remove headers on the request sent upstream (after auth, CONFIG.md order). */
import { definePlugin } from '../api.js';
import { checkHeaders } from './check.js';
import { HeadersPluginSchema } from './schema.js';

export const requestHeadersPlugin = definePlugin({
  name: 'requestHeaders',
  phase: 'transform',
  schema: HeadersPluginSchema,
  check: checkHeaders,
  compile(conf) {
    const set = Object.entries(conf.set).map(([k, v]) => [k.toLowerCase(), String(v)] as const);
    const remove = conf.remove.map((k) => k.toLowerCase());
    return {
      onRequest(ctx) {
        for (let i = 0; i < remove.length; i++) ctx.removeHeader(remove[i]);
        for (let i = 0; i < set.length; i++) ctx.setHeader(set[i][0], set[i][1]);
        return undefined;
      },
    };
  },
});
