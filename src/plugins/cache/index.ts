/**
 * cache: part of the config contract (CONFIG.md) so editors and the validator know it, not
 * implemented by this build: its schema is marked notImplemented(), so a config that turns it
 * on is refused ("the \"cache\" plugin is not implemented ..."), never accepted and ignored.
 */
import { definePlugin } from '../api.js';
import { CachePluginSchema } from './schema.js';

export const cachePlugin = definePlugin({
  name: 'cache',
  phase: 'transform',
  schema: CachePluginSchema,
  compile() {
    return {};
  },
});
