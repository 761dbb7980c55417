/**
 * encoding: part of the config contract (CONFIG.md) so editors and the validator know it, not
 * implemented by this build: its schema is marked notImplemented(), so a config that turns it
 * on is refused ("the \"encoding\" plugin is not implemented ..."), never accepted and ignored.
 */
import { definePlugin } from '../api.js';
import { EncodingPluginSchema } from './schema.js';

export const encodingPlugin = definePlugin({
  name: 'encoding',
  phase: 'transform',
  schema: EncodingPluginSchema,
  compile() {
    return {};
  },
});
