/**
 * The worker's HTTP front: one uWS catch-all handler. For every request, in this order:
 *   1. the request line and Host are checked (head.ts);
 *   2. the path is normalized and routed (the native router; 404 / 405 here). CORS preflights
 *      are routing too: routes whose plugins answer them have preflight-only OPTIONS patterns
 *      (src/runtime/compile.ts, PreflightOnly), taken only for a real preflight;
 *   3. the headers are read into the request's head (head.ts): on a route whose upstreams take
 *      lines as bytes, the client's lines as the addon copied them from the raw head in step 1
 *      (when the head holds nothing the copy leaves to JS; plugins read them through
 *      RequestContext, as bytes), else one by one through uWS; the transaction is created by
 *      the route's action (which attaches onAborted and onData now, as uWS requires);
 *   4. the access phase runs, synchronously while every plugin is synchronous, else once its
 *      promise settles (one place for both);
 *   5. the action proceeds: respond, proxy, or aggregate (a WebSocket upgrade: relay,
 *      src/worker/websocket.ts).
 * Every answer, including the errors of steps 1-3, goes through a Transaction, so every request
 * is counted, logged, and waited for by drain.
 */
import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t } from 'uWebSockets.js';
import type { CompiledConfig, CompiledPattern } from '../runtime/compile.js';
import { backendPaths, upstreamPath } from '../runtime/compile.js';
import type { GatewayErrorCode } from '../errors.js';
import { newMatchOutput, MATCH_FOUND, MATCH_METHOD_NOT_ALLOWED } from '../native/router-types.js';
import { RequestContext, openToModules } from '../plugins/context.js';
import { normalizePath } from './normalize-path.js';
import { SAFE_REQUEST_ID, checkMethod, clientConnection, forgetConnection, hostWithoutPort, parseDecimal, readForwardedHead, readHeaders, remoteAddress, unroutedHead, validHost, validQuery } from './head.js';
import { newRequestId } from './request-id.js';
import { counter } from '../observability/metrics.js';
import { Transaction, runAccessPhase, type WorkerHost } from './transaction.js';
import { createUpgrade } from './actions/websocket.js';
import { HEAD_CONTROL, HEAD_EDGE_8BIT, HEAD_EMPTY_NAME, HEAD_FORWARD_READY, HEAD_UNTERMINATED, HEAD_VERIFIED, forwardedLineCount, inspectHead } from '../native/uws-head.js';
import { log } from '../observability/log.js';
import { performance } from 'node:perf_hooks';

const matchOut = newMatchOutput();
/** A header name as bytes: uWS converts a string argument to UTF-8 in a fresh allocation per call. */
const HOST = Buffer.from('host', 'latin1');

/**
 * The fewest client lines for which a route with plugins takes them as bytes. Plugins look lines
 * up (a Buffer search each) where readHeaders made strings of them one by one: for a short head
 * the strings cost less (one worker, pinned, an HS256 JWT route and its two-line head: ~0.7 µs of
 * user CPU more as bytes), for a browser's 15 lines the bytes ~2 µs less (an apiKey route).
 */
const PLUGIN_LINES_AS_BYTES = 6;

/**
 * The last valid Host header and its routing form (hostWithoutPort): a client's requests, and
 * most clients', carry the same one, so a comparison replaces the check and the slice. Only a
 * Host that passed validHost is ever kept ('' until then, and '' is never valid).
 */
let lastHost = '';
let lastRoutingHost = '';

/** The first capture pair (in matchOut.params) of the candidate pickCandidate returned last. */
let pickedParams = 0;

function picked(pattern: CompiledPattern, i: number): CompiledPattern {
  pickedParams = matchOut.candidateParams[i];
  return pattern;
}

/** A preflight-only pattern pickCandidate passed over (not a preflight): its 405 is the answer. */
let refusedPreflight: CompiledPattern | null = null;

function headersHold(pattern: CompiledPattern, req: HttpRequest): boolean {
  const hm = pattern.route.headerMatch;
  if (hm === null) return true;
  for (const [name, value] of hm) {
    if (req.getHeader(name).toLowerCase() !== value) return false;
  }
  return true;
}

/**
 * A preflight the pattern's route answers: OPTIONS (the only method of preflight-only
 * patterns) with Origin and an Access-Control-Request-Method the route accepts, without a body.
 */
function isPreflightFor(pattern: CompiledPattern, req: HttpRequest): boolean {
  const requested = req.getHeader('access-control-request-method');
  if (requested === '' || requested.length > 32 || req.getHeader('origin') === '') return false;
  const cl = req.getHeader('content-length');
  if ((cl !== '' && cl !== '0') || req.getHeader('transfer-encoding') !== '') return false;
  return pattern.preflight!.methods.has(requested);
}

