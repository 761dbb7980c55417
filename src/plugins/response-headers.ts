/** responseHeaders: set / remove headers on the answer the client gets (the upstream's or the gateway's). */
import type { ResponseHeadersPluginConfig } from '../config/schema.js';
import type { PluginDefinition } from './types.js';

export const responseHeadersPlugin: PluginDefinition<ResponseHeadersPluginConfig> = {
  name: 'responseHeaders',
  phase: 'transform',
  compile(conf) {
    const set = Object.entries(conf.set ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)] as const);
    // A header we set replaces the upstream's copy, so it is removed from the upstream answer too.
    const remove = [...(conf.remove ?? []).map((k) => k.toLowerCase()), ...set.map(([k]) => k)];
    return {
      onResponse(ctx) {
        for (let i = 0; i < set.length; i++) ctx.addResponseHeader(set[i][0], set[i][1]);
      },
      removeResponseHeaders: remove,
    };
  },
};
