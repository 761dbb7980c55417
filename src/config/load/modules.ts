/**
 * `pluginModules`: the plugin modules a config loads (docs/plugins/writing-plugins.md). Each
 * entry is a file path, relative to the config file's directory (or absolute); it is read and
 * pinned by content hash, imported (src/plugins/modules/import.ts), its descriptor checked, its
 * config schema compiled with the loader's Ajv settings, and its name must be new: not a
 * built-in plugin, not another module's. Every problem is a config error at /pluginModules/<i>.
 *
 * This runs before the config is validated (the plugins' schemas are part of what validation
 * checks), on the raw parsed file; `env:NAME` entries are read from the environment here too
 * (a missing variable is reported by the validation that follows).
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { BUILTIN_PLUGINS, PluginCatalog, type ModulePlugin } from '../../plugins/catalog.js';
import { REGISTRY } from '../../plugins/registry.js';
import { PluginModuleError, importPluginModule, moduleRef } from '../../plugins/modules/import.js';
import type { ConfigError } from '../report.js';
import { isObject } from '../util.js';
import { configValidator } from './plugin-configs.js';

export interface ModuleLoad {
  readonly catalog: PluginCatalog;
  /** Problems at /pluginModules/<i>; the catalog then lacks those modules. */
  readonly errors: ConfigError[];
}

const ENV_ENTRY = /^env:([A-Za-z_][A-Za-z0-9_]*)$/;
const BUILTIN_NAMES: ReadonlySet<string> = new Set(REGISTRY.map((d) => d.name));

/** Loads the modules of a parsed (not yet validated) config file at `configPath`. */
export async function loadPluginModules(raw: unknown, configPath: string, env: Record<string, string | undefined>): Promise<ModuleLoad> {
  const list = isObject(raw) ? raw.pluginModules : undefined;
  // Not a list of strings: the schema validation reports it.
  if (!Array.isArray(list) || list.length === 0) return { catalog: BUILTIN_PLUGINS, errors: [] };
  const baseDir = dirname(resolve(configPath));
  const errors: ConfigError[] = [];
  const loaded: ModulePlugin[] = [];
  const owner = new Map<string, number>();
  for (let i = 0; i < list.length; i++) {
    const pointer = `/pluginModules/${i}`;
    let specifier = list[i];
    if (typeof specifier !== 'string' || specifier === '') continue;
    const envName = ENV_ENTRY.exec(specifier);
    if (envName !== null) {
      const value = env[envName[1]];
      if (value === undefined || value === '') continue;
      specifier = value;
    }
    const path = isAbsolute(specifier) ? specifier : resolve(baseDir, specifier);
    try {
      const ref = await moduleRef(i, specifier, path);
      const descriptor = await importPluginModule(ref);
      const name = descriptor.name;
      if (BUILTIN_NAMES.has(name)) throw new PluginModuleError(`plugin name "${name}" is taken by a built-in plugin: choose another name`);
      const first = owner.get(name);
      if (first !== undefined) throw new PluginModuleError(`plugin name "${name}" is already used by /pluginModules/${first}`);
      try {
        configValidator(descriptor);
      } catch (err) {
        throw new PluginModuleError(`plugin "${name}": its schema is not a valid JSON Schema (draft-07): ${(err as Error).message}`);
      }
      owner.set(name, i);
      loaded.push({ ref, descriptor });
    } catch (err) {
      if (!(err instanceof PluginModuleError)) throw err;
      errors.push({ pointer, message: err.message });
    }
  }
  return { catalog: loaded.length > 0 ? new PluginCatalog(loaded) : BUILTIN_PLUGINS, errors };
}
