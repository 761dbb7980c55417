/**
 * The WebSocket upgrade action: a client's upgrade request, routed and passed through the route's
 * access phase like any request (src/worker/front.ts), is sent to one of the route's upstream
 * targets (the same choice as proxying: split side, balancer, health, breaker) by the `ws`
 * client; only once the upstream has accepted does the client get its 101 (res.upgrade, corked),
 * and the Relay (src/worker/ws-relay.ts) takes over both sockets.
 *
 * The upstream's answer decides, as through nginx:
 *   - 101: the client sees the subprotocol the upstream chose (from those the client offered) and
 *     no extension (the gateway offers none upstream and compresses nothing: permessage-deflate
 *     is refused cleanly on both sides); headers of the upstream's 101 such as Set-Cookie pass;
 *   - any other answer (401, 403, 404, 503...): passed to the client as it is, status, headers
 *     and body (up to REFUSAL_BODY_LIMIT), and the client stays on HTTP;
 *   - no answer: the gateway's JSON errors (502 upstream_unavailable / upstream_reset /
 *     bad_upstream_response, 504 upstream_timeout).
 *
 * The transaction lives until the relay ends: it is what drain waits for, what the access log
 * writes (status 101, the whole connection's duration, bytes each way) and the request metrics
 * count (the handshake's duration).
 */
import type { HttpResponse, us_socket_context_t } from 'uWebSockets.js';
import WebSocket from 'ws';
import type { IncomingMessage, ClientRequest } from 'node:http';
import type { GatewayErrorCode } from '../../errors.js';
import type { CompiledRoute, UpstreamTarget } from '../../runtime/compile.js';
import type { OutcomeKind } from '../../upstream/cluster.js';
import { log } from '../../observability/log.js';
import { Transaction, type WorkerHost } from '../transaction.js';
import { appendForwardingHeaders, isToken, type RequestHead } from '../head.js';
import { dropResponseHeader, nameIsOneOf } from '../response-head.js';
import { noPickError } from './proxy.js';
import { ClientSpan } from '../spans.js';
import { Relay, relayMask, relayStats, type RelayData, type RelayOwner } from '../ws-relay.js';
import { withoutUwsWarning } from '../../native/uws-quiet.js';
import { performance } from 'node:perf_hooks';

/** Bytes of a refusing upstream's body relayed to the client; a longer one is a 502. */
const REFUSAL_BODY_LIMIT = 64 * 1024;
/** The handshake's deadline when neither the upstream's responseHeadersMs nor the route's timeoutMs sets one. */
const DEFAULT_HANDSHAKE_MS = 10_000;

/** Headers of the upstream's 101 the gateway does not pass: uWS writes its own handshake headers. */
const HANDSHAKE_HEADERS = ['sec-websocket-accept', 'sec-websocket-protocol', 'sec-websocket-extensions', 'sec-websocket-version'];

// The upgrading transaction, for the two calls below without a closure each.
let upgradingTx: WebSocketUpgrade;
function writeUpgradeCorked(): void {
  upgradingTx.writeUpgrade();
}
function upgradeUncorked(): void {
  upgradingTx.upgradeNow();
}

export class WebSocketUpgrade extends Transaction implements RelayOwner {
  /** The client's handshake, taken out of the forwarded headers (the gateway's client makes its own). */
  private key = '';
  private version = '';
  private protocols: string[] = [];
  private target: UpstreamTarget | null = null;
  private upstream: WebSocket | null = null;
  private upstreamResponse: IncomingMessage | null = null;
  private dispatchedAt = 0;
  /** When the 101 went out (0: not upgraded). */
  private upgradedAt = 0;
  private relay: Relay | null = null;

  constructor(res: HttpResponse, head: RequestHead, route: CompiledRoute, host: WorkerHost, private readonly context: us_socket_context_t) {
    super(res, head, route, host, 'discard');
    const h = head.headers;
    let protocol = '';
    for (let i = h.length - 2; i >= 0; i -= 2) {
      const name = h[i];
      if (name.length < 15 || !name.startsWith('sec-websocket-')) continue;
      if (name === 'sec-websocket-key') this.key = h[i + 1];
      else if (name === 'sec-websocket-version') this.version = h[i + 1].trim();
      else if (name === 'sec-websocket-protocol') protocol = protocol === '' ? h[i + 1] : h[i + 1] + ',' + protocol;
      h.splice(i, 2); // sec-websocket-extensions too: the gateway negotiates none
    }
    if (protocol !== '') this.protocols = protocol.split(',').map((p) => p.trim()).filter((p) => p !== '');
  }

  // ------------------------------------------------------------------ TxSummary

  override get requestBytes(): number {
    return this.relay !== null ? this.relay.bytesIn : 0;
  }

  /** The request metric measures the handshake (a relay lasts as long as it lasts). */
  override get answeredAt(): number {
    return this.upgradedAt !== 0 ? this.upgradedAt : performance.now();
  }

