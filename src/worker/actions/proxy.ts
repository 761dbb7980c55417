/**
 * The proxy action: forwards the request to one of the upstream's endpoints through the
 * gateway's upstream contract and relays the answer with backpressure both ways.
 *
 * The transaction is itself the upstream handler of its attempt (methods on the prototype, no
 * per-request closures): a proxied request allocates its transaction, its head and the upstream
 * request, and nothing else of ours.
 *
 * Time limits, each answered with a JSON error while nothing was written yet, else by cutting
 * the connection (the client must see a truncation, not a short answer):
 *   - route timeoutMs: from the first dispatch to the last response byte (504);
 *   - the upstream's responseHeadersMs: from dispatch (waiting for a connection included) to the
 *     response head (504); connectMs for the TCP connect (502);
 *   - the upstream's idleMs: the longest silence while the response body streams (cut);
 *   - a client that leaves written data unread for limits.idleTimeoutMs is cut by uWS (its
 *     response timer, see worker/main.ts); the upstream is then aborted through onAborted.
 */
import type { HttpResponse } from 'uWebSockets.js';
import { statusLine, statusLineBytes, type GatewayErrorCode } from '../../errors.js';
import type { CompiledRoute, CompiledUpstreamRoute, RouteAction, UpstreamTarget } from '../../runtime/compile.js';
import { RESPONSE_TAIL_LIMIT, type UpstreamFailure, type UpstreamHandler, type UpstreamRequest } from '../../upstream/dispatch.js';
import type { NoPick, OutcomeKind } from '../../upstream/cluster.js';
import type { Endpoint } from '../../upstream/endpoint.js';
import { budgetRefused, retriesTotal, type RetryReason } from '../../upstream/retry.js';
import { mirror } from './mirror.js';
import { log } from '../../observability/log.js';
import { isPromise } from '../../util/promise.js';
import type { BodyReplacement } from '../../plugins/api.js';
import { arm } from '../../util/timer-lists.js';
import { CLOSE_VALUE, CONNECTION_NAME, Transaction, endWithoutBody, tryEndPiece, type WorkerHost } from '../transaction.js';
import { appendForwardingHeaders, forwardingLines, type ForwardingLines, type RequestHead } from '../head.js';
import { dropResponseHeader, nameIs, nameIsOneOf, parseContentLength, responseConnectionTokens } from '../response-head.js';
import { AnswerPlan } from './answer-plan.js';
import { ClientSpan } from '../spans.js';
import { rewriteRequestBody } from './request-rewrite.js';
import { performance } from 'node:perf_hooks';

/** Response bodies up to this size are held until the end so status+headers+body go in one write. */
const COALESCE_LIMIT = 16 * 1024;

// Corked writes without a closure per call (cork runs its callback synchronously).
let corkTx: ProxyTransaction;
function writeHeadCorked(): void {
  corkTx.writeHead(corkTx.closeAfter || corkTx.host.draining);
}
function completeCorked(): void {
  corkTx.completeCorked();
}
let corkChunk: Buffer;
let corkOk = true;
function writeChunkCorked(): void {
  corkOk = corkTx.writeChunkCorked(corkChunk);
}

/** Retries, by upstream and reason (keepalive: a reused connection the upstream had closed). */

/**
 * The handler of a retry (attempt n >= 1): the transaction is the handler of the first attempt,
 * and a retry gets an object of its own so that a late callback of an abandoned attempt is told
 * apart (allocated only when a request is retried).
 */
class RetryAttempt implements UpstreamHandler {
  constructor(private readonly tx: ProxyTransaction, private readonly n: number) {}
  onConnect(abort: (reason?: Error) => void): void {
    this.tx.attemptConnect(this.n, abort);
  }
  onUpstreamConnected(): void {
    this.tx.attemptConnected(this.n);
  }
  onInformational(status: number, raw: Buffer[]): void {
    this.tx.attemptInformational(this.n, status, raw);
  }
  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    return this.tx.attemptHeaders(this.n, status, raw, resume);
  }
  onData(chunk: Buffer): boolean {
    return this.tx.attemptData(this.n, chunk);
  }
  keptChunk(): boolean {
    return this.tx.keptChunk();
  }
  onComplete(): void {
    this.tx.attemptComplete(this.n);
  }
  onError(err: UpstreamFailure): void {
    this.tx.attemptError(this.n, err);
  }
}

