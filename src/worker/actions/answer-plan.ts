/**
 * What the plugins of a route do with one upstream answer (PluginInstance.onUpstreamAnswer):
 * observe it as it is relayed (the cache captures it), or replace its body (MessagePack
 * conversion). Made only on routes that have such a plugin, once per answer head; the proxy
 * calls it at the head, for each chunk, at the end, and when the answer fails.
 *
 * A replacer holds the body until it is complete; over its maxBytes the answer is relayed
 * unchanged from there on (what was held goes out first). Observers see what the client gets:
 * the replaced body when there is one.
 */
import type { BodyObserver, BodyReplacement, BodyReplacer, UpstreamAnswer, UpstreamAnswerHook } from '../../plugins/api.js';
import type { RequestContext } from '../../plugins/context.js';
import { log } from '../../observability/log.js';
import { dropResponseHeader, nameIsOneOf } from '../response-head.js';

export class AnswerPlan implements UpstreamAnswer {
  observers: BodyObserver[] | null = null;
  /** Holding the body for this replacer (null: relaying as it comes). */
  replacer: BodyReplacer | null = null;
  replacement: BodyReplacement | null = null;
  /** Headers the plugins added (UpstreamAnswer.addHeader), flat. */
  added: string[] | null = null;
  private held: Buffer[] = [];
  private heldBytes = 0;

  constructor(
    readonly status: number,
    readonly method: string,
    private readonly raw: Buffer[],
    private readonly routeId: string,
  ) {}

  /** Runs the route's hooks on this answer; null when none of them wants anything of it. */
  static make(hooks: readonly UpstreamAnswerHook[], ctx: RequestContext, status: number, method: string, raw: Buffer[], routeId: string): AnswerPlan | null {
    const plan = new AnswerPlan(status, method, raw, routeId);
    for (let i = 0; i < hooks.length; i++) {
      let r;
      try {
        r = hooks[i](ctx, plan);
      } catch (err) {
        plan.bug(err);
        continue;
      }
      if (r === undefined) continue;
      if ('replace' in r) {
        // One replacer per answer: the first plugin's (a second conversion of a converted body has no meaning).
        if (plan.replacer === null) plan.replacer = r;
      } else (plan.observers ??= []).push(r);
    }
    return plan.observers === null && plan.replacer === null && plan.added === null ? null : plan;
  }

  // ------------------------------------------------------------------ UpstreamAnswer

  header(name: string): string | undefined {
    const raw = this.raw;
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i];
      if (n.length === name.length && n.toString('latin1').toLowerCase() === name) return raw[i + 1].toString('latin1');
    }
    return undefined;
  }

  addHeader(name: string, value: string): void {
    (this.added ??= []).push(name, value);
  }

  // ------------------------------------------------------------------ the proxy's calls

  /** A name the answer's head gets from the plugins instead of from the upstream. */
  replaces(name: Buffer): boolean {
    const r = this.replacement;
    if (r === null) return false;
    const h = r.headers;
    for (let i = 0; i < h.length; i += 2) if (name.length === h[i].length && name.toString('latin1').toLowerCase() === h[i]) return true;
    return false;
  }

  /** The plugins' headers, written after the upstream's (the replacement's, then the added). */
  extraHeaders(): readonly string[] | null {
    const r = this.replacement;
    if (r === null) return this.added;
    return this.added === null ? r.headers : [...r.headers, ...this.added];
  }

  /** Holds a chunk for the replacer; false when the body outgrew it (relay from now on: takeHeld()). */
  hold(chunk: Buffer): boolean {
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    if (this.heldBytes <= this.replacer!.maxBytes) return true;
    this.replacer = null;
    return false;
  }

  /** What was held, in one buffer. */
  takeHeld(): Buffer {
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    return held.length === 1 ? held[0] : Buffer.concat(held);
  }

  /** The observers learn the head as the client gets it (after the proxy's own filtering). */
  begin(named: readonly string[] | null, removed: readonly string[] | null): void {
    const obs = this.observers;
    if (obs === null) return;
    const raw = this.raw;
    const list: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i];
      if (dropResponseHeader(n) || (named !== null && nameIsOneOf(n, named)) || (removed !== null && nameIsOneOf(n, removed)) || this.replaces(n)) continue;
      list.push(n.toString('latin1').toLowerCase(), raw[i + 1].toString('latin1'));
    }
    const extra = this.extraHeaders();
    if (extra !== null) list.push(...extra);
    for (const o of obs) this.call(o, () => o.begin(this.status, list));
  }

  data(chunk: Buffer): void {
    const obs = this.observers;
    if (obs !== null) for (const o of obs) this.call(o, () => o.data(chunk));
  }

  /** The answer ended (ok) or failed; the observers hear it once. */
  close(ok: boolean): void {
    const obs = this.observers;
    this.observers = null;
    if (obs !== null) for (const o of obs) this.call(o, () => (ok ? o.end() : o.abort()));
  }

  private call(o: BodyObserver, f: () => void): void {
    try {
      f();
    } catch (err) {
      // A broken observer stops observing; the answer goes on.
      const obs = this.observers;
      if (obs !== null) {
        const i = obs.indexOf(o);
        if (i >= 0) obs.splice(i, 1);
        if (obs.length === 0) this.observers = null;
      }
      this.bug(err);
    }
  }

  bug(err: unknown): void {
    log('error', 'plugin threw on an upstream answer (a bug)', { route: this.routeId, error: err instanceof Error ? err.stack : String(err) });
  }
}
