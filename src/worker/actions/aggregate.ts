/**
 * The aggregate action (CONFIG.md "Aggregation", docs/aggregation.md): one client call, the
 * route's backends called in parallel, their JSON answers merged into one object
 * `{ "<as>": <answer>, ... }`.
 *
 * Each backend call goes through the gateway's upstream contract like a proxied request: the
 * backend's upstream cluster picks the target (health, ejection, breaker, balancer apply), every
 * attempt's outcome is reported to it, the upstream's retry policy and budget apply (a GET
 * without a body is always replayable), and a failure on a reused keep-alive connection is sent
 * once more on a fresh one. The backends get the headers a proxied request would get (the
 * plugins' edits, the forwarding headers, the request id: src/worker/forwarding.ts), always with
 * GET and no body, `Accept: application/json`, `Accept-Encoding: identity`, and without the
 * client's conditional and range headers (they are about the client's answer, not a backend's).
 *
 * What counts, per backend:
 *   - ok: a 2xx with a JSON Content-Type (application/json or application/*+json), no
 *     Content-Encoding, a body of at most maxBackendBytes that is valid JSON in UTF-8;
 *   - anything else is a failure (a non-2xx status included): an optional backend is left out
 *     and named in X-Gateway-Partial, a required one ends the call at once with a 502 (504 when
 *     it was late) naming it; the other calls are cancelled.
 * The deadline (aggregate.timeoutMs) covers the fan-out: when it passes, a required backend
 * still out is a 504, optional ones still out are left out. The merge itself is the gateway's
 * work and not bound by it.
 *
 * The merge (aggregate-merge.ts) splices the bodies' bytes after validating them; when they add
 * up to more than offloadAboveBytes it runs on the worker's offload pool (src/offload/pool.ts), so
 * the event loop never validates a megabyte of JSON itself.
 */
import type { HttpResponse } from 'uWebSockets.js';
import type { CompiledAggregate, CompiledBackend, CompiledRoute, RouteAction } from '../../runtime/compile.js';
import { GATEWAY_ERRORS, type GatewayErrorCode } from '../../errors.js';
import type { UpstreamFailure, UpstreamHandler, UpstreamRequest } from '../../upstream/dispatch.js';
import type { OutcomeKind, PickContext } from '../../upstream/cluster.js';
import type { Endpoint } from '../../upstream/endpoint.js';
import { budgetRefused, retriesTotal, type RetryReason } from '../../upstream/retry.js';
import { OffloadQueueFull } from '../../offload/pool.js';
import { counter } from '../../observability/metrics.js';
import { log } from '../../observability/log.js';
import { arm, cancel, timerList } from '../../util/timer-lists.js';
import { Transaction, endWithoutBody, tryEndPiece, type WorkerHost } from '../transaction.js';
import { appendForwardingHeaders, type RequestHead } from '../head.js';
import { nameIs, parseContentLength } from '../response-head.js';
import { mergeJson, type MergeResult } from './aggregate-merge.js';
import { outcomeOf } from './proxy.js';
import { ClientSpan } from '../spans.js';
import { formatTraceparent, newSpanId } from '../../observability/trace-context.js';
import { performance } from 'node:perf_hooks';

/** How one backend call ended. */
export type BackendResult = 'pending' | 'ok' | 'failed' | 'timeout' | 'not_json' | 'too_large' | 'cancelled';

const backendResults = counter(
  'gateway_aggregate_backend_results_total',
  'Aggregate backend calls by route, backend (its "as") and result: ok, failed, timeout, not_json, too_large, cancelled (the answer was decided without it, or the client left).',
  ['route', 'backend', 'result'],
);
const merges = counter('gateway_aggregate_merges_total', 'Aggregate answers merged, by route and where: "loop" (the event loop) or "pool" (the offload pool).', ['route', 'where']);

const ABORTED = new Error('the gateway ended the exchange');

/** Request headers a backend call does not get from the client (it sets its own or none). */
function droppedForBackends(name: string): boolean {
  switch (name) {
    case 'accept': // set: the merge needs JSON
    case 'accept-encoding': // set to identity: the merge splices plain bytes
    case 'content-type': // no body is sent
    case 'range':
    case 'if-range':
    case 'if-match':
    case 'if-none-match':
    case 'if-modified-since':
    case 'if-unmodified-since':
      return true;
  }
  return false;
}

