/**
 * A route's compiled plugin pipeline and the code that runs it. Phases with nothing in them
 * are null, so a route without plugins costs one null check (and a route with plugins one null
 * check per phase it does not use).
 *
 * The plugins run in their catalog's order (catalog.ts: phases in order, each phase's built-ins
 * then its plugin modules'). A plugin module's hooks come wrapped (modules/guard.ts): a module's
 * failure is that request's 500, never the worker's crash; built-in hooks are called as they are.
 */
import {
  ConfigFault,
  type AccessHandler,
  type AccessResult,
  type CompileDeps,
  type CompleteHook,
  type LocalReply,
  type PluginDescriptor,
  type PluginInstance,
  type PluginScope,
  type RequestBodyRewriter,
  type ResponseHook,
  type UpstreamAnswerHook,
  type UpstreamHook,
} from './api.js';
import type { RequestContext } from './context.js';
import type { TxSummary } from '../observability/access-log.js';
import { BUILTIN_PLUGINS, type PluginCatalog } from './catalog.js';
import { ModuleGuard } from './modules/guard.js';
import type { ModuleCompileDeps } from './public.js';
import { log, type Level } from '../observability/log.js';
import { isPromise } from '../util/promise.js';

export interface CompiledPipeline {
  readonly access: readonly AccessHandler[] | null;
  readonly onUpstream: readonly UpstreamHook[] | null;
  readonly onRequestBody: readonly RequestBodyRewriter[] | null;
  readonly onResponseHeaders: readonly ResponseHook[] | null;
  readonly onUpstreamAnswer: readonly UpstreamAnswerHook[] | null;
  readonly onComplete: readonly CompleteHook[] | null;
  /** Upstream response headers to drop (lower-case), or null. */
  readonly removeResponseHeaders: readonly string[] | null;
  /** Headers every answer gets (PluginInstance.fixedResponseHeaders, in plugin order), or null. */
  readonly fixedResponseHeaders: readonly string[] | null;
  /** Some plugin rewrites request bodies: the route must buffer them ('buffer' body mode). */
  readonly rewritesBodies: boolean;
  /** Some plugin answers CORS preflights (its descriptor says answersPreflight). */
  readonly answersPreflight: boolean;
  /**
   * A plugin module is in force: its requests get ctx.params, and a failure of its response
   * hook makes the answer a 500 (runResponseHooks).
   */
  readonly modules: boolean;
}

/** One plugin in force on a route: its config, where that config is, and whose it is. */
export interface EffectivePlugin {
  readonly name: string;
  readonly conf: unknown;
  /** JSON pointer of the plugin's config ("/plugins/jwt" or "/routes/3/plugins/jwt"). */
  readonly pointer: string;
  readonly scope: PluginScope;
}

/** CompileDeps without the per-plugin scope. */
export type PipelineDeps = Omit<CompileDeps, 'scope'>;

/** A ConfigFault, also one thrown by a plugin module that bundles its own copy of the class. */
function isConfigFault(err: unknown): err is ConfigFault {
  return err instanceof ConfigFault || (err instanceof Error && err.name === 'ConfigFault' && typeof (err as ConfigFault).pointer === 'string');
}

/** What a plugin module's compile() gets: the public subset of CompileDeps, plus a log that names it. */
function moduleDeps(name: string, deps: PipelineDeps, scope: PluginScope): ModuleCompileDeps {
  const routeId = deps.routeId;
  return {
    scope,
    routeId,
    role: deps.role,
    use: deps.use,
    consumer: (id) => deps.consumers.byId.get(id),
    log: (level: Level, msg: string, fields?: Record<string, unknown>) => log(level, msg, { ...fields, plugin: name, route: routeId }),
  };
}

/** Calls a descriptor's compile: a module's result is checked and its hooks wrapped. */
function compileOne(def: PluginDescriptor, p: EffectivePlugin, deps: PipelineDeps, catalog: PluginCatalog): PluginInstance {
  if (catalog.moduleOf(def) === undefined) return def.compile(p.conf, { ...deps, scope: p.scope });
  const guard = new ModuleGuard(def.name);
  let inst: unknown;
  try {
    inst = (def.compile as unknown as (conf: unknown, deps: ModuleCompileDeps) => unknown)(p.conf, moduleDeps(def.name, deps, p.scope));
  } catch (err) {
    if (isConfigFault(err)) throw err;
    throw new ConfigFault('', `plugin "${def.name}": its compile() threw: ${err instanceof Error ? err.message : String(err)}`);
  }
  return guard.wrap(guard.checkInstance(inst));
}

