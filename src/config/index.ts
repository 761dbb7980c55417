/**
 * The one way the gateway reads its config: parse + validate (load.ts), then refuse what this
 * build does not implement yet (not-implemented.ts). `gateway validate`, `gateway start` and
 * every reload go through here, so they always agree.
 */
import { loadConfigFile, type LoadResult } from './load.js';
import { notImplementedErrors } from './not-implemented.js';

export { formatErrors, redactConfig, type ConfigError } from './load.js';

export async function readGatewayConfig(path: string): Promise<LoadResult> {
  const result = await loadConfigFile(path);
  if (!result.ok) return result;
  const errors = notImplementedErrors(result.config);
  return errors.length > 0 ? { ok: false, errors } : result;
}
