/**
 * One proxied request: the bridge between a uWS HttpResponse (client side) and an undici
 * dispatch (upstream side). One object per request, and it is itself the undici handler
 * (methods on the prototype, no per-request closures).
 *
 * uWS rules this code lives by (docs/research/style-anchors.md §4):
 *   - `res` is dead after onAborted or after end/tryEnd completes: every write checks `ended`;
 *   - every write made outside the synchronous request handler is corked;
 *   - request-body chunks are ArrayBuffers neutered on return: copied before keeping;
 *   - `write()` returning false means "buffered, wait for onWritable": never resend;
 *     `tryEnd()` returning !ok means "not taken": retry the rest from onWritable.
 */
import type { HttpResponse } from 'uWebSockets.js';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { errorBody, statusLine, GATEWAY_ERRORS, type GatewayErrorCode } from '../errors.js';
import type { CompiledRoute } from '../config/compile.js';
import type { Target } from '../upstream/balancer.js';
import type { RequestContext } from '../plugins/context.js';
import type { LocalReply } from '../plugins/types.js';
import { runResponseHooks, type CompiledPipeline } from '../plugins/pipeline.js';
import { log } from '../observability/log.js';

export const VIA_VALUE = '1.1 gateway';

/** Request bodies up to this size (with a Content-Length) are collected, then sent in one go. */
export const BUFFERED_BODY_LIMIT = 64 * 1024;

/** Response bodies up to this size are held until the end so status+headers+body go in one write. */
const COALESCE_LIMIT = 16 * 1024;

/** Worker-wide hooks the exchange reports to (in-flight count for drain, the access log). */
export interface ExchangeHost {
  inflight: number;
  draining: boolean;
  onFinished(ex: ProxyExchange): void;
}

/** Streams a client request body into undici with backpressure on the client socket. */
class RequestBodyStream extends Readable {
  constructor(private readonly res: HttpResponse, private readonly ex: ProxyExchange) {
    super({ highWaterMark: 256 * 1024 });
  }
  override _read(): void {
    if (this.ex.clientPaused && !this.ex.ended) {
      this.ex.clientPaused = false;
      this.res.resume();
    }
  }
}

/**
 * Ends a response that has no body (HEAD, 204, 304). uWS writes `Content-Length` from its first
 * argument, so: the upstream's length for HEAD; none at all for 204/304 (a bare call is the only
 * way to get no Content-Length, and it cannot also close: in that rare case "0" is written).
 */
export function endWithoutBody(res: HttpResponse, reportedLength: number | undefined, close: boolean): void {
  if (reportedLength !== undefined) res.endWithoutBody(reportedLength, close);
  else if (!close) res.endWithoutBody();
  else res.endWithoutBody(0, true);
}