  // ------------------------------------------------------------------ the handshake

  override proceed(): void {
    this.accessPassed = true;
    if (this.ended) return;
    const route = this.route!;
    const settings = route.websocket;
    if (settings === null || route.proxy === null) return this.replyError('upgrade_refused');
    if (this.version !== '13') return this.replyError('unsupported_websocket_version', false, ['sec-websocket-version', '13']);
    if (this.body !== null || !validProtocols(this.protocols)) return this.replyError('bad_request', true);
    if (this.host.draining) return this.replyError('shutting_down', true);
    const up = route.proxy;
    const target = up.split === null ? up.main : up.chooseSide(this);
    const cluster = target.cluster;
    if (cluster.busy) return this.replyError('upstream_busy');
    const ep = cluster.pick(this);
    if (ep === null) return this.replyError(noPickError(cluster.noPick));
    const head = this.head;
    const h = head.headers; // the plugins' edits included
    appendForwardingHeaders(head, h);
    h.push('host', route.preserveHost ? head.hostHeader : ep.hostHeader);
    const q = this.ctx !== null ? this.ctx.query : head.query;
    if (q) this.upstreamPath += '?' + q;
    const url = (ep.origin.startsWith('https:') ? 'wss:' + ep.origin.slice(6) : 'ws:' + ep.origin.slice(5)) + this.upstreamPath;
    this.target = target;
    this.endpoint = ep;
    this.dispatchedAt = performance.now();
    if (head.traceRecorded) {
      // The handshake's CLIENT span: its id is the one in the traceparent the upstream gets.
      const span = new ClientSpan(head.upstreamSpanId, 'upstream websocket', 'GET', null);
      span.startedAt = this.dispatchedAt;
      this.upstreamTiming = span;
    }
    cluster.begin(ep);
    let upstream: WebSocket;
    try {
      upstream = new WebSocket(url, this.protocols, {
        headers: headerObject(h),
        perMessageDeflate: false, // no extension offered: the relay never compresses
        maxPayload: settings.maxMessageBytes,
        handshakeTimeout: target.responseHeadersMs || up.timeoutMs || DEFAULT_HANDSHAKE_MS,
        followRedirects: false, // a redirect is the client's to follow
        autoPong: false, // the upstream's pings go to the client, whose pong comes back
        generateMask: relayMask,
      });
    } catch (err) {
      this.handshakeFailed('protocol', 'internal_error', err as Error);
      return;
    }
    this.upstream = upstream;
    upstream.on('upgrade', (response: IncomingMessage) => (this.upstreamResponse = response));
    upstream.once('open', () => this.upstreamOpened(upstream));
    upstream.on('unexpected-response', (req: ClientRequest, response: IncomingMessage) => this.upstreamRefused(req, response));
    upstream.on('error', (err: Error & { code?: string }) => {
      if (this.relay === null) this.handshakeError(err);
    });
  }

  private upstreamOpened(upstream: WebSocket): void {
    const settings = this.route!.websocket!;
    this.report('response', 101);
    if (this.ended) {
      upstream.terminate(); // the client left meanwhile (stopUpstream ran before the socket existed)
      return;
    }
    this.upstreamStatus = 101;
    this.status = 101;
    this.ended = true; // res is the client's socket from here on: only uWS's WebSocket
    this.relay = new Relay(this, upstream, settings, relayStats(this.route!.id));
    // The 101's status and headers go out corked; the upgrade itself must not be made inside
    // cork(): uWS 20.57's HttpResponse::cork mistakes the new WebSocket for the response it was
    // when adopting it reallocated the socket in place (its address unchanged), reads the
    // response's state from memory that is no longer the response's, and when that memory holds
    // the connection-close bit it shuts the WebSocket down right after the 101 (fixed upstream in
    // uNetworking/uWebSockets#1929; test/regressions/websocket-upgrade-cork.test.ts). Uncorked,
    // uWS writes its own three handshake headers with a few small writes, and prints a warning
    // about uncorked writes each time, which must not reach the log.
    upgradingTx = this;
    this.res.cork(writeUpgradeCorked);
    this.upgradedAt = performance.now();
    // uWS opens the client's socket (and calls relay.attach) from inside upgrade().
    withoutUwsWarning(upgradeUncorked);
  }

  /** uWS's upgrade (see upstreamOpened: not corked). */
  upgradeNow(): void {
    const data: RelayData = { relay: this.relay! };
    this.res.upgrade(data, this.key, '', '', this.context);
  }

