/**
 * One request's life in a worker, from its head to the last byte of its answer: the one object
 * that owns the client side (the uWS HttpResponse), the only guard before touching it, the one way
 * to answer locally (respond routes, plugin answers, gateway errors), and the one finish() that
 * runs exactly once (metrics, access log, the in-flight count drain waits for).
 *
 * What a route does after the access phase is its action: a subclass (proxy, aggregate) or this class
 * itself (respond) implementing proceed().
 *
 * uWS rules this code lives by (docs/research/style-anchors.md §4):
 *   - `res` is dead after onAborted or after end/tryEnd completes: every write checks `ended`;
 *   - every write made outside the synchronous request handler is corked (we cork always: a
 *     nested cork is free);
 *   - request-body chunks are ArrayBuffers neutered on return: copied before keeping;
 *   - `write()` returning false means "buffered, wait for onWritable": never resend;
 *     `tryEnd()` returning !ok means "not taken": retry the rest from onWritable.
 *   - a local answer is written on the next tick, never from inside a uWS callback: uWS keeps
 *     parsing the bytes it has already read after the handler returns, so a request smuggled
 *     behind a framing uWS reads differently would be served. With the answer still pending, uWS
 *     drops the connection instead if another request follows (see reply()).
 */
import type { HttpResponse } from 'uWebSockets.js';
import { errorBody, statusLineBytes, GATEWAY_ERRORS, type GatewayErrorCode } from '../errors.js';
import type { CompiledConfig, CompiledRoute } from '../runtime/compile.js';
import type { RequestContext } from '../plugins/context.js';
import type { AccessHandler, LocalReply } from '../plugins/api.js';
import { runAccess, runComplete, runResponseHooks } from '../plugins/pipeline.js';
import { isPromise } from '../util/promise.js';
import { PLUGIN_FAILED } from '../plugins/modules/guard.js';
import type { AccessLog, TxSummary } from '../observability/access-log.js';
import type { Endpoint } from '../upstream/endpoint.js';
import type { PickContext } from '../upstream/cluster.js';
import { lineValue } from './header-lines.js';
import type { TimerList, TimerNode } from '../util/timer-lists.js';
import { cancel } from '../util/timer-lists.js';
import { RequestBody, type BodyMode, type BodyOwner } from './request-body.js';
import { clientConnection, type RequestHead } from './head.js';
import { Deadline, arm, timerList } from '../util/timer-lists.js';
import { recordSpans, type ClientSpan } from './spans.js';
import { performance } from 'node:perf_hooks';

export const VIA_VALUE = '1.1 gateway';
// Header bytes written on every answer. uWS takes a Buffer as it is; a string costs it a UTF-8
// conversion into a fresh allocation per call (~40 ns each, measured).
const VIA_NAME_BYTES = Buffer.from('via', 'latin1');
const VIA_VALUE_BYTES = Buffer.from(VIA_VALUE, 'latin1');
/** Via as a line following others in one writeHeader value (writeGatewayHeaders). */
const VIA_LINE_AFTER = '\r\nvia: ' + VIA_VALUE;
const VIA_LINE = 'via: ' + VIA_VALUE;
const CONTENT_TYPE_BYTES = Buffer.from('content-type', 'latin1');
const APPLICATION_JSON_BYTES = Buffer.from('application/json', 'latin1');
/** Request-id header names as bytes: the config's few names, each made once. */
const requestIdNames = new Map<string, Buffer>();
function requestIdNameBytes(name: string): Buffer {
  let b = requestIdNames.get(name);
  if (b === undefined) {
    b = Buffer.from(name, 'latin1');
    requestIdNames.set(name, b);
  }
  return b;
}

/** What the worker provides to every transaction. */
export interface WorkerHost {
  config: CompiledConfig;
  accessLog: AccessLog | null;
  /** Transactions not finished yet (drain waits for 0). */
  inflight: number;
  draining: boolean;
  onFinished(tx: Transaction): void;
  /** A client connection opened (true) or closed; called only while draining. */
  onDrainConnection(opened: boolean): void;
}

/**
 * Ends a response that has no body (HEAD, 204, 304). uWS writes `Content-Length` from its first
 * argument, so: the reported length for HEAD; none at all for 204/304 (a bare call is the only way
 * to get no Content-Length, and it cannot also close: in that rare case "0" is written).
 */
