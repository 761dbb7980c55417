/**
 * Plugins (global, and each route's): each descriptor's own check (src/plugins/<name>/, or a
 * plugin module's), with pointers relative to the plugin's config, and the rules that concern
 * plugins as a set.
 */
import type { PluginDescriptor } from '../../plugins/api.js';
import { mergePlugins } from '../effective.js';
import { reporterAt } from '../report.js';
import { isObject } from '../util.js';
import { REGISTRY } from '../../plugins/registry.js';
import { callModuleHook } from '../load/plugin-configs.js';
import { obj, type CheckContext, type Obj } from './context.js';

/** The built-in access control (a plugin module's acl-phase plugin may not need a consumer). */
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
  for (const d of k.plugins.descriptors as readonly PluginDescriptor[]) {
    const conf = plugins[d.name];
    if (d.check === undefined || !isObject(conf)) continue;
    const r = reporterAt(k.ctx, `${base}/${d.name}`);
    if (k.plugins.moduleOf(d) === undefined) d.check(conf, r, env);
    else callModuleHook(k.ctx, `${base}/${d.name}`, d, 'check', () => d.check!(conf, r, env));
  }
  if (!isRoute) return;
  // A route's effective plugins: access control needs an authenticated consumer.
  const effective = mergePlugins(globalPlugins, plugins);
  const has = (names: readonly string[]): boolean => names.some((n) => effective[n] !== undefined);
  // A plugin module's auth-phase plugin may authenticate (it sets ctx.consumer).
  const auth = k.plugins.namesOf('auth');
  if (has(ACL_PLUGINS) && !has(auth)) {
    k.warn(base, `acl is in force but no authentication plugin (${auth.join(', ')}) is: every request gets 401/403`);
  }
}
