/**
 * The upstream contract the gateway owns. The proxy talks to upstreams only through these
 * interfaces; an engine (native.ts, the addon's HTTP/1.1 client, or undici.ts) implements
 * UpstreamDispatcher and calls UpstreamHandler. Nothing above this file knows which engine runs.
 *
 * Why the handler keeps undici's raw-Buffer shape (status + flat [name, value, ...] Buffers)
 * rather than parsed header objects: the response-header filter compares names byte-wise and
 * hands the Buffers straight to uWS's writeHeader, so a proxied response allocates no header
 * strings or objects. undici's newer handler API would wrap our handler and parse every response's
 * headers into an object (lib/handler/unwrap-handler.js), and a native engine can hand over slices
 * of its read buffer with no copy at all.
 *
 * Lifecycle of one dispatch (the rules an engine must keep):
 *   onConnect(abort) exactly once, synchronously inside dispatch(), before anything else: `abort`
 *     cancels the request wherever it is (queued for a connection, connecting, written, streaming);
 *   then zero or more onInformational (1xx other than 100 and 101);
 *   then onHeaders once (a final status), onData for each body chunk (never an empty one), and
 *   onComplete; or
 *   onError once, at any point, instead of the rest. After onComplete or onError nothing is called.
 *   Returning false from onHeaders/onData pauses the engine until `resume()` is called.
 *   onUpstreamConnected (optional), at most once, between onConnect and the end: this attempt
 *     opened a new connection and it is up now (TCP connected; for TLS, the handshake done).
 * Handlers never throw into the engine.
 */
import type { Readable } from 'node:stream';

/**
 * A streamed request body whose chunks' memory can be used again. An engine that is done with a
 * chunk's bytes when its write call returns (the native engine: it copies what the socket does not
 * take at once) hands each chunk back with recycle(), once; an engine that keeps chunks queued
 * (undici) does not, and they are left to the garbage collector. Without it a 200 MB upload is
 * 200 MB of garbage Buffers, which V8 collects late enough for a worker's RSS to grow by 100 MB+.
 */
export interface RecyclingBody {
  recycle(chunk: Buffer): void;
}

/** The body's recycle hook, if it has one. */
export function recyclerOf(body: Readable): RecyclingBody | null {
  return typeof (body as Partial<RecyclingBody>).recycle === 'function' ? (body as unknown as RecyclingBody) : null;
}

/** The longest UpstreamRequest.responseTail an engine that prepares heads must take. */
export const RESPONSE_TAIL_LIMIT = 256;

export interface UpstreamRequest {
  readonly method: string;
  /** Path and query as the upstream receives them (origin-form). */
  readonly path: string;
  /**
   * Flat [name, value, ...]: lower-case names; values are latin1 strings whose char codes are the
   * bytes to send (so 8-bit bytes the client sent pass unchanged). Host is included. Built per
   * attempt and never mutated after dispatch.
   */
  readonly headers: readonly string[];
  /**
   * The client's header lines as bytes, sent before `headers` ("name: value\r\n" each, lower-case
   * names, filtered by the gateway: RequestHead.rawHeaders), or null/absent. Optional.
   */
  readonly rawLines?: Buffer | null;
  /** How many lines rawLines holds. */
  readonly rawLineCount?: number;
  /**
   * More lines as bytes (the gateway's forwarding headers), sent where the pair at index
   * forwardAt of `headers` would start (headers.length: after them), or null/absent. Optional.
   */
  readonly forwardLines?: Buffer | null;
  /** How many lines forwardLines holds. */
  readonly forwardLineCount?: number;
  /** The index in `headers` before which forwardLines go (even). */
  readonly forwardAt?: number;
  /**
   * null: no body; a Buffer: sent with its length; a Readable: streamed (Content-Length from
   * headers, else chunked), possibly a RecyclingBody.
   */
  readonly body: Buffer | Readable | null;
  /** From dispatch until the response head arrives (waiting for a connection and connecting included). */
  readonly headersTimeoutMs: number;
  /** Longest silence allowed while the response body arrives; 0 = none. */
  readonly bodyTimeoutMs: number;
  /**
   * Send it on a new connection, not an idle one (the keep-alive retry: the idle connection it
   * failed on was closed by the upstream, and its idle siblings may be too). Optional.
   */
  readonly fresh?: boolean;
  /**
   * Optional, for engines that prepare the response head (see UpstreamHandler.onPreparedHeaders):
   * lower-case names of response headers the route removes. The array is long-lived (one per
   * route), so an engine may cache what it derives from it by identity.
   */
  readonly dropResponseHeaders?: readonly string[] | null;
  /** The handler needs the response headers one by one (onHeaders), not a prepared head. Optional. */
  readonly rawHeaders?: boolean;
  /**
   * Optional, for engines that prepare the response head: lines the prepared head ends with
   * ("name: value" joined by CRLF, ASCII; the gateway's request id, Via and the headers its
   * plugins added before the request went out), so that the handler writes the whole head in one
   * call. An engine that prepares a head includes them or fails the request; one that does not
   * prepare heads ignores them. At most RESPONSE_TAIL_LIMIT chars.
   */
  readonly responseTail?: string;
}

/**
 * All of a request's headers as flat [name, value, ...]: its rawLines and forwardLines (parsed
 * back: for engines that take headers one by one) followed by its headers.
 */
