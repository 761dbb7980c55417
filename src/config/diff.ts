/**
 * What a reload may not change: the fields the schema marks restartOnly() (listen, tls,
 * workers, admin, limits.maxHeaderBytes, limits.rateLimitBuckets). The primary refuses such a
 * reload with "changing this needs a restart, not a reload" at each pointer.
 */
import type { TSchema } from '@sinclair/typebox';
import { GatewayConfigSchema, type GatewayConfig } from './schema.js';
import { branches, isRestartOnly } from '../util/schema-kit.js';
import { escapePointer } from './util.js';

/** Pointers of the restart-only fields, in schema order. */
function restartOnlyPointers(schema: TSchema, at: string, out: string[]): string[] {
  if (isRestartOnly(schema)) {
    out.push(at);
    return out;
  }
  for (const b of branches(schema)) {
    const props = (b as { properties?: Record<string, TSchema> }).properties;
    if (props) for (const [k, sub] of Object.entries(props)) restartOnlyPointers(sub, `${at}/${escapePointer(k)}`, out);
  }
  return out;
}

const RESTART_ONLY = restartOnlyPointers(GatewayConfigSchema, '', []);

function at(config: unknown, pointer: string): unknown {
  let cur = config;
  for (const seg of pointer.slice(1).split('/')) cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[seg] : undefined;
  return cur;
}

/** The restart-only fields whose values differ between the config in force and a new one. */
export function restartOnlyDiff(a: GatewayConfig, b: GatewayConfig): string[] {
  return RESTART_ONLY.filter((p) => JSON.stringify(at(a, p)) !== JSON.stringify(at(b, p)));
}

export function restartOnlyFields(): readonly string[] {
  return RESTART_ONLY;
}

// ---------------------------------------------------------------------------------------------
// What changed between two configs: the summary of the reload audit line and `gateway diff`.
// ---------------------------------------------------------------------------------------------

/** Ids only, never values: a summary may be logged and printed, and values may be secrets. */
export interface IdChanges {
  added: string[];
  removed: string[];
  changed: string[];
}

export interface ConfigChanges {
  /** By route id. A route's own plugins are part of the route. */
  routes: IdChanges;
  /** By upstream name. */
  upstreams: IdChanges;
  /** By consumer id. */
  consumers: IdChanges;
  /** The global plugins, by plugin name. */
  plugins: IdChanges;
  /** Every other top-level field (listen, limits, accessLog, ...), by its name. */
  settings: IdChanges;
}

export const CHANGE_SECTIONS = ['routes', 'upstreams', 'consumers', 'plugins', 'settings'] as const;

/** Top-level fields with a section of their own (and `$schema`, which means nothing to the gateway). */
const NOT_SETTINGS = new Set(['routes', 'upstreams', 'consumers', 'plugins', '$schema']);

/** JSON with object keys sorted: two values are the same config when these strings are equal. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function compareById(before: Map<string, unknown>, after: Map<string, unknown>): IdChanges {
  const out: IdChanges = { added: [], removed: [], changed: [] };
  for (const [id, value] of after) {
    if (!before.has(id)) out.added.push(id);
    else if (canonicalJson(before.get(id)) !== canonicalJson(value)) out.changed.push(id);
  }
  for (const id of before.keys()) if (!after.has(id)) out.removed.push(id);
  return out;
}

const byKey = (obj: Record<string, unknown> | undefined) => new Map(Object.entries(obj ?? {}));
const byId = (list: ReadonlyArray<{ id: string }> | undefined) => new Map((list ?? []).map((x) => [x.id, x] as [string, unknown]));

/**
 * What a reload from `before` to `after` adds, removes and changes. Both are loaded configs
 * (defaults applied), so writing a default out, reordering keys or reformatting the file is no
 * change; moving a route within the list is none either (routes are matched by specificity,
 * not by order).
 */
export function configChanges(before: GatewayConfig, after: GatewayConfig): ConfigChanges {
  const settings = (c: GatewayConfig) => {
    const m = new Map<string, unknown>();
    for (const [k, v] of Object.entries(c)) if (!NOT_SETTINGS.has(k)) m.set(k, v);
    return m;
  };
  return {
    routes: compareById(byId(before.routes), byId(after.routes)),
    upstreams: compareById(byKey(before.upstreams), byKey(after.upstreams)),
    consumers: compareById(byId(before.consumers), byId(after.consumers)),
    plugins: compareById(byKey(before.plugins), byKey(after.plugins)),
    settings: compareById(settings(before), settings(after)),
  };
}

export function countChanges(c: ConfigChanges): { added: number; removed: number; changed: number } {
  const n = { added: 0, removed: 0, changed: 0 };
  for (const s of CHANGE_SECTIONS) {
    n.added += c[s].added.length;
    n.removed += c[s].removed.length;
    n.changed += c[s].changed.length;
  }
  return n;
}

export function hasChanges(c: ConfigChanges): boolean {
  const n = countChanges(c);
  return n.added + n.removed + n.changed > 0;
}

/**
 * The summary for people (`gateway diff`), one id per line under its section, like decK's and
 * terraform's plans: `+` added, `-` removed, `~` changed, then the counts.
 */
export function formatChanges(c: ConfigChanges): string {
  const lines: string[] = [];
  for (const s of CHANGE_SECTIONS) {
    const { added, removed, changed } = c[s];
    if (added.length + removed.length + changed.length === 0) continue;
    lines.push(`${s}:`);
    for (const id of added) lines.push(`  + ${JSON.stringify(id)}`);
    for (const id of removed) lines.push(`  - ${JSON.stringify(id)}`);
    for (const id of changed) lines.push(`  ~ ${JSON.stringify(id)}`);
  }
  const n = countChanges(c);
  lines.push(hasChanges(c) ? `${n.added} added, ${n.removed} removed, ${n.changed} changed` : 'no changes');
  return lines.join('\n') + '\n';
}