export class ProxyTransaction extends Transaction implements UpstreamHandler {
  private readonly up: CompiledUpstreamRoute;
  /** The upstream this request goes to (the route's, or a split's side). */
  private target!: UpstreamTarget;
  private abortUpstream: ((reason?: Error) => void) | null = null;
  private dispatched = false;
  private dispatchedAt = 0;
  /** The attempt whose callbacks count (0 = the first; a retry moves it on). */
  private attemptNo = 0;
  /** Endpoints tried already (retries go elsewhere when they can); null until a retry. */
  private tried: Endpoint[] | null = null;
  private skipTried = true;
  private retries = 0;
  private keepaliveRetried = false;
  /** The upstream request's headers up to, not including, Host (a retry copies them with its own Host). */
  private headersBeforeHost = 0;
  private lastFailure: UpstreamFailure | null = null;
  /** When the response head arrived (0: not yet): the latency reported to the cluster ends there. */
  private headersAt = 0;
  private attemptOpen = false;
  private rawHeaders: Buffer[] | null = null;
  /** The engine's prepared head (onPreparedHeaders): status line and the headers to relay, one buffer. */
  private preparedHead: Buffer | null = null;
  /** Length of its first header's name, -1 when it holds only the status line. */
  private preparedFirstLength = -1;
  private prepared = false;
  /** The first attempt asked for the gateway's own lines at the end of the prepared head (Transaction.responseTail). */
  private tailAsked = false;
  /** Of the upstream response; -1 = unknown (chunked or close-delimited). */
  private contentLength = -1;
  private headersWritten = false;
  /** A 1xx was relayed: the final status line goes out with the first header. */
  private interimSent = false;
  private connectionNamed: string[] | null = null;
  /** A coalesced small body, or a chunk waiting for onWritable. */
  private pending: Buffer | null = null;
  /**
   * Whether the last chunk attemptData took is still referred to (held as `pending`, or given to
   * the answer's plan: plugins that read or replace the body). Otherwise uWS has sent or copied it
   * and the engine may reuse its memory (UpstreamHandler.keptChunk).
   */
  private chunkKept = true;
  private pendingOffset = 0;
  private resumeUpstream: (() => void) | null = null;
  private writableHooked = false;
  private upstreamPaused = false;
  /** What the route's plugins do with this answer (onUpstreamAnswer), or null. */
  private plan: AnswerPlan | null = null;
  /** The request body went through the plugins' rewriter (or had none to go through). */
  private bodyRewritten = false;
  /** The forwarding headers as lines (routes that forward lines), else they are in the head's headers. */
  private forwarding: ForwardingLines | null = null;
  /** Where they go among the upstream request's headers (UpstreamRequest.forwardAt). */
  private forwardAt = 0;
  /** The client's lines sent as bytes before the headers (UpstreamRequest.rawLines), and how many. */
  private rawLines: Buffer | null = null;
  private rawLineCount = 0;

  constructor(res: HttpResponse, head: RequestHead, route: CompiledRoute, host: WorkerHost) {
    super(res, head, route, host, route.bodyMode);
    this.up = route.proxy!;
  }

  // ------------------------------------------------------------------ start

  override proceed(): void {
    this.passAccess();
    if (this.ended) return;
    const body = this.body;
    if (body !== null && body.mode === 'buffer' && !body.complete) return; // onBodyComplete dispatches
    this.dispatchFirst();
  }

  override onBodyComplete(): void {
    super.onBodyComplete();
    if (!this.accessPassed || this.dispatched || this.ended) return;
    if (this.body!.mode !== 'buffer') return;
    this.dispatchFirst();
  }

  private dispatchFirst(): void {
    if (!this.bodyRewritten) {
      this.bodyRewritten = true;
      // A plugin rewriting this body (MessagePack to JSON) calls back when it is done.
      if (this.body !== null && this.ctx !== null && rewriteRequestBody(this, this.body, this.ctx)) return;
    }
    if (this.head.contentLength < 0) {
      // A chunked body was parsed by uWS's lenient decoder: let uWS finish the bytes it has read
      // before anything goes upstream. If a request follows on the connection, uWS drops it
      // (our answer is pending) and the upstream never sees either.
      setImmediate(() => {
        if (!this.ended) this.dispatch();
      });
      return;
    }
    this.dispatch();
  }

