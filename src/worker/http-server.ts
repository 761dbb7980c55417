/**
 * The worker's HTTP front: one uWS catch-all handler that copies what it needs from the
 * stack-allocated request, normalizes the path, routes, checks framing, and either answers
 * (errors, `respond` routes) or hands the request to a ProxyExchange.
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { CompiledConfig, CompiledPattern } from '../config/compile.js';
import { upstreamPath } from '../config/compile.js';
import { GATEWAY_ERRORS } from '../errors.js';
import { newMatchOutput, MATCH_FOUND, MATCH_METHOD_NOT_ALLOWED } from '../native/router-types.js';
import { normalizePath } from './normalize-path.js';
import { ProxyExchange, VIA_VALUE, endWithoutBody, writeGatewayError, writeLocalReply, type ExchangeHost } from './exchange.js';
import type { CompiledRoute } from '../config/compile.js';
import { RequestContext } from '../plugins/context.js';
import { runAccess, runResponseHooks, type CompiledPipeline } from '../plugins/pipeline.js';
import type { LocalReply } from '../plugins/types.js';
import { newRequestId, SAFE_REQUEST_ID } from '../plugins/request-id.js';
import { isCorsPreflightHandler } from '../plugins/cors.js';
import type { AccessLog } from '../observability/access-log.js';
import { recordRequest } from '../observability/metrics.js';

export interface ServerState extends ExchangeHost {
  config: CompiledConfig;
  tls: boolean;
  accessLog: AccessLog | null;
}

const matchOut = newMatchOutput();

// Per-request header scan state. req.forEach is synchronous, so one module-level scratch
// object replaces a closure per request.
const scan = {
  out: [] as string[],
  contentLengthCount: 0,
  contentLength: '',
  chunked: false,
  xff: '',
  xfProto: '',
  xfHost: '',
  via: '',
  connectionTokens: null as string[] | null,
};

// hot path: change with care.
function collectHeader(k: string, v: string): void {
  switch (k) {
    case 'host':
    case 'connection':
    case 'keep-alive':
    case 'te':
    case 'trailer':
    case 'upgrade':
    case 'expect': // uWS already answered "100 Continue"; the upstream must not wait for it
      return;
    case 'transfer-encoding':
      scan.chunked = true;
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
    case 'via':
      scan.via = scan.via ? scan.via + ', ' + v : v;
      return;
  }
  if (k.length > 6 && k.startsWith('proxy-')) return;
  if (scan.connectionTokens !== null && scan.connectionTokens.includes(k)) return;
  scan.out.push(k, v);
}

function hostWithoutPort(host: string): string {
  if (host.length === 0) return host;
  let end = host.length;
  if (host.charCodeAt(0) === 0x5b) {
    // [v6]:port
    const close = host.indexOf(']');
    end = close === -1 ? host.length : close + 1;
  } else {
    const colon = host.indexOf(':');
    if (colon !== -1) end = colon;
  }
  const h = end === host.length ? host : host.slice(0, end);
  // Lower-casing allocates only when there is an upper-case letter.
  for (let i = 0; i < h.length; i++) {
    const c = h.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return h.toLowerCase();
  }
  return h;
}

function remoteAddress(res: HttpResponse): string {
  return Buffer.from(res.getRemoteAddressAsText()).toString('latin1');
}

/** The first capture pair (in matchOut.params) of the candidate pickCandidate returned last. */
let pickedParams = 0;

function picked(pattern: CompiledPattern, i: number): CompiledPattern {
  pickedParams = matchOut.candidateParams[i];
  return pattern;
}

/** Picks the first candidate whose header matches hold (the router orders them by precedence). */
function pickCandidate(cfg: CompiledConfig, req: HttpRequest): CompiledPattern | null {
  for (let i = 0; i < matchOut.candidateCount; i++) {
    const pattern = cfg.patterns[matchOut.candidates[i]];
    const hm = pattern.route.headerMatch;
    if (hm === null) return picked(pattern, i);
    let ok = true;
    for (const [name, value] of hm) {
      if (req.getHeader(name).toLowerCase() !== value) {
        ok = false;
        break;
      }
    }
    if (ok) return picked(pattern, i);
  }
  return null;
}

