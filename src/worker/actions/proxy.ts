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
import { statusLine, type GatewayErrorCode } from '../../errors.js';
import type { CompiledRoute, CompiledUpstreamRoute, RouteAction } from '../../runtime/compile.js';
import type { UpstreamFailure, UpstreamHandler, UpstreamRequest } from '../../upstream/dispatch.js';
import type { OutcomeKind } from '../../upstream/cluster.js';
import { log } from '../../observability/log.js';
import { arm, timerList } from '../../util/timer-lists.js';
import { Transaction, endWithoutBody, type WorkerHost } from '../transaction.js';
import type { RequestHead } from '../head.js';
import { dropResponseHeader, nameIs, nameIsOneOf, parseContentLength, responseConnectionTokens } from '../response-head.js';

/** Response bodies up to this size are held until the end so status+headers+body go in one write. */
const COALESCE_LIMIT = 16 * 1024;

// Corked writes without a closure per call (cork runs its callback synchronously).
let corkTx: ProxyTransaction;
function writeHeadCorked(): void {
  corkTx.writeHead();
}
function completeCorked(): void {
  corkTx.completeCorked();
}
let corkChunk: Buffer;
let corkOk = true;
function writeChunkCorked(): void {
  corkOk = corkTx.writeChunkCorked(corkChunk);
}

export class ProxyTransaction extends Transaction implements UpstreamHandler {
  private readonly up: CompiledUpstreamRoute;
  private abortUpstream: ((reason?: Error) => void) | null = null;
  private dispatched = false;
  private dispatchedAt = 0;
  private attemptOpen = false;
  private rawHeaders: Buffer[] | null = null;
  /** The engine's prepared head (onPreparedHeaders): the headers to relay as one name/value pair. */
  private preparedFirst: Buffer | null = null;
  private preparedRest: Buffer | null = null;
  private prepared = false;
  /** Of the upstream response; -1 = unknown (chunked or close-delimited). */
  private contentLength = -1;
  private headersWritten = false;
  /** A 1xx was relayed: the final status line goes out with the first header. */
  private interimSent = false;
  private connectionNamed: string[] | null = null;
  /** A coalesced small body, or a chunk waiting for onWritable. */
  private pending: Buffer | null = null;
  private pendingOffset = 0;
  private resumeUpstream: (() => void) | null = null;
  private writableHooked = false;
  private upstreamPaused = false;

  constructor(res: HttpResponse, head: RequestHead, route: CompiledRoute, host: WorkerHost) {
    super(res, head, route, host, route.bodyMode);
    this.up = route.proxy!;
  }

  // ------------------------------------------------------------------ start

