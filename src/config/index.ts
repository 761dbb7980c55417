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

/**
 * The files a config names, with their pointers: TLS (read once at start: restart-only) and what
 * plugins read when they compile, so again on every reload (a jwt publicKeyFile).
 */
export function namedFiles(config: GatewayConfig): { tls: NamedFile[]; reloaded: NamedFile[] } {
  const tls: NamedFile[] = [];
  if (config.tls !== undefined) tls.push({ pointer: '/tls/certFile', path: config.tls.certFile }, { pointer: '/tls/keyFile', path: config.tls.keyFile });
  const reloaded: NamedFile[] = [];
  const pluginFiles = (plugins: Record<string, unknown>, base: string) => {
    for (const d of REGISTRY as readonly PluginDescriptor[]) {
      const conf = plugins[d.name];
      if (d.files !== undefined && isObject(conf)) for (const f of d.files(conf)) if (f.path !== undefined) reloaded.push({ pointer: `${base}/${d.name}${f.at}`, path: f.path });
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
function fileErrors(config: GatewayConfig): ConfigError[] {
  const out: ConfigError[] = [];
  const { tls, reloaded } = namedFiles(config);
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

export async function readGatewayConfig(path: string): Promise<LoadResult> {
  const result = await loadConfigFile(path);
  if (!result.ok) return result;
  const errors = [...notImplementedErrors(result.config), ...fileErrors(result.config)];
  return errors.length > 0 ? { ok: false, errors } : result;
}
