/**
 * The configs of plugin-module plugins, under the global `plugins` and each route's: validated
 * against the module's own schema (TypeBox or plain JSON Schema, compiled with the loader's Ajv
 * settings), errors translated as the built-ins' are, with pointers into the config file
 * (`/routes/2/plugins/tenantHeader/header: expected a string, got 3`), defaults applied.
 *
 * The gateway's schema cannot know these plugins: it lets any other name under `plugins`
 * through as an object (or false on a route), which is also what editors see in
 * config/gateway.schema.json. This step is where a name that is neither built-in nor loaded is
 * refused, with the list of the known ones.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { PluginDescriptor } from '../../plugins/api.js';
import type { PluginCatalog } from '../../plugins/catalog.js';
import { didYouMean, type Collector } from '../report.js';
import { escapePointer, isObject } from '../util.js';
import { newAjv, translateAjvErrors, type JsonSchema } from './ajv.js';
import { applyDefaults } from './defaults.js';
import { schemaTypesAt, type TypesAt } from './env.js';

let ajv: ReturnType<typeof newAjv> | null = null;
const documents = new WeakMap<PluginDescriptor, JsonSchema>();
const validators = new WeakMap<PluginDescriptor, ValidateFunction>();

/**
 * A plugin schema as plain JSON. `$id` and `$schema` are dropped: each module version is
 * compiled on its own, and local `$ref`s ("#/definitions/x") resolve against its root anyway.
 */
export function pluginSchemaDocument(d: PluginDescriptor): JsonSchema {
  let doc = documents.get(d);
  if (doc === undefined) {
    doc = JSON.parse(JSON.stringify(d.schema)) as JsonSchema;
    delete doc.$id;
    delete doc.$schema;
    documents.set(d, doc);
  }
  return doc;
}

/** The compiled validator of a plugin's config (throws when the schema is not valid JSON Schema). */
export function configValidator(d: PluginDescriptor): ValidateFunction {
  let v = validators.get(d);
  if (v === undefined) {
    ajv ??= newAjv();
    v = ajv.compile(pluginSchemaDocument(d));
    validators.set(d, v);
  }
  return v;
}

/** `/plugins/<name>/...` or `/routes/<i>/plugins/<name>/...`: the plugin name and the pointer inside its config. */
const PLUGIN_POINTER = /^((?:\/routes\/\d+)?\/plugins\/)([^/]+)(\/.*)?$/;

/** Env coercion (load/env.ts) looks types up in the module's schema below a module plugin's config. */
export function typesAtWith(catalog: PluginCatalog): TypesAt {
  if (catalog.modules.length === 0) return schemaTypesAt;
  return (pointer) => {
    const m = PLUGIN_POINTER.exec(pointer);
    const plugin = m !== null ? catalog.modulePlugin(m[2]) : undefined;
    return plugin !== undefined ? schemaTypesAt(m![3] ?? '', pluginSchemaDocument(plugin.descriptor)) : schemaTypesAt(pointer);
  };
}

function validateOne(d: PluginDescriptor, conf: Record<string, unknown>, pointer: string, ctx: Collector): void {
  const validate = configValidator(d);
  if (!validate(conf)) {
    const errors = (validate.errors ?? []).map((e): ErrorObject => ({ ...e, instancePath: pointer + e.instancePath }));
    translateAjvErrors(errors, ctx);
    return;
  }
  applyDefaults(pluginSchemaDocument(d), conf);
}

function checkPluginsObject(plugins: Record<string, unknown>, base: string, catalog: PluginCatalog, ctx: Collector, modulesFailed: boolean): void {
  for (const name of Object.keys(plugins)) {
    const pointer = `${base}/${escapePointer(name)}`;
    const d = catalog.get(name);
    if (d === undefined) {
      // The value of an unknown plugin means nothing: only the name is reported.
      ctx.errors = ctx.errors.filter((e) => e.pointer !== pointer);
      const why = modulesFailed ? 'a plugin module could not be loaded, see /pluginModules' : 'plugins of your own are loaded with "pluginModules"';
      const hint = didYouMean(name, catalog.names);
      // Like every unknown key, at the pointer of the object it sits in (CONFIG.md).
      ctx.errors.push({ pointer: base, message: `unknown plugin "${name}"${hint === '' ? '.' : hint} Known plugins: ${catalog.names.join(', ')} (${why}).` });
      continue;
    }
    const value = plugins[name];
    // A built-in's config was validated with the gateway's schema; false (a route turning the
    // global plugin off) and non-objects are the gateway schema's business too.
    if (catalog.moduleOf(d) !== undefined && isObject(value)) validateOne(d, value, pointer, ctx);
  }
}

/** Validates the module plugins' configs of a config (after the gateway schema's validation, before the semantic checks). */
export function validateModulePluginConfigs(data: unknown, catalog: PluginCatalog, ctx: Collector, modulesFailed: boolean): void {
  if (!isObject(data)) return;
  if (isObject(data.plugins)) checkPluginsObject(data.plugins, '/plugins', catalog, ctx, modulesFailed);
  if (!Array.isArray(data.routes)) return;
  data.routes.forEach((route, i) => {
    if (isObject(route) && isObject(route.plugins)) checkPluginsObject(route.plugins, `/routes/${i}/plugins`, catalog, ctx, modulesFailed);
  });
}

/**
 * Runs a plugin module's check / normalize / files: a throw is the module's bug, reported as a
 * config error at the plugin's config (the built-ins' are trusted to not throw).
 */
export function callModuleHook<T>(ctx: Collector, pointer: string, d: PluginDescriptor, hook: 'check' | 'normalize' | 'files', fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    ctx.errors.push({ pointer, message: `plugin "${d.name}": its ${hook}() threw: ${err instanceof Error ? err.message : String(err)}` });
    return undefined;
  }
}
