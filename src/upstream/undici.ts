/**
 * The undici engine: an UpstreamDispatcher for one endpoint (one origin) in one worker.
 *
 * It keeps its own set of undici `Client`s, one per connection (pipelining 1), and its own queue,
 * instead of an undici `Pool`, because:
 *   - Pool.dispatch wedges: a request undici refuses (an invalid header value, method or path)
 *     makes the chosen Client look busy forever (Pool marks it kNeedDrain and it never drains), so
 *     `connections` such requests leave every later request queued without end (undici 7.16).
 *     Here a refused request frees its connection like any other failure.
 *   - a request waiting for a connection must be cancellable and bounded by its own deadline; a
 *     Pool's queue offers neither.
 *   - the gateway needs the numbers: open connections, requests on them, requests waiting, and
 *     whether a failed request went out on a reused connection (the keep-alive race).
 *
 * Connections: up to `keepAlive` idle connections stay open (CONFIG.md connectionsPerWorker, like
 * nginx's `keepalive`); under load up to `maxConnections` are open at once, the ones beyond
 * `keepAlive` closed when they fall idle; past that, requests wait in FIFO order, each for at most
 * its headersTimeoutMs. undici retires an idle connection before the upstream's
 * `Keep-Alive: timeout=N` hint runs out (keepAliveTimeoutThreshold).
 */
import { Client, type Dispatcher } from 'undici';
import type { UpstreamHandler, UpstreamRequest } from './dispatch.js';
import { UpstreamFailure, headerPairs } from './dispatch.js';
import type { TimerList, TimerNode } from '../util/timer-lists.js';
import { ConnectionPool, type PoolConnection } from './pool.js';
import { sniName, tlsConnectOptions, type UpstreamTls } from './tls.js';
import { performance } from 'node:perf_hooks';

export interface UndiciSettings {
  /** Idle connections kept open (connectionsPerWorker). */
  readonly keepAlive: number;
  /** Connections open at once, busy ones included. */
  readonly maxConnections: number;
  readonly connectMs: number;
  /** An idle connection is closed after this (or the upstream's Keep-Alive hint, if shorter). */
  readonly idleMs: number;
  /** The upstream's `tls` as read for this config version (https:// targets), or null. */
  readonly tls: UpstreamTls | null;
}

/** Retire a kept-alive connection this long before the upstream's Keep-Alive: timeout=N runs out. */
const KEEPALIVE_MARGIN_MS = 1000;

function noop(): void {}

/**
 * One connection: an undici Client with pipelining 1, and the undici handler for the request it
 * is running (this object itself, reused request after request: no allocation per request).
 */
class Connection implements Dispatcher.DispatchHandler, PoolConnection {
  // TimerNode: a surplus idle connection's expiry (see ConnectionPool.onFree).
  tnAt = 0;
  tnPrev: TimerNode | null = null;
  tnNext: TimerNode | null = null;
  tnList: TimerList | null = null;
  readonly client: Client;
  /** The socket is connected. */
  up = false;
  /** Requests completed on the current socket: > 0 means the next one reuses it. */
  served = 0;
  // The request in flight, if any.
  handler: UpstreamHandler | null = null;
  private undiciAbort: ((err?: Error) => void) | null = null;
  private abortReason: Error | null = null;
  abortedAt = 0;
  private status = 0;
  private bodyBytes = 0;
  private reused = false;
  private upAtStart = false;
  private connectedDuring = false;
  private method = '';

  constructor(readonly engine: UndiciEndpoint, origin: string, s: UndiciSettings) {
    this.client = new Client(origin, {
      pipelining: 1,
      keepAliveTimeout: s.idleMs,
      keepAliveMaxTimeout: s.idleMs,
      keepAliveTimeoutThreshold: KEEPALIVE_MARGIN_MS,
      connect: { timeout: s.connectMs, ...engine.tlsOptions },
    });
    this.client.on('connect', () => {
      this.up = true;
      this.served = 0;
      this.connectedDuring = true;
      engine.connections++;
      this.handler?.onUpstreamConnected?.();
    });
    this.client.on('disconnect', () => {
      if (this.up) engine.connections--;
      this.up = false;
      this.served = 0;
    });
    this.client.on('connectionError', noop);
  }

  /** Handed to a waiter whose request starts in a microtask. */
  reserved = false;

  get busy(): boolean {
    return this.handler !== null || this.reserved;
  }

  /** A surplus idle connection was not needed again for a while: close it. */
  onTimer(): void {
    this.engine.expireSurplus(this);
  }

  start(req: UpstreamRequest, handler: UpstreamHandler, headersTimeoutMs: number): void {
    this.handler = handler;
    this.undiciAbort = null;
    this.abortReason = null;
    this.abortedAt = 0;
    this.status = 0;
    this.bodyBytes = 0;
    this.upAtStart = this.up;
    this.reused = this.up && this.served > 0;
    this.connectedDuring = false;
    this.method = req.method;
    this.engine.active++;
    // dispatch() reports a refused request through onError synchronously; that frees us too.
    this.client.dispatch(
      {
        path: req.path,
        method: req.method,
        headers: headerPairs(req) as string[],
        body: req.body,
        // 0 means none; a waiter whose budget is spent by now gets the smallest positive one.
        headersTimeout: headersTimeoutMs === 0 ? 0 : Math.max(1, headersTimeoutMs),
        bodyTimeout: req.bodyTimeoutMs,
        // SNI: the target's name, not the request's Host (see tls.ts); undici takes it per
        // request (its typings omit it) and reconnects when it changes.
        servername: this.engine.sni,
      } as Dispatcher.DispatchOptions,
      this,
    );
  }

