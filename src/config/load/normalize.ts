/**
 * Normalization, after the checks found no error, on the validated copy: the writes the
 * runtime relies on.
 *   - route hosts lower-cased, methods upper-cased (duplicates dropped), header-match names
 *     lower-cased (env pointers follow the renamed keys);
 *   - consumers' apiKeys lower-cased;
 *   - each plugin's own normalization (its descriptor's normalize(): cors methods upper-cased,
 *     rateLimit's computed burst; plugin modules' too), global and per route;
 *   - aggregate.timeoutMs defaults to the route's timeoutMs (a computed default).
 */
import type { PluginDescriptor } from '../../plugins/api.js';
import type { PluginCatalog } from '../../plugins/catalog.js';
import type { Collector } from '../report.js';
import { defineProp, escapePointer, isObject } from '../util.js';
import { callModuleHook } from './plugin-configs.js';

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

function normalizePlugins(plugins: Obj, base: string, catalog: PluginCatalog, ctx: Collector): void {
  for (const d of catalog.descriptors as readonly PluginDescriptor[]) {
    const conf = plugins[d.name];
    if (d.normalize === undefined || !isObject(conf)) continue;
    if (catalog.moduleOf(d) === undefined) plugins[d.name] = d.normalize(conf);
    else {
      const out = callModuleHook(ctx, `${base}/${d.name}`, d, 'normalize', () => d.normalize!(conf));
      if (isObject(out)) plugins[d.name] = out;
      else if (out !== undefined) ctx.errors.push({ pointer: `${base}/${d.name}`, message: `plugin "${d.name}": its normalize() must return the config object` });
    }
  }
}

/** Normalizes a valid config in place; errors only from plugin modules' normalize() (they are bugs of the module). */
export function normalize(c: Obj, ctx: Collector, catalog: PluginCatalog): void {
  if (Array.isArray(c.consumers)) {
    for (const consumer of c.consumers as Obj[]) {
      if (Array.isArray(consumer.apiKeys)) consumer.apiKeys = consumer.apiKeys.map((k) => (typeof k === 'string' ? k.toLowerCase() : k));
    }
  }
  if (isObject(c.plugins)) normalizePlugins(c.plugins, '/plugins', catalog, ctx);
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
    if (isObject(route.plugins)) normalizePlugins(route.plugins, `${p}/plugins`, catalog, ctx);
  });
}