/**
 * Picks the first candidate whose header matches hold (the router orders them by precedence).
 * Preflight-only patterns come after every ordinary candidate: one is taken only when no
 * ordinary candidate holds and the request is a preflight for its route.
 */
function pickCandidate(cfg: CompiledConfig, req: HttpRequest): CompiledPattern | null {
  let preflight = -1;
  refusedPreflight = null;
  for (let i = 0; i < matchOut.candidateCount; i++) {
    const pattern = cfg.patterns[matchOut.candidates[i]];
    if (pattern.preflight !== null) {
      if (preflight === -1 && headersHold(pattern, req)) {
        if (isPreflightFor(pattern, req)) preflight = i;
        else if (refusedPreflight === null) refusedPreflight = pattern;
      }
      continue;
    }
    if (headersHold(pattern, req)) return picked(pattern, i);
  }
  if (preflight !== -1) return picked(cfg.patterns[matchOut.candidates[preflight]], preflight);
  return null;
}

const refusedOnClosingConnection = counter(
  'gateway_requests_refused_on_closing_connection_total',
  'Requests that arrived on a connection the gateway had answered with Connection: close, refused by closing it (docs/security.md #19).',
);

// hot path: change with care.
export function handleRequest(host: WorkerHost, res: HttpResponse, req: HttpRequest, upgrade: us_socket_context_t | null = null): void {
  const startedAt = performance.now();
  const connection = clientConnection(res);
  if (connection.closing) {
    // Answered with Connection: close already, and uWS kept it open: never a second answer.
    refusedOnClosingConnection.inc();
    res.close();
    return;
  }
  headFlags = 0; // nothing known yet of this head (the request line is checked first)
  const cfg = host.config;
  const method = req.getCaseSensitiveMethod();
  const rawPath = req.getUrl();
  const rawQuery = req.getQuery(); // undefined when the target has no '?'
  const query = rawQuery ?? '';
  const hostHeader = req.getHeader(HOST); // latin1: the bytes as sent

  let err: GatewayErrorCode | '' = checkMethod(method);
  const path = err === '' ? normalizePath(rawPath) : null;
  if (err === '' && (path === null || (query !== '' && !validQuery(query)))) err = 'bad_path';
  if (err === '') err = checkHiddenHead(req, method, rawPath, rawQuery, cfg.maxHeaderBytes, cfg.forwardOptions);
  if (err === '' && (hostHeader.length === 0 || hostHeader !== lastHost)) {
    if (validHost(hostHeader)) {
      lastHost = hostHeader;
      lastRoutingHost = hostWithoutPort(hostHeader);
    } else {
      err = 'bad_host';
    }
  }
  if (err !== '') return answerEarly(host, res, req, err, true, method, rawPath, rawPath, hostHeader, startedAt);

  const code = cfg.router.match(method, lastRoutingHost, path!, matchOut);
  const pattern = code === MATCH_FOUND ? pickCandidate(cfg, req) : null;
  if (pattern === null) {
    // OPTIONS that is not a preflight, on a route that does not list OPTIONS: the route's 405.
    if (code === MATCH_FOUND && refusedPreflight !== null) {
      return answerEarly(host, res, req, 'method_not_allowed', false, method, rawPath, path!, hostHeader, startedAt, ['allow', refusedPreflight.preflight!.allow]);
    }
    // 405 also when only header-matched routes had the method, none held, and the winning host
    // has no route for the method: the router then gives the Allow list on MATCH_FOUND too.
    if (code === MATCH_METHOD_NOT_ALLOWED || matchOut.allow.length !== 0) {
      return answerEarly(host, res, req, 'method_not_allowed', false, method, rawPath, path!, hostHeader, startedAt, ['allow', matchOut.allow.join(', ')]);
    }
    return answerEarly(host, res, req, 'not_found', false, method, rawPath, path!, hostHeader, startedAt);
  }
  const route = pattern.route;

  // The client's lines as the addon copied them, where the route allows and the head is plain;
  // on a route with plugins only for a head of some size (below).
  const head =
    upgrade === null && route.forwardsLines && (headFlags & HEAD_FORWARD_READY) !== 0 && (route.pipeline === null || forwardedLineCount() >= PLUGIN_LINES_AS_BYTES)
      ? readForwardedHead(req, connection, cfg, method, rawPath, path!, query, hostHeader, route.requestIdHeader, newRequestId, startedAt, headFlags)
      : readHeaders(req, connection, cfg, method, rawPath, path!, query, hostHeader, route.requestIdHeader, newRequestId, startedAt, headFlags);
  if (typeof head === 'string') return answerEarly(host, res, req, head, true, method, rawPath, path!, hostHeader, startedAt);

  // A WebSocket upgrade (src/worker/websocket.ts) is its own action on every route.
  const tx = upgrade === null ? route.action.create(res, head, route, host) : createUpgrade(res, head, route, host, upgrade);
  if (route.proxy !== null) tx.upstreamPath = upstreamPath(pattern, path!, matchOut.params, pickedParams);
  else if (pattern.backendPaths !== null) tx.backendPaths = backendPaths(pattern.backendPaths, path!, matchOut.params, pickedParams);
  const pipeline = route.pipeline;
  if (pipeline === null) return tx.proceed();
  const ctx = new RequestContext(method, path!, query, hostHeader, head.headers, head.peer, head.clientIp, route.id, head.rawHeaders, head.rawHeaderCount);
  ctx.startedAt = startedAt;
  ctx.requestId = head.requestId;
  const fixed = pipeline.fixedResponseHeaders;
  if (fixed !== null) for (let i = 0; i < fixed.length; i++) ctx.responseHeaders.push(fixed[i]);
  if (pipeline.modules) openToModules(ctx, pattern.paramNames, path!, matchOut.params, pickedParams);
  tx.ctx = ctx;
  if (pipeline.access === null) return tx.proceed();
  runAccessPhase(tx, pipeline.access, ctx);
}

