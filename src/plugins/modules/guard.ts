/**
 * Isolation of plugin modules (docs/plugins/writing-plugins.md, "When a plugin fails"). What a
 * module's compile() returns is checked, and each hook is wrapped once, at compile time, so that
 * what the module gets wrong stays one request's problem, never the worker's:
 *   - onRequest: a throw, a rejected promise, or a result that is neither undefined/null nor a
 *     valid reply: that request is answered 500 `plugin_error`;
 *   - onResponseHeaders: a throw makes the answer a 500 `plugin_error` (the response hooks run
 *     before the status line is written, Transaction.runResponseHooksOnce); a returned promise
 *     is not awaited (headers go out synchronously), its rejection is logged;
 *   - onComplete: logged only, the answer is gone (a rejected promise too).
 * Each failure is one log line naming the plugin, the hook and the route.
 *
 * Built-in hooks are not wrapped: they are the gateway's code (pipeline.ts keeps a try/catch
 * around every hook as the last net for a bug in either).
 */
import { GATEWAY_ERRORS, type GatewayErrorCode } from '../../errors.js';
import { log } from '../../observability/log.js';
import { isPromise } from '../../util/promise.js';
import { isFramingHeader } from '../../util/syntax.js';
import { ConfigFault, type AccessHandler, type AccessResult, type CompleteHook, type LocalReply, type PluginInstance, type ResponseHook } from '../api.js';
import type { RequestContext } from '../context.js';

/** The answer to a request whose plugin module failed. */
export const PLUGIN_FAILED: LocalReply = Object.freeze({ status: 500, code: 'plugin_error' });

