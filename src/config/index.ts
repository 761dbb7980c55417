/**
 * The one way the gateway reads its config: parse + validate (load.ts), then refuse what this
 * build does not implement yet (not-implemented.ts). `gateway validate`, `gateway start` and
 * every reload go through here, so they always agree.
 */
import { loadConfigFile, type LoadResult } from './load.js';
import { notImplementedErrors } from './not-implemented.js';
import { accessSync, constants } from 'node:fs';
import type { GatewayConfig } from './schema.js';
import type { ConfigError } from './load.js';

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
  const jwtKey = (plugins: unknown, base: string) => {
    const jwt = (plugins as { jwt?: { publicKeyFile?: string } } | undefined)?.jwt;
    if (jwt && typeof jwt === 'object') check(`${base}/jwt/publicKeyFile`, jwt.publicKeyFile);
  };
  jwtKey(config.plugins, '/plugins');
  config.routes.forEach((r, i) => jwtKey(r.plugins, `/routes/${i}/plugins`));
  return out;
}

export { formatErrors, redactConfig, type ConfigError } from './load.js';

export async function readGatewayConfig(path: string): Promise<LoadResult> {
  const result = await loadConfigFile(path);
  if (!result.ok) return result;
  const errors = [...notImplementedErrors(result.config), ...fileErrors(result.config)];
  return errors.length > 0 ? { ok: false, errors } : result;
}