function parseDecimal(s: string): number {
  if (s.length === 0 || s.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** When the request being handled synchronously started (for answers given before any await). */
let requestStart = 0;

function elapsedUs(since: number): number {
  return (performance.now() - since) * 1000;
}

// hot path: change with care.
export function handleRequest(state: ServerState, res: HttpResponse, req: HttpRequest): void {
  requestStart = performance.now();
  const cfg = state.config;
  const method = req.getCaseSensitiveMethod();
  const rawPath = req.getUrl();
  const query = req.getQuery() ?? ''; // uWS gives undefined when the URL has no '?'
  const hostHeader = req.getHeader('host');

  const path = normalizePath(rawPath);
  if (path === null) return answerError(state, res, 'bad_path', method, rawPath, true, unroutedRequestId(cfg, req));

  const code = cfg.router.match(method, hostWithoutPort(hostHeader), path, matchOut);
  const pattern = code === MATCH_FOUND ? pickCandidate(cfg, req) : null;
  if (pattern === null) {
    // A CORS preflight for a route that does not list OPTIONS (see answerCorsPreflight).
    if (method === 'OPTIONS' && answerCorsPreflight(state, res, req, hostHeader, path, query)) return;
    const rid = unroutedRequestId(cfg, req);
    // 405 also when only header-matched routes had the method, none held, and the winning host
    // has no route for the method: the router then gives the Allow list on MATCH_FOUND too.
    if (code === MATCH_METHOD_NOT_ALLOWED || matchOut.allow.length !== 0) {
      return answerError(state, res, 'method_not_allowed', method, path, false, rid, ['allow', matchOut.allow.join(', ')]);
    }
    return answerError(state, res, 'not_found', method, path, false, rid);
  }
  const route = pattern.route;

  // Header scan (one pass): framing checks and the upstream header list.
  const connection = req.getHeader('connection');
  scan.out = [];
  scan.contentLengthCount = 0;
  scan.contentLength = '';
  scan.chunked = false;
  scan.xff = scan.xfProto = scan.xfHost = scan.via = '';
  scan.connectionTokens = connection.length > 0 && connection.length !== 10 && connection.length !== 5
    ? connection.toLowerCase().split(',').map((t) => t.trim())
    : null;
  req.forEach(collectHeader);

  // uWS refuses CL+TE itself; two Content-Length headers it would accept (first wins, the rest
  // of the body becomes the next request): refuse them here, and close the connection.
  if (scan.contentLengthCount > 1) return answerError(state, res, 'bad_request', method, path, true, unroutedRequestId(cfg, req));
  let contentLength = 0;
  if (scan.contentLengthCount === 1) {
    contentLength = parseDecimal(scan.contentLength);
    if (contentLength < 0) return answerError(state, res, 'bad_request', method, path, true, unroutedRequestId(cfg, req));
    if (contentLength > cfg.maxBodyBytes) return answerError(state, res, 'body_too_large', method, path, true, unroutedRequestId(cfg, req));
  } else if (scan.chunked) {
    contentLength = -1;
  }

  const peer = remoteAddress(res);
  // Client-sent X-Forwarded-* count only from trusted proxies.
  const trusted = cfg.trustsAnyProxy && cfg.isTrustedProxy(peer);
  const headers = scan.out;
  const xff = scan.xff;
  // Everything from `scan` is copied into locals now: a plugin may await, and the next request
  // reuses `scan` meanwhile.
  const fwd: ForwardingHeaders = {
    forwardedFor: trusted && xff ? xff + ', ' + peer : peer,
    forwardedProto: trusted && scan.xfProto ? scan.xfProto : state.tls ? 'https' : 'http',
    forwardedHost: trusted && scan.xfHost ? scan.xfHost : hostHeader,
    via: scan.via ? scan.via + ', ' + VIA_VALUE : VIA_VALUE,
    contentLength: contentLength > 0 ? scan.contentLength : '',
    host: route.preserveHost ? hostHeader : '',
  };
  const upstreamTarget = route.upstream !== null ? upstreamPath(pattern, path, matchOut.params, pickedParams) : '';
  const bodyPending = contentLength !== 0;
  const pipeline = route.pipeline;

  if (pipeline === null) {
    if (route.respond !== null) return answerRespond(state, res, route, null, method, path, peer, bodyPending);
    const ex = newExchange(state, res, route, method, path, query ? upstreamTarget + '?' + query : upstreamTarget, headers, contentLength, peer);
    appendForwarding(headers, fwd);
    if (bodyPending) ex.readBody(cfg.requestTimeoutMs);
    ex.start();
    return;
  }

  // A route with plugins: they see the request as it will be forwarded (minus X-Forwarded-*).
  const clientIp = trusted && xff ? clientFromForwardedFor(xff, cfg.isTrustedProxy) ?? peer : peer;
  const ctx = new RequestContext(method, path, query, hostHeader, headers, peer, clientIp, route.id);
  ctx.startedAt = requestStart;

  if (route.respond !== null) {
    const result = pipeline.access !== null ? runAccess(pipeline.access, ctx) : undefined;
    if (!isPromise(result)) {
      if (result !== undefined) return answerLocal(state, res, result, ctx, pipeline, method, path, peer, bodyPending, route.id);
      return answerRespond(state, res, route, ctx, method, path, peer, bodyPending);
    }
    const pending = { aborted: false };
    res.onAborted(() => (pending.aborted = true));
    if (bodyPending) res.onData(() => {});
    void result.then((reply) => {
      if (pending.aborted) return;
      res.cork(() => {
        if (reply !== undefined) answerLocal(state, res, reply, ctx, pipeline, method, path, peer, bodyPending, route.id);
        else answerRespond(state, res, route, ctx, method, path, peer, bodyPending);
      });
    });
    return;
  }

  const ex = newExchange(state, res, route, method, path, upstreamTarget, headers, contentLength, peer);
  ex.ctx = ctx;
  ex.pipeline = pipeline;
  const result = pipeline.access !== null ? runAccess(pipeline.access, ctx) : undefined;
  if (!isPromise(result)) {
    if (result !== undefined) {
      ex.replyLocal(result, bodyPending);
      return;
    }
    ex.path = ctx.query ? upstreamTarget + '?' + ctx.query : upstreamTarget;
    appendForwarding(headers, fwd);
    if (bodyPending) ex.readBody(cfg.requestTimeoutMs);
    ex.start();
    return;
  }
  // Async plugin (e.g. a JWKS fetch): the body starts arriving now and waits for the verdict.
  ex.waitingForAccess = true;
  if (bodyPending) ex.readBody(cfg.requestTimeoutMs);
  void result.then((reply) => {
    if (ex.ended) return; // client went away meanwhile
    if (reply !== undefined) return ex.replyLocal(reply, bodyPending);
    ex.path = ctx.query ? upstreamTarget + '?' + ctx.query : upstreamTarget;
    appendForwarding(headers, fwd);
    ex.start();
  });
}

/**
 * CORS preflights and routes that do not accept OPTIONS. The router answers 405 (or 404) for
 * OPTIONS on a route whose `methods` do not list it, before any plugin runs; but a browser
 * preflight (OPTIONS + Origin + Access-Control-Request-Method) must be answered by the CORS
 * plugin of the route the real request will reach. So on that miss only (never on the hot
 * path), the route is looked up again with the requested method; if its pipeline has a cors
 * plugin, the pipeline's access handlers run up to and including cors (requestId first, so the
 * answer carries the id), and cors answers the preflight. Auth, ip, acl never run on it.
 * Otherwise the original 404/405 stands. Returns true when the preflight was answered.
 */
function answerCorsPreflight(state: ServerState, res: HttpResponse, req: HttpRequest, hostHeader: string, path: string, query: string): boolean {
  const requested = req.getHeader('access-control-request-method');
  if (requested === '' || requested.length > 32 || req.getHeader('origin') === '') return false;
  // A preflight has no body; one that does is left to the ordinary 404/405 answer.
  const cl = req.getHeader('content-length');
  if ((cl !== '' && cl !== '0') || req.getHeader('transfer-encoding') !== '') return false;
  const cfg = state.config;
  const allow = matchOut.allow; // the 405's Allow list, kept in case this is not a preflight we answer
  const pattern = cfg.router.match(requested, hostWithoutPort(hostHeader), path, matchOut) === MATCH_FOUND ? pickCandidate(cfg, req) : null;
  const pipeline = pattern !== null ? pattern.route.pipeline : null;
  const access = pipeline !== null ? pipeline.access : null;
  const corsAt = access !== null ? access.findIndex(isCorsPreflightHandler) : -1;
  if (pattern === null || pipeline === null || access === null || corsAt === -1) {
    matchOut.allow = allow;
    return false;
  }
  const route = pattern.route;
  const headers: string[] = [];
  req.forEach((k, v) => {
    headers.push(k, v);
  });
  const peer = remoteAddress(res);
  const xff = cfg.trustsAnyProxy && cfg.isTrustedProxy(peer) ? req.getHeader('x-forwarded-for') : '';
  const clientIp = xff ? clientFromForwardedFor(xff, cfg.isTrustedProxy) ?? peer : peer;
  const ctx = new RequestContext('OPTIONS', path, query, hostHeader, headers, peer, clientIp, route.id);
  ctx.startedAt = requestStart;
  const result = runAccess(access.slice(0, corsAt + 1), ctx);
  // cors answers every preflight synchronously; anything else is not ours to finish here.
  if (result === undefined || isPromise(result)) {
    matchOut.allow = allow;
    return false;
  }
  answerLocal(state, res, result, ctx, pipeline, 'OPTIONS', path, peer, false, route.id);
  return true;
}

/** Headers the gateway sets on the forwarded request, computed before the plugins run. */
interface ForwardingHeaders {
  forwardedFor: string;
  forwardedProto: string;
  forwardedHost: string;
  via: string;
  /** The client's Content-Length ('' when none or chunked). */
  contentLength: string;
  /** The client's Host, when the route preserves it ('' otherwise). */
  host: string;
}

function appendForwarding(headers: string[], f: ForwardingHeaders): void {
  headers.push('x-forwarded-for', f.forwardedFor, 'x-forwarded-proto', f.forwardedProto, 'x-forwarded-host', f.forwardedHost, 'via', f.via);
  if (f.contentLength !== '') headers.push('content-length', f.contentLength);
  if (f.host !== '') headers.push('host', f.host);
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as Promise<T> | undefined)?.then === 'function';
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

function newExchange(
  state: ServerState,
  res: HttpResponse,
  route: CompiledRoute,
  method: string,
  path: string,
  target: string,
  headers: string[],
  contentLength: number,
  peer: string,
): ProxyExchange {
  const ex = new ProxyExchange(res, state, route, method, target, headers, contentLength, state.config.maxBodyBytes, method === 'HEAD');
  ex.client = peer;
  ex.clientPath = path;
  ex.startedAt = requestStart;
  res.onAborted(() => ex.onClientAborted());
  return ex;
}

/** A `respond` route's fixed answer (plus the plugins' response headers, when it has plugins). */
function answerRespond(
  state: ServerState,
  res: HttpResponse,
  route: CompiledRoute,
  ctx: RequestContext | null,
  method: string,
  path: string,
  peer: string,
  bodyPending: boolean,
): void {
  const r = route.respond!;
  recordRequest(route.id, r.status, elapsedUs(ctx?.startedAt ?? requestStart));
  if (state.accessLog !== null) state.accessLog.record(peer, method, path, route.id, r.status, r.body.length, ctx?.requestId);
  if (ctx !== null && route.pipeline !== null) runResponseHooks(route.pipeline, ctx, r.status);
  res.writeStatus(r.statusLine);
  for (const [k, v] of r.headers) res.writeHeader(k, v);
  if (ctx !== null) {
    const extra = ctx.responseHeaders;
    for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i], extra[i + 1]);
  }
  res.writeHeader('via', VIA_VALUE);
  // The body of such a request is not needed; close if one is still on the wire.
  const close = bodyPending || state.draining;
  if (r.status === 204 || r.status === 304) endWithoutBody(res, undefined, close);
  else if (method === 'HEAD') endWithoutBody(res, r.body.length, close); // no body after HEAD
  else res.end(r.body, close);
}