function nameIs(buf: Buffer, lower: string): boolean {
  if (buf.length !== lower.length) return false;
  for (let i = 0; i < buf.length; i++) if ((buf[i] | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** Case-insensitive match of a raw header name against lower-case names, without allocating. */
function nameIsOneOf(buf: Buffer, lowerNames: readonly string[]): boolean {
  for (let i = 0; i < lowerNames.length; i++) if (nameIs(buf, lowerNames[i])) return true;
  return false;
}

/** Hop-by-hop and framing headers of an upstream response that are not passed to the client. */
function dropResponseHeader(name: Buffer): boolean {
  switch (name.length) {
    case 2: return nameIs(name, 'te');
    case 4: return nameIs(name, 'date'); // uWS writes its own Date
    case 7: return nameIs(name, 'trailer') || nameIs(name, 'upgrade');
    case 10: return nameIs(name, 'connection') || nameIs(name, 'keep-alive');
    case 14: return nameIs(name, 'content-length');
    case 17: return nameIs(name, 'transfer-encoding');
    default:
      return name.length > 6 && (name[0] | 0x20) === 0x70 && nameIs(name.subarray(0, 6), 'proxy-');
  }
}

/** Header names listed in a Connection value, other than keep-alive/close; null when none. */
function connectionTokens(value: Buffer): string[] | null {
  const tokens = value.toString('latin1').toLowerCase().split(',').map((t) => t.trim()).filter((t) => t && t !== 'keep-alive' && t !== 'close');
  return tokens.length > 0 ? tokens : null;
}

function parseContentLength(buf: Buffer): number {
  let n = 0;
  if (buf.length === 0 || buf.length > 15) return -1;
  for (let i = 0; i < buf.length; i++) {
    const d = buf[i] - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

export class ProxyExchange implements Dispatcher.DispatchHandler {
  // --- request side
  ended = false; // res is finished or aborted: never touch it again
  aborted = false;
  clientPaused = false;
  requestBytes = 0;
  bodyBuffer: Buffer | null = null;
  bodyStream: RequestBodyStream | null = null;
  startedAt = 0;
  /** Plugin state, when the route has plugins. */
  ctx: RequestContext | null = null;
  pipeline: CompiledPipeline | null = null;
  /** The access phase is still running (async plugin): do not dispatch yet. */
  waitingForAccess = false;
  private bodyComplete = false;
  clientPath = ''; // the normalized path the client asked for (path is what the upstream gets)
  client = ''; // peer address, copied at the start (res may not be touched once ended)

  // --- upstream side
  target: Target | null = null;
  abortUpstream: ((err?: Error) => void) | null = null;
  upstreamStatus = 0;
  status = 0; // what the client got
  private rawHeaders: Buffer[] | null = null;
  private contentLength = -1; // of the upstream response, -1 = unknown (chunked/close-delimited)
  private headersWritten = false;
  private connectionNamed: string[] | null = null; // extra hop-by-hop names from the upstream's Connection
  private pending: Buffer | null = null; // coalesced body or a chunk waiting for onWritable
  private pendingOffset = 0; // write offset when `pending` was tried (tryEnd mode)
  private resumeUpstream: (() => void) | null = null;
  private writableHooked = false;
  private upstreamPaused = false;
  responseBytes = 0;

  constructor(
    readonly res: HttpResponse,
    readonly host: ExchangeHost,
    readonly route: CompiledRoute,
    readonly method: string,
    public path: string, // upstream target (path + query); set once the access phase has run
    readonly headers: string[],
    readonly requestContentLength: number, // -1 = chunked request body, 0 = none
    readonly maxBodyBytes: number,
    readonly headOnly: boolean,
  ) {
    host.inflight++;
  }

  // ---------------------------------------------------------------- client request body

  private bodyTimer: NodeJS.Timeout | null = null;

  /** Attaches onData (must run synchronously inside the uWS handler). */
  readBody(requestTimeoutMs = 0): void {
    if (requestTimeoutMs > 0) {
      // Only requests with a body pay for a timer.
      this.bodyTimer = setTimeout(() => this.onBodyTimeout(), requestTimeoutMs);
    }
    if (this.requestContentLength > 0 && this.requestContentLength <= BUFFERED_BODY_LIMIT) {
      this.bodyBuffer = Buffer.allocUnsafe(this.requestContentLength);
    } else {
      this.bodyStream = new RequestBodyStream(this.res, this);
    }
    this.res.onData((chunk, isLast) => this.onClientData(chunk, isLast));
  }

  private onBodyTimeout(): void {
    this.bodyTimer = null;
    if (this.ended || this.bodyComplete) return;
    if (this.abortUpstream !== null || this.target !== null) {
      // Already streaming upstream: stop both sides; the status may be gone already.
      this.abortUpstream?.(new Error('request body timeout'));
    }
    if (!this.headersWritten) this.replyError('request_timeout', true);
  }

  private onClientData(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.ended) return; // e.g. a body still arriving after an error answer
    if (isLast) {
      this.bodyComplete = true;
      if (this.bodyTimer !== null) {
        clearTimeout(this.bodyTimer);
        this.bodyTimer = null;
      }
    }
    const len = chunk.byteLength;
    this.requestBytes += len;
    if (this.requestBytes > this.maxBodyBytes) {
      // Only reachable for chunked bodies (a Content-Length over the limit is refused up front).
      // Answer first: destroying the stream makes undici report an error synchronously.
      this.replyError('body_too_large', true);
      this.bodyStream?.destroy();
      return;
    }
    if (this.bodyBuffer !== null) {
      if (this.requestBytes > this.bodyBuffer.length) {
        this.replyError('bad_request', true);
        return;
      }
      this.bodyBuffer.set(new Uint8Array(chunk), this.requestBytes - len);
      if (isLast && !this.waitingForAccess) this.dispatch();
      return;
    }
    const stream = this.bodyStream!;
    // The ArrayBuffer is neutered when this callback returns: copy it.
    if (len > 0 && !stream.push(Buffer.from(Buffer.from(chunk)))) {
      this.clientPaused = true;
      this.res.pause();
    }
    if (isLast) stream.push(null);
  }

  // ---------------------------------------------------------------- upstream dispatch

  /**
   * Called once the access phase has passed: dispatches now unless a buffered body is still
   * arriving (then the last body chunk dispatches).
   */
  start(): void {
    this.waitingForAccess = false;
    if (this.bodyBuffer === null || this.bodyComplete) this.dispatch();
  }

  /** Sends the request upstream. Called once the body (if buffered) is complete, or at once. */
  dispatch(): void {
    if (this.ended) return;
    const route = this.route;
    const up = route.upstream!;
    const target = up.balancer.pick();
    this.target = target;
    if (!route.preserveHost) this.headers.push('host', target.hostHeader);
    target.pool.inflight++;
    let body: Buffer | Readable | null = null;
    if (this.bodyBuffer !== null) body = this.bodyBuffer;
    else if (this.bodyStream !== null) body = this.bodyStream;
    target.pool.pool.dispatch(
      {
        path: this.path,
        method: this.method,
        headers: this.headers,
        body,
        headersTimeout: route.headersTimeoutMs,
        bodyTimeout: route.bodyTimeoutMs,
      },
      this,
    );
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.ended) {
      abort();
      return;
    }
    this.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx informational: not relayed (uWS handles 100-continue)
    this.upstreamStatus = statusCode;
    this.resumeUpstream = resume;
    this.rawHeaders = rawHeaders;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i];
      if (name.length === 14 && nameIs(name, 'content-length')) this.contentLength = parseContentLength(rawHeaders[i + 1]);
      else if (name.length === 10 && nameIs(name, 'connection')) this.connectionNamed = connectionTokens(rawHeaders[i + 1]);
    }
    if (this.ended) return false;
    // No body will follow for these: answer on onComplete.
    return true;
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
      this.res.cork(() => this.writeHead());
    }
    return this.writeChunk(chunk);
  }

  onComplete(): void {
    if (this.ended) return this.finish();
    const res = this.res;
    res.cork(() => {
      if (!this.headersWritten) {
        this.writeHead();
        if (this.headOnly || this.upstreamStatus === 204 || this.upstreamStatus === 304) {
          // HEAD keeps the upstream's Content-Length; 204/304 carry none.
          const reported = this.headOnly && this.contentLength >= 0 && this.upstreamStatus !== 204 && this.upstreamStatus !== 304 ? this.contentLength : undefined;
          endWithoutBody(res, reported, this.host.draining);
        } else {
          res.end(this.pending ?? '', this.host.draining);
          this.pending = null;
        }
        this.ended = true;
      } else if (this.contentLength < 0) {
        res.end(undefined, this.host.draining); // closes the chunked body
        this.ended = true;
      } else if (this.pending === null) {
        this.ended = true; // tryEnd already sent the last byte
      }
      // else: the last chunk waits for onWritable, which ends the response.
    });
    if (this.ended) this.finish();
  }

  onError(err: Error): void {
    if (this.ended) return this.finish();
    log('warn', 'upstream request failed', {
      route: this.route.id,
      upstream: this.target?.origin,
      error: (err as Error & { code?: string }).code ?? err.message,
      afterHeaders: this.headersWritten,
      requestId: this.ctx?.requestId || undefined,
    });
    if (this.headersWritten) {
      // Mid-body failure: the status is gone; cut the connection so the client sees the truncation.
      this.ended = true;
      this.res.close();
      this.finish();
      return;
    }
    this.replyError(classifyUpstreamError(err));
  }

  // ---------------------------------------------------------------- client response

  private writeHead(): void {
    const res = this.res;
    const raw = this.rawHeaders!;
    this.headersWritten = true;
    this.status = this.upstreamStatus;
    res.writeStatus(statusLine(this.upstreamStatus));
    const named = this.connectionNamed;
    const pipeline = this.pipeline;
    const removed = pipeline !== null ? pipeline.removeResponseHeaders : null;
    for (let i = 0; i < raw.length; i += 2) {
      if (dropResponseHeader(raw[i])) continue;
      if (named !== null && nameIsOneOf(raw[i], named)) continue;
      if (removed !== null && nameIsOneOf(raw[i], removed)) continue;
      res.writeHeader(raw[i], raw[i + 1]);
    }
    if (pipeline !== null) {
      const ctx = this.ctx!;
      runResponseHooks(pipeline, ctx, this.upstreamStatus);
      const extra = ctx.responseHeaders;
      for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i], extra[i + 1]);
    }
    res.writeHeader('via', VIA_VALUE);
  }

  /** Writes one body chunk with backpressure; returns false to pause undici. */
  private writeChunk(chunk: Buffer): boolean {
    const res = this.res;
    let ok = true;
    res.cork(() => {
      if (this.contentLength >= 0) {
        const offset = res.getWriteOffset();
        const [accepted, done] = res.tryEnd(chunk, this.contentLength);
        if (done) {
          this.ended = true;
        } else if (!accepted) {
          // Not taken in full: keep a copy (undici reuses nothing we hold, but be safe), retry later.
          this.pending = Buffer.from(chunk);
          this.pendingOffset = offset;
          ok = false;
        }
      } else {
        ok = res.write(chunk); // false = buffered by uWS; wait for drain, never resend
      }
    });
    if (this.ended) {
      return true;
    }
    if (!ok) {
      this.upstreamPaused = true;
      this.hookWritable();
    }
    return ok;
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
          queueMicrotask(() => this.resumeUpstream?.()); // let undici see the end and free the connection
        }
        this.finish();
        return true;
      }
      if (!accepted) return false;
      this.pending = null;
    }
    if (this.upstreamPaused) {
      this.upstreamPaused = false;
      // Resume after this callback returns: undici delivers buffered data synchronously on
      // resume, and a write that meets backpressure again must not happen inside onWritable.
      // (A closure only on this backpressure path, not per request.) Resume even when this
      // write finished the answer: undici must read the upstream's end to free the connection.
      queueMicrotask(() => this.resumeUpstream?.());
    }
    return true;
  }

  // ---------------------------------------------------------------- errors and end

  /** A gateway error as the whole answer (only before any upstream header was written). */
  replyError(code: GatewayErrorCode, closeConnection = false): void {
    this.replyLocal({ status: GATEWAY_ERRORS[code].status, code }, closeConnection);
  }

  /** A plugin's or the gateway's own answer, instead of the upstream's. */
  replyLocal(reply: LocalReply, closeConnection = false): void {
    if (this.ended) return;
    this.ended = true;
    this.status = reply.status;
    const res = this.res;
    // A request body still on the wire is not read: close rather than leave it to the parser.
    const close = closeConnection || this.host.draining || (this.requestContentLength !== 0 && !this.bodyComplete && this.bodyStream === null);
    res.cork(() => writeLocalReply(res, reply, close, this.ctx, this.pipeline, this.headOnly));
    this.abortUpstream?.();
    this.bodyStream?.destroy();
    this.finish();
  }

  /** Client went away: stop the upstream side and release everything. */
  onClientAborted(): void {
    this.aborted = true;
    this.ended = true;
    this.abortUpstream?.(new Error('client aborted'));
    this.bodyStream?.destroy();
    this.finish();
  }

  private finished = false;
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.bodyTimer !== null) clearTimeout(this.bodyTimer);
    if (this.target !== null) this.target.pool.inflight--;
    this.host.inflight--;
    this.host.onFinished(this);
  }
}