/**
 * Compiles the plugins in force on a route, in catalog order; null if none has a hook. A
 * ConfigFault a plugin throws comes out with its absolute pointer.
 */
export function compilePipeline(plugins: readonly EffectivePlugin[], deps: PipelineDeps, catalog: PluginCatalog = BUILTIN_PLUGINS): CompiledPipeline | null {
  const access: AccessHandler[] = [];
  const upstream: UpstreamHook[] = [];
  const requestBody: RequestBodyRewriter[] = [];
  const responseHeaders: ResponseHook[] = [];
  const answers: UpstreamAnswerHook[] = [];
  const complete: CompleteHook[] = [];
  const remove: string[] = [];
  const fixed: string[] = [];
  let answersPreflight = false;
  let modules = false;
  for (const def of catalog.descriptors) {
    const p = plugins.find((x) => x.name === def.name);
    if (p === undefined || p.conf === undefined || p.conf === false) continue;
    let inst: PluginInstance;
    try {
      inst = compileOne(def, p, deps, catalog);
    } catch (err) {
      if (isConfigFault(err)) throw new ConfigFault(p.pointer + err.pointer, err.message);
      throw err;
    }
    // A module with hooks: the route's requests get what modules see (params, header checks).
    if (catalog.moduleOf(def) !== undefined && (inst.onRequest || inst.onResponseHeaders || inst.onComplete)) modules = true;
    if (inst.onRequest) access.push(inst.onRequest);
    if (inst.onUpstream) upstream.push(inst.onUpstream);
    if (inst.onRequestBody) requestBody.push(inst.onRequestBody);
    if (inst.onResponseHeaders) responseHeaders.push(inst.onResponseHeaders);
    if (inst.onUpstreamAnswer) answers.push(inst.onUpstreamAnswer);
    if (inst.onComplete) complete.push(inst.onComplete);
    if (inst.removeResponseHeaders) remove.push(...inst.removeResponseHeaders);
    if (inst.fixedResponseHeaders) fixed.push(...inst.fixedResponseHeaders);
    if (def.answersPreflight === true) answersPreflight = true;
  }
  const orNull = <T>(a: T[]): readonly T[] | null => (a.length > 0 ? a : null);
  const pipeline: CompiledPipeline = {
    access: orNull(access),
    onUpstream: orNull(upstream),
    onRequestBody: orNull(requestBody),
    onResponseHeaders: orNull(responseHeaders),
    onUpstreamAnswer: orNull(answers),
    onComplete: orNull(complete),
    removeResponseHeaders: orNull(remove),
    fixedResponseHeaders: orNull(fixed),
    rewritesBodies: requestBody.length > 0,
    answersPreflight,
    modules,
  };
  const empty =
    pipeline.access === null &&
    pipeline.onUpstream === null &&
    pipeline.onRequestBody === null &&
    pipeline.onResponseHeaders === null &&
    pipeline.onUpstreamAnswer === null &&
    pipeline.onComplete === null &&
    pipeline.removeResponseHeaders === null &&
    pipeline.fixedResponseHeaders === null;
  return empty ? null : pipeline;
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
      // The rest runs only while the request is still there (a plugin must not start work,
      // such as a cache fill, for a transaction that has already finished).
      return r.then((v) => (v === undefined ? (ctx.finished ? undefined : runAccess(handlers, ctx, i + 1)) : v), bug);
    }
    return r;
  }
  return undefined;
}

/**
 * Lets every response hook add its headers for an answer with this status. False when a plugin
 * module's hook failed (modules/guard.ts): the caller then answers 500 plugin_error instead, so
 * it must run these before it writes the status line.
 */
export function runResponseHooks(pipeline: CompiledPipeline, ctx: RequestContext, status: number): boolean {
  const hooks = pipeline.onResponseHeaders;
  if (hooks === null) return true;
  for (let i = 0; i < hooks.length; i++) {
    try {
      hooks[i](ctx, status);
    } catch (err) {
      bug(err);
    }
  }
  if (!pipeline.modules || !ctx.moduleHookFailed) return true;
  ctx.moduleHookFailed = false;
  return false;
}

/** Tells every completion hook that the request is over (answered, or the client went away). */
export function runComplete(hooks: readonly CompleteHook[], ctx: RequestContext, tx: TxSummary): void {
  for (let i = 0; i < hooks.length; i++) {
    try {
      hooks[i](ctx, tx);
    } catch (err) {
      bug(err);
    }
  }
}
