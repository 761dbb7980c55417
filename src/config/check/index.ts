/**
 * The semantic checks, section by section, on the validated copy. Read-only: they report, and
 * normalization (load/normalize.ts) runs only when nothing was reported as an error.
 */
import type { Collector } from '../report.js';
import { BUILTIN_PLUGINS, type PluginCatalog } from '../../plugins/catalog.js';
import { checkContext, obj, type Obj } from './context.js';
import { checkUpstreams, warnUnusedUpstreams } from './upstreams.js';
import { checkTop } from './top.js';
import { checkConsumers } from './consumers.js';
import { checkPlugins } from './plugins.js';
import { checkRoutes } from './routes.js';
import { checkConflicts } from './conflicts.js';

export function semanticChecks(c: Obj, ctx: Collector, original: Obj, plugins: PluginCatalog = BUILTIN_PLUGINS): void {
  const k = checkContext(c, ctx, original, plugins);
  checkUpstreams(k);
  checkTop(k);
  checkConsumers(k);
  checkPlugins(k, obj(c.plugins), '/plugins', false);
  const paths = checkRoutes(k);
  checkConflicts(k, paths);
  warnUnusedUpstreams(k);
}
