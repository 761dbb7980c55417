/**
 * Parts of the config contract (CONFIG.md) that this build does not implement yet. The schema
 * knows every field, so editors autocomplete them and typos are caught; but a config that asks
 * for one of these is refused with a clear error instead of being accepted and silently
 * ignored (a rate limit that limits nothing is worse than an error). Each entry is removed in
 * the change that implements it.
 */
import type { ConfigError } from './load.js';
import type { GatewayConfig } from './schema.js';

import { IMPLEMENTED_PLUGINS } from '../plugins/registry.js';

function notYet(pointer: string, what: string): ConfigError {
  return { pointer, message: `${what} is not implemented in this version of the gateway yet` };
}

function checkPlugins(plugins: Record<string, unknown> | undefined, base: string, out: ConfigError[]): void {
  if (!plugins) return;
  for (const name of Object.keys(plugins)) {
    if (!IMPLEMENTED_PLUGINS.has(name) && plugins[name] !== false) out.push(notYet(`${base}/${name}`, `the "${name}" plugin`));
  }
}

export function notImplementedErrors(config: GatewayConfig): ConfigError[] {
  const out: ConfigError[] = [];
  checkPlugins(config.plugins as Record<string, unknown> | undefined, '/plugins', out);
  for (const [name, up] of Object.entries(config.upstreams)) {
    const base = `/upstreams/${name}`;
    if (up.retries !== undefined) out.push(notYet(`${base}/retries`, '"retries"'));
    if (up.healthCheck !== undefined) out.push(notYet(`${base}/healthCheck`, '"healthCheck"'));
    if (up.circuitBreaker !== undefined) out.push(notYet(`${base}/circuitBreaker`, '"circuitBreaker"'));
  }
  config.routes.forEach((r, i) => {
    const base = `/routes/${i}`;
    if (r.aggregate !== undefined) out.push(notYet(`${base}/aggregate`, '"aggregate"'));
    if (r.split !== undefined) out.push(notYet(`${base}/split`, '"split" (canary)'));
    if (r.mirror !== undefined) out.push(notYet(`${base}/mirror`, '"mirror"'));
    checkPlugins(r.plugins as Record<string, unknown> | undefined, `${base}/plugins`, out);
  });
  return out;
}
