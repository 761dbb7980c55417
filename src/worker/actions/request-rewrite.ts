/**
 * A plugin rewriting a request body before it goes upstream (PluginInstance.onRequestBody:
 * MessagePack to JSON). The route buffers its bodies (compile.ts), so the whole body is at hand:
 * in memory, or read back from its spool file. The first rewriter that wants the request does
 * it; its LocalReply (a malformed body: 400) answers instead, and the upstream never sees it.
 */
import type { LocalReply, RequestBodyRewrite, RequestBodyRewriter } from '../../plugins/api.js';
import type { RequestContext } from '../../plugins/context.js';
import { log } from '../../observability/log.js';
import { isPromise } from '../../util/promise.js';
import type { RequestBody } from '../request-body.js';

/** What request-rewrite needs of the proxy transaction. */
export interface RewriteOwner {
  readonly ended: boolean;
  readonly route: { readonly id: string; readonly pipeline: { readonly onRequestBody: readonly RequestBodyRewriter[] | null } | null } | null;
  /** The new body is in place: dispatch. */
  bodyReady(): void;
  reply(r: LocalReply): void;
  replyError(code: 'internal_error'): void;
}

/** Starts the rewrite when a plugin wants this body; false when none does (dispatch now). */
export function rewriteRequestBody(owner: RewriteOwner, body: RequestBody, ctx: RequestContext): boolean {
  const rewriters = owner.route?.pipeline?.onRequestBody;
  if (rewriters == null || body.size === 0) return false;
  let rw: RequestBodyRewriter | null = null;
  for (let i = 0; i < rewriters.length; i++) {
    if (rewriters[i].wants(ctx)) {
      rw = rewriters[i];
      break;
    }
  }
  if (rw === null) return false;
  const chosen = rw;
  const failed = (err: unknown): void => {
    log('error', 'request body rewrite failed (a plugin bug, or the spool file could not be read)', {
      route: owner.route!.id,
      error: err instanceof Error ? err.stack : String(err),
    });
    if (!owner.ended) owner.replyError('internal_error');
  };
  const done = (r: RequestBodyRewrite | LocalReply): void => {
    if (owner.ended) return;
    if ('status' in r) return owner.reply(r);
    body.replaceWith(r.body);
    ctx.setHeader('content-type', r.contentType);
    owner.bodyReady();
  };
  const run = (whole: Buffer): void => {
    if (owner.ended) return;
    let r;
    try {
      r = chosen.rewrite(ctx, whole);
    } catch (err) {
      return failed(err);
    }
    if (isPromise(r)) r.then(done, failed);
    else done(r);
  };
  const whole = body.whole();
  if (isPromise(whole)) whole.then(run, failed);
  else run(whole);
  return true;
}