  override proceed(): void {
    this.accessPassed = true;
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

  /** Sends the request upstream. */
  private dispatch(): void {
    if (this.dispatched) return;
    const up = this.up;
    const ep = up.cluster.pick(this);
    if (ep === null) return this.replyError('no_healthy_upstream');
    this.dispatched = true;
    this.endpoint = ep;
    const head = this.head;
    const h = head.headers; // the plugins' edits included; frozen from here on
    h.push(
      'x-forwarded-for', head.forwardedFor,
      'x-forwarded-proto', head.forwardedProto,
      'x-forwarded-host', head.forwardedHost,
      'x-forwarded-port', head.forwardedPort,
      'x-real-ip', head.clientIp,
      'via', head.via,
    );
    if (head.trustedExtra !== null) for (const v of head.trustedExtra) h.push(v);
    const body = this.body;
    const source = body !== null ? body.source() : null;
    if (body !== null && source !== null && !(source instanceof Buffer)) {
      // A stream: the upstream needs the length unless it is chunked (then undici frames it).
      if (body.mode === 'buffer') h.push('content-length', String(body.size));
      else if (head.contentLength > 0) h.push('content-length', String(head.contentLength));
    }
    h.push('host', this.route!.preserveHost ? head.hostHeader : ep.hostHeader);
    const q = this.ctx !== null ? this.ctx.query : head.query;
    const req: UpstreamRequest = {
      method: head.method,
      path: q ? this.upstreamPath + '?' + q : this.upstreamPath,
      headers: h,
      body: source,
      headersTimeoutMs: up.responseHeadersMs,
      bodyTimeoutMs: up.idleMs,
      dropResponseHeaders: this.route!.removeResponseHeaders,
    };
    this.dispatchedAt = performance.now();
    if (up.timeoutMs > 0) arm(timerList(up.timeoutMs), this, this.dispatchedAt);
    ep.inflight++;
    this.attemptOpen = true;
    ep.dispatcher.dispatch(req, this);
  }

  // ------------------------------------------------------------------ UpstreamHandler

  onConnect(abort: (reason?: Error) => void): void {
    this.abortUpstream = abort;
  }

  onInformational(status: number, raw: Buffer[]): void {
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
    if (!this.interimSent) res.writeStatus(statusLine(status));
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

  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void): boolean {
    this.upstreamStatus = status;
    this.resumeUpstream = resume;
    this.rawHeaders = rawHeaders;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i];
      if (name.length === 14 && nameIs(name, 'content-length')) this.contentLength = parseContentLength(rawHeaders[i + 1]);
      else if (name.length === 10 && nameIs(name, 'connection')) this.connectionNamed = responseConnectionTokens(rawHeaders[i + 1]);
    }
    if (this.ended) return false;
    return true;
  }

  /**
   * The engine's prepared head (the native engine; see dispatch.ts): the same filtering as
   * writeHead's loop was done natively, the bytes are safe, one writeHeader call writes them all.
   */
  onPreparedHeaders(status: number, first: Buffer | null, rest: Buffer | null, contentLength: number, resume: () => void): boolean {
    this.upstreamStatus = status;
    this.resumeUpstream = resume;
    this.prepared = true;
    this.preparedFirst = first;
    this.preparedRest = rest;
    this.contentLength = contentLength;
    return !this.ended;
  }

  onData(chunk: Buffer): boolean {
    if (this.ended) return false;
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
    return this.writeChunk(chunk);
  }

  onComplete(): void {
    this.endAttempt('response');
    if (this.ended) return this.finish();
    corkTx = this;
    this.res.cork(completeCorked);
    if (this.ended) this.finish();
  }

  /** The end of the upstream answer (called corked). */
  completeCorked(): void {
    const res = this.res;
    const close = this.closeAfter || this.host.draining;
    if (!this.headersWritten) {
      this.writeHead();
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
      res.end(undefined, close); // closes the chunked body
      this.ended = true;
    } else if (this.pending === null) {
      this.ended = true; // tryEnd already sent the last byte
    }
    // else: the last chunk waits for onWritable, which ends the response.
  }

  onError(err: UpstreamFailure): void {
    this.endAttempt(outcomeOf(err.kind));
    if (this.ended) return this.finish();
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
    ep.inflight--;
    this.abortUpstream = null;
    this.up.cluster.report(ep, kind, this.upstreamStatus, (performance.now() - this.dispatchedAt) * 1000);
  }

  // ------------------------------------------------------------------ client response

  /** Status line and the filtered upstream headers, then the gateway's own (called corked). */
  writeHead(): void {
    const res = this.res;
    const status = this.upstreamStatus;
    this.headersWritten = true;
    this.status = status;
    if (this.prepared) {
      const first = this.preparedFirst;
      if (!this.interimSent) {
        res.writeStatus(statusLine(status));
        if (first !== null) res.writeHeader(first, this.preparedRest!);
      } else {
        // After a relayed 1xx the final status line goes out in front of the first header.
        res.writeHeader('HTTP/1.1 ' + statusLine(status) + '\r\nvia', '1.1 gateway');
        if (first !== null) res.writeHeader(first, this.preparedRest!);
      }
      this.writeGatewayHeaders(status, this.interimSent);
      return;
    }
    const raw = this.rawHeaders!;
    if (!this.interimSent) res.writeStatus(statusLine(status));
    else res.writeHeader('HTTP/1.1 ' + statusLine(status) + '\r\nvia', '1.1 gateway'); // after a relayed 1xx
    const named = this.connectionNamed;
    const removed = this.route!.removeResponseHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      if (dropResponseHeader(raw[i])) continue;
      if (named !== null && nameIsOneOf(raw[i], named)) continue;
      if (removed !== null && nameIsOneOf(raw[i], removed)) continue;
      res.writeHeader(raw[i], raw[i + 1]);
    }
    this.writeGatewayHeaders(status, this.interimSent);
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
      const [accepted, done] = res.tryEnd(chunk, this.contentLength);
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
      const [accepted, done] = this.res.tryEnd(this.pending.subarray(offset - this.pendingOffset), this.contentLength);
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
    if (this.ended) return;
    log('info', 'route timeoutMs reached', { route: this.route!.id, afterHeaders: this.headersWritten, requestId: this.head.requestId || undefined });
    if (this.headersWritten) return this.cut();
    this.replyError('upstream_timeout');
  }

  protected override onRequestTimeout(): void {
    if (this.headersWritten) return this.cut();
    super.onRequestTimeout();
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

function outcomeOf(kind: UpstreamFailure['kind']): OutcomeKind {
  switch (kind) {
    case 'connect': return 'connect-failure';
    case 'reset': return 'reset';
    case 'timeout': return 'timeout';
    case 'protocol': return 'protocol';
    case 'invalid': return 'protocol';
    case 'aborted': return 'aborted';
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
