/**
 * The plugins in force on a route: the global plugins, each replaced by the route's plugin of
 * the same name, minus the ones the route turns off with `false`. The one merge the checks, the
 * runtime compiler and the tests use.
 */
import type { PluginScope } from '../plugins/api.js';
import type { GatewayConfig, PluginsConfig, RouteConfig } from './schema.js';

type Obj = Record<string, unknown>;

export function mergePlugins(global: Obj, route: Obj): Obj {
  const out: Obj = { ...global };
  for (const [name, value] of Object.entries(route)) {
    if (value === false) delete out[name];
    else if (value !== undefined) out[name] = value;
  }
  return out;
}

export function effectivePlugins(config: GatewayConfig, route: RouteConfig): PluginsConfig {
  return mergePlugins(config.plugins, route.plugins) as PluginsConfig;
}

/** One plugin in force on a route, with the pointer of its config and whose it is. */
export interface EffectivePluginEntry {
  readonly name: string;
  readonly conf: unknown;
  readonly pointer: string;
  readonly scope: PluginScope;
}

/** effectivePlugins() with, for each, where its config is: the route's own or the global one. */
export function effectivePluginEntries(config: GatewayConfig, index: number): EffectivePluginEntry[] {
  const route = config.routes[index];
  const own = route.plugins as Obj;
  const routeScope: PluginScope = { kind: 'route', routeId: route.id };
  const global: PluginScope = { kind: 'global' };
  return Object.entries(mergePlugins(config.plugins, own)).map(([name, conf]) =>
    own[name] !== undefined
      ? { name, conf, pointer: `/routes/${index}/plugins/${name}`, scope: routeScope }
      : { name, conf, pointer: `/plugins/${name}`, scope: global },
  );
}