export function endWithoutBody(res: HttpResponse, reportedLength: number | undefined, close: boolean): void {
  if (reportedLength !== undefined) res.endWithoutBody(reportedLength, close);
  else if (!close) res.endWithoutBody();
  else res.endWithoutBody(0, true);
}

/** `Connection: close`, written by the gateway where uWS would not (Transaction.sayClose, proxy's streamed answers). */
export const CONNECTION_NAME = Buffer.from('Connection');
export const CLOSE_VALUE = Buffer.from('close');

const TAKEN_NOT_DONE: [boolean, boolean] = [true, false];

/**
 * res.tryEnd for a piece of a body whose total length is known, as [accepted, done]. uWS
 * completes a response on any tryEnd without data (its shortcut for HEAD's reported length),
 * whatever the total says: an empty piece would end the answer early, uWS letting go of a
 * response whose client still waits for the rest. So an empty piece is taken without asking uWS.
 */
export function tryEndPiece(res: HttpResponse, piece: Buffer, total: number): [boolean, boolean] {
  return piece.length === 0 ? TAKEN_NOT_DONE : res.tryEnd(piece, total);
}

// Corked writes without a closure per call: cork() runs its callback synchronously.
let corkTx: Transaction;
let corkReply: LocalReply;
let corkClose = false;
function writeReplyCorked(): void {
  corkTx.writeReply(corkReply, corkClose);
}

export class Transaction implements BodyOwner, PickContext, TimerNode, TxSummary {
  // TimerNode: the route deadline (armed by the action that needs one).
  tnAt = 0;
  tnPrev: TimerNode | null = null;
  tnNext: TimerNode | null = null;
  tnList: TimerList | null = null;

  /** The answer is written (or being written on the next tick), or the client is gone: never touch res. */
  ended = false;
  /** The client went away before the answer ended. */
  aborted = false;
  private finished = false;
  /** Status the client got (0 until known). */
  status = 0;
  /** The gateway error code when the answer was a gateway error. */
  errorCode: GatewayErrorCode | null = null;
  responseBytes = 0;
  /** Plugin state, on routes with plugins. */
  ctx: RequestContext | null = null;
  /** Entries of ctx.responseHeaders the prepared head's tail carries (responseTail). */
  headersInTail = 0;
  readonly body: RequestBody | null;
  /** Close the client connection after the answer (chunked request bodies, Connection: close). */
  closeAfter: boolean;
  /** The access phase has passed. */
  accessPassed = false;
  // Upstream facts for the access log and metrics (set by the proxy action).
  endpoint: Endpoint | null = null;
  upstreamStatus = 0;
  upstreamPath = '';
  /** Aggregate routes: each backend's path, the route's params filled in (set by the front). */
  backendPaths: string[] | null = null;
  attempt = 0;
  /** When the access phase passed (recorded for sampled traces only; 0 otherwise). */
  accessDoneAt = 0;
  /** The upstream exchange's span (sampled proxied requests and WebSocket upgrades only). */
  upstreamTiming: ClientSpan | null = null;
  /** More client spans, each with its own outcome (a sampled aggregate's backend calls). */
  clientSpans: ClientSpan[] | null = null;
  private bodyTimer: Deadline | null = null;
  /** The response hooks ran for this answer (they run once, before its status line). */
  private responseHooksRan = false;

  constructor(
    readonly res: HttpResponse,
    readonly head: RequestHead,
    readonly route: CompiledRoute | null,
    readonly host: WorkerHost,
    bodyMode: BodyMode,
  ) {
    host.inflight++;
    // A chunked body (uWS's decoder is lenient) or the client's own "close" option end the connection.
    this.closeAfter = head.contentLength < 0 || head.clientClose;
    res.onAborted(() => this.onClientAborted());
    if (head.contentLength !== 0) {
      const cfg = host.config;
      this.body = new RequestBody(res, this, bodyMode, head.contentLength, cfg.maxBodyBytes, cfg.bodyBufferBytes);
      if (cfg.requestTimeoutMs > 0) {
        this.bodyTimer = new Deadline(() => this.onBodyTimeout());
        arm(timerList(cfg.requestTimeoutMs), this.bodyTimer, head.startedAt);
      }
    } else {
      this.body = null;
    }
  }