  /** Sends the request upstream: the first attempt (and a mirror copy). */
  private dispatch(): void {
    if (this.dispatched) return;
    const up = this.up;
    const target = up.split === null ? up.main : up.chooseSide(this);
    this.target = target;
    const cluster = target.cluster;
    if (cluster.busy) return this.replyError('upstream_busy');
    // One clock read for the pick (breakers, ejection) and the dispatch time.
    const now = performance.now();
    const ep = cluster.pick(this, now);
    if (ep === null) return this.replyError(noPickError(cluster.noPick));
    this.dispatched = true;
    const head = this.head;
    const h = head.headers; // the plugins' edits included; frozen from here on
    // The client's lines as bytes, less those the plugins removed.
    const ctx = this.ctx;
    this.rawLines = ctx !== null ? ctx.upstreamLines() : head.rawHeaders;
    this.rawLineCount = ctx !== null ? ctx.upstreamLineCount : head.rawHeaderCount;
    if (this.route!.forwardsLines) {
      // Serialized lines, written where appendForwardingHeaders would have put them.
      this.forwarding = forwardingLines(head);
      this.forwardAt = h.length;
    } else {
      appendForwardingHeaders(head, h);
    }
    const body = this.body;
    const source = body !== null ? body.source() : null;
    if (body !== null && source !== null && !(source instanceof Buffer)) {
      // A stream: the upstream needs the length unless it is chunked (then the engine frames it).
      if (body.mode === 'buffer') h.push('content-length', String(body.size));
      else if (head.contentLength > 0) h.push('content-length', String(head.contentLength));
    }
    this.headersBeforeHost = h.length;
    h.push('host', this.route!.preserveHost ? head.hostHeader : ep.hostHeader);
    const q = this.ctx !== null ? this.ctx.query : head.query;
    if (q) this.upstreamPath += '?' + q;
    this.dispatchedAt = now;
    if (head.traceRecorded) {
      const span = new ClientSpan(head.upstreamSpanId, 'upstream ' + head.method, head.method, null);
      span.startedAt = now;
      this.upstreamTiming = span;
    }
    if (up.timeoutList !== null) arm(up.timeoutList, this, this.dispatchedAt);
    cluster.resilience.retry?.budget.firstAttempt(this.dispatchedAt);
    if (up.mirror !== null) mirror(up.mirror, head.method, this.upstreamPath, h, this.headersBeforeHost, body, source, this.route!.id);
    this.send(ep, h, source, this, false);
  }

  /** One attempt: `handler` is this transaction (the first) or a RetryAttempt. */
  /** The rewritten body is in place (request-rewrite.ts): on to the upstream. */
  bodyReady(): void {
    if (!this.ended) this.dispatchFirst();
  }

  private send(ep: Endpoint, headers: string[], body: UpstreamRequest['body'], handler: UpstreamHandler, fresh: boolean): void {
    this.endpoint = ep;
    this.headersAt = 0;
    const t = this.target;
    const fwd = this.forwarding;
    // The request id, Via and the plugins' headers so far ride in a prepared head (one
    // writeStatus for the whole head); only the first attempt gets prepared heads (a retry's
    // handler has no onPreparedHeaders).
    let tail = '';
    if (handler === this) {
      tail = this.responseTail(RESPONSE_TAIL_LIMIT);
      this.tailAsked = tail !== '';
    }
    const req: UpstreamRequest = {
      method: this.head.method,
      path: this.upstreamPath,
      headers,
      rawLines: this.rawLines,
      rawLineCount: this.rawLineCount,
      forwardLines: fwd !== null ? fwd.bytes : null,
      forwardLineCount: fwd !== null ? fwd.count : 0,
      forwardAt: this.forwardAt,
      body,
      headersTimeoutMs: t.responseHeadersMs,
      bodyTimeoutMs: t.idleMs,
      fresh,
      dropResponseHeaders: this.route!.removeResponseHeaders,
      // Plugins that read the upstream's headers (cache, encoding) need them one by one.
      rawHeaders: this.route!.pipeline !== null && this.route!.pipeline.onUpstreamAnswer !== null,
      responseTail: tail,
    };
    t.cluster.begin(ep);
    this.attemptOpen = true;
    ep.dispatcher.dispatch(req, handler);
  }

  // ------------------------------------------------------------------ retries

  /** The body can be sent again: none, or read whole before dispatch. */
  private get replayable(): boolean {
    const b = this.body;
    return b === null || (b.replayable && b.complete);
  }