/** The hooks plugin modules may return today (the body hooks and onUpstream are not wired for them yet). */
const MODULE_HOOKS = new Set(['onRequest', 'onResponseHeaders', 'onComplete', 'removeResponseHeaders']);
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)}`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

/** What is wrong with a value returned as a reply, or null when it is one. */
export function replyProblem(r: unknown): string | null {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return `returned ${describe(r)}: expected undefined (go on) or a reply { status, ... }`;
  const o = r as Record<string, unknown>;
  const status = o.status;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) return `replied with status ${describe(status)}: expected an integer from 200 to 599`;
  if (o.code !== undefined) {
    const def = GATEWAY_ERRORS[o.code as GatewayErrorCode] as { status: number } | undefined;
    if (typeof o.code !== 'string' || def === undefined) return `replied with the unknown error code ${describe(o.code)}`;
    if (def.status !== status) return `replied with status ${status} and code "${o.code}", whose status is ${def.status}`;
  }
  if (o.message !== undefined && typeof o.message !== 'string') return 'replied with a message that is not a string';
  const h = o.headers;
  if (h !== undefined) {
    if (!Array.isArray(h) || h.length % 2 !== 0) return 'replied with headers that are not a flat [name, value, ...] list';
    for (let i = 0; i < h.length; i += 2) {
      if (typeof h[i] !== 'string' || !HEADER_NAME.test(h[i] as string)) return `replied with the header name ${describe(h[i])}: expected a lower-case token`;
      if (isFramingHeader(h[i] as string)) return `replied with the header "${h[i] as string}", which a plugin cannot set: the gateway frames each message and its connection itself`;
      if (typeof h[i + 1] !== 'string' || /[\r\n\0]/.test(h[i + 1] as string)) return `replied with an invalid value for header "${h[i] as string}"`;
    }
  }
  if (o.body !== undefined && typeof o.body !== 'string' && !(o.body instanceof Uint8Array)) return 'replied with a body that is neither a string nor a Buffer';
  return null;
}

function errorText(err: unknown): string {
  return err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : `a non-Error value was thrown: ${describe(err)}`;
}

export class ModuleGuard {
  constructor(
    /** The plugin's name. */
    readonly plugin: string,
  ) {}

  /** One log line per failure: what happened, in which hook, what the client got because of it, and the details. */
  fail(hook: string, ctx: RequestContext, what: string, error: string, answered: string | null): void {
    log('error', `plugin "${this.plugin}" ${what} in ${hook}${answered !== null ? `: answered ${answered}` : ''}`, {
      plugin: this.plugin,
      hook,
      route: ctx.routeId,
      requestId: ctx.requestId || undefined,
      error,
    });
  }

  /** Checks a compiled instance's shape: ConfigFault (at the plugin's config) when a module returns what the gateway cannot run. */
  checkInstance(inst: unknown): PluginInstance {
    const where = `plugin "${this.plugin}": compile()`;
    if (typeof inst !== 'object' || inst === null || Array.isArray(inst)) throw new ConfigFault('', `${where} returned ${describe(inst)}: expected an object of hooks (possibly empty)`);
    if (isPromise(inst as PluginInstance | Promise<PluginInstance>)) throw new ConfigFault('', `${where} returned a promise: compile runs synchronously (do async set-up in a service, or lazily in onRequest)`);
    const o = inst as Record<string, unknown>;
    for (const key of Object.keys(o)) {
      if (!MODULE_HOOKS.has(key)) {
        throw new ConfigFault('', `${where} returned "${key}", which plugin modules cannot use (they have ${[...MODULE_HOOKS].join(', ')})`);
      }
      const v = o[key];
      if (key === 'removeResponseHeaders') {
        if (!Array.isArray(v) || v.some((n) => typeof n !== 'string' || !HEADER_NAME.test(n))) {
          throw new ConfigFault('', `${where} returned removeResponseHeaders that is not a list of lower-case header names`);
        }
      } else if (v !== undefined && typeof v !== 'function') {
        throw new ConfigFault('', `${where} returned ${key} that is not a function`);
      }
    }
    return o as PluginInstance;
  }

  /** The instance with its hooks wrapped. */
  wrap(inst: PluginInstance): PluginInstance {
    return {
      ...(inst.onRequest !== undefined ? { onRequest: this.onRequest(inst.onRequest) } : {}),
      ...(inst.onResponseHeaders !== undefined ? { onResponseHeaders: this.onResponseHeaders(inst.onResponseHeaders) } : {}),
      ...(inst.onComplete !== undefined ? { onComplete: this.onComplete(inst.onComplete) } : {}),
      ...(inst.removeResponseHeaders !== undefined ? { removeResponseHeaders: [...inst.removeResponseHeaders] } : {}),
    };
  }

  private onRequest(hook: AccessHandler): AccessHandler {
    const settle = (ctx: RequestContext, r: unknown): AccessResult => {
      if (r === undefined || r === null) return undefined;
      const problem = replyProblem(r);
      if (problem === null) return r as LocalReply;
      this.fail('onRequest', ctx, 'returned an invalid reply', problem, '500');
      return PLUGIN_FAILED;
    };
    return (ctx) => {
      let r: AccessResult | Promise<AccessResult>;
      try {
        r = hook(ctx);
      } catch (err) {
        this.fail('onRequest', ctx, 'threw', errorText(err), '500');
        return PLUGIN_FAILED;
      }
      if (!isPromise(r)) return settle(ctx, r);
      return r.then(
        (v) => settle(ctx, v),
        (err: unknown) => {
          this.fail('onRequest', ctx, 'rejected', errorText(err), '500');
          return PLUGIN_FAILED;
        },
      );
    };
  }

  private onResponseHeaders(hook: ResponseHook): ResponseHook {
    return (ctx, status) => {
      let r: unknown;
      try {
        r = hook(ctx, status);
      } catch (err) {
        ctx.moduleHookFailed = true;
        this.fail('onResponseHeaders', ctx, 'threw', errorText(err), '500');
        return;
      }
      if (r !== undefined && isPromise(r)) {
        (r as Promise<unknown>).then(undefined, (err: unknown) => this.fail('onResponseHeaders', ctx, 'rejected (not awaited: response hooks are synchronous)', errorText(err), null));
      }
    };
  }

  private onComplete(hook: CompleteHook): CompleteHook {
    return (ctx, tx) => {
      let r: unknown;
      try {
        r = hook(ctx, tx);
      } catch (err) {
        this.fail('onComplete', ctx, 'threw', errorText(err), null);
        return;
      }
      if (r !== undefined && isPromise(r)) (r as Promise<unknown>).then(undefined, (err: unknown) => this.fail('onComplete', ctx, 'rejected', errorText(err), null));
    };
  }
}