/** Where backendHeaders put the traceparent's value (-1: a plugin removed it). */
let traceparentAt = -1;

/** The headers every backend call of a request starts from (Host comes per attempt). */
function backendHeaders(head: RequestHead): string[] {
  const h = head.headers;
  appendForwardingHeaders(head, h);
  const out: string[] = [];
  traceparentAt = -1;
  for (let i = 0; i < h.length; i += 2) {
    if (droppedForBackends(h[i])) continue;
    if (h[i] === 'traceparent') traceparentAt = out.length + 1;
    out.push(h[i], h[i + 1]);
  }
  out.push('accept', 'application/json', 'accept-encoding', 'identity');
  return out;
}

/** application/json or application/<anything>+json, parameters ignored (RFC 6839 §3.1). */
export function isJsonContentType(value: Buffer): boolean {
  let end = value.indexOf(0x3b); // ';'
  if (end === -1) end = value.length;
  const type = value.toString('latin1', 0, end).trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

/** One attempt of a backend call: the handler the engine talks to (a retry gets a new one, so late callbacks of an abandoned attempt are told apart). */
class BackendAttempt implements UpstreamHandler {
  constructor(private readonly call: BackendCall, private readonly n: number) {}
  onConnect(abort: (reason?: Error) => void): void {
    if (this.n !== this.call.attemptNo) return abort(ABORTED);
    this.call.onConnect(abort);
  }
  onUpstreamConnected(): void {
    if (this.n === this.call.attemptNo) this.call.onConnected();
  }
  onInformational(): void {}
  onHeaders(status: number, raw: Buffer[]): boolean {
    return this.n === this.call.attemptNo && this.call.onHeaders(status, raw);
  }
  onData(chunk: Buffer): boolean {
    return this.n === this.call.attemptNo && this.call.onData(chunk);
  }
  onComplete(): void {
    if (this.n === this.call.attemptNo) this.call.onComplete();
  }
  onError(err: UpstreamFailure): void {
    if (this.n === this.call.attemptNo) this.call.onError(err);
  }
}

/** One backend's call: its attempts, its body, its result. Also the PickContext of its picks. */
class BackendCall implements PickContext {
  result: BackendResult = 'pending';
  /** The answer's body (an ArrayBuffer of its own: transferable to the offload pool) once ok. */
  body: Buffer | null = null;
  /** Why it failed, for the log. */
  detail = '';
  /** The attempt whose callbacks count (PickContext.attempt too). */
  attemptNo = 0;
  private abort: ((reason?: Error) => void) | null = null;
  private endpoint: Endpoint | null = null;
  private attemptOpen = false;
  private dispatchedAt = 0;
  private headersAt = 0;
  private status = 0;
  private expected = -1;
  private received = 0;
  private chunks: Buffer[] | null = null;
  private tried: Endpoint[] | null = null;
  private retries = 0;
  private keepaliveRetried = false;
  /** Its CLIENT span (sampled requests only), and the traceparent naming it. */
  readonly span: ClientSpan | null = null;
  private readonly traceparent: string = '';

  constructor(
    private readonly tx: AggregateTransaction,
    readonly backend: CompiledBackend,
    private readonly path: string,
    private readonly headers: readonly string[],
    /** Index of the traceparent's value in `headers` (-1: none). */
    private readonly traceparentAt: number,
  ) {
    const head = tx.head;
    if (head.traceRecorded) {
      // Each backend sees its own call's span as its parent (sampled: the request is recorded).
      const spanId = newSpanId();
      this.span = new ClientSpan(spanId, 'backend ' + backend.as, 'GET', ['gateway.aggregate.backend', backend.as]);
      this.traceparent = formatTraceparent(head.traceId, spanId, true);
    }
  }

  // ------------------------------------------------------------------ PickContext

  get attempt(): number {
    return this.attemptNo;
  }
  get clientIp(): string {
    return this.tx.head.clientIp;
  }
  get consumerId(): string | null {
    return this.tx.consumerId;
  }
  header(name: string): string | undefined {
    return this.tx.header(name);
  }
  shouldSkip(ep: Endpoint): boolean {
    return this.tried !== null && this.tried.includes(ep);
  }

  // ------------------------------------------------------------------ attempts

  start(): void {
    if (this.span !== null) this.span.startedAt = performance.now(); // a call with no target to go to is a span too
    const cluster = this.backend.target.cluster;
    if (cluster.busy) {
      this.fail('failed', 'maxPendingPerWorker reached');
      return;
    }
    const ep = cluster.pick(this);
    if (ep === null) {
      this.fail('failed', `no target can take it (${cluster.noPick})`);
      return;
    }
    cluster.resilience.retry?.budget.firstAttempt(performance.now());
    this.send(ep, false);
  }

  private send(ep: Endpoint, fresh: boolean): void {
    const t = this.backend.target;
    const h = this.headers.slice();
    if (this.span !== null && this.traceparentAt !== -1) h[this.traceparentAt] = this.traceparent;
    h.push('host', this.tx.route!.preserveHost ? this.tx.head.hostHeader : ep.hostHeader);
    const req: UpstreamRequest = { method: 'GET', path: this.path, headers: h, body: null, headersTimeoutMs: t.responseHeadersMs, bodyTimeoutMs: t.idleMs, fresh };
    this.endpoint = ep;
    this.headersAt = 0;
    this.status = 0;
    this.dispatchedAt = performance.now();
    t.cluster.begin(ep);
    this.attemptOpen = true;
    ep.dispatcher.dispatch(req, new BackendAttempt(this, this.attemptNo));
  }

  /** Another attempt, on another target when there is one (the same connection pool's fresh connection for `fresh`). */
  private retry(reason: RetryReason, fresh: boolean): void {
    const cluster = this.backend.target.cluster;
    retriesTotal.inc(cluster.name, reason);
    const previous = this.endpoint!;
    if (!fresh) (this.tried ??= []).push(previous);
    this.attemptNo++;
    if (this.span !== null) {
      this.span.attempts++;
      this.span.event('retry (' + reason + ')');
    }
    let ep = fresh ? previous : cluster.pick(this);
    if (ep === null && cluster.noPick === 'skipped') {
      this.tried = null; // every other target is out: the same one again
      ep = cluster.pick(this);
    }
    if (ep === null) {
      this.fail('failed', `${this.detail}; no target for a retry (${cluster.noPick})`);
      return;
    }
    this.send(ep, fresh);
  }

  /** Whether the upstream's retry policy and budget allow another attempt for `reason`. */
  private mayRetry(reason: RetryReason | null): boolean {
    const policy = this.backend.target.cluster.resilience.retry;
    if (reason === null || policy === null || this.retries >= policy.settings.attempts || this.tx.deadlinePassed()) return false;
    if (!policy.budget.tryRetry(performance.now())) {
      budgetRefused.inc(this.backend.target.cluster.name);
      return false;
    }
    this.retries++;
    return true;
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.abort = abort;
  }

  /** The attempt opened a new connection (sampled requests: an event on the call's span). */
  onConnected(): void {
    if (this.span !== null) this.span.event('connected');
  }

  onHeaders(status: number, raw: Buffer[]): boolean {
    if (this.result !== 'pending') return false;
    this.headersAt = performance.now();
    this.status = status;
    if (status < 200 || status > 299) {
      const policy = this.backend.target.cluster.resilience.retry;
      this.detail = `status ${status}`;
      const retryable = policy !== null ? policy.statusReason(status, 'GET') : null;
      this.endAttempt('response', true);
      if (this.mayRetry(retryable)) {
        this.retry(retryable!, false);
        return false;
      }
      return this.fail('failed', this.detail);
    }
    let type: Buffer | null = null;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i];
      if (name.length === 14 && nameIs(name, 'content-length')) this.expected = parseContentLength(raw[i + 1]);
      else if (name.length === 12 && nameIs(name, 'content-type')) type = raw[i + 1];
      else if (name.length === 16 && nameIs(name, 'content-encoding') && !nameIs(raw[i + 1], 'identity')) {
        return this.refuse('not_json', `Content-Encoding ${raw[i + 1].toString('latin1')}`);
      }
    }
    if (type === null || !isJsonContentType(type)) return this.refuse('not_json', `Content-Type ${type === null ? '(none)' : type.toString('latin1')}`);
    const max = this.tx.agg.maxBackendBytes;
    if (this.expected > max) return this.refuse('too_large', `Content-Length ${this.expected} > maxBackendBytes ${max}`);
    if (this.expected >= 0) this.body = Buffer.allocUnsafeSlow(this.expected);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.result !== 'pending') return false;
    const at = this.received;
    this.received += chunk.length;
    const max = this.tx.agg.maxBackendBytes;
    if (this.received > max) return this.refuse('too_large', `body over maxBackendBytes ${max}`);
    if (this.body !== null) {
      if (this.received > this.body.length) return this.refuse('not_json', 'more body bytes than its Content-Length');
      chunk.copy(this.body, at);
    }
    else (this.chunks ??= []).push(chunk); // the engine does not reuse the chunks it hands over
    return true;
  }

  onComplete(): void {
    if (this.result !== 'pending') return;
    this.endAttempt('response', false);
    if (this.body === null) {
      // No Content-Length: one buffer of our own for the chunks (transferable, unlike Buffer.concat's).
      const body = Buffer.allocUnsafeSlow(this.received);
      let at = 0;
      if (this.chunks !== null) for (const c of this.chunks) at += c.copy(body, at);
      this.body = body;
      this.chunks = null;
    }
    this.result = 'ok';
    this.tx.callDone(this);
  }

  onError(err: UpstreamFailure): void {
    this.endAttempt(outcomeOf(err.kind), false);
    if (this.result !== 'pending') return;
    this.detail = `${err.kind}: ${err.message}`;
    // A reused connection that failed before any response byte: the upstream closed it idle.
    if (err.kind === 'reset' && err.reusedConnection && !this.keepaliveRetried && !this.tx.deadlinePassed()) {
      this.keepaliveRetried = true;
      return this.retry('keepalive', true);
    }
    const policy = this.backend.target.cluster.resilience.retry;
    const reason = policy !== null ? policy.failureReason(err, 'GET') : null;
    if (this.mayRetry(reason)) return this.retry(reason!, false);
    this.fail(err.kind === 'timeout' ? 'timeout' : 'failed', this.detail);
  }

  /** An answer the merge cannot take: the target did its job (reported as a response), the call failed. */
  private refuse(result: 'not_json' | 'too_large', detail: string): false {
    this.endAttempt('response', true);
    return this.fail(result, detail);
  }

  private endAttempt(kind: OutcomeKind, abort: boolean): void {
    if (!this.attemptOpen) return;
    this.attemptOpen = false;
    const a = this.abort;
    this.abort = null;
    const span = this.span;
    if (span !== null) {
      span.origin = this.endpoint!.origin;
      span.status = kind === 'response' ? this.status : 0;
      span.headersAt = this.headersAt;
      span.endedAt = performance.now();
    }
    // The latency a balancer learns from ends at the response head (or at the failure).
    const end = kind === 'response' && this.headersAt > 0 ? this.headersAt : performance.now();
    this.backend.target.cluster.end(this.endpoint!, kind, kind === 'response' ? this.status : 0, (end - this.dispatchedAt) * 1000);
    if (abort && a !== null) {
      this.attemptNo++; // what the abandoned attempt still reports is ignored
      a(ABORTED);
    }
  }

  /** The merge found the body is not JSON. */
  invalidBody(): void {
    this.result = 'not_json';
    this.detail = 'the body is not valid JSON in UTF-8';
  }

  private fail(result: Exclude<BackendResult, 'pending' | 'ok'>, detail: string): false {
    if (this.result !== 'pending') return false;
    this.result = result;
    this.detail = detail;
    this.body = null;
    this.chunks = null;
    this.tx.callDone(this);
    return false;
  }

  /** The deadline passed with this call still out. */
  late(): void {
    if (this.result !== 'pending') return;
    this.result = 'timeout';
    this.detail = 'aggregate timeoutMs reached';
    this.cancelAttempt();
  }

  /** The answer is decided without this call (or the client left): cancel what is in flight. */
  stop(): void {
    if (this.result !== 'pending') return;
    this.result = 'cancelled';
    this.cancelAttempt();
  }

  /** The call's span gets its outcome (called once the request is over). */
  closeSpan(): void {
    const span = this.span;
    if (span === null) return;
    if (this.result !== 'ok' && this.result !== 'pending') span.error = this.detail !== '' ? this.result + ': ' + this.detail : this.result;
    span.extra!.push('gateway.aggregate.result', this.result);
    if (span.endedAt === 0 && span.startedAt > 0) span.endedAt = performance.now();
  }

  private cancelAttempt(): void {
    const a = this.abort;
    if (a === null) return;
    this.abort = null;
    a(ABORTED); // its onError reports the attempt to the cluster as aborted
  }
}

