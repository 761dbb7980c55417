/** encoding: in the config contract, not implemented yet (src/plugins/not-implemented.ts). */
import { notImplementedPlugin } from '../not-implemented.js';
import { EncodingPluginSchema } from './schema.js';

export const encodingPlugin = notImplementedPlugin('encoding', EncodingPluginSchema);
