/**
 * A route's compiled plugin pipeline and the code that runs it. Phases with nothing in them
 * are null, so a route without plugins costs one null check.
 */
import type { PluginsConfig } from '../config/schema.js';
import type { AccessHandler, AccessResult, LocalReply, PluginDeps, ResponseHook } from './types.js';
import type { RequestContext } from './context.js';
import { PLUGINS } from './registry.js';
import { log } from '../observability/log.js';
import { isPromise } from '../util/promise.js';

export interface CompiledPipeline {
  readonly access: readonly AccessHandler[] | null;
  readonly onResponse: readonly ResponseHook[] | null;
  /** Upstream response headers to drop (lower-case), or null. */
  readonly removeResponseHeaders: readonly string[] | null;
}

/** Compiles the plugins in force on a route (global merged with the route's); null if none. */
export function compilePipeline(plugins: PluginsConfig, deps: PluginDeps): CompiledPipeline | null {
  const access: AccessHandler[] = [];
  const onResponse: ResponseHook[] = [];
  const remove: string[] = [];
  const conf = plugins as Record<string, unknown>;
  for (const def of PLUGINS) {
    const c = conf[def.name];
    if (c === undefined || c === false) continue;
    const inst = def.compile(c, deps);
    if (inst.access) access.push(inst.access);
    if (inst.onResponse) onResponse.push(inst.onResponse);
    if (inst.removeResponseHeaders) remove.push(...inst.removeResponseHeaders);
  }
  if (access.length === 0 && onResponse.length === 0 && remove.length === 0) return null;
  return {
    access: access.length ? access : null,
    onResponse: onResponse.length ? onResponse : null,
    removeResponseHeaders: remove.length ? remove : null,
  };
}

const PLUGIN_BUG: LocalReply = { status: 500, code: 'internal_error' };

function bug(err: unknown): LocalReply {
  log('error', 'plugin threw (a bug): answered 500', { error: err instanceof Error ? err.stack : String(err) });
  return PLUGIN_BUG;
}


/**
 * Runs access handlers from `start`; synchronous while every handler is, a Promise only from
 * the first handler that returns one.
 */
export function runAccess(handlers: readonly AccessHandler[], ctx: RequestContext, start = 0): AccessResult | Promise<AccessResult> {
  for (let i = start; i < handlers.length; i++) {
    let r: AccessResult | Promise<AccessResult>;
    try {
      r = handlers[i](ctx);
    } catch (err) {
      return bug(err);
    }
    if (r === undefined) continue;
    if (isPromise(r)) {
      return r.then((v) => (v === undefined ? runAccess(handlers, ctx, i + 1) : v), bug);
    }
    return r;
  }
  return undefined;
}

/** Lets every response hook add its headers for an answer with this status. */
export function runResponseHooks(pipeline: CompiledPipeline, ctx: RequestContext, status: number): void {
  const hooks = pipeline.onResponse;
  if (hooks === null) return;
  for (let i = 0; i < hooks.length; i++) {
    try {
      hooks[i](ctx, status);
    } catch (err) {
      bug(err);
    }
  }
}
