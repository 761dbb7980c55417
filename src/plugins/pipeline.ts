/**
 * A route's compiled plugin pipeline and the code that runs it. Phases with nothing in them
 * are null, so a route without plugins costs one null check (and a route with plugins one null
 * check per phase it does not use).
 */
import {
  ConfigFault,
  type AccessHandler,
  type AccessResult,
  type CompileDeps,
  type CompleteHook,
  type LocalReply,
  type PluginDescriptor,
  type PluginScope,
  type RequestBodyRewriter,
  type ResponseHook,
  type UpstreamAnswerHook,
  type UpstreamHook,
} from './api.js';
import type { RequestContext } from './context.js';
import type { TxSummary } from '../observability/access-log.js';
import { REGISTRY } from './registry.js';
import { log } from '../observability/log.js';
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
  /** Some plugin rewrites request bodies: the route must buffer them ('buffer' body mode). */
  readonly rewritesBodies: boolean;
  /** Some plugin answers CORS preflights (its descriptor says answersPreflight). */
  readonly answersPreflight: boolean;
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

/**
 * Compiles the plugins in force on a route, in registry order; null if none has a hook. A
 * ConfigFault a plugin throws comes out with its absolute pointer.
 */
export function compilePipeline(plugins: readonly EffectivePlugin[], deps: PipelineDeps): CompiledPipeline | null {
  const access: AccessHandler[] = [];
  const upstream: UpstreamHook[] = [];
  const requestBody: RequestBodyRewriter[] = [];
  const responseHeaders: ResponseHook[] = [];
  const answers: UpstreamAnswerHook[] = [];
  const complete: CompleteHook[] = [];
  const remove: string[] = [];
  let answersPreflight = false;
  for (const def of REGISTRY as readonly PluginDescriptor[]) {
    const p = plugins.find((x) => x.name === def.name);
    if (p === undefined || p.conf === undefined || p.conf === false) continue;
    let inst;
    try {
      inst = def.compile(p.conf, { ...deps, scope: p.scope });
    } catch (err) {
      if (err instanceof ConfigFault) throw new ConfigFault(p.pointer + err.pointer, err.message);
      throw err;
    }
    if (inst.onRequest) access.push(inst.onRequest);
    if (inst.onUpstream) upstream.push(inst.onUpstream);
    if (inst.onRequestBody) requestBody.push(inst.onRequestBody);
    if (inst.onResponseHeaders) responseHeaders.push(inst.onResponseHeaders);
    if (inst.onUpstreamAnswer) answers.push(inst.onUpstreamAnswer);
    if (inst.onComplete) complete.push(inst.onComplete);
    if (inst.removeResponseHeaders) remove.push(...inst.removeResponseHeaders);
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
    rewritesBodies: requestBody.length > 0,
    answersPreflight,
  };
  const empty =
    pipeline.access === null &&
    pipeline.onUpstream === null &&
    pipeline.onRequestBody === null &&
    pipeline.onResponseHeaders === null &&
    pipeline.onUpstreamAnswer === null &&
    pipeline.onComplete === null &&
    pipeline.removeResponseHeaders === null;
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

/** Lets every response hook add its headers for an answer with this status. */
export function runResponseHooks(pipeline: CompiledPipeline, ctx: RequestContext, status: number): void {
  const hooks = pipeline.onResponseHeaders;
  if (hooks === null) return;
  for (let i = 0; i < hooks.length; i++) {
    try {
      hooks[i](ctx, status);
    } catch (err) {
      bug(err);
    }
  }
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
