/**
 * The descriptor of a plugin that is part of the config contract (CONFIG.md) so editors and the
 * validator know it, but not implemented by this build: its schema is marked notImplemented(),
 * so a config that turns it on is refused ("the \"<name>\" plugin is not implemented ..."),
 * never accepted and ignored. It has no hooks.
 */
import type { TSchema } from '@sinclair/typebox';
import { definePlugin, type PluginDescriptor } from './api.js';

export function notImplementedPlugin<const N extends string, S extends TSchema>(name: N, schema: S): PluginDescriptor<N, S> {
  return definePlugin({ name, phase: 'transform', schema, compile: () => ({}) });
}