  readonly abort = (reason?: Error): void => {
    if (this.handler === null) return;
    if (this.abortedAt === 0) this.abortedAt = performance.now();
    this.abortReason = reason ?? new Error('aborted');
    this.undiciAbort?.(this.abortReason);
  };

  // ---- undici's handler (legacy callbacks: its native path, see dispatch.ts)

  onConnect(abort: (err?: Error) => void): void {
    this.undiciAbort = abort;
    if (this.abortReason !== null) abort(this.abortReason);
  }

  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void): boolean {
    const h = this.handler;
    if (h === null) return false;
    if (status < 200) {
      h.onInformational(status, rawHeaders);
      return true;
    }
    this.status = status;
    return h.onHeaders(status, rawHeaders, resume);
  }

  onData(chunk: Buffer): boolean {
    const h = this.handler;
    if (h === null) return false;
    // undici hands over empty chunks: resuming a parser paused at the end of a read parses an
    // empty buffer, and llhttp reports the open body span as a zero-length piece. The contract
    // has none (an empty tryEnd completes a uWS response, see Transaction's tryEndPiece).
    if (chunk.length === 0) return true;
    this.bodyBytes += chunk.length;
    return h.onData(chunk);
  }

  onComplete(): void {
    const h = this.release();
    if (h === null) return;
    this.served++;
    h.onComplete();
  }

  onError(err: Error & { code?: string }): void {
    const s = this.status;
    const noBodyExpected = s === 204 || s === 304 || this.method === 'HEAD';
    // undici insists on Content-Length bytes even where the status says there is no body; a 304
    // (or 204) with a Content-Length is legal (RFC 9110 §8.6): it is a complete answer.
    if (err.code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' && noBodyExpected && s >= 200 && this.bodyBytes === 0) {
      const h = this.release();
      h?.onComplete();
      return;
    }
    const connected = this.upAtStart || this.connectedDuring;
    const reusedBeforeResponse = this.reused && s === 0;
    const h = this.release();
    if (h === null) return;
    h.onError(this.abortReason !== null ? new UpstreamFailure('aborted', this.abortReason.message, 'ABORTED') : classify(err, connected, reusedBeforeResponse));
  }

  /** Ends the current request on this connection and hands the connection to the next waiter. */
  private release(): UpstreamHandler | null {
    const h = this.handler;
    if (h === null) return null;
    this.handler = null;
    this.undiciAbort = null;
    this.engine.active--;
    this.engine.onFree(this);
    return h;
  }
}

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|CERT_|HOSTNAME_MISMATCH)/;

/** Maps an undici error to the contract's failure kinds. */
function classify(err: Error & { code?: string }, connected: boolean, beforeResponseOnReused: boolean): UpstreamFailure {
  // llhttp's errors (HTTPParserError) do not always carry their HPE_ code.
  if (err.name === 'HTTPParserError') return new UpstreamFailure('protocol', err.message, err.code ?? 'HPE');
  const code = err.code ?? 'ERROR';
  const msg = err.message;
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new UpstreamFailure('connect', 'connect timed out', code);
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return new UpstreamFailure('timeout', msg, code);
    case 'UND_ERR_INVALID_ARG':
    case 'UND_ERR_NOT_SUPPORTED':
      return new UpstreamFailure('invalid', msg, code);
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_RES_EXCEEDED_MAX_SIZE':
      return new UpstreamFailure('protocol', msg, code);
  }
  if (code.startsWith('HPE_')) return new UpstreamFailure('protocol', msg, code);
  // The target's certificate was refused (chain, name, expiry) or the handshake failed (mTLS).
  if (TLS_CODE.test(code)) return new UpstreamFailure('connect', `TLS handshake with the upstream failed: ${msg}`, code);
  if (code === 'UND_ERR_SOCKET' && (msg === 'bad response' || msg === 'bad upgrade')) return new UpstreamFailure('protocol', msg, code);
  if (!connected) return new UpstreamFailure('connect', msg, code);
  return new UpstreamFailure('reset', msg, code, beforeResponseOnReused);
}

export class UndiciEndpoint extends ConnectionPool<Connection> {
  /** tls.connect options for an https:// target (SNI name, CA, client certificate), or undefined. */
  readonly tlsOptions: Record<string, unknown> | undefined;

  /** The SNI name of an https:// target, or undefined. */
  readonly sni: string | undefined;

  constructor(readonly origin: string, readonly settings: UndiciSettings, hostHeader = '') {
    super(settings);
    this.tlsOptions = tlsConnectOptions(origin, hostHeader, settings.tls);
    this.sni = this.tlsOptions !== undefined ? sniName(hostHeader, settings.tls) || undefined : undefined;
  }

  protected create(): Connection {
    return new Connection(this, this.origin, this.settings);
  }

  protected connectNew(): void {
    // undici connects when the first request is dispatched to the Client.
  }

  protected isClosed(conn: Connection): boolean {
    return conn.client.destroyed || conn.client.closed;
  }

  protected retire(conn: Connection): void {
    if (!this.isClosed(conn)) conn.client.close().catch(() => conn.client.destroy().catch(noop));
  }

  async close(): Promise<void> {
    this.closing = true;
    this.queue.abortAll(new Error('shutting down'));
    const conns = this.conns.splice(0);
    this.idle.length = 0;
    await Promise.allSettled(conns.map((c) => c.client.close()));
  }
}