  /**
   * The 101's status and headers (called corked): the upstream's own headers, the gateway's, and
   * the subprotocol the upstream chose (written here, not by upgrade(), to keep it in this write).
   */
  writeUpgrade(): void {
    const res = this.res;
    res.writeStatus('101 Switching Protocols');
    const raw = this.upstreamResponse?.rawHeaders;
    if (raw !== undefined) {
      const removed = this.route!.removeResponseHeaders;
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i].toLowerCase();
        if (dropResponseHeader(Buffer.from(name)) || HANDSHAKE_HEADERS.includes(name) || name === 'via') continue;
        if (removed !== null && nameIsOneOf(Buffer.from(name), removed)) continue;
        res.writeHeader(name, raw[i + 1]);
      }
    }
    this.writeGatewayHeaders(101);
    const protocol = this.upstream!.protocol;
    if (protocol !== '') res.writeHeader('Sec-WebSocket-Protocol', protocol);
  }

  /** The upstream answered the upgrade with something else than 101: the client gets that answer. */
  private upstreamRefused(req: ClientRequest, response: IncomingMessage): void {
    const status = response.statusCode ?? 502;
    this.report('response', status);
    this.upstreamStatus = status;
    if (this.ended) {
      req.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    response.on('data', (c: Buffer) => {
      size += c.length;
      if (size > REFUSAL_BODY_LIMIT) {
        req.destroy();
        this.replyError('bad_upstream_response');
        return;
      }
      chunks.push(c);
    });
    response.on('end', () => {
      req.destroy(); // a connection that carried an upgrade request is not reused
      const headers: string[] = [];
      const raw = response.rawHeaders;
      const removed = this.route!.removeResponseHeaders;
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i].toLowerCase();
        if (dropResponseHeader(Buffer.from(name)) || name === 'via') continue;
        if (removed !== null && nameIsOneOf(Buffer.from(name), removed)) continue;
        headers.push(name, raw[i + 1]);
      }
      this.reply({ status, headers, body: Buffer.concat(chunks) });
    });
    response.on('error', () => this.replyError('upstream_reset'));
  }

  private handshakeError(err: Error & { code?: string }): void {
    if (this.upstreamStatus !== 0) return; // already answered (a refusal whose socket then failed)
    const m = err.message;
    let kind: OutcomeKind;
    let code: GatewayErrorCode;
    if (m === 'Opening handshake has timed out') {
      kind = 'timeout';
      code = 'upstream_timeout';
    } else if (err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH' || err.code === 'EADDRNOTAVAIL') {
      kind = 'connect-failure';
      code = 'upstream_unavailable';
    } else if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || m === 'socket hang up') {
      kind = 'reset';
      code = 'upstream_reset';
    } else {
      // An invalid 101: a wrong Sec-WebSocket-Accept, a subprotocol or extension not asked for...
      kind = 'protocol';
      code = 'bad_upstream_response';
    }
    this.handshakeFailed(kind, code, err);
  }

  private handshakeFailed(kind: OutcomeKind, code: GatewayErrorCode, err: Error): void {
    this.report(kind, 0);
    if (this.ended) return;
    log('warn', 'websocket upgrade failed upstream', {
      route: this.route!.id, upstream: this.endpoint?.origin, kind, error: (err as { code?: string }).code, detail: err.message,
      requestId: this.head.requestId || undefined,
    });
    this.replyError(code);
  }

  /** The handshake's outcome goes to the cluster once (health, breaker, balancer). */
  private report(kind: OutcomeKind, status: number): void {
    const t = this.target;
    if (t === null) return;
    this.target = null;
    const now = performance.now();
    t.cluster.end(this.endpoint!, kind, status, (now - this.dispatchedAt) * 1000);
    // The handshake's span ends when the upgrade is answered (101, a refusal) or failed.
    const span = this.upstreamTiming;
    if (span !== null) {
      if (status > 0) span.headersAt = now;
      span.endedAt = now;
    }
  }

  protected override stopUpstream(): void {
    const up = this.upstream;
    if (up !== null && this.relay === null) {
      this.upstream = null;
      this.report('aborted', 0);
      up.terminate();
    }
  }

  // ------------------------------------------------------------------ RelayOwner

  relayEnded(relay: Relay): void {
    this.responseBytes = relay.bytesOut;
    this.finish();
  }
}

/** Subprotocols as `ws` accepts them (RFC 6455 §4.1: tokens, each once); else the upgrade is a 400. */
function validProtocols(protocols: readonly string[]): boolean {
  for (let i = 0; i < protocols.length; i++) {
    if (!isToken(protocols[i]) || protocols.indexOf(protocols[i]) !== i) return false;
  }
  return true;
}

/** Flat [name, value, ...] as the header object node:http takes (repeated names as arrays). */
function headerObject(h: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i];
    const prev = out[name];
    if (prev === undefined) out[name] = h[i + 1];
    else if (typeof prev === 'string') out[name] = [prev, h[i + 1]];
    else prev.push(h[i + 1]);
  }
  return out;
}

export function createUpgrade(res: HttpResponse, head: RequestHead, route: CompiledRoute, host: WorkerHost, context: us_socket_context_t): Transaction {
  return new WebSocketUpgrade(res, head, route, host, context);
}
