/**
 * The one way the gateway reads its config: parse + validate (load.ts), then refuse what this
 * build does not implement yet (not-implemented.ts) and files it cannot read. `gateway
 * validate`, `gateway start` and every reload go through here, and then through the same
 * compile dry run (src/runtime/dry-run.ts), so they always agree.
 */
import { accessSync, constants } from 'node:fs';
import { loadConfigFile, type LoadResult } from './load.js';
import { notImplementedErrors } from './not-implemented.js';
import type { GatewayConfig } from './schema.js';
import { newCollector, type ConfigError } from './report.js';
import type { PluginDescriptor, PluginFile } from '../plugins/api.js';
import type { PluginCatalog } from '../plugins/catalog.js';
import { callModuleHook } from './load/plugin-configs.js';
import { isObject } from './util.js';

/** Files the config names must be readable now, not when a worker first needs them. */
function fileErrors(config: GatewayConfig, catalog: PluginCatalog): ConfigError[] {
  const out: ConfigError[] = [];
  const check = (pointer: string, path: string | undefined) => {
    if (path === undefined) return;
    try {
      accessSync(path, constants.R_OK);
    } catch (err) {
      out.push({ pointer, message: `cannot read "${path}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    }
  };
  check('/tls/certFile', config.tls?.certFile);
  check('/tls/keyFile', config.tls?.keyFile);
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
        out.push(...ctx.errors);
      }
      for (const f of files ?? []) check(`${at}${f.at}`, f.path);
    }
  };
  pluginFiles(config.plugins, '/plugins');
  config.routes.forEach((r, i) => pluginFiles(r.plugins, `/routes/${i}/plugins`));
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
