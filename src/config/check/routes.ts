/**
 * Routes: unique ids, exactly one action, path patterns, hosts, methods, header matches,
 * forwarding templates, split / mirror / aggregate references, and each route's plugins.
 * Read-only: lower-casing and upper-casing happen in normalization (load/normalize.ts).
 */
import { hostProblem, parsePath, templateProblem, TOKEN, checkHeaderName } from '../../util/syntax.js';
import { didYouMean } from '../report.js';
import { escapePointer, isObject } from '../util.js';
import { checkPlugins } from './plugins.js';
import { checkUpstreamRef } from './upstreams.js';
import { arr, checkUniqueId, str, type CheckContext } from './context.js';

/** One valid path of a route, with its shape ("/a/:/*") and parameter names. */
export interface PathInfo {
  route: number;
  index: number;
  path: string;
  shape: string;
  params: string[];
}

/** Checks every route; returns the valid paths of each (for the conflict check). */
export function checkRoutes(k: CheckContext): PathInfo[][] {
  const routeIds = new Map<string, number>();
  const routes = arr(k.c.routes);
  const pathInfos: PathInfo[][] = [];
  routes.forEach((route, i) => {
    pathInfos[i] = [];
    if (!isObject(route)) return;
    const p = `/routes/${i}`;
    checkUniqueId(k, routeIds, 'routes', i, route.id, 'route id');

    // Exactly one action.
    const actions = (['upstream', 'aggregate', 'respond'] as const).filter((k) => route[k] !== undefined);
    if (actions.length === 0) k.err(p, 'set exactly one of "upstream", "aggregate" or "respond"');
    else if (actions.length > 1) {
      k.err(p, `${actions.map((a) => `"${a}"`).join(' and ')} are mutually exclusive: set exactly one of "upstream", "aggregate" or "respond"`);
    }
    checkUpstreamRef(k, `${p}/upstream`, route.upstream);

    // Paths.
    arr(route.paths).forEach((path, j) => {
      if (!str(path)) return;
      const pp = `${p}/paths/${j}`;
      const parsed = parsePath(path);
      if ('error' in parsed) {
        const envName = k.ctx.env.get(pp);
        k.err(pp, envName === undefined ? `invalid path ${k.show(pp, path)}: ${parsed.error}` : `the value of env:${envName} is not a valid path`);
        return;
      }
      const dup = pathInfos[i].find((o) => o.shape === parsed.shape);
      if (dup) k.warn(pp, `same path shape as ${p}/paths/${dup.index}`);
      else pathInfos[i].push({ route: i, index: j, path, shape: parsed.shape, params: parsed.params });
    });
    const pathsValid = arr(route.paths).length > 0 && pathInfos[i].length > 0 && k.ctx.errors.every((e) => !e.pointer.startsWith(`${p}/paths/`));

    // Hosts: syntax of the lower-cased name (normalization lower-cases them).
    arr(route.hosts).forEach((h, j) => {
      if (!str(h)) return;
      const hp = `${p}/hosts/${j}`;
      const problem = hostProblem(h.toLowerCase());
      if (problem) k.err(hp, `${problem}, got ${k.show(hp, h)}`);
    });

    // Methods: tokens (normalization upper-cases them).
    arr(route.methods).forEach((m, j) => {
      if (!str(m)) return;
      const mp = `${p}/methods/${j}`;
      if (!TOKEN.test(m)) k.err(mp, `invalid HTTP method ${k.show(mp, m)}`);
    });

    // Header matches: valid names, no duplicates once lower-cased.
    if (isObject(route.headers)) {
      const seen = new Set<string>();
      for (const name of Object.keys(route.headers)) {
        const hp = `${p}/headers/${escapePointer(name)}`;
        if (!TOKEN.test(name)) k.err(hp, `invalid header name ${JSON.stringify(name)}`);
        const lower = name.toLowerCase();
        if (seen.has(lower)) k.err(hp, `header "${lower}" is matched twice (header names are case-insensitive)`);
        seen.add(lower);
      }
    }

    // Forwarding options.
    const paramsOfAll = (): Set<string> | null => {
      if (!pathsValid) return null;
      const sets = pathInfos[i].map((info) => new Set(info.params));
      return new Set([...sets[0]].filter((n) => sets.every((s) => s.has(n))));
    };
    const checkPlaceholders = (pointer: string, template: string): void => {
      const envName = k.ctx.env.get(pointer);
      const problem = templateProblem(template);
      if (envName !== undefined) {
        // Names of placeholders are part of the value: say what is wrong without quoting it.
        const common = paramsOfAll();
        const names = [...template.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1]);
        if (problem || (common !== null && names.some((n) => !common.has(n)))) {
          k.err(pointer, `the value of env:${envName} has a placeholder that is not a parameter of every path of the route`);
        }
        return;
      }
      if (problem) {
        k.err(pointer, problem);
        return;
      }
      const common = paramsOfAll();
      if (common === null) return;
      for (const m of template.matchAll(/\{([^{}]*)\}/g)) {
        const name = m[1];
        if (common.has(name)) continue;
        const missing = pathInfos[i]
          .filter((info) => !info.params.includes(name))
          .map((info) => k.show(`${p}/paths/${info.index}`, info.path));
        k.err(
          pointer,
          `"{${name}}" is not a parameter of every path of the route (missing in ${missing.join(', ')})${didYouMean(name, common)}`,
        );
      }
    };
    if (str(route.stripPrefix)) {
      const sp = `${p}/stripPrefix`;
      if (!route.stripPrefix.startsWith('/')) k.err(sp, `must start with "/", got ${k.show(sp, route.stripPrefix)}`);
      else if (pathsValid) {
        const prefix = route.stripPrefix.replace(/\/$/, '');
        for (const info of pathInfos[i]) {
          if (prefix !== '' && info.path !== prefix && !info.path.startsWith(`${prefix}/`)) {
            k.warn(sp, `is not a prefix of path ${k.show(`${p}/paths/${info.index}`, info.path)} (nothing is stripped there)`);
          }
        }
      }
      if (route.rewrite !== undefined) k.warn(sp, 'has no effect: rewrite replaces the whole path');
    }
    if (str(route.rewrite)) {
      const rp = `${p}/rewrite`;
      if (!route.rewrite.startsWith('/')) k.err(rp, `must start with "/", got ${k.show(rp, route.rewrite)}`);
      else checkPlaceholders(rp, route.rewrite);
    }
    if (route.upstream === undefined && route.aggregate !== undefined && route.respond === undefined) {
      const orig = arr(k.original.routes)[i];
      for (const key of ['stripPrefix', 'rewrite'] as const) {
        if (isObject(orig) && orig[key] !== undefined) k.warn(`${p}/${key}`, 'has no effect on an "aggregate" route (each backend has its own path)');
      }
    }
    if (route.upstream === undefined && route.respond !== undefined && route.aggregate === undefined) {
      const orig = arr(k.original.routes)[i];
      for (const key of ['stripPrefix', 'rewrite', 'preserveHost'] as const) {
        if (isObject(orig) && orig[key] !== undefined) k.warn(`${p}/${key}`, 'has no effect on a "respond" route');
      }
    }

    // Split and mirror.
    if (Array.isArray(route.split)) {
      if (route.upstream === undefined) k.err(`${p}/split`, 'needs "upstream" on the route (the rest of the traffic goes there)');
      let sum = 0;
      route.split.forEach((s, j) => {
        if (!isObject(s)) return;
        checkUpstreamRef(k, `${p}/split/${j}/upstream`, s.upstream);
        // Out-of-range weights have their own error; the sum only counts valid ones.
        if (typeof s.weight === 'number' && Number.isInteger(s.weight) && s.weight >= 1 && s.weight <= 100) sum += s.weight;
        if (str(s.upstream) && s.upstream === route.upstream) k.warn(`${p}/split/${j}/upstream`, 'is the route\'s own upstream');
      });
      if (sum > 100) k.err(`${p}/split`, `weights add up to ${sum}; at most 100 (the rest goes to "upstream")`);
    }
    if (isObject(route.mirror)) {
      if (route.upstream === undefined) k.err(`${p}/mirror`, 'needs "upstream" on the route');
      checkUpstreamRef(k, `${p}/mirror/upstream`, route.mirror.upstream);
    }

    // Aggregation.
    if (isObject(route.aggregate)) {
      const ap = `${p}/aggregate`;
      const names = new Map<string, number>();
      arr(route.aggregate.backends).forEach((b, j) => {
        if (!isObject(b)) return;
        const bp = `${ap}/backends/${j}`;
        checkUpstreamRef(k, `${bp}/upstream`, b.upstream);
        if (str(b.path) && b.path.startsWith('/')) checkPlaceholders(`${bp}/path`, b.path);
        if (str(b.as)) {
          const first = names.get(b.as);
          if (first !== undefined) k.err(`${bp}/as`, `duplicate name ${k.show(`${bp}/as`, b.as)} (also ${ap}/backends/${first}/as)`);
          else names.set(b.as, j);
        }
      });
    }

    if (isObject(route.respond) && isObject(route.respond.headers)) {
      for (const key of Object.keys(route.respond.headers)) {
        checkHeaderName(k.root, `${p}/respond/headers/${escapePointer(key)}`, key);
      }
    }

    // Plugins.
    if (isObject(route.plugins)) checkPlugins(k, route.plugins, `${p}/plugins`, true);
  });
  return pathInfos;

}