  /** The client can still be written to. */
  get open(): boolean {
    return !this.ended;
  }

  // ------------------------------------------------------------------ TxSummary (access log, metrics)

  get client(): string {
    return this.head.clientIp;
  }
  get method(): string {
    return this.head.method;
  }
  get rawPath(): string {
    return this.head.rawPath;
  }
  get query(): string {
    return this.head.query;
  }
  get routeId(): string {
    return this.route !== null ? this.route.id : '';
  }
  get startedAt(): number {
    return this.head.startedAt;
  }
  get requestBytes(): number {
    return this.body !== null ? this.body.received : 0;
  }
  get requestId(): string {
    return this.head.requestId;
  }
  get traceId(): string {
    return this.head.traceId;
  }
  get upstreamOrigin(): string | null {
    return this.endpoint !== null ? this.endpoint.origin : null;
  }
  /** When the answer was complete, for the request-duration metric (read in finish: now). */
  get answeredAt(): number {
    return performance.now();
  }

  // ------------------------------------------------------------------ PickContext

  get clientIp(): string {
    return this.head.clientIp;
  }
  get consumerId(): string | null {
    return this.ctx?.consumer?.id ?? null;
  }
  header(name: string): string | undefined {
    if (this.ctx !== null) return this.ctx.header(name);
    // The client's lines as bytes (a route without plugins; with plugins, ctx has them) come first.
    const lines = this.head.rawHeaders;
    const v = lines !== null ? lineValue(lines, lines.length, name) : undefined;
    if (v !== undefined) return v;
    const h = this.head.headers;
    for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1];
    return undefined;
  }
  shouldSkip(ep: Endpoint): boolean {
    return ep === this.endpoint;
  }

  // ------------------------------------------------------------------ the action

  /** After the access phase: what the route does. The base class answers a `respond` route. */
  proceed(): void {
    this.passAccess();
    const r = this.route?.respond ?? null;
    if (r === null) return this.replyError('internal_error');
    this.reply(r);
  }

  /** The access phase is over (plugins allowed the request). */
  protected passAccess(): void {
    this.accessPassed = true;
    if (this.head.traceRecorded && this.ctx !== null && this.route?.pipeline?.access != null) this.accessDoneAt = performance.now();
  }

  // ------------------------------------------------------------------ local answers

  replyError(code: GatewayErrorCode, close = false, headers?: string[]): void {
    this.reply({ status: GATEWAY_ERRORS[code].status, code, headers }, close);
  }

  /**
   * The gateway's own answer: a respond route, a plugin's reply, or a gateway error. Always
   * written on the next turn of the event loop (setImmediate), never from inside a uWS callback:
   * uWS goes on parsing what it has already read after the handler returns, and with this answer
   * still pending it drops the connection if another request follows in those bytes, instead of
   * serving it. So whatever uWS's lenient parser makes of a request (a chunked body it decoded
   * differently from a front proxy, headers an empty header name hid, docs/security.md), it never
   * answers two requests for what arrived as one. (Microtasks and nextTick run between uWS's
   * callbacks, too early for this.)
   */
  reply(r: LocalReply, close = false): void {
    if (this.ended) return;
    this.ended = true;
    this.status = r.status;
    this.errorCode = r.code ?? null;
    this.stopUpstream();
    // A request body still on the wire is not read: close rather than leave it to the parser.
    const body = this.body;
    const closeConn = close || this.closeAfter || this.host.draining || (body !== null && !body.complete);
    if (closeConn) this.markConnectionClosing();
    body?.dispose();
    setImmediate(() => {
      if (!this.aborted) this.corkedReply(r, closeConn);
      this.finish();
    });
  }

  /**
   * This answer says Connection: close: nothing more is served on its connection, whether or not
   * uWS closes it (head.ts ClientConnection.closing; front.ts refuses what comes after).
   */
  markConnectionClosing(): void {
    // A routed head holds its connection; an unrouted one (an early error) has none.
    if (!this.aborted) (this.head.connection ?? clientConnection(this.res)).closing = true;
  }

  /**
   * Before an end with uWS's close flag (called corked): uWS writes `Connection: close` then only
   * if its own flag was not set by the client's first Connection value (head.closeUnsaid); the
   * client must be told either way (RFC 9112 §9.6).
   */
  sayClose(close: boolean): void {
    if (close && this.head.closeUnsaid) this.res.writeHeader(CONNECTION_NAME, CLOSE_VALUE);
  }

  private corkedReply(r: LocalReply, close: boolean): void {
    corkTx = this;
    corkReply = r;
    corkClose = close;
    this.res.cork(writeReplyCorked);
  }

  /** Writes a LocalReply whole (called corked). */
  writeReply(r: LocalReply, close: boolean): void {
    const res = this.res;
    if (!this.runResponseHooksOnce(r.status)) {
      // A plugin module's response hook failed: this answer becomes its 500.
      r = PLUGIN_FAILED;
      this.status = r.status;
      this.errorCode = r.code!;
    }
    res.writeStatus(statusLineBytes(r.status));
    if (r.code !== undefined) res.writeHeader(CONTENT_TYPE_BYTES, APPLICATION_JSON_BYTES);
    const h = r.headers;
    if (h !== undefined) for (let i = 0; i < h.length; i += 2) res.writeHeader(h[i], h[i + 1]);
    this.writeGatewayHeaders(r.status);
    this.sayClose(close);
    if (r.status === 204 || r.status === 304) {
      endWithoutBody(res, undefined, close); // no body and no Content-Length (RFC 9110 §8.6)
      return;
    }
    const body = r.code !== undefined ? errorBody(r.code, this.head.requestId || undefined, r.message, this.head.traceId || undefined) : r.body ?? '';
    const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    this.responseBytes = length;
    // A body after HEAD would be read as the next response: Content-Length only.
    if (this.head.method === 'HEAD') res.endWithoutBody(length, close);
    else res.end(body, close);
  }

  /**
   * Runs the route's response hooks for the answer's status, once per answer: before its status
   * line is written, so that false (a plugin module's hook failed) can still make the answer a
   * 500 plugin_error (writeReply; the proxy's upstream head). Callers that do not call it first
   * get it from writeGatewayHeaders, where a failure is only logged.
   */
  runResponseHooksOnce(status: number): boolean {
    if (this.responseHooksRan) return true;
    this.responseHooksRan = true;
    const ctx = this.ctx;
    const pipeline = this.route !== null ? this.route.pipeline : null;
    return ctx === null || pipeline === null || runResponseHooks(pipeline, ctx, status);
  }

  /**
   * On a route with a plugin module: runs the response hooks now, before anything of the answer
   * is written, and says whether a module's hook failed (the answer must then be its 500). Other
   * routes run them when the headers are written, as they always did.
   */
  moduleResponseHookFailed(status: number): boolean {
    const pipeline = this.route !== null ? this.route.pipeline : null;
    return pipeline !== null && pipeline.modules && !this.runResponseHooksOnce(status);
  }

  /**
   * The lines writeGatewayHeaders would write, as one "name: value" block joined by CRLF, for an
   * engine that appends them to the head it prepares (UpstreamRequest.responseTail): the headers
   * the plugins have added so far (the access phase's: the rate-limit state), the request id, Via.
   * `headersInTail` says how many entries of ctx.responseHeaders it holds: on a route with a
   * plugin module none (a module's header may be one the engine refuses in a tail, a connection
   * header, or not ASCII; uWS writes it as it is). Without modules every line is ASCII, so its
   * length is its bytes: names are tokens, the request id is plain (SAFE_REQUEST_ID), rateLimit's
   * values are structured-field strings and numbers, and responseHeaders makes fixed headers of
   * ASCII values only. '' when even the request id and Via exceed `limit`.
   */
  responseTail(limit: number): string {
    const head = this.head;
    const own = head.requestIdHeader !== '' ? head.requestIdHeader + ': ' + head.requestId + '\r\n' + VIA_LINE : VIA_LINE;
    this.headersInTail = 0;
    const ctx = this.ctx;
    if (ctx !== null && !ctx.checkHeaders && ctx.responseHeaders.length !== 0) {
      const extra = ctx.responseHeaders;
      let lines = '';
      for (let i = 0; i < extra.length; i += 2) lines += extra[i] + ': ' + extra[i + 1] + '\r\n';
      const all = lines + own;
      if (all.length <= limit) {
        this.headersInTail = extra.length;
        return all;
      }
    }
    return own.length <= limit ? own : '';
  }

  /**
   * The headers the gateway puts on every answer once the route is known: what the plugins add
   * (CORS, rate-limit state...), the request id, Via. `tailWritten`: the request id, Via and the
   * first `headersInTail` entries of ctx.responseHeaders went with the head already (responseTail).
   */
  writeGatewayHeaders(status: number, viaWritten = false, tailWritten = false): void {
    const res = this.res;
    const ctx = this.ctx;
    const head = this.head;
    if (ctx !== null) {
      this.runResponseHooksOnce(status);
      const extra = ctx.responseHeaders;
      const from = tailWritten ? this.headersInTail : 0;
      if (extra.length > from) {
        // One uWS call for all of them: uWS writes name + ": " + value + CRLF verbatim
        // (test/native/uws-verbatim.test.ts), so the other lines ride in the first value. Their
        // bytes are checked (the built-ins' at load, modules' in addResponseHeader) as before.
        let rest = extra[from + 1];
        for (let i = from + 2; i < extra.length; i += 2) rest += '\r\n' + extra[i] + ': ' + extra[i + 1];
        if (!tailWritten) {
          if (head.requestIdHeader !== '') rest += '\r\n' + head.requestIdHeader + ': ' + head.requestId;
          if (!viaWritten) rest += VIA_LINE_AFTER;
        }
        res.writeHeader(extra[from], rest);
        return;
      }
    }
    if (tailWritten) return;
    if (head.requestIdHeader !== '') res.writeHeader(requestIdNameBytes(head.requestIdHeader), head.requestId);
    if (!viaWritten) res.writeHeader(VIA_NAME_BYTES, VIA_VALUE_BYTES);
  }

  // ------------------------------------------------------------------ body events

  onBodyComplete(): void {
    if (this.bodyTimer !== null) cancel(this.bodyTimer);
  }

  onBodyTooLarge(): void {
    this.replyError('body_too_large', true);
  }

  onBodyError(): void {
    const failure = this.body?.failure;
    this.replyError(failure ? 'internal_error' : 'bad_request', true);
  }

  private onBodyTimeout(): void {
    if (this.body === null || this.body.complete) return;
    this.onRequestTimeout();
  }

  /** The client did not send its body within limits.requestTimeoutMs. */
  protected onRequestTimeout(): void {
    this.replyError('request_timeout', true);
  }

  // ------------------------------------------------------------------ deadline, abort, end

  /** The route deadline (timeoutMs) ran out. */
  onTimer(): void {}

  /** Cancels whatever the action has running upstream (the answer is decided otherwise). */
  protected stopUpstream(): void {}

  /** The client went away: stop everything and release it. */
  onClientAborted(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.ended = true;
    this.stopUpstream();
    this.body?.dispose();
    this.finish();
  }

  /** Runs exactly once: metrics, access log, in-flight count. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.tnList !== null) cancel(this);
    if (this.bodyTimer !== null) cancel(this.bodyTimer);
    this.body?.dispose();
    this.host.inflight--;
    if (this.head.traceRecorded) recordSpans(this, performance.now());
    // ctx is set only on routes with plugins: one null check on the others.
    const ctx = this.ctx;
    if (ctx !== null) {
      ctx.finished = true;
      const hooks = this.route!.pipeline!.onComplete;
      if (hooks !== null) runComplete(hooks, ctx, this);
    }
    this.host.onFinished(this);
  }
}

/**
 * The access phase of a transaction (front.ts, on a route whose plugins have access handlers):
 * a synchronous answer at once; an async plugin's (a JWKS fetch, scrypt, Redis) when it settles,
 * the body arriving meanwhile, and nothing if the client went away in between.
 */
export function runAccessPhase(tx: Transaction, access: readonly AccessHandler[], ctx: RequestContext): void {
  const result = runAccess(access, ctx);
  if (!isPromise(result)) {
    if (result === undefined) tx.proceed();
    else tx.reply(result);
    return;
  }
  void result.then((reply) => {
    if (tx.ended) return; // the client went away meanwhile
    if (reply === undefined) tx.proceed();
    else tx.reply(reply);
  });
}