function answerLocal(
  state: ServerState,
  res: HttpResponse,
  reply: LocalReply,
  ctx: RequestContext,
  pipeline: CompiledPipeline,
  method: string,
  path: string,
  peer: string,
  bodyPending: boolean,
  routeId: string,
): void {
  recordRequest(routeId, reply.status, elapsedUs(ctx.startedAt));
  if (state.accessLog !== null) state.accessLog.record(peer, method, path, routeId, reply.status, 0, ctx.requestId, reply.code);
  writeLocalReply(res, reply, bodyPending || state.draining, ctx, pipeline, method === 'HEAD');
}

/** [header, id] for answers given before a route's plugins run, when requestId is global. */
function unroutedRequestId(cfg: CompiledConfig, req: HttpRequest): [string, string] | null {
  const header = cfg.unroutedRequestIdHeader;
  if (header === null) return null;
  const given = req.getHeader(header);
  return [header, given && SAFE_REQUEST_ID.test(given) ? given : newRequestId()];
}

function answerError(
  state: ServerState,
  res: HttpResponse,
  code: Parameters<typeof writeGatewayError>[1],
  method: string,
  path: string,
  close: boolean,
  rid: [string, string] | null,
  extra?: [string, string],
): void {
  recordRequest('', GATEWAY_ERRORS[code].status, elapsedUs(requestStart));
  if (state.accessLog !== null) state.accessLog.recordError(remoteAddress(res), method, path, code, rid?.[1]);
  const headers: Array<[string, string]> = [];
  if (extra) headers.push(extra);
  if (rid) headers.push(rid);
  const headOnly = method === 'HEAD';
  if (!close) return writeGatewayError(res, code, state.draining, headers, rid?.[1], headOnly);
  // An error that closes the connection (framing, bad path, oversized body) is answered on the
  // next tick, not now: uWS goes on parsing the bytes it already read after a synchronous
  // end(..., close), so a request smuggled behind two Content-Lengths would be served. With
  // this response still pending, uWS aborts the connection instead if more requests follow.
  const pending = { aborted: false };
  res.onAborted(() => {
    pending.aborted = true;
  });
  res.onData(() => {}); // discard whatever body is still coming
  setImmediate(() => {
    if (!pending.aborted) res.cork(() => writeGatewayError(res, code, true, headers, rid?.[1], headOnly));
  });
}

export function installHandler(app: TemplatedApp, state: ServerState): void {
  // One catch-all: the gateway's router decides, not uWS's.
  app.any('/*', (res, req) => handleRequest(state, res, req));
}
