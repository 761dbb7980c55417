/**
 * The compile dry run: compiles a validated config as a worker would, with this process's
 * services (the primary's, or probe services for `gateway validate`), and reports what fails
 * as config errors. `gateway validate`, `gateway start` and every reload run it after
 * readGatewayConfig(), so the three report the same errors, with the pointers the plugins'
 * ConfigFaults give (a jwt publicKeyFile that holds a private key: /plugins/jwt/publicKeyFile;
 * a plugin module's compile() that throws: at its config).
 */
import type { GatewayConfig } from '../config/schema.js';
import type { ConfigError } from '../config/report.js';
import { EndpointRegistry } from '../upstream/endpoint.js';
import { compileConfig, ConfigFaults, type RouteAction } from './compile.js';
import type { ServiceHost } from './services.js';
import { BUILTIN_PLUGINS, type PluginCatalog } from '../plugins/catalog.js';

const NEVER: RouteAction = {
  create() {
    throw new Error('a dry-run compile serves no request');
  },
};

/** `plugins`: the config's catalog (its LoadResult's), so its plugin modules' compile() runs too. */
export function dryRunCompile(config: GatewayConfig, host: ServiceHost, plugins: PluginCatalog = BUILTIN_PLUGINS): ConfigError[] {
  const endpoints = new EndpointRegistry();
  const scope = host.scope(config);
  try {
    compileConfig(config, 0, { endpoints, actions: { proxy: NEVER, respond: NEVER, aggregate: NEVER }, services: scope, plugins });
    return [];
  } catch (err) {
    if (err instanceof ConfigFaults) return err.faults.map((f) => ({ pointer: f.pointer, message: f.message }));
    return [{ pointer: '', message: (err as Error).message }];
  } finally {
    scope.retire();
    void endpoints.closeAll();
  }
}
