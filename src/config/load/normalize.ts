/**
 * Normalization, after the checks found no error, on the validated copy: the writes the
 * runtime relies on.
 *   - route hosts lower-cased, methods upper-cased (duplicates dropped), header-match names
 *     lower-cased (env pointers follow the renamed keys);
 *   - consumers' apiKeys lower-cased;
 *   - each plugin's own normalization (its descriptor's normalize(): cors methods upper-cased,
 *     rateLimit's computed burst), global and per route;
 *   - aggregate.timeoutMs defaults to the route's timeoutMs (a computed default).
 */
import { REGISTRY } from '../../plugins/registry.js';
import type { PluginDescriptor } from '../../plugins/api.js';
import type { Collector } from '../report.js';
import { defineProp, escapePointer, isObject } from '../util.js';

type Obj = Record<string, unknown>;

/** Lower-cased, first occurrence kept. */
export function normalizedHosts(hosts: readonly unknown[]): unknown[] {
  return dedupe(hosts.map((h) => (typeof h === 'string' ? h.toLowerCase() : h)));
}

/** Upper-cased, first occurrence kept. */
export function normalizedMethods(methods: readonly unknown[]): unknown[] {
  return dedupe(methods.map((m) => (typeof m === 'string' ? m.toUpperCase() : m)));
}

function dedupe(list: unknown[]): unknown[] {
  const seen = new Set<string>();
  return list.filter((v) => typeof v !== 'string' || (!seen.has(v) && (seen.add(v), true)));
}

function renameEnvPointers(ctx: Collector, from: string, to: string): void {
  for (const [pointer, name] of [...ctx.env]) {
    if (pointer === from || pointer.startsWith(`${from}/`)) {
      ctx.env.delete(pointer);
      ctx.env.set(to + pointer.slice(from.length), name);
    }
  }
}

function normalizePlugins(plugins: Obj): void {
  for (const d of REGISTRY as readonly PluginDescriptor[]) {
    const conf = plugins[d.name];
    if (d.normalize !== undefined && isObject(conf)) plugins[d.name] = d.normalize(conf);
  }
}

export function normalize(c: Obj, ctx: Collector): void {
  if (Array.isArray(c.consumers)) {
    for (const consumer of c.consumers as Obj[]) {
      if (Array.isArray(consumer.apiKeys)) consumer.apiKeys = consumer.apiKeys.map((k) => (typeof k === 'string' ? k.toLowerCase() : k));
    }
  }
  if (isObject(c.plugins)) normalizePlugins(c.plugins);
  (c.routes as Obj[]).forEach((route, i) => {
    const p = `/routes/${i}`;
    if (Array.isArray(route.hosts)) route.hosts = normalizedHosts(route.hosts);
    if (Array.isArray(route.methods)) route.methods = normalizedMethods(route.methods);
    if (isObject(route.headers)) {
      const out: Obj = {};
      for (const [name, value] of Object.entries(route.headers)) {
        const lower = name.toLowerCase();
        defineProp(out, lower, value);
        if (lower !== name) renameEnvPointers(ctx, `${p}/headers/${escapePointer(name)}`, `${p}/headers/${escapePointer(lower)}`);
      }
      route.headers = out;
    }
    if (isObject(route.aggregate) && route.aggregate.timeoutMs === undefined) route.aggregate.timeoutMs = route.timeoutMs;
    if (isObject(route.plugins)) normalizePlugins(route.plugins);
  });
}
