/**
 * What the semantic checks share: the validated copy (defaults applied, NOT normalized: checks
 * are read-only and see the config as written), the user's original input (to tell what was
 * written from what was defaulted), and where to report. Each section is its own file
 * (upstreams, top, consumers, plugins, routes, conflicts); src/config/check/index.ts runs them.
 */
import type { SyntaxReporter } from '../../util/syntax.js';
import { semanticError, show, warning, type Collector } from '../report.js';
import { isObject } from '../util.js';
import type { PluginCatalog } from '../../plugins/catalog.js';

export type Obj = Record<string, unknown>;

export interface CheckContext {
  /** The validated copy. */
  readonly c: Obj;
  readonly original: Obj;
  readonly ctx: Collector;
  /** err/warn/show at absolute pointers (also a SyntaxReporter). */
  readonly root: SyntaxReporter;
  err(pointer: string, message: string): void;
  warn(pointer: string, message: string): void;
  show(pointer: string, value: unknown): string;
  /** Upstream names routes refer to (filled by the route checks, read by the unused-upstream warning). */
  readonly usedUpstreams: Set<string>;
  /** The plugins this config can use (built-ins and its plugin modules'). */
  readonly plugins: PluginCatalog;
}

export const str = (v: unknown): v is string => typeof v === 'string';
export const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const obj = (v: unknown): Obj => (isObject(v) ? v : {});

export function checkContext(c: Obj, ctx: Collector, original: Obj, plugins: PluginCatalog): CheckContext {
  const err = (pointer: string, message: string): void => semanticError(ctx, pointer, message);
  const warn = (pointer: string, message: string): void => warning(ctx, pointer, message);
  const shown = (pointer: string, value: unknown): string => show(ctx, pointer, value);
  return { c, original, ctx, root: { error: err, warn, show: shown }, err, warn, show: shown, usedUpstreams: new Set(), plugins };
}

/** An id that must be unique in its section: "duplicate <what> <id> (also /<section>/<first>/id)". */
export function checkUniqueId(k: CheckContext, seen: Map<string, number>, section: 'consumers' | 'routes', i: number, id: unknown, what: string): void {
  if (!str(id)) return;
  const at = `/${section}/${i}/id`;
  const first = seen.get(id);
  if (first !== undefined) k.err(at, `duplicate ${what} ${k.show(at, id)} (also /${section}/${first}/id)`);
  else seen.set(id, i);
}
