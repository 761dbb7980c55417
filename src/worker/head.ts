/**
 * The request head: everything the gateway needs from the uWS request, copied once,
 * synchronously (uWS requests die at the first await), checked against what an upstream wire can
 * carry, and frozen into one RequestHead. Nothing reads uWS or the module scratch below after
 * readHeaders() returns, so a request whose plugins await cannot see another request's values.
 *
 * What is refused here, before any dispatch (docs/security.md has the bytes):
 *   - a method that is not an RFC 9110 token (400 bad_method); CONNECT (501 not_implemented);
 *   - a request target with a byte outside printable ASCII, a `#` (origin-form has no fragment)
 *     or, in the path, a `\` (WHATWG URL parsers behind us would read it as `/`) (400 bad_path);
 *   - a missing, empty or malformed Host (RFC 9112 §3.2, 400 bad_host);
 *   - a header value with a control byte or DEL (400 bad_header);
 *   - framing the gateway cannot be sure of: two Content-Lengths, a non-decimal one, two
 *     Transfer-Encoding lines, a Transfer-Encoding other than exactly `chunked` (400 bad_request,
 *     or 501 for a coding the gateway does not implement).
 * What is dropped: hop-by-hop headers and those named in Connection, header names with `_`
 * (unless allowed), Proxy (httpoxy), X-Original-URL / X-Rewrite-URL, and the client's
 * X-Forwarded-*, Forwarded, X-Real-IP unless the peer is a trusted proxy.
 * Header values with 8-bit bytes are forwarded byte for byte: uWS's forEach() decodes values as
 * UTF-8 (lossy), so such values are re-read with getHeader(), which returns the bytes as latin1.
 *
 * Two ways in: readHeaders reads every header through uWS (forEach, collectHeader below);
 * readForwardedHead takes the client's lines as the addon copied them from the raw head with the
 * same filter (native/uws_head.cc ForwardLines; routes whose upstreams take lines as bytes, with
 * or without plugins), which costs no JS per header. test/native/head-forward-diff.test.ts holds
 * the two to the same result.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { GatewayErrorCode } from '../errors.js';
import type { AddressMatcher } from '../net/cidr.js';
import { connectionSlot, releaseConnectionSlot } from '../native/uws-head.js';
import { takeLines, takenCount, takenLength } from './header-lines.js';
import { newTraceparent, parseTraceparent, random32 } from '../observability/trace-context.js';
import { HEAD_CONNECTION_CLOSE, HEAD_CONNECTION_HEADER, HEAD_EIGHT_BIT, HEAD_UWS_CLOSES, SEEN_TRACEPARENT, SEEN_TRACESTATE, SEEN_VIA, forwardedContentLengths, forwardedLineCount, forwardedLines, forwardedSeen } from '../native/uws-head.js';
import { performance } from 'node:perf_hooks';

export interface RequestHead {
  readonly method: string;
  /** The target's path as the client sent it (for logs). */
  readonly rawPath: string;
  /** The normalized path routes matched. */
  readonly path: string;
  /** Raw query without "?", "" when none. */
  readonly query: string;
  /** The Host header as sent (validated). */
  readonly hostHeader: string;
  /** The TCP peer. */
  readonly peer: string;
  /** The client connection it came on (null for answers given before routing). */
  readonly connection: ClientConnection | null;
  /** The client: the peer, or the nearest untrusted X-Forwarded-For hop behind trusted proxies. */
  readonly clientIp: string;
  /**
   * Headers as they will be forwarded: flat [name, value, ...], lower-case names, values as latin1
   * strings of the client's bytes; hop-by-hop and forwarding headers removed. Plugins edit it
   * (through RequestContext) during the access phase; the proxy appends the forwarding headers.
   */
  readonly headers: string[];
  /**
   * The client's forwarded header lines as bytes ("name: value\r\n" each, filtered as `headers`
   * would be), read natively from the raw head (readForwardedHead); `headers` then holds only
   * what the gateway and the plugins add (RequestContext edits the lines as bytes). null when the
   * client's are in `headers`. This request's own copy.
   */
  readonly rawHeaders: Buffer | null;
  /** Lines in rawHeaders. */
  readonly rawHeaderCount: number;
  /** Body: 0 none, -1 chunked, else its Content-Length. */
  readonly contentLength: number;
  /**
   * The connection closes after this request because of what the client sent: a Connection
   * "close" option, or a first Connection value uWS closes on (closeUnsaid).
   */
  readonly clientClose: boolean;
  /**
   * uWS closes the connection after this answer on its own (HEAD_UWS_CLOSES), and so writes no
   * `Connection: close` when the answer ends with its close flag: the gateway writes it
   * (Transaction.sayClose).
   */
  readonly closeUnsaid: boolean;
  // Forwarding values, computed from the client's headers before any plugin runs.
  readonly forwardedFor: string;
  readonly forwardedProto: string;
  readonly forwardedHost: string;
  readonly forwardedPort: string;
  readonly via: string;
  /** Forwarded / X-Forwarded-Prefix from a trusted proxy, flat [name, value, ...]; null when none. */
  readonly trustedExtra: string[] | null;
  /** Request id header (lower-case) and the id; '' when request ids are off for the route. */
  readonly requestIdHeader: string;
  readonly requestId: string;
  /** performance.now() when the handler started. */
  readonly startedAt: number;
  // W3C trace context (observability/trace-context.ts): the client's trace or a new one.
  readonly traceId: string;
  /** The client's span (the parent of the gateway's), '' for a new trace. */
  readonly parentSpanId: string;
  /** The span the upstream sees as its parent (in the forwarded traceparent). */
  readonly upstreamSpanId: string;
  /** The gateway records this request's spans (tracing is on and the trace is sampled). */
  readonly traceRecorded: boolean;
}