// Corked writes without a closure per call (cork runs its callback synchronously).
let corkTx: AggregateTransaction;
function writeAnswerCorked(): void {
  corkTx.writeAnswerCorked();
}

export class AggregateTransaction extends Transaction {
  readonly agg: CompiledAggregate;
  private calls: BackendCall[] = [];
  private outstanding = 0;
  /** All answers are in (or the deadline passed): the merge runs; later call results are ignored. */
  private merging = false;
  private answer: Buffer | null = null;
  private partial = '';
  private closeConnection = false;
  /** Write offset where the answer's body began, for onWritable. */
  private answerOffset = 0;

  constructor(res: HttpResponse, head: RequestHead, route: CompiledRoute, host: WorkerHost) {
    super(res, head, route, host, route.bodyMode);
    this.agg = route.aggregate!;
  }

  override proceed(): void {
    this.accessPassed = true;
    if (this.ended) return;
    const agg = this.agg;
    const headers = backendHeaders(this.head);
    const tpAt = traceparentAt;
    const paths = this.backendPaths!;
    if (agg.timeoutMs > 0) arm(timerList(agg.timeoutMs), this);
    this.calls = agg.backends.map((b, k) => new BackendCall(this, b, paths[k], headers, tpAt));
    if (this.head.traceRecorded) this.clientSpans = this.calls.map((c) => c.span!);
    this.outstanding = this.calls.length;
    // A call can fail at once (no target); a failed required one ends the request: stop there.
    for (const c of this.calls) {
      if (this.ended || this.merging) break;
      c.start();
    }
  }

