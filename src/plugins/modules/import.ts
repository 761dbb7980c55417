/**
 * Plugin modules: the files `pluginModules` names (docs/plugins/writing-plugins.md). Each is an
 * ES module (or CommonJS) whose default export, or named export `plugin`, is the descriptor the
 * built-in plugins use (api.ts), limited to what plugin modules may declare (see
 * MODULE_DESCRIPTOR_KEYS).
 *
 * Every process that compiles a config imports them: the primary (its dry run, at start and on
 * each reload), `gateway validate`, and every worker. The primary hashes each file once
 * (moduleRef) and the workers import exactly that version: the file URL with the hash as the
 * query, which also defeats the ESM cache when the file changed (a reload then runs the new
 * code) and reuses it when it did not. A worker checks the hash before importing, so a file
 * that changed after the primary validated it is refused, not run unvalidated.
 *
 * Node keeps every module version it imported until the process ends: each reload that changes
 * a plugin module adds one version to each process (the memory note in writing-plugins.md).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import type { PluginDescriptor } from '../api.js';
import type { PluginModuleRef } from '../catalog.js';
import { PHASE_ORDER } from '../registry.js';

/** A plugin module that cannot be used; the message is a config error at /pluginModules/<index>. */
export class PluginModuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PluginModuleError';
  }
}

/** What a plugin module's descriptor may have (the internal-only notImplemented/answersPreflight are not for modules). */
export const MODULE_DESCRIPTOR_KEYS = ['name', 'phase', 'schema', 'compile', 'check', 'normalize', 'files'] as const;

/** Plugin names: what fits in a JSON pointer segment without escaping and reads well in a log line. */
export const PLUGIN_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

const HOOK_NAMES = new Set(['onRequest', 'onUpstream', 'onRequestBody', 'onResponseHeaders', 'onResponseBody', 'onComplete', 'removeResponseHeaders']);
const TYPESCRIPT = /\.[cm]?ts$/;

/** 'strip' or 'transform' where this Node.js imports .ts files itself (22.18+, 23.6+), else undefined. */
export function nodeTypeScript(): string | undefined {
  const t = (process.features as { typescript?: string | false }).typescript;
  return typeof t === 'string' ? t : undefined;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOENT') return 'no such file';
  if (e?.code === 'EACCES') return 'permission denied';
  if (e?.code === 'EISDIR') return 'it is a directory';
  // Not `instanceof Error`: an error from another realm (the module's SyntaxError under a test runner's vm) is one too.
  if (typeof e?.message !== 'string') return String(err);
  return `${e.name === undefined || e.name === 'Error' ? '' : `${e.name}: `}${e.message}`;
}

/** Reads the file and pins its current content: the ref every process imports. */
export async function moduleRef(index: number, specifier: string, path: string): Promise<PluginModuleRef> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new PluginModuleError(`cannot read plugin module "${specifier}": ${reason(err)}`);
  }
  const hash = sha256(bytes);
  return { index, specifier, path, sha256: hash, url: `${pathToFileURL(path).href}?v=${hash.slice(0, 16)}` };
}

/** The problems of a value exported as a plugin descriptor (empty: usable). */
export function descriptorProblems(d: unknown): string[] {
  if (typeof d !== 'object' || d === null || Array.isArray(d)) return [`the export is ${d === null ? 'null' : Array.isArray(d) ? 'an array' : typeof d}, not a plugin descriptor object`];
  const o = d as Record<string, unknown>;
  const out: string[] = [];
  for (const key of Object.keys(o)) {
    if ((MODULE_DESCRIPTOR_KEYS as readonly string[]).includes(key)) continue;
    if (HOOK_NAMES.has(key)) out.push(`"${key}" is a hook: compile() returns the hooks, the descriptor does not hold them`);
    else out.push(`unknown descriptor key "${key}" (a descriptor has ${MODULE_DESCRIPTOR_KEYS.join(', ')})`);
  }
  if (typeof o.name !== 'string') out.push('"name" must be a string: the plugin\'s key under "plugins"');
  else if (!PLUGIN_NAME.test(o.name)) out.push(`"name" ${JSON.stringify(o.name)} must start with a letter and have only letters, digits, "_", "-" and "." (at most 64)`);
  if (!(PHASE_ORDER as readonly unknown[]).includes(o.phase)) out.push(`"phase" must be one of ${PHASE_ORDER.map((p) => `"${p}"`).join(', ')}, got ${JSON.stringify(o.phase) ?? 'nothing'}`);
  const s = o.schema as Record<string, unknown> | undefined;
  if (typeof s !== 'object' || s === null || Array.isArray(s)) out.push('"schema" must be the JSON Schema (or TypeBox schema) of the plugin\'s config');
  else if (s.type !== 'object') out.push('"schema" must describe an object (type "object"): a plugin\'s config is an object, possibly empty');
  if (typeof o.compile !== 'function') out.push('"compile" must be a function: compile(config, deps) returns the plugin\'s hooks');
  for (const f of ['check', 'normalize', 'files'] as const) {
    if (o[f] !== undefined && typeof o[f] !== 'function') out.push(`"${f}" must be a function when present`);
  }
  return out;
}

/** The descriptor a module exports: its default export, or its named export `plugin`. */
function exportedDescriptor(mod: Record<string, unknown>): unknown {
  const named = mod.plugin;
  const dflt = mod.default;
  if (dflt === undefined) return named;
  if (named === undefined || named === dflt) return dflt;
  // CommonJS `exports.plugin = ...`: Node exposes it as a named export and inside the default.
  if (typeof dflt === 'object' && dflt !== null && (dflt as Record<string, unknown>).plugin === named) return named;
  throw new PluginModuleError('it exports both a default and a named "plugin" export that differ: export the descriptor once');
}

/** Imports the module version `ref` pins and returns its checked descriptor; PluginModuleError otherwise. */
export async function importPluginModule(ref: PluginModuleRef): Promise<PluginDescriptor> {
  const what = `plugin module "${ref.specifier}"`;
  if (TYPESCRIPT.test(ref.path) && nodeTypeScript() === undefined) {
    throw new PluginModuleError(
      `${what} is TypeScript, which Node.js ${process.version} cannot import: compile it to JavaScript (tsc) and list the .js file, or run Node.js 22.18 or later (it strips types itself)`,
    );
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(ref.url)) as Record<string, unknown>;
  } catch (err) {
    throw new PluginModuleError(`cannot import ${what}: ${reason(err)}`);
  }
  const d = exportedDescriptor(mod);
  if (d === undefined) {
    throw new PluginModuleError(`${what} exports no plugin: make the descriptor its default export (export default definePlugin({ ... })) or export it as "plugin"`);
  }
  const problems = descriptorProblems(d);
  if (problems.length > 0) throw new PluginModuleError(`${what}: ${problems.join('; ')}`);
  return d as PluginDescriptor;
}

/**
 * A worker's import of what the primary validated: the file must still hold the content the
 * primary hashed (a file changed since is refused rather than run without validation; the next
 * reload picks the change up).
 */
export async function importValidatedModule(ref: PluginModuleRef): Promise<PluginDescriptor> {
  let bytes: Buffer;
  try {
    bytes = await readFile(ref.path);
  } catch (err) {
    throw new PluginModuleError(`cannot read plugin module "${ref.specifier}": ${reason(err)}`);
  }
  if (sha256(bytes) !== ref.sha256) {
    throw new PluginModuleError(`plugin module "${ref.specifier}" changed on disk after the config was validated; reload again to use the new version`);
  }
  return importPluginModule(ref);
}