// ------------------------------------------------------------------------- request line, Host

/** RFC 9110 token characters (tchar) as a lookup table. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

/** '' when the method can be forwarded, else the error. */
export function checkMethod(m: string): GatewayErrorCode | '' {
  switch (m) {
    case 'GET': case 'POST': case 'PUT': case 'DELETE': case 'HEAD': case 'OPTIONS': case 'PATCH':
      return '';
    case 'CONNECT':
      return 'not_implemented'; // a tunnel, which this gateway does not offer
  }
  return isToken(m) ? '' : 'bad_method';
}

/** A query may hold any printable ASCII byte except `#`. */
export function validQuery(q: string): boolean {
  for (let i = 0; i < q.length; i++) {
    const c = q.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x23) return false;
  }
  return true;
}

/**
 * RFC 9112 §3.2 / RFC 3986 authority without userinfo: reg-name, IPv4 or [IPv6] literal, an
 * optional :port of digits. `host` is latin1 bytes (getHeader).
 */
export function validHost(host: string): boolean {
  const n = host.length;
  if (n === 0 || n > 255) return false;
  let i = 0;
  if (host.charCodeAt(0) === 0x5b) {
    const close = host.indexOf(']');
    if (close < 3) return false;
    for (let j = 1; j < close; j++) {
      const c = host.charCodeAt(j);
      const hex = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
      if (!hex && c !== 0x3a && c !== 0x2e) return false;
    }
    i = close + 1;
    if (i === n) return true;
    if (host.charCodeAt(i) !== 0x3a) return false;
  } else {
    for (; i < n; i++) {
      const c = host.charCodeAt(i);
      if (c === 0x3a) break;
      const ok =
        (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) ||
        c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e; // unreserved (sub-delims and %-escapes are not host names)
      if (!ok) return false;
    }
    if (i === 0) return false;
    if (i === n) return true;
  }
  // :port
  if (i + 1 === n || n - i - 1 > 5) return false;
  for (let j = i + 1; j < n; j++) {
    const c = host.charCodeAt(j);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** The Host without its port, lower-cased (for routing). Allocates only when it must. */
export function hostWithoutPort(host: string): string {
  let end = host.length;
  if (host.charCodeAt(0) === 0x5b) {
    const close = host.indexOf(']');
    end = close === -1 ? host.length : close + 1;
  } else {
    const colon = host.indexOf(':');
    if (colon !== -1) end = colon;
  }
  const h = end === host.length ? host : host.slice(0, end);
  for (let i = 0; i < h.length; i++) {
    const c = h.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return h.toLowerCase();
  }
  return h;
}

// ------------------------------------------------------------------------- peer address

/**
 * What the gateway keeps of one client connection: its peer address (uWS asks the kernel,
 * getpeername, and allocates an ArrayBuffer on every call: about 2 µs a request) and the last
 * forwarding lines its requests got (forwardingLines). Kept by connection slot until uWS reports
 * the connection open or closed (forgetConnection, from app.filter), which is what makes a slot
 * given again to another connection safe.
 */
export class ClientConnection {
  forwarding: ForwardingLines | null = null;
  /**
   * The gateway answered with `Connection: close`: nothing more is served on this connection.
   * uWS closes it after most such answers, not after one it did not end itself with its close
   * flag (a streamed answer ends with tryEnd, which has none); a request that arrives on it after
   * all is refused by closing the connection (front.ts), so bytes a front proxy took for the rest
   * of a body are never served as a request of their own.
   */
  closing = false;
  constructor(readonly peer: string) {}
}

/** By connection slot (connectionSlot): what is known of each open client connection. */
const connections: Array<ClientConnection | undefined> = [];

export function clientConnection(res: HttpResponse): ClientConnection {
  const slot = connectionSlot(res);
  let c = slot >= 0 ? connections[slot] : undefined;
  if (c === undefined) {
    c = new ClientConnection(Buffer.from(res.getRemoteAddressAsText()).toString('latin1'));
    if (slot >= 0) connections[slot] = c;
  }
  return c;
}

export function remoteAddress(res: HttpResponse): string {
  return clientConnection(res).peer;
}

/** uWS opened or closed a connection (app.filter): whatever was known about its slot is stale. */
export function forgetConnection(res: HttpResponse): void {
  const slot = releaseConnectionSlot(res);
  if (slot >= 0) connections[slot] = undefined;
}

/**
 * The client address behind trusted proxies: X-Forwarded-For read from the right, skipping
 * trusted hops; the first untrusted one is the client (a client can prepend anything, but it
 * cannot forge what the trusted proxies appended).
 */
export function clientFromForwardedFor(xff: string, isTrusted: (a: string) => boolean): string | null {
  const hops = xff.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i].trim();
    if (hop === '') continue;
    if (!isTrusted(hop) || i === 0) return hop;
  }
  return null;
}

