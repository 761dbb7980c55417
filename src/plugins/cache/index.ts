/** cache: in the config contract, not implemented yet (src/plugins/not-implemented.ts). */
import { notImplementedPlugin } from '../not-implemented.js';
import { CachePluginSchema } from './schema.js';

export const cachePlugin = notImplementedPlugin('cache', CachePluginSchema);
