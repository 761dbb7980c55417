/**
 * Plugins (global, and each route's): each descriptor's own check (src/plugins/<name>/), with
 * pointers relative to the plugin's config, and the rules that concern plugins as a set.
 */
import { REGISTRY } from '../../plugins/registry.js';
import { mergePlugins } from '../effective.js';
import type { PluginDescriptor } from '../../plugins/api.js';
import { reporterAt } from '../report.js';
import { isObject } from '../util.js';
import { obj, type CheckContext, type Obj } from './context.js';

const AUTH_PLUGINS = REGISTRY.filter((d) => d.phase === 'auth').map((d) => d.name);
const ACL_PLUGINS = REGISTRY.filter((d) => d.phase === 'acl').map((d) => d.name);

/** Checks the plugins object at `base` ("/plugins" or "/routes/<i>/plugins"). */
export function checkPlugins(k: CheckContext, plugins: Obj, base: string, isRoute: boolean): void {
  const globalPlugins = obj(k.c.plugins);
  for (const [name, value] of Object.entries(plugins)) {
    if (value === false && isRoute && globalPlugins[name] === undefined) {
      k.warn(`${base}/${name}`, `false has no effect: there is no global "${name}" plugin`);
    }
  }
  const env = { isRoute, hasCluster: isObject(k.c.cluster) };
  for (const d of REGISTRY as readonly PluginDescriptor[]) {
    const conf = plugins[d.name];
    if (d.check !== undefined && isObject(conf)) d.check(conf, reporterAt(k.ctx, `${base}/${d.name}`), env);
  }
  if (!isRoute) return;
  // A route's effective plugins: access control needs an authenticated consumer.
  const effective = mergePlugins(globalPlugins, plugins);
  const has = (names: readonly string[]): boolean => names.some((n) => effective[n] !== undefined);
  if (has(ACL_PLUGINS) && !has(AUTH_PLUGINS)) {
    k.warn(base, `acl is in force but no authentication plugin (${AUTH_PLUGINS.join(', ')}) is: every request gets 401/403`);
  }
}
