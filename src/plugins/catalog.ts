/**
 * The plugins one config can use, in the order they run: the built-in registry (registry.ts)
 * plus the plugin modules the config loads (`pluginModules`, docs/plugins/writing-plugins.md).
 * Within each phase the built-ins run first, then the modules' plugins in pluginModules order.
 *
 * Everything that walks "the plugins" of a config walks its catalog: the loader's checks,
 * normalization and file checks (src/config/), the pipeline compiler (pipeline.ts). A config
 * without pluginModules has BUILTIN_PLUGINS. A catalog is immutable; a reload that loads other
 * module versions makes a new one.
 */
import type { Phase, PluginDescriptor } from './api.js';
import { PHASE_ORDER, REGISTRY } from './registry.js';

/** One entry of pluginModules as every process imports it (the primary sends these to workers). */
export interface PluginModuleRef {
  /** Its index in pluginModules (errors are reported at /pluginModules/<index>). */
  readonly index: number;
  /** As written in the config, for messages. */
  readonly specifier: string;
  /** Absolute path of the file. */
  readonly path: string;
  /** SHA-256 (hex) of the file's content when it was validated. */
  readonly sha256: string;
  /**
   * What import() gets: the file URL with the content hash as its query. ESM caches modules by
   * URL, so a changed file is a new URL and is imported afresh; an unchanged one is not.
   */
  readonly url: string;
}

/** A plugin that came from a plugin module. */
export interface ModulePlugin {
  readonly ref: PluginModuleRef;
  readonly descriptor: PluginDescriptor;
}

export class PluginCatalog {
  /** Every plugin, in execution order. */
  readonly descriptors: readonly PluginDescriptor[];
  /** The plugins of plugin modules, in pluginModules order. */
  readonly modules: readonly ModulePlugin[];
  readonly #byName = new Map<string, PluginDescriptor>();
  readonly #moduleOf = new Map<PluginDescriptor, ModulePlugin>();

  constructor(modules: readonly ModulePlugin[]) {
    this.modules = modules;
    const ordered: PluginDescriptor[] = [];
    for (const phase of PHASE_ORDER) {
      for (const d of REGISTRY as readonly PluginDescriptor[]) if (d.phase === phase) ordered.push(d);
      for (const m of modules) if (m.descriptor.phase === phase) ordered.push(m.descriptor);
    }
    this.descriptors = ordered;
    for (const d of ordered) this.#byName.set(d.name, d);
    for (const m of modules) this.#moduleOf.set(m.descriptor, m);
  }

  /** The names in execution order. */
  get names(): string[] {
    return this.descriptors.map((d) => d.name);
  }

  get(name: string): PluginDescriptor | undefined {
    return this.#byName.get(name);
  }

  /** The plugin module a descriptor came from, or undefined for a built-in. */
  moduleOf(d: PluginDescriptor): ModulePlugin | undefined {
    return this.#moduleOf.get(d);
  }

  /** The plugin module plugin of this name, or undefined (a built-in, or unknown). */
  modulePlugin(name: string): ModulePlugin | undefined {
    const d = this.#byName.get(name);
    return d === undefined ? undefined : this.#moduleOf.get(d);
  }

  /** Names of the plugins of a phase, in execution order. */
  namesOf(phase: Phase): string[] {
    return this.descriptors.filter((d) => d.phase === phase).map((d) => d.name);
  }

  /** What a worker needs to build the same catalog. */
  get refs(): PluginModuleRef[] {
    return this.modules.map((m) => m.ref);
  }
}

/** The catalog of a config without pluginModules. */
export const BUILTIN_PLUGINS = new PluginCatalog([]);