  /** After a failure before anything was written: retries it if the rules allow; true when it did. */
  private retryFailure(err: UpstreamFailure): boolean {
    // A reused connection that failed before any response byte: the upstream closed it while idle
    // and never processed the request. Sent once more on a fresh connection, whatever the method.
    if (err.kind === 'reset' && err.reusedConnection && !this.keepaliveRetried && this.replayable && !this.deadlinePassed()) {
      this.keepaliveRetried = true;
      this.retry('keepalive', true);
      return true;
    }
    const policy = this.target.cluster.resilience.retry;
    if (policy === null) return false;
    const reason = policy.failureReason(err, this.head.method);
    return reason !== null && this.mayRetry(reason);
  }

  private mayRetry(reason: RetryReason): boolean {
    const policy = this.target.cluster.resilience.retry!;
    if (this.retries >= policy.settings.attempts || this.deadlinePassed()) return false;
    if (!this.replayable) {
      log('info', 'not retried: the request body was streamed and cannot be sent again', { route: this.route!.id, reason, requestId: this.head.requestId || undefined });
      return false;
    }
    if (!policy.budget.tryRetry(performance.now())) {
      budgetRefused.inc(this.target.cluster.name);
      return false;
    }
    this.retries++;
    this.retry(reason, false);
    return true;
  }

  private deadlinePassed(): boolean {
    return this.tnList !== null && performance.now() >= this.tnAt;
  }

  /** Starts the next attempt, on another target when there is one (a fresh connection for `fresh`). */
  private retry(reason: RetryReason, fresh: boolean): void {
    const cluster = this.target.cluster;
    retriesTotal.inc(cluster.name, reason);
    const previous = this.endpoint!;
    if (!fresh) (this.tried ??= []).push(previous);
    this.attemptNo++;
    this.attempt = this.attemptNo;
    if (this.upstreamTiming !== null) this.upstreamTiming.event('retry (' + reason + ')');
    let ep = fresh ? previous : cluster.pick(this);
    if (ep === null && cluster.noPick === 'skipped') {
      // Every other target is out: the same one again.
      this.skipTried = false;
      ep = cluster.pick(this);
      this.skipTried = true;
    }
    if (ep === null) return this.replyError(this.lastFailure !== null ? errorFor(this.lastFailure) : noPickError(cluster.noPick));
    const h = this.head.headers;
    let headers = h;
    if (!this.route!.preserveHost && ep.hostHeader !== h[h.length - 1]) {
      headers = h.slice(0, this.headersBeforeHost);
      headers.push('host', ep.hostHeader);
    }
    const body = this.body !== null ? this.body.source() : null;
    this.send(ep, headers, body, new RetryAttempt(this, this.attemptNo), fresh);
  }

  override shouldSkip(ep: Endpoint): boolean {
    return this.skipTried && this.tried !== null && this.tried.includes(ep);
  }

  // ------------------------------------------------------------------ UpstreamHandler

