/**
 * Loads and validates the gateway config. Nothing here starts anything: the result is either a
 * complete config (defaults applied, names normalized) or the full list of errors.
 *
 * A pipeline of small steps, each in its own file:
 *   load/json.ts       JSON parse (own parser: exact line/column, duplicate keys are errors)
 *   load/modules.ts    the `pluginModules` imported (files only: loadConfigFile), giving the
 *                      config's plugin catalog (src/plugins/catalog.ts)
 *   load/env.ts        `env:NAME` substitution on a deep copy
 *   load/ajv.ts        Ajv validation (allErrors, useDefaults) and readable messages
 *   load/defaults.ts   defaults Ajv cannot apply (inside unions)
 *   load/plugin-configs.ts  the module plugins' configs against their own schemas; unknown
 *                      plugin names
 *   check/*.ts         semantic checks by section, read-only (references, conflicts, syntax of
 *                      paths / hosts / CIDRs, security rules, each plugin's own check)
 *   load/normalize.ts  only when no error: lower-/upper-casing, computed defaults
 * Every error is a `{ pointer, message }` (report.ts); errors are sorted by pointer.
 */
import { readFile } from 'node:fs/promises';
import type { GatewayConfig } from './schema.js';
import { BUILTIN_PLUGINS, type PluginCatalog } from '../plugins/catalog.js';
import { loadPluginModules } from './load/modules.js';
import { typesAtWith, validateModulePluginConfigs } from './load/plugin-configs.js';
import { finalizeErrors, newCollector, sortErrors, type ConfigError } from './report.js';
import { cloneJson, isObject } from './util.js';
import { lineColumn, parseJson } from './load/json.js';
import { scrubEnvValues, substituteEnv } from './load/env.js';
import { compiledValidator, schemaDocument, translateAjvErrors } from './load/ajv.js';
import { applyDefaults } from './load/defaults.js';
import { normalize } from './load/normalize.js';
import { semanticChecks } from './check/index.js';
import { rememberEnvPointers } from './redact.js';

export { formatErrors, type ConfigError } from './report.js';
export { REDACTED, envPointersOf, redactConfig } from './redact.js';
export { effectivePlugins } from './effective.js';
export { parsePath } from '../util/syntax.js';
export { escapePointer } from './util.js';

export type LoadResult =
  | {
      ok: true;
      config: GatewayConfig;
      warnings: string[];
      /** The plugins this config can use: the built-ins and its pluginModules' (compile with this). */
      plugins: PluginCatalog;
    }
  | { ok: false; errors: ConfigError[] };

export interface LoadOptions {
  /** Where `env:NAME` values come from (default: process.env). */
  env?: Record<string, string | undefined>;
  /**
   * The plugin catalog to validate against. loadConfigFile builds it from the file's
   * pluginModules; the in-memory entry points (loadConfigText, validateConfig) know only the
   * built-ins unless given one.
   */
  plugins?: PluginCatalog;
}

/** Reads, parses and validates a config file, importing its pluginModules. Never throws for a bad file. */
export async function loadConfigFile(path: string, options: LoadOptions = {}): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String((err as Error).message);
    return { ok: false, errors: [{ pointer: '', message: `cannot read config file "${path}": ${why}` }] };
  }
  const parsed = parse(text, path);
  if ('errors' in parsed) return { ok: false, errors: parsed.errors };
  if (options.plugins !== undefined) return validate(parsed.value, options, parsed.duplicates, []);
  const modules = await loadPluginModules(parsed.value, path, options.env ?? process.env);
  return validate(parsed.value, { ...options, plugins: modules.catalog }, parsed.duplicates, modules.errors);
}

function parse(text: string, sourceName: string): { value: unknown; duplicates: ConfigError[] } | { errors: ConfigError[] } {
  const parsed = parseJson(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  if ('syntax' in parsed) {
    const { line, column } = lineColumn(text, parsed.syntax.pos);
    return { errors: [{ pointer: '', message: `invalid JSON in ${sourceName} at line ${line}, column ${column}: ${parsed.syntax.message}` }] };
  }
  return parsed;
}

/** Parses and validates config text; `sourceName` is used in syntax error messages. */
export function loadConfigText(text: string, sourceName: string, options: LoadOptions = {}): LoadResult {
  const parsed = parse(text, sourceName);
  if ('errors' in parsed) return { ok: false, errors: parsed.errors };
  return validate(parsed.value, options, parsed.duplicates, []);
}

/** Validates an already parsed config object. The argument is never modified. */
export function validateConfig(input: unknown, options: LoadOptions = {}): LoadResult {
  return validate(input, options, [], []);
}

function validate(input: unknown, options: LoadOptions, duplicates: ConfigError[], moduleErrors: ConfigError[]): LoadResult {
  const env = options.env ?? process.env;
  const plugins = options.plugins ?? BUILTIN_PLUGINS;
  const ctx = newCollector([...duplicates, ...moduleErrors]);

  // 1. A deep copy, env substitution on it.
  const data = substituteEnv(cloneJson(input), env, ctx, typesAtWith(plugins));

  // 2. Schema validation (fills defaults), then the module plugins' configs against their own schemas.
  const validateFn = compiledValidator();
  validateFn(data);
  translateAjvErrors(validateFn.errors ?? [], ctx);
  validateModulePluginConfigs(data, plugins, ctx, moduleErrors.length > 0);

  // 3. Defaults Ajv leaves out (inside anyOf branches).
  applyDefaults(schemaDocument(), data);

  // 4. Semantic checks (read-only).
  if (isObject(data)) semanticChecks(data, ctx, isObject(input) ? input : {}, plugins);

  scrubEnvValues(ctx);
  const errors = finalizeErrors(ctx);
  if (errors.length > 0) return { ok: false, errors };

  // 5. Normalization and computed defaults: only a config without errors gets here.
  normalize(data as Record<string, unknown>, ctx, plugins);
  if (ctx.errors.length > 0) return { ok: false, errors: finalizeErrors(ctx) };
  const config = data as unknown as GatewayConfig;
  rememberEnvPointers(config, ctx.env.keys());
  const warnings = sortErrors(ctx.warnings).map((w) => `${w.pointer === '' ? '(root)' : w.pointer}: ${w.message}`);
  return { ok: true, config, warnings, plugins };
}