/** Writes a complete JSON gateway error (caller corks when outside the uWS handler). */
export function writeGatewayError(
  res: HttpResponse,
  code: GatewayErrorCode,
  closeConnection: boolean,
  extraHeaders?: ReadonlyArray<readonly [string, string]>,
  requestId?: string,
  headOnly = false,
): void {
  res.writeStatus(statusLine(GATEWAY_ERRORS[code].status));
  res.writeHeader('content-type', 'application/json');
  if (extraHeaders) for (const [k, v] of extraHeaders) res.writeHeader(k, v);
  res.writeHeader('via', VIA_VALUE);
  endBody(res, errorBody(code, requestId), closeConnection, headOnly);
}

/** Ends with a body, or, for HEAD, with its Content-Length only: a body after HEAD would be read as the next response. */
function endBody(res: HttpResponse, body: string | Buffer, close: boolean, headOnly: boolean): void {
  if (headOnly) res.endWithoutBody(typeof body === 'string' ? Buffer.byteLength(body) : body.length, close);
  else res.end(body, close);
}

/**
 * Writes a LocalReply (plugin answer or gateway error) on a route with plugins: the response
 * hooks add their headers (CORS, request id, rate-limit state) to it like to any answer.
 */
export function writeLocalReply(
  res: HttpResponse,
  reply: LocalReply,
  closeConnection: boolean,
  ctx: RequestContext | null,
  pipeline: CompiledPipeline | null,
  headOnly = false,
): void {
  if (ctx !== null && pipeline !== null) runResponseHooks(pipeline, ctx, reply.status);
  res.writeStatus(statusLine(reply.status));
  if (reply.code !== undefined) res.writeHeader('content-type', 'application/json');
  const h = reply.headers;
  if (h !== undefined) for (let i = 0; i < h.length; i += 2) res.writeHeader(h[i], h[i + 1]);
  if (ctx !== null) {
    const extra = ctx.responseHeaders;
    for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i], extra[i + 1]);
  }
  res.writeHeader('via', VIA_VALUE);
  if (reply.status === 204 || reply.status === 304) {
    endWithoutBody(res, undefined, closeConnection); // no body and no Content-Length (RFC 9110 §8.6)
    return;
  }
  const body = reply.code !== undefined ? errorBody(reply.code, ctx?.requestId || undefined, reply.message) : reply.body ?? '';
  endBody(res, body, closeConnection, headOnly);
}

/** Maps undici errors to the gateway's codes: timeouts 504, everything else 502. */
export function classifyUpstreamError(err: Error & { code?: string }): GatewayErrorCode {
  switch (err.code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'upstream_timeout';
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
    case 'UND_ERR_INFO':
      return 'upstream_bad_response';
    default:
      if (typeof err.code === 'string' && err.code.startsWith('HPE_')) return 'upstream_bad_response';
      return 'upstream_unavailable';
  }
}