// ------------------------------------------------------------------------- header scan

/** Header names listed in a Connection value other than close/keep-alive (lower-case), or null. */
export function connectionTokens(value: string): string[] | null {
  if (value.length === 0) return null;
  let out: string[] | null = null;
  for (const part of value.split(',')) {
    const t = part.trim().toLowerCase();
    if (t === '' || t === 'close' || t === 'keep-alive') continue;
    (out ??= []).push(t);
  }
  return out;
}

/**
 * Transfer-Encoding: only exactly `chunked` (case-insensitive, one header line) is accepted
 * (RFC 9112 §6.1, §6.3): '' when fine; a list whose last coding is not chunked, chunked twice, an
 * empty or malformed list, or two header lines: bad_request (the body's length cannot be
 * determined: 400 and close); other codings before a final chunked: not_implemented (501).
 */
export function checkTransferEncoding(values: readonly string[]): GatewayErrorCode | '' {
  if (values.length !== 1) return 'bad_request';
  const v = values[0];
  if (v.length === 7 && v.toLowerCase() === 'chunked') return '';
  const parts = v.split(',').map((p) => p.trim().toLowerCase());
  if (parts.some((p) => !isToken(p))) return 'bad_request';
  if (parts[parts.length - 1] !== 'chunked') return 'bad_request';
  if (parts.indexOf('chunked') !== parts.length - 1) return 'bad_request';
  return 'not_implemented';
}

