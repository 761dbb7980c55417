/**
 * The one way the gateway reads its config: parse + validate (load.ts), then refuse what this
 * build does not implement yet (not-implemented.ts) and files it cannot read. `gateway
 * validate`, `gateway start` and every reload go through here, and then through the same
 * compile dry run (src/runtime/dry-run.ts), so they always agree.
 */
import { escapePointer } from '../util/json-pointer.js';
import { accessSync, constants } from 'node:fs';
import { loadConfigFile, type LoadResult } from './load.js';
import { notImplementedErrors } from './not-implemented.js';
import type { GatewayConfig } from './schema.js';
import { newCollector, type ConfigError } from './report.js';
import type { PluginDescriptor, PluginFile } from '../plugins/api.js';
import { BUILTIN_PLUGINS, type PluginCatalog } from '../plugins/catalog.js';
import { callModuleHook } from './load/plugin-configs.js';
import { isObject } from './util.js';

/**
 * The files a config names, with their pointers: TLS (read once at start: restart-only) and what
 * plugins read when they compile, so again on every reload (a jwt publicKeyFile), plugin modules'
 * included (a module's files() that throws is a problem in `errors`).
 */
export function namedFiles(config: GatewayConfig, catalog: PluginCatalog = BUILTIN_PLUGINS, errors: ConfigError[] = []): { tls: NamedFile[]; reloaded: NamedFile[] } {
  const tls: NamedFile[] = [];
  if (config.tls !== undefined) tls.push({ pointer: '/tls/certFile', path: config.tls.certFile }, { pointer: '/tls/keyFile', path: config.tls.keyFile });
  const reloaded: NamedFile[] = [];
  const pluginFiles = (plugins: Record<string, unknown>, base: string) => {
    for (const d of catalog.descriptors as readonly PluginDescriptor[]) {
      const conf = plugins[d.name];
      if (d.files === undefined || !isObject(conf)) continue;
      const at = `${base}/${d.name}`;
      let files: readonly PluginFile[] | undefined;
      if (catalog.moduleOf(d) === undefined) files = d.files(conf);
      else {
        const ctx = newCollector([]);
        files = callModuleHook(ctx, at, d, 'files', () => d.files!(conf));
        errors.push(...ctx.errors);
      }
      for (const f of files ?? []) if (f.path !== undefined) reloaded.push({ pointer: `${at}${f.at}`, path: f.path });
    }
  };
  pluginFiles(config.plugins, '/plugins');
  config.routes.forEach((r, i) => pluginFiles(r.plugins, `/routes/${i}/plugins`));
  // Upstream TLS files are read again by every reload (src/upstream/tls.ts).
  for (const [name, up] of Object.entries(config.upstreams)) {
    const at = `/upstreams/${escapePointer(name)}/tls`;
    for (const key of ['caFile', 'certFile', 'keyFile'] as const) {
      const path = up.tls?.[key];
      if (path !== undefined) reloaded.push({ pointer: `${at}/${key}`, path });
    }
  }
  return { tls, reloaded };
}

export interface NamedFile {
  pointer: string;
  path: string;
}

/** Files the config names must be readable now, not when a worker first needs them. */
function fileErrors(config: GatewayConfig, catalog: PluginCatalog): ConfigError[] {
  const out: ConfigError[] = [];
  const { tls, reloaded } = namedFiles(config, catalog, out);
  for (const { pointer, path } of [...tls, ...reloaded]) {
    try {
      accessSync(path, constants.R_OK);
    } catch (err) {
      out.push({ pointer, message: `cannot read "${path}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    }
  }
  return out;
}

export { formatErrors, redactConfig, type ConfigError } from './load.js';

/** Reads and validates a config file (its plugin modules imported); the result carries the plugin catalog to compile with. */
export async function readGatewayConfig(path: string): Promise<LoadResult> {
  const result = await loadConfigFile(path);
  if (!result.ok) return result;
  const errors = [...notImplementedErrors(result.config), ...fileErrors(result.config, result.plugins)];
  return errors.length > 0 ? { ok: false, errors } : result;
}