  deadlinePassed(): boolean {
    return this.tnList !== null && performance.now() >= this.tnAt;
  }

  /** A backend call ended (its result is set). */
  callDone(call: BackendCall): void {
    if (this.ended || this.merging) return;
    this.outstanding--;
    if (call.result !== 'ok' && !call.backend.optional) return this.failRequired(call.backend, call.result, call.detail);
    if (call.result !== 'ok') log('info', 'optional aggregate backend left out', this.logFields(call.backend, call.result, call.detail));
    if (this.outstanding === 0) this.merge();
  }

  /** The deadline (aggregate.timeoutMs). */
  override onTimer(): void {
    if (this.ended || this.merging) return;
    for (const c of this.calls) {
      if (c.result === 'pending' && !c.backend.optional) {
        c.late();
        return this.failRequired(c.backend, 'timeout', 'aggregate timeoutMs reached');
      }
    }
    for (const c of this.calls) {
      if (c.result !== 'pending') continue;
      c.late(); // optional: left out
      log('info', 'optional aggregate backend left out', this.logFields(c.backend, 'timeout', c.detail));
    }
    this.merge();
  }

  private failRequired(b: CompiledBackend, result: BackendResult, detail: string): void {
    log('warn', 'required aggregate backend failed', this.logFields(b, result, detail));
    const code: GatewayErrorCode =
      result === 'timeout' ? 'aggregate_backend_timeout'
      : result === 'not_json' ? 'aggregate_backend_not_json'
      : result === 'too_large' ? 'aggregate_backend_too_large'
      : 'aggregate_backend_failed';
    // The message names the backend: its `as` is the key the client would have read.
    const message = `${GATEWAY_ERRORS[code].message.slice(0, -1)}: "${b.as}".`;
    this.reply({ status: GATEWAY_ERRORS[code].status, code, message });
  }

