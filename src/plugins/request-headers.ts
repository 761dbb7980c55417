/** requestHeaders: set / remove headers on the request sent upstream (after auth, CONFIG.md order). */
import type { RequestHeadersPluginConfig } from '../config/schema.js';
import type { PluginDefinition } from './types.js';

export const requestHeadersPlugin: PluginDefinition<RequestHeadersPluginConfig> = {
  name: 'requestHeaders',
  phase: 'transform',
  compile(conf) {
    const set = Object.entries(conf.set ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)] as const);
    const remove = (conf.remove ?? []).map((k) => k.toLowerCase());
    return {
      access(ctx) {
        for (let i = 0; i < remove.length; i++) ctx.removeHeader(remove[i]);
        for (let i = 0; i < set.length; i++) ctx.setHeader(set[i][0], set[i][1]);
        return undefined;
      },
    };
  },
};
