/**
 * Conflicting routes: some request both match that no precedence rule separates (same path
 * shape, see routesOverlap). Grouped by shape so large tables stay cheap. Hosts and methods are
 * compared as normalization will leave them (lower-/upper-cased, duplicates dropped).
 */
import { isObject } from '../util.js';
import { normalizedHosts, normalizedMethods } from '../load/normalize.js';
import { arr, type CheckContext, type Obj } from './context.js';
import type { PathInfo } from './routes.js';

export function checkConflicts(k: CheckContext, pathInfos: readonly PathInfo[][]): void {
  const views: Obj[] = arr(k.c.routes).map((r) => {
    if (!isObject(r)) return {};
    return {
      ...r,
      hosts: Array.isArray(r.hosts) ? normalizedHosts(r.hosts) : r.hosts,
      methods: Array.isArray(r.methods) ? normalizedMethods(r.methods) : r.methods,
    };
  });
  const byShape = new Map<string, PathInfo[]>();
  for (const infos of pathInfos) for (const info of infos ?? []) byShape.set(info.shape, [...(byShape.get(info.shape) ?? []), info]);
  const reported = new Set<string>();
  for (const group of byShape.values()) {
    for (let a = 0; a < group.length; a++) {
      for (let b = a + 1; b < group.length; b++) {
        const x = group[a];
        const y = group[b];
        if (x.route === y.route) continue;
        const rx = views[x.route];
        const ry = views[y.route];
        if (!routesOverlap(rx, ry)) continue;
        const key = `${x.route}/${y.route}`;
        if (reported.has(key)) continue;
        reported.add(key);
        const pointer = `/routes/${y.route}/paths/${y.index}`;
        const scope = describeOverlap(rx, ry, (r, key, j, v) => k.show(`/routes/${r === rx ? x.route : y.route}/${key}/${j}`, v));
        k.err(
          pointer,
          `route ${k.show(`/routes/${y.route}/id`, ry.id)} conflicts with route ${k.show(`/routes/${x.route}/id`, rx.id)} ` +
            `(/routes/${x.route}/paths/${x.index}): ${k.show(pointer, y.path)} and ` +
            `${k.show(`/routes/${x.route}/paths/${x.index}`, x.path)} match the same requests (${scope}); ` +
            'make hosts, methods, paths or headers differ, or set different priorities',
        );
      }
    }
  }

}

/**
 * Two routes with a path of the same shape conflict when some request matches both and no rule
 * of "Which route wins" separates them (docs/configuration.md):
 *   - hosts: both without `hosts`, or both lists share a host (exact or wildcard: a request for
 *     it consults one host tree holding both). A route without `hosts` next to one with hosts
 *     is the default for the other hosts, and different hosts are different host trees.
 *   - methods: both without `methods`, or both lists share a method (a route without
 *     `methods` next to one with methods is the fallback for the other methods).
 *   - headers: as many matches on both, and none that cannot hold together (the same name
 *     with different values; names case-insensitive, values compared lower-cased as the
 *     worker does), so a request can satisfy both.
 *   - the same priority.
 */
function routesOverlap(a: Obj, b: Obj): boolean {
  if ((a.priority ?? 0) !== (b.priority ?? 0)) return false;
  const sameClass = (x: unknown, y: unknown): boolean =>
    Array.isArray(x) && Array.isArray(y) ? x.some((v) => y.includes(v)) : !Array.isArray(x) && !Array.isArray(y);
  if (!sameClass(a.hosts, b.hosts) || !sameClass(a.methods, b.methods)) return false;
  const ha = headerMatches(a.headers);
  const hb = headerMatches(b.headers);
  if (ha.size !== hb.size) return false;
  for (const [name, value] of ha) {
    const other = hb.get(name);
    if (other !== undefined && other !== value) return false;
  }
  return true;
}

/** A route's header matches as the worker checks them: lower-case name -> lower-cased value. */
function headerMatches(h: unknown): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(isObject(h) ? h : {})) {
    const name = k.toLowerCase();
    if (!out.has(name)) out.set(name, String(v).toLowerCase()); // a second one is an error already
  }
  return out;
}

function describeOverlap(a: Obj, b: Obj, shown: (route: Obj, key: string, index: number, value: unknown) => string): string {
  const common = (key: 'hosts' | 'methods'): string => {
    const x = a[key];
    const y = b[key];
    if (!Array.isArray(x) && !Array.isArray(y)) return 'any';
    const [owner, list, other] = Array.isArray(x) ? [a, x, y] : [b, y as unknown[], x];
    return list
      .map((v, j) => ({ v, j }))
      .filter(({ v }) => !Array.isArray(other) || other.includes(v))
      .map(({ v, j }) => (key === 'hosts' ? shown(owner, key, j, v) : String(v)))
      .join(', ');
  };
  const ha = headerMatches(a.headers);
  const hb = headerMatches(b.headers);
  const headers =
    ha.size === 0
      ? 'no header matches'
      : [...ha].every(([k, v]) => hb.get(k) === v)
        ? 'same header matches'
        : `${ha.size} header matches each, which can all hold at once`;
  return `hosts: ${common('hosts')}; methods: ${common('methods')}; ${headers}`;
}