  private logFields(b: CompiledBackend, result: BackendResult, detail: string): Record<string, unknown> {
    return { route: this.route!.id, backend: b.as, upstream: b.target.cluster.name, result, detail, requestId: this.head.requestId || undefined };
  }

  // ------------------------------------------------------------------ the merge

  private merge(): void {
    this.merging = true;
    if (this.tnList !== null) cancel(this); // the deadline covers the backends, not our own work
    const agg = this.agg;
    const bodies: (Buffer | null)[] = new Array(this.calls.length);
    let total = 0;
    for (let k = 0; k < this.calls.length; k++) {
      const b = this.calls[k].result === 'ok' ? this.calls[k].body : null;
      bodies[k] = b;
      if (b !== null) total += b.length;
    }
    const input = { prefixes: agg.prefixes, bodies, required: agg.required };
    if (agg.pool !== null && total > agg.offloadAboveBytes) {
      const transfer: ArrayBuffer[] = [];
      for (const b of bodies) if (b !== null) transfer.push(b.buffer as ArrayBuffer);
      agg.pool.run('aggregateMerge', input, transfer).then(
        (r) => this.merged(r, 'pool'),
        (err: unknown) => {
          if (err instanceof OffloadQueueFull) return this.merged(mergeJson(input), 'loop');
          log('error', 'aggregate merge failed on the offload pool', { route: this.route!.id, error: (err as Error).message, requestId: this.head.requestId || undefined });
          this.replyError('internal_error');
        },
      );
      return;
    }
    this.merged(mergeJson(input), 'loop');
  }