  onConnect(abort: (reason?: Error) => void): void {
    this.attemptConnect(0, abort);
  }
  onUpstreamConnected(): void {
    this.attemptConnected(0);
  }
  onInformational(status: number, raw: Buffer[]): void {
    this.attemptInformational(0, status, raw);
  }
  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void): boolean {
    return this.attemptHeaders(0, status, rawHeaders, resume);
  }
  onData(chunk: Buffer): boolean {
    return this.attemptData(0, chunk);
  }
  keptChunk(): boolean {
    return this.chunkKept;
  }
  onComplete(): void {
    this.attemptComplete(0);
  }
  onError(err: UpstreamFailure): void {
    this.attemptError(0, err);
  }

  attemptConnect(n: number, abort: (reason?: Error) => void): void {
    if (n !== this.attemptNo) return abort(ABORTED);
    this.abortUpstream = abort;
  }

  /** The attempt opened a new connection: an event on a sampled request's upstream span. */
  attemptConnected(n: number): void {
    if (this.upstreamTiming !== null && n === this.attemptNo) this.upstreamTiming.event('connected');
  }

  attemptInformational(n: number, status: number, raw: Buffer[]): void {
    if (n !== this.attemptNo) return;
    // Relays 1xx answers the client did not ask for (103 Early Hints, 102): RFC 9110 §15.2 says a
    // proxy forwards them. uWS has no API for an interim response, so it is written as the
    // status "line" (uWS writes it verbatim), and the final status line then goes out in front of
    // the first final header (see writeHead). Header bytes are as undici's strict parser passed them
    // (no CR/LF in names or values).
    if (this.ended || this.headersWritten || status === 100 || status === 101) return;
    corkTx = this;
    corkInterimStatus = status;
    corkInterimRaw = raw;
    this.res.cork(writeInterimCorked);
  }

  writeInterim(status: number, raw: Buffer[]): void {
    let last = -1;
    for (let i = 0; i < raw.length; i += 2) if (!dropResponseHeader(raw[i])) last = i;
    // uWS cannot write a status line alone: a 1xx without headers (102 Processing) is dropped.
    if (last === -1) return;
    const res = this.res;
    // The first interim uses uWS's status line; a later one starts in front of its first header.
    let prefix = '';
    if (!this.interimSent) res.writeStatus(statusLineBytes(status));
    else prefix = 'HTTP/1.1 ' + statusLine(status) + '\r\n';
    this.interimSent = true;
    for (let i = 0; i <= last; i += 2) {
      if (dropResponseHeader(raw[i])) continue;
      const name = prefix === '' ? raw[i] : prefix + raw[i].toString('latin1');
      prefix = '';
      // The last header line of the block also ends it (an empty line).
      res.writeHeader(name, i === last ? Buffer.concat([raw[i + 1], CRLF]) : raw[i + 1]);
    }
  }

  /**
   * A retryable status is caught at the head, before any byte of it reaches the client: true
   * when the attempt was abandoned for a retry.
   */
  private retriedOnStatus(status: number): boolean {
    const policy = this.target.cluster.resilience.retry;
    if (policy === null || this.ended) return false;
    const reason = policy.statusReason(status, this.head.method);
    if (reason === null || this.retries >= policy.settings.attempts) return false;
    this.upstreamStatus = status;
    const abort = this.abortUpstream;
    this.abortUpstream = null;
    this.endAttempt('response');
    if (this.mayRetry(reason)) {
      abort?.(ABORTED);
      return true;
    }
    // Not retried after all (budget, body, deadline): this answer is relayed; the attempt's
    // accounting is done, its data still flows.
    this.abortUpstream = abort;
    return false;
  }

  /**
   * The engine's prepared head (the native engine, first attempts of routes whose plugins do not
   * read upstream headers; see dispatch.ts): the filtering writeHead's loop does was done natively,
   * the bytes are safe, and one writeStatus call writes the status line and them all.
   */
  onPreparedHeaders(status: number, head: Buffer, firstLength: number, contentLength: number, resume: () => void): boolean {
    if (this.attemptNo !== 0) return false;
    this.headersAt = performance.now();
    if (this.retriedOnStatus(status)) return false;
    this.upstreamStatus = status;
    this.resumeUpstream = resume;
    this.prepared = true;
    this.preparedHead = head;
    this.preparedFirstLength = firstLength;
    this.contentLength = contentLength;
    if (this.ended) return false;
    return !this.failedByModule(status);
  }

  /**
   * A plugin module's response hook failed on this answer's head (nothing is written yet): the
   * answer becomes a 500 plugin_error and the upstream's is dropped.
   */
  private failedByModule(status: number): boolean {
    if (this.ctx === null || !this.moduleResponseHookFailed(status)) return false;
    const abort = this.abortUpstream;
    this.endAttempt('response');
    this.replyError('plugin_error');
    abort?.(ABORTED);
    return true;
  }

  attemptHeaders(n: number, status: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (n !== this.attemptNo) return false;
    this.headersAt = performance.now();
    if (this.retriedOnStatus(status)) return false;
    this.upstreamStatus = status;
    this.resumeUpstream = resume;
    this.prepared = false;
    this.rawHeaders = rawHeaders;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i];
      if (name.length === 14 && nameIs(name, 'content-length')) this.contentLength = parseContentLength(rawHeaders[i + 1]);
      else if (name.length === 10 && nameIs(name, 'connection')) this.connectionNamed = responseConnectionTokens(rawHeaders[i + 1]);
    }
    if (this.ended) return false;
    if (this.failedByModule(status)) return false;
    const hooks = this.route!.pipeline?.onUpstreamAnswer;
    const plan = hooks != null && this.ctx !== null ? AnswerPlan.make(hooks, this.ctx, status, this.head.method, rawHeaders, this.route!.id) : null;
    this.plan = plan;
    // Observers learn the head now, unless a replacer may still change it.
    if (plan !== null && plan.replacer === null) plan.begin(this.connectionNamed, this.route!.removeResponseHeaders);
    return true;
  }

  attemptData(n: number, chunk: Buffer): boolean {
    if (n !== this.attemptNo) return false;
    if (this.ended) {
      // The answer is over on the client's side while the upstream still sends (the abort of a
      // reply or of a gone client is on its way, or uWS took the answer as complete early):
      // never hold the exchange paused for ever, with its upstream connection. After this
      // callback: the engine is not re-entered from inside its own.
      if (this.abortUpstream !== null) queueMicrotask(() => this.stopUpstream());
      return false;
    }
    const plan = this.plan;
    this.chunkKept = true;
    if (plan !== null) {
      if (plan.replacer !== null) {
        if (plan.hold(chunk)) return true;
        // Outgrew the replacer: relayed unchanged, what was held first.
        chunk = plan.takeHeld();
        plan.begin(this.connectionNamed, this.route!.removeResponseHeaders);
      }
      plan.data(chunk);
    }
    this.responseBytes += chunk.length;
    if (!this.headersWritten) {
      // Small bodies are held so the whole answer goes out in one corked write.
      if (this.pending === null && chunk.length <= COALESCE_LIMIT && this.contentLength === chunk.length) {
        this.pending = chunk;
        return true;
      }
      corkTx = this;
      this.res.cork(writeHeadCorked);
    }
    const taken = this.writeChunk(chunk);
    this.chunkKept = plan !== null || this.pending === chunk;
    return taken;
  }

  attemptComplete(n: number): void {
    if (n !== this.attemptNo) return;
    this.endAttempt('response');
    if (this.ended) return this.finish();
    const plan = this.plan;
    if (plan !== null && plan.replacer !== null) return this.replaceBody(plan, plan.replacer);
    this.completeAnswer();
  }

  /** The whole body is held: the plugin's replacement (or the original) goes out in one write. */
  private replaceBody(plan: AnswerPlan, replacer: NonNullable<AnswerPlan['replacer']>): void {
    const original = plan.takeHeld();
    plan.replacer = null;
    const done = (r: BodyReplacement | null): void => {
      if (this.ended) return this.finish();
      plan.replacement = r;
      plan.begin(this.connectionNamed, this.route!.removeResponseHeaders);
      const body = r !== null ? r.body : original;
      if (body.length > 0) {
        this.pending = body;
        this.responseBytes = body.length;
        plan.data(body);
      }
      this.completeAnswer();
    };
    const failed = (err: unknown): void => {
      plan.bug(err);
      if (!this.ended) this.replyError('internal_error');
    };
    let r;
    try {
      r = replacer.replace(original);
    } catch (err) {
      return failed(err);
    }
    if (isPromise(r)) r.then(done, failed);
    else done(r);
  }

  /** The upstream answer is over: the end (or all of a held answer) goes to the client. */
  private completeAnswer(): void {
    this.plan?.close(true);
    corkTx = this;
    this.res.cork(completeCorked);
    if (this.ended) this.finish();
  }

  /** The end of the upstream answer (called corked). */
  completeCorked(): void {
    const res = this.res;
    const close = this.closeAfter || this.host.draining;
    if (!this.headersWritten) {
      if (close) this.markConnectionClosing();
      this.writeHead(false); // the end below writes Connection: close, with uWS's close flag
      this.sayClose(close); // or the gateway does, when uWS's flag is the client's
      const s = this.upstreamStatus;
      if (this.head.method === 'HEAD' || s === 204 || s === 304) {
        // HEAD keeps the upstream's Content-Length; 204/304 carry none.
        const reported = this.head.method === 'HEAD' && this.contentLength >= 0 && s !== 204 && s !== 304 ? this.contentLength : undefined;
        endWithoutBody(res, reported, close);
      } else {
        res.end(this.pending ?? '', close);
        this.pending = null;
      }
      this.ended = true;
    } else if (this.contentLength < 0) {
      // Ends the chunked body. Never with uWS's close flag: after the head it would write its
      // Connection: close line into the body; the head said so already (writeHead).
      res.end();
      this.ended = true;
    } else if (this.pending === null) {
      this.ended = true; // tryEnd already sent the last byte
    }
    // else: the last chunk waits for onWritable, which ends the response.
  }

  attemptError(n: number, err: UpstreamFailure): void {
    if (n !== this.attemptNo) return;
    this.endAttempt(outcomeOf(err.kind));
    if (this.ended) return this.finish();
    this.lastFailure = err;
    if (!this.headersWritten && this.retryFailure(err)) return;
    log('warn', 'upstream request failed', {
      route: this.route!.id,
      upstream: this.endpoint?.origin,
      kind: err.kind,
      error: err.code,
      detail: err.message,
      afterHeaders: this.headersWritten,
      requestId: this.head.requestId || undefined,
    });
    if (this.headersWritten) return this.cut();
    this.replyError(errorFor(err));
  }

  private endAttempt(kind: OutcomeKind): void {
    if (!this.attemptOpen) return;
    this.attemptOpen = false;
    const ep = this.endpoint!;
    this.abortUpstream = null;
    const timing = this.upstreamTiming;
    if (timing !== null) {
      timing.headersAt = this.headersAt;
      timing.endedAt = performance.now();
    }
    // The latency a balancer learns from is the upstream's time to answer (dispatch to response
    // head), not how long the body took to reach the client; a failure's runs to the failure.
    const end = kind === 'response' && this.headersAt > 0 ? this.headersAt : performance.now();
    this.target.cluster.end(ep, kind, kind === 'response' ? this.upstreamStatus : 0, (end - this.dispatchedAt) * 1000, end);
  }

  // ------------------------------------------------------------------ client response

  /**
   * Status line and the filtered upstream headers, then the gateway's own (called corked).
   * `close`: the answer is streamed (its end is a tryEnd or the chunked end, neither of which can
   * carry uWS's close flag) and the connection must close after it: the head says
   * `Connection: close` itself, and the connection is marked so that nothing more is served on it
   * (uWS does not close it after such an end; its idle timeout does).
   */
  writeHead(close: boolean): void {
    const res = this.res;
    const status = this.upstreamStatus;
    this.headersWritten = true;
    this.status = status;
    if (close) this.markConnectionClosing();
    if (this.prepared) {
      const head = this.preparedHead!;
      this.preparedHead = null;
      // The head ends with the gateway's lines (responseTail).
      const tail = this.tailAsked;
      if (!this.interimSent) {
        res.writeStatus(head);
      } else {
        // After a relayed 1xx uWS has written a status line: this one goes in a header's name.
        const line = statusLine(status);
        const n = this.preparedFirstLength;
        const at = line.length + 2;
        if (tail) {
          res.writeHeader('HTTP/1.1 ' + line + '\r\n' + head.toString('latin1', at, at + n), head.subarray(at + n + 2));
        } else {
          res.writeHeader('HTTP/1.1 ' + line + '\r\nvia', '1.1 gateway');
          if (n >= 0) res.writeHeader(head.subarray(at, at + n), head.subarray(at + n + 2));
        }
      }
      this.writeGatewayHeaders(status, this.interimSent, tail);
      if (close) res.writeHeader(CONNECTION_NAME, CLOSE_VALUE);
      return;
    }
    const raw = this.rawHeaders!;
    if (!this.interimSent) res.writeStatus(statusLineBytes(status));
    else res.writeHeader('HTTP/1.1 ' + statusLine(status) + '\r\nvia', '1.1 gateway'); // after a relayed 1xx
    const named = this.connectionNamed;
    const removed = this.route!.removeResponseHeaders;
    const plan = this.plan;
    for (let i = 0; i < raw.length; i += 2) {
      if (dropResponseHeader(raw[i])) continue;
      if (named !== null && nameIsOneOf(raw[i], named)) continue;
      if (removed !== null && nameIsOneOf(raw[i], removed)) continue;
      if (plan !== null && plan.replaces(raw[i])) continue;
      res.writeHeader(raw[i], raw[i + 1]);
    }
    if (plan !== null) {
      const extra = plan.extraHeaders();
      if (extra !== null) for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i], extra[i + 1]);
    }
    this.writeGatewayHeaders(status, this.interimSent);
    if (close) res.writeHeader(CONNECTION_NAME, CLOSE_VALUE);
  }

  /** Writes one body chunk with backpressure; returns false to pause the upstream. */
  private writeChunk(chunk: Buffer): boolean {
    corkTx = this;
    corkChunk = chunk;
    corkOk = true;
    this.res.cork(writeChunkCorked);
    const ok = corkOk;
    if (this.ended) return true;
    if (!ok) {
      this.upstreamPaused = true;
      this.hookWritable();
    }
    return ok;
  }

  writeChunkCorked(chunk: Buffer): boolean {
    const res = this.res;
    if (this.contentLength >= 0) {
      const offset = res.getWriteOffset();
      const [accepted, done] = tryEndPiece(res, chunk, this.contentLength);
      if (done) {
        this.ended = true;
      } else if (!accepted) {
        // Not taken in full: keep it (the engine hands us chunks it does not reuse), retry later.
        this.pending = chunk;
        this.pendingOffset = offset;
        return false;
      }
      return true;
    }
    return res.write(chunk); // false = buffered by uWS; wait for drain, never resend
  }

  private hookWritable(): void {
    if (this.writableHooked) return;
    this.writableHooked = true;
    this.res.onWritable((offset) => this.onClientWritable(offset));
  }

  private onClientWritable(offset: number): boolean {
    if (this.ended) return true;
    if (this.pending !== null && this.contentLength >= 0) {
      const [accepted, done] = tryEndPiece(this.res, this.pending.subarray(offset - this.pendingOffset), this.contentLength);
      if (done) {
        this.ended = true;
        this.pending = null;
        if (this.upstreamPaused) {
          this.upstreamPaused = false;
          queueMicrotask(() => this.resumeUpstream?.()); // let the engine see the end and free the connection
        }
        this.finish();
        return true;
      }
      if (!accepted) return false;
      this.pending = null;
    }
    if (this.upstreamPaused) {
      this.upstreamPaused = false;
      // Resume after this callback returns: the engine delivers buffered data synchronously on
      // resume, and a write that meets backpressure again must not happen inside onWritable.
      // (A closure only on this backpressure path, not per request.) Resume even when this
      // write finished the answer: the engine must read the upstream's end to free the connection.
      queueMicrotask(() => this.resumeUpstream?.());
    }
    return true;
  }

  /** Mid-answer failure: the status is gone; cut the connection so the client sees the truncation. */
  private cut(): void {
    if (this.ended) return this.finish();
    this.ended = true;
    this.stopUpstream();
    this.res.close();
    this.finish();
  }

  // ------------------------------------------------------------------ deadlines and ends

  /** The route deadline: the whole exchange took longer than timeoutMs. */
  override onTimer(): void {
    if (this.ended) {
      // The answer is over but the upstream exchange is not: never outlive the deadline with it.
      if (this.attemptOpen) this.stopUpstream();
      return;
    }
    log('info', 'route timeoutMs reached', { route: this.route!.id, afterHeaders: this.headersWritten, requestId: this.head.requestId || undefined });
    if (this.headersWritten) return this.cut();
    this.replyError('upstream_timeout');
  }

  protected override onRequestTimeout(): void {
    if (this.headersWritten) return this.cut();
    super.onRequestTimeout();
  }

  /** An answer that did not complete: its observers hear it before the completion hooks run. */
  override finish(): void {
    if (this.plan !== null) this.plan.close(false);
    super.finish();
  }

  protected override stopUpstream(): void {
    const abort = this.abortUpstream;
    if (abort !== null) {
      this.abortUpstream = null;
      abort(ABORTED);
    }
  }

}

