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
import type { ConfigError } from './report.js';
import { REGISTRY } from '../plugins/registry.js';
import type { PluginDescriptor } from '../plugins/api.js';
import { isObject } from './util.js';

/** Files the config names must be readable now, not when a worker first needs them. */
function fileErrors(config: GatewayConfig): ConfigError[] {
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
  for (const [name, up] of Object.entries(config.upstreams)) {
    const at = `/upstreams/${escapePointer(name)}/tls`;
    check(`${at}/caFile`, up.tls?.caFile);
    check(`${at}/certFile`, up.tls?.certFile);
    check(`${at}/keyFile`, up.tls?.keyFile);
  }
  const pluginFiles = (plugins: Record<string, unknown>, base: string) => {
    for (const d of REGISTRY as readonly PluginDescriptor[]) {
      const conf = plugins[d.name];
      if (d.files !== undefined && isObject(conf)) for (const f of d.files(conf)) check(`${base}/${d.name}${f.at}`, f.path);
    }
  };
  pluginFiles(config.plugins, '/plugins');
  config.routes.forEach((r, i) => pluginFiles(r.plugins, `/routes/${i}/plugins`));
  return out;
}

export { formatErrors, redactConfig, type ConfigError } from './load.js';

export async function readGatewayConfig(path: string): Promise<LoadResult> {
  const result = await loadConfigFile(path);
  if (!result.ok) return result;
  const errors = [...notImplementedErrors(result.config), ...fileErrors(result.config)];
  return errors.length > 0 ? { ok: false, errors } : result;
}