export function headerPairs(req: UpstreamRequest): readonly string[] {
  const lines = req.rawLines ?? null;
  const forward = req.forwardLines ?? null;
  if (lines === null && forward === null) return req.headers;
  const out = lines !== null ? splitHeaderLines(lines) : [];
  const h = req.headers;
  const at = forward !== null ? req.forwardAt! : h.length;
  for (let i = 0; i < at; i++) out.push(h[i]);
  if (forward !== null) for (const v of splitHeaderLines(forward)) out.push(v);
  for (let i = at; i < h.length; i++) out.push(h[i]);
  return out;
}

/** "name: value\r\n" lines as flat [name, value, ...] (the value's bytes as latin1). */
export function splitHeaderLines(lines: Buffer): string[] {
  const text = lines.toString('latin1');
  const out: string[] = [];
  let at = 0;
  while (at < text.length) {
    const colon = text.indexOf(':', at);
    const end = text.indexOf('\r\n', colon);
    out.push(text.slice(at, colon), text.slice(colon + 2, end));
    at = end + 2;
  }
  return out;
}

/** Why an attempt failed, as the proxy, the balancer, retries and health need it. */
export type FailureKind =
  /** No connection could be made (refused, unreachable, DNS, connect timeout). Never reached the upstream. */
  | 'connect'
  /** The connection failed after the request was (possibly) written, before the response ended. */
  | 'reset'
  /** responseHeadersMs, the body idle timeout, or the wait for a free connection ran out. */
  | 'timeout'
  /** The upstream's answer broke HTTP/1.1 (bad status line, header, framing). */
  | 'protocol'
  /** The gateway cancelled it (client gone, deadline, shutdown). */
  | 'aborted'
  /** The engine refused the request itself (a bug: the front validates what the wire can carry). */
  | 'invalid';

export class UpstreamFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    /** The engine's own code (e.g. ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT), for logs. */
    readonly code: string,
    /**
     * The request went out on a connection an earlier exchange had used, and failed before any
     * response byte: the upstream may have closed it idle at that moment (a keep-alive race), so the
     * request was not processed and is safe to send again on a fresh connection.
     */
    readonly reusedConnection = false,
    /** Where the time ran out, for timeouts: waiting for a connection, or for the upstream. */
    readonly waitedForConnection = false,
  ) {
    super(message);
  }
}

export interface UpstreamHandler {
  onConnect(abort: (reason?: Error) => void): void;
  /**
   * Optional: the attempt's new connection came up (called synchronously at that moment; never
   * for a reused one). Only new connections pay for it; the proxy records it for sampled traces.
   */
  onUpstreamConnected?(): void;
  /** A 1xx response other than 100 Continue and 101 (e.g. 103 Early Hints). */
  onInformational(status: number, rawHeaders: Buffer[]): void;
  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void): boolean;
  /**
   * Optional capability. A handler that has it may get this INSTEAD of onHeaders from an engine
   * that prepares the final head itself (the native engine does, unless request.rawHeaders;
   * undici never calls it): the whole head as one buffer, ready for one uWS writeStatus(head):
   *   "<status line>\r\nname1: value1\r\nname2: value2 ... \r\nnameN: valueN"
   * where the status line is the gateway's own for `status` (errors.ts statusLine, "200 OK"), and
   * the headers are those to relay, already filtered (uWS writes "HTTP/1.1 ", the argument, CRLF,
   * verbatim; pinned by test/native/uws-verbatim.test.ts). `firstLength` is the length of name1,
   * -1 when no header is left (`head` is then the status line alone): a handler that must write
   * the status line apart (after a relayed 1xx) writes the lines as writeHeader(name1, the rest),
   * the lines starting at statusLine(status).length + 2. What the engine guarantees about the
   * bytes: every name is a token and no value holds a CR, LF, NUL or other control except HTAB
   * (the strict parser's rules), and these are removed:
   * the hop-by-hop and framing headers of response-head.ts's dropResponseHeader (Connection,
   * Keep-Alive, TE, Trailer, Upgrade, Transfer-Encoding, Content-Length, Proxy-*, Date), the names
   * the upstream's Connection header lists, and request.dropResponseHeaders. The lines end with
   * request.responseTail's, when it has one (counted in firstLength when no upstream header is left).
   * `contentLength` is the response's Content-Length (-1 when absent), as the parser read it.
   * Same pause semantics as onHeaders.
   */
  onPreparedHeaders?(status: number, head: Buffer, firstLength: number, contentLength: number, resume: () => void): boolean;
  onData(chunk: Buffer): boolean;
  /**
   * Optional, asked right after an onData that returned true: does the handler still refer to that
   * chunk's memory (it holds it for later, or passed it on to something that may)? When it does
   * not, an engine that reads straight into JS memory (the native engine) reads its next piece
   * into the same memory instead of a new Buffer. Absent: every chunk is the handler's to keep.
   */
  keptChunk?(): boolean;
  onComplete(): void;
  onError(err: UpstreamFailure): void;
}

/** Counts an engine keeps per endpoint, for /upstreams, metrics and readiness. */
export interface DispatcherStats {
  /** Open connections. */
  readonly connections: number;
  /** Requests on a connection right now. */
  readonly active: number;
  /** Requests waiting for a connection. */
  readonly queued: number;
  /** Requests that hold a connection longer than their own deadlines allow: a leak, never expected. */
  readonly stuck: number;
}

export interface UpstreamDispatcher {
  dispatch(req: UpstreamRequest, handler: UpstreamHandler): void;
  readonly stats: DispatcherStats;
  /** Stops taking requests; resolves when the in-flight ones are done and connections closed. */
  close(): Promise<void>;
}