/** Strict decimal Content-Length; -1 if malformed. */
export function parseDecimal(s: string): number {
  if (s.length === 0 || s.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * Per-request scan state. req.forEach is synchronous, so one module-level scratch object
 * replaces a closure per request; readHeaders() copies out of it before returning.
 */
const scan = {
  out: [] as string[],
  contentLengthCount: 0,
  contentLength: '',
  transferEncoding: [] as string[],
  xff: '',
  xfProto: '',
  xfHost: '',
  xfPort: '',
  xfPrefix: '',
  forwarded: '',
  via: '',
  connectionTokens: null as string[] | null,
  allowUnderscores: false,
  traceparent: '',
  tracestate: '',
};

// hot path: change with care. (The bytes of every value were checked natively: front.ts checkHiddenHead.)
function collectHeader(k: string, v: string): void {
  switch (k) {
    case 'host':
    case 'connection':
    case 'keep-alive':
    case 'te':
    case 'trailer':
    case 'upgrade':
    case 'proxy': // httpoxy: never an upstream's business
    case 'expect': // uWS already answered "100 Continue"; the upstream must not wait for it
    case 'x-original-url': // path overrides some frameworks honour: a way around the route's plugins
    case 'x-rewrite-url':
    case 'x-real-ip': // set by the gateway
      return;
    case 'transfer-encoding':
      scan.transferEncoding.push(v);
      return;
    case 'content-length':
      scan.contentLengthCount++;
      scan.contentLength = v;
      return;
    case 'x-forwarded-for':
      scan.xff = scan.xff ? scan.xff + ', ' + v : v;
      return;
    case 'x-forwarded-proto':
      scan.xfProto = v;
      return;
    case 'x-forwarded-host':
      scan.xfHost = v;
      return;
    case 'x-forwarded-port':
      scan.xfPort = v;
      return;
    case 'x-forwarded-prefix':
      scan.xfPrefix = v;
      return;
    case 'forwarded':
      scan.forwarded = scan.forwarded ? scan.forwarded + ', ' + v : v;
      return;
    case 'via':
      scan.via = scan.via ? scan.via + ', ' + v : v;
      return;
    case 'traceparent': // replaced by the gateway's; two of them are invalid (a new trace)
      scan.traceparent = scan.traceparent === '' ? v : 'invalid';
      return;
    case 'tracestate':
      scan.tracestate = scan.tracestate ? scan.tracestate + ',' + v : v;
      return;
  }
  if (k.length > 6 && k.charCodeAt(5) === 0x2d && k.startsWith('proxy-')) return;
  // Underscore twins (X_Forwarded_For) are read as the dashed names by CGI-style upstreams.
  if (!scan.allowUnderscores && k.indexOf('_') !== -1) return;
  if (scan.connectionTokens !== null && scan.connectionTokens.includes(k)) return;
  scan.out.push(k, v);
}

/** Re-reads values that had 8-bit bytes as the client's bytes; false if one cannot be (a repeated name). */
function fixEightBitValues(req: HttpRequest, out: string[]): boolean {
  for (let i = 0; i < out.length; i += 2) {
    const v = out[i + 1];
    let eight = false;
    for (let j = 0; j < v.length; j++) {
      if (v.charCodeAt(j) >= 0x80) {
        eight = true;
        break;
      }
    }
    if (!eight) continue;
    const name = out[i];
    for (let j = 0; j < out.length; j += 2) if (j !== i && out[j] === name) return false; // getHeader sees the first only
    out[i + 1] = req.getHeader(name);
  }
  return true;
}

export interface HeadContext {
  readonly isTrustedProxy: AddressMatcher;
  readonly trustsAnyProxy: boolean;
  readonly allowUnderscores: boolean;
  readonly tls: boolean;
  readonly listenPort: string;
  readonly maxBodyBytes: number;
  /** `tracing` is configured: its sampleRatio for new traces; -1 when tracing is off (nothing recorded). */
  readonly traceSampleRatio: number;
}

export interface ScanResult {
  error: GatewayErrorCode | '';
  head: RequestHead | null;
}

/**
 * Reads the headers of a routed request into its head, or says why it is refused. `requestId` is
 * the id header for the route ('' for none); `client` is the request's connection (clientConnection). Only
 * called synchronously in the uWS handler.
 */
// hot path: change with care.
export function readHeaders(
  req: HttpRequest,
  client: ClientConnection,
  hc: HeadContext,
  method: string,
  rawPath: string,
  path: string,
  query: string,
  hostHeader: string,
  requestIdHeader: string,
  newId: () => string,
  startedAt: number,
  /**
   * The native head scan's flags (src/native/uws-head.ts): values with a byte >= 0x80 are re-read
   * as bytes, a Connection "close" option closes, and Connection is read only when there is one.
   */
  headFlags: number,
): RequestHead | GatewayErrorCode {
  const eightBit = (headFlags & HEAD_EIGHT_BIT) !== 0;
  const clientClose = (headFlags & (HEAD_CONNECTION_CLOSE | HEAD_UWS_CLOSES)) !== 0;
  const connection = (headFlags & HEAD_CONNECTION_HEADER) !== 0 ? req.getHeader('connection') : '';
  scan.out = [];
  scan.contentLengthCount = 0;
  scan.contentLength = '';
  if (scan.transferEncoding.length !== 0) scan.transferEncoding = [];
  scan.xff = scan.xfProto = scan.xfHost = scan.xfPort = scan.xfPrefix = scan.forwarded = scan.via = scan.traceparent = scan.tracestate = '';
  scan.connectionTokens = connection === '' || connection === 'keep-alive' || connection === 'close' ? null : connectionTokens(connection);
  scan.allowUnderscores = hc.allowUnderscores;
  req.forEach(collectHeader);

  let contentLength = 0;
  if (scan.transferEncoding.length > 0) {
    // uWS refuses Content-Length with Transfer-Encoding itself; refuse it here too, whatever uWS does.
    if (scan.contentLengthCount > 0) return 'bad_request';
    const te = checkTransferEncoding(scan.transferEncoding);
    if (te !== '') return te;
    contentLength = -1;
  } else if (scan.contentLengthCount > 1) {
    // Two Content-Lengths uWS would accept (first wins, the rest of the body becomes the next request).
    return 'bad_request';
  } else if (scan.contentLengthCount === 1) {
    const length = bodyLength(scan.contentLength, hc);
    if (typeof length === 'string') return length;
    contentLength = length;
  }
  const out = scan.out;
  if (eightBit && !fixEightBitValues(req, out)) return 'bad_header';
  return finishHead(client, hc, method, rawPath, path, query, hostHeader, out, null, 0, contentLength, clientClose, (headFlags & HEAD_UWS_CLOSES) !== 0, requestIdHeader, undefined, newId, startedAt);
}

/** A Content-Length value as the body's length, or why it is refused. */
function bodyLength(value: string, hc: HeadContext): number | GatewayErrorCode {
  const n = parseDecimal(value);
  if (n < 0) return 'bad_request';
  if (n > hc.maxBodyBytes) return 'body_too_large';
  return n;
}

/**
 * readHeaders for a head inspectHead forwarded natively (HEAD_FORWARD_READY: none of the cases
 * native/uws_head.cc leaves to JS) on a route whose upstreams take lines as bytes: the client's
 * lines are taken as bytes, and only the few values the gateway reads are read through uWS.
 * Plugins see them through RequestContext, which parses them only when asked.
 */
// hot path: change with care.
export function readForwardedHead(
  req: HttpRequest,
  client: ClientConnection,
  hc: HeadContext,
  method: string,
  rawPath: string,
  path: string,
  query: string,
  hostHeader: string,
  requestIdHeader: string,
  newId: () => string,
  startedAt: number,
  headFlags: number,
): RequestHead | GatewayErrorCode {
  let contentLength = 0;
  if (forwardedContentLengths() !== 0) {
    const length = bodyLength(req.getHeader('content-length'), hc);
    if (typeof length === 'string') return length;
    contentLength = length;
  }
  const seen = forwardedSeen();
  // Forwarding headers get here only when no peer is trusted (FORWARD_TRUSTS_PROXIES leaves such
  // heads to readHeaders): the addon dropped them, and they count for nothing.
  scan.xff = scan.xfProto = scan.xfHost = scan.xfPort = scan.xfPrefix = scan.forwarded = '';
  scan.via = (seen & SEEN_VIA) !== 0 ? req.getHeader('via') : '';
  scan.traceparent = (seen & SEEN_TRACEPARENT) !== 0 ? req.getHeader('traceparent') : '';
  scan.tracestate = (seen & SEEN_TRACESTATE) !== 0 ? req.getHeader('tracestate') : '';
  let lines = forwardedLines();
  let lineCount = lines === null ? 0 : forwardedLineCount();
  let givenId: string | undefined;
  if (requestIdHeader !== '' && lines !== null) {
    // The client's id lines are the gateway's to replace: taken out of the bytes (every copy).
    givenId = takeLines(lines, lines.length, lineCount, requestIdHeader);
    if (givenId !== undefined) {
      lineCount = takenCount();
      lines = lineCount === 0 ? null : lines.subarray(0, takenLength());
    }
  }
  const clientClose = (headFlags & (HEAD_CONNECTION_CLOSE | HEAD_UWS_CLOSES)) !== 0;
  return finishHead(client, hc, method, rawPath, path, query, hostHeader, [], lines, lineCount, contentLength, clientClose, (headFlags & HEAD_UWS_CLOSES) !== 0, requestIdHeader, givenId, newId, startedAt);
}

/**
 * The part of reading a head both ways share: the peer and the forwarding values (from `scan`),
 * the request id, the trace context, and the RequestHead itself. `out` is the headers array
 * (the client's, or only the gateway's when `rawLines` holds the client's).
 */
function finishHead(
  client: ClientConnection,
  hc: HeadContext,
  method: string,
  rawPath: string,
  path: string,
  query: string,
  hostHeader: string,
  out: string[],
  rawLines: Buffer | null,
  rawLineCount: number,
  contentLength: number,
  clientClose: boolean,
  closeUnsaid: boolean,
  requestIdHeader: string,
  /** The client's id when its lines were taken out of rawLines (readForwardedHead), else undefined. */
  givenId: string | undefined,
  newId: () => string,
  startedAt: number,
): RequestHead {
  const peer = client.peer;
  // Client-sent forwarding headers count only from trusted proxies.
  const trusted = hc.trustsAnyProxy && hc.isTrustedProxy(peer);
  const xff = scan.xff;
  const clientIp = trusted && xff ? clientFromForwardedFor(xff, hc.isTrustedProxy) ?? peer : peer;
  let trustedExtra: string[] | null = null;
  if (trusted && (scan.forwarded !== '' || scan.xfPrefix !== '')) {
    trustedExtra = [];
    if (scan.forwarded !== '') trustedExtra.push('forwarded', scan.forwarded);
    if (scan.xfPrefix !== '') trustedExtra.push('x-forwarded-prefix', scan.xfPrefix);
  }
  let requestId = '';
  if (requestIdHeader !== '') {
    // A client-sent id is kept only if it is short and plain (it ends up in logs and headers);
    // the upstream gets the one id, whatever copies the client sent.
    let given = givenId;
    for (let i = out.length - 2; i >= 0; i -= 2) {
      if (out[i] === requestIdHeader) {
        given = out[i + 1];
        out.splice(i, 2);
      }
    }
    requestId = given !== undefined && SAFE_REQUEST_ID.test(given) ? given : newId();
    out.push(requestIdHeader, requestId);
  }
  // Trace context: the client's trace when its traceparent is valid (its sampled decision is
  // followed), else a new one (sampled at traceSampleRatio when tracing is on).
  const parent = scan.traceparent !== '' ? parseTraceparent(scan.traceparent) : null;
  const ratio = hc.traceSampleRatio;
  const sampled = parent !== null ? parent.sampled : ratio > 0 && random32() < ratio * 4294967296;
  const traceparent = newTraceparent(parent !== null ? parent.traceId : null, sampled);
  const traceId = traceparent.slice(3, 35);
  const upstreamSpanId = traceparent.slice(36, 52);
  out.push('traceparent', traceparent);
  if (parent !== null && scan.tracestate !== '') out.push('tracestate', scan.tracestate);
  return {
    method,
    rawPath,
    path,
    query,
    hostHeader,
    peer,
    connection: client,
    clientIp,
    headers: out,
    rawHeaders: rawLines,
    rawHeaderCount: rawLineCount,
    contentLength,
    clientClose,
    closeUnsaid,
    forwardedFor: trusted && xff ? xff + ', ' + peer : peer,
    forwardedProto: trusted && scan.xfProto ? scan.xfProto : hc.tls ? 'https' : 'http',
    forwardedHost: trusted && scan.xfHost ? scan.xfHost : hostHeader,
    forwardedPort: trusted && scan.xfPort ? scan.xfPort : hc.listenPort,
    via: scan.via ? scan.via + ', ' + VIA : VIA,
    trustedExtra,
    requestIdHeader,
    requestId,
    startedAt,
    traceId,
    parentSpanId: parent !== null ? parent.spanId : '',
    upstreamSpanId,
    traceRecorded: sampled && ratio >= 0,
  };
}

const VIA = '1.1 gateway';

/**
 * The forwarding headers every request the gateway sends upstream carries (a proxied request, a
 * relayed WebSocket upgrade), appended to `h` (the head's headers after the plugins' edits).
 */
export function appendForwardingHeaders(head: RequestHead, h: string[]): void {
  h.push(
    'x-forwarded-for', head.forwardedFor,
    'x-forwarded-proto', head.forwardedProto,
    'x-forwarded-host', head.forwardedHost,
    'x-forwarded-port', head.forwardedPort,
    'x-real-ip', head.clientIp,
    'via', head.via,
  );
  if (head.trustedExtra !== null) for (const v of head.trustedExtra) h.push(v);
}

/** The forwarding headers of a request as serialized lines, and the values they were made of. */
export interface ForwardingLines {
  /** "x-forwarded-for: ...\r\n" ... "via: ...\r\n" (the names and order of appendForwardingHeaders). */
  readonly bytes: Buffer;
  readonly count: number;
  readonly forwardedFor: string;
  readonly forwardedProto: string;
  readonly forwardedHost: string;
  readonly forwardedPort: string;
  readonly clientIp: string;
  readonly via: string;
}

/**
 * The forwarding headers of `head` as serialized lines, for engines that write lines as they are
 * (UpstreamRequest.forwardLines). The requests of one connection nearly always get the same ones
 * (same peer, Host, Via), so the last lines are kept on the connection and reused while every
 * value is the same: a comparison of six short strings instead of serializing ~150 bytes.
 */
// hot path: change with care.
export function forwardingLines(head: RequestHead): ForwardingLines {
  const c = head.connection;
  const f = c !== null ? c.forwarding : null;
  if (
    f !== null && head.trustedExtra === null && f.forwardedHost === head.forwardedHost && f.forwardedFor === head.forwardedFor &&
    f.clientIp === head.clientIp && f.via === head.via && f.forwardedProto === head.forwardedProto && f.forwardedPort === head.forwardedPort
  ) {
    return f;
  }
  const h: string[] = [];
  appendForwardingHeaders(head, h);
  let text = '';
  for (let i = 0; i < h.length; i += 2) text += h[i] + ': ' + h[i + 1] + '\r\n';
  const made: ForwardingLines = {
    bytes: Buffer.from(text, 'latin1'),
    count: h.length >> 1,
    forwardedFor: head.forwardedFor,
    forwardedProto: head.forwardedProto,
    forwardedHost: head.forwardedHost,
    forwardedPort: head.forwardedPort,
    clientIp: head.clientIp,
    via: head.via,
  };
  // A trusted proxy's Forwarded / X-Forwarded-Prefix vary by request: not kept.
  if (c !== null && head.trustedExtra === null) c.forwarding = made;
  return made;
}

// A client-sent id is kept only if it is short and plain (it ends up in logs and headers).
export const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * A head for answers given before routing (404, 405, request-line errors): what the access log
 * and the request-id echo need.
 */
export function unroutedHead(method: string, rawPath: string, path: string, hostHeader: string, peer: string, requestIdHeader: string, requestId: string, contentLength: number, headFlags: number, startedAt: number): RequestHead {
  return {
    method, rawPath, path, query: '', hostHeader, peer, connection: null, clientIp: peer, headers: [], rawHeaders: null, rawHeaderCount: 0, contentLength,
    clientClose: (headFlags & (HEAD_CONNECTION_CLOSE | HEAD_UWS_CLOSES)) !== 0,
    closeUnsaid: (headFlags & HEAD_UWS_CLOSES) !== 0,
    forwardedFor: '', forwardedProto: '', forwardedHost: '', forwardedPort: '', via: '', trustedExtra: null,
    requestIdHeader, requestId, startedAt,
    traceId: '', parentSpanId: '', upstreamSpanId: '', traceRecorded: false,
  };
}