  private merged(r: MergeResult, where: 'loop' | 'pool'): void {
    if (this.ended) return; // the client went away meanwhile
    merges.inc(this.route!.id, where);
    for (const k of r.invalid) this.calls[k].invalidBody();
    if (r.merged === null) {
      const b = this.agg.backends[r.invalid[r.invalid.length - 1]];
      return this.failRequired(b, 'not_json', 'the body is not valid JSON in UTF-8');
    }
    let partial = '';
    for (let k = 0; k < this.calls.length; k++) {
      const c = this.calls[k];
      if (c.result === 'ok') continue;
      if (c.result === 'not_json') log('info', 'optional aggregate backend left out', this.logFields(c.backend, c.result, c.detail));
      partial = partial === '' ? c.backend.as : `${partial},${c.backend.as}`; // only optional ones get here
    }
    const m = r.merged;
    // From a pool thread the answer arrives as a plain Uint8Array: a Buffer view of it, no copy.
    this.answer = Buffer.isBuffer(m) ? m : Buffer.from((m as Uint8Array).buffer, (m as Uint8Array).byteOffset, (m as Uint8Array).byteLength);
    this.partial = partial;
    this.writeAnswer();
  }

  // ------------------------------------------------------------------ the answer

  private writeAnswer(): void {
    const body = this.body;
    // A request body still on the wire is not read: close rather than leave it to the parser.
    this.closeConnection = this.closeAfter || this.host.draining || (body !== null && !body.complete);
    body?.dispose();
    corkTx = this;
    this.res.cork(writeAnswerCorked);
    if (this.ended) this.finish();
  }

  /** Status, headers and as much of the body as the socket takes (called corked). */
  writeAnswerCorked(): void {
    const res = this.res;
    const answer = this.answer!;
    this.status = 200;
    this.responseBytes = answer.length;
    res.writeStatus('200 OK');
    res.writeHeader('content-type', 'application/json');
    if (this.partial !== '') res.writeHeader('x-gateway-partial', this.partial);
    this.writeGatewayHeaders(200);
    this.sayClose(this.closeConnection);
    if (this.head.method === 'HEAD') {
      endWithoutBody(res, answer.length, this.closeConnection);
      this.ended = true;
      return;
    }
    if (this.closeConnection) {
      // tryEnd cannot close; the connection goes after this answer anyway.
      res.end(answer, true);
      this.ended = true;
      return;
    }
    this.answerOffset = res.getWriteOffset();
    const [, done] = res.tryEnd(answer, answer.length);
    if (done) {
      this.ended = true;
      return;
    }
    // The rest when the client reads (a slow client holds its answer, never the event loop).
    res.onWritable((offset) => this.onClientWritable(offset));
  }

  private onClientWritable(offset: number): boolean {
    if (this.ended) return true;
    const answer = this.answer!;
    const [accepted, done] = tryEndPiece(this.res, answer.subarray(offset - this.answerOffset), answer.length);
    if (done) {
      this.ended = true;
      this.finish();
    }
    return accepted;
  }

  protected override stopUpstream(): void {
    for (const c of this.calls) c.stop();
  }

  /** One count per backend call per request, with how it ended. */
  override finish(): void {
    this.answer = null;
    const calls = this.calls;
    this.calls = []; // finish may be called again: counted once
    const route = this.route!.id;
    for (const c of calls) {
      if (c.result !== 'pending') backendResults.inc(route, c.backend.as, c.result);
      c.closeSpan();
    }
    super.finish();
  }
}

export const aggregateAction: RouteAction = {
  create: (res, head, route, host) => new AggregateTransaction(res, head, route, host),
};