/**
 * What uWS does not show of the head (native/uws_head.cc): an empty header name would hide the
 * headers after it (a Content-Length among them would turn the body into a second request), and
 * 8-bit bytes at a value's edges are trimmed by uWS, so the value cannot be forwarded as sent.
 */
function checkHiddenHead(req: HttpRequest, method: string, rawPath: string, rawQuery: string | undefined, maxHeaderBytes: number, forwardOptions: number): GatewayErrorCode | '' {
  const targetLength = rawQuery === undefined ? rawPath.length : rawPath.length + 1 + rawQuery.length;
  headFlags = inspectHead(req, method.length, targetLength, maxHeaderBytes + 1024, forwardOptions);
  if ((headFlags & ~HEAD_FORWARD_READY) === HEAD_VERIFIED) return '';
  if (headFlags < 0 || (headFlags & HEAD_UNTERMINATED) !== 0) {
    // The addon cannot read this uWS build's request memory: refuse rather than guess.
    layoutMismatch();
    return 'internal_error';
  }
  if ((headFlags & (HEAD_EMPTY_NAME | HEAD_EDGE_8BIT | HEAD_CONTROL)) !== 0) return 'bad_header';
  return ''; // 8-bit bytes inside values: readHeaders re-reads those values as bytes
}

/** The flags of the head being handled (set by checkHiddenHead, read synchronously after it). */
let headFlags = 0;

let mismatchLogged = false;
function layoutMismatch(): void {
  if (mismatchLogged) return;
  mismatchLogged = true;
  log('error', 'the request head inspector does not recognise this uWebSockets.js build\'s memory layout; every request is refused (see native/uws_head.cc)');
}

/**
 * An answer given before the request has a route's transaction: request-line errors, 404, 405,
 * refused headers. Still a Transaction: counted, logged, drained, with the global request id.
 */
function answerEarly(
  host: WorkerHost,
  res: HttpResponse,
  req: HttpRequest,
  code: GatewayErrorCode,
  close: boolean,
  method: string,
  rawPath: string,
  path: string,
  hostHeader: string,
  startedAt: number,
  extra?: [string, string],
): void {
  const cfg = host.config;
  const ridHeader = cfg.unroutedRequestIdHeader;
  let rid = '';
  if (ridHeader !== '') {
    const given = req.getHeader(ridHeader);
    rid = given !== '' && SAFE_REQUEST_ID.test(given) ? given : newRequestId();
  }
  // The body, if any, is read and dropped; a chunked one (uWS's lenient decoder) closes the connection.
  const te = req.getHeader('transfer-encoding');
  const clText = req.getHeader('content-length');
  const cl = clText === '' ? 0 : parseDecimal(clText);
  const length = te !== '' ? -1 : cl > 0 ? cl : 0;
  // headFlags is 0 when the request line was refused before the head scan: then the answer closes anyway.
  const head = unroutedHead(method, rawPath, path, hostHeader, remoteAddress(res), ridHeader, rid, length, headFlags, startedAt);
  const tx = new Transaction(res, head, null, host, 'discard');
  tx.replyError(code, close || cl < 0, extra);
}

/** Client connections open now (uWS's filter: +1 on open, -1 on close), for the metrics. */
let clientConnections = 0;
export function openClientConnections(): number {
  return clientConnections;
}

export function installHandler(app: TemplatedApp, host: WorkerHost): void {
  // One catch-all: the gateway's router decides, not uWS's.
  app.any('/*', (res, req) => handleRequest(host, res, req));
  // Per-connection facts (the peer address) are dropped whenever uWS opens or closes a connection.
  app.filter((res, count) => {
    forgetConnection(res);
    clientConnections += count as number;
    if (host.draining) host.onDrainConnection((count as number) > 0);
  });
}