export const proxyAction: RouteAction = {
  create: (res, head, route, host) => new ProxyTransaction(res, head, route, host),
};

const ABORTED = new Error('the gateway ended the exchange');
const CRLF = Buffer.from('\r\n');

let corkInterimStatus = 0;
let corkInterimRaw: Buffer[] = [];
function writeInterimCorked(): void {
  corkTx.writeInterim(corkInterimStatus, corkInterimRaw);
}

export function outcomeOf(kind: UpstreamFailure['kind']): OutcomeKind {
  switch (kind) {
    case 'connect': return 'connect-failure';
    case 'reset': return 'reset';
    case 'timeout': return 'timeout';
    case 'protocol': return 'protocol';
    case 'invalid': return 'protocol';
    case 'aborted': return 'aborted';
  }
}

/** The gateway error when no endpoint can take the request. */
export function noPickError(why: NoPick): GatewayErrorCode {
  switch (why) {
    case 'empty': return 'upstream_unavailable'; // a target name that never resolved
    case 'open': return 'circuit_open';
    default: return 'no_healthy_upstream';
  }
}

/** The gateway error for a failed attempt: 504 for time, 502 for the rest. */
export function errorFor(err: UpstreamFailure): GatewayErrorCode {
  switch (err.kind) {
    case 'connect': return 'upstream_unavailable';
    case 'reset': return 'upstream_reset';
    case 'timeout': return 'upstream_timeout';
    case 'protocol': return 'bad_upstream_response';
    case 'invalid': return 'internal_error';
    case 'aborted': return 'upstream_unavailable';
  }
}
