/**
 * One relayed WebSocket connection: the client's uWS WebSocket paired with the gateway's `ws`
 * client towards the upstream, from the 101 to the last close (docs/websocket.md).
 *
 * Messages: uWS and `ws` both deliver whole messages (fragments reassembled, UTF-8 of text
 * checked); each is sent on as one frame of the same type. Client messages are ArrayBuffers
 * neutered when uWS's callback returns: `ws` copies them while masking, synchronously, as long
 * as the mask is not all zeros (then it would keep a reference), which relayMask() rules out.
 *
 * Pings: the upstream's pings go to the client and the client's pongs back (end to end, as
 * through nginx); the client's pings are answered by uWS (it always does) and also sent on to
 * the upstream, whose pongs the gateway drops (the client had its answer).
 *
 * Backpressure:
 *   - client slow: past HIGH_WATER bytes buffered in uWS, the upstream socket is paused (it stops
 *     being read; TCP then slows the upstream) until uWS's drain brings it under LOW_WATER;
 *   - upstream slow: uWS 20.57.0 cannot pause reading a WebSocket, so the bytes `ws` holds for the
 *     upstream are bounded instead: past maxMessageBytes + UPSTREAM_SLACK both sides are closed
 *     with 1008.
 *
 * Closing: a close from either side is sent to the other with its code and reason (1005, no
 * code, as no code); a side that vanishes without a close frame (1006) makes the gateway close
 * the other with 1001 (client gone) or 1011 (upstream gone). The gateway's own closes (limits,
 * idle, drain) go to both sides with the same code.
 */
import type { WebSocket as ClientSocket } from 'uWebSockets.js';
import type { WebSocket as UpstreamSocket } from 'ws';
import { randomFillSync } from 'node:crypto';
import type { WebSocketSettings } from '../runtime/compile.js';
import { counter, gauge, onSnapshot } from '../observability/metrics.js';
import { performance } from 'node:perf_hooks';

/** uWS's user data of a relayed socket. */
export interface RelayData {
  readonly relay: Relay;
}

/** Bytes buffered towards the client above which the upstream is paused. */
export const HIGH_WATER = 1024 * 1024;
/** ...and under which (on uWS's drain) it is read again. */
export const LOW_WATER = 256 * 1024;
/** Bytes `ws` may hold for a slow upstream beyond one whole message before both sides are closed. */
export const UPSTREAM_SLACK = 4 * 1024 * 1024;
/** How long an upstream has to answer the gateway's close frame before its connection is cut. */
export const CLOSE_GRACE_MS = 5000;

/** Counts per route, plain fields (a message costs no Map lookup); moved into metrics once a second. */
export class RouteRelayStats {
  open = 0;
  messagesIn = 0;
  bytesIn = 0;
  messagesOut = 0;
  bytesOut = 0;
  constructor(readonly routeId: string) {}
}

const routeStats = new Map<string, RouteRelayStats>();

/** The counts of a route's relays (kept for the process: a route a reload removed reports its last ones). */
export function relayStats(routeId: string): RouteRelayStats {
  let s = routeStats.get(routeId);
  if (s === undefined) {
    s = new RouteRelayStats(routeId);
    routeStats.set(routeId, s);
  }
  return s;
}

const openGauge = gauge('gateway_websocket_connections', 'Relayed WebSocket connections open now, by route.', ['route']);
const messagesTotal = counter('gateway_websocket_messages_total', 'WebSocket messages relayed, by route and direction (upstream: client to upstream; downstream: upstream to client).', ['route', 'direction']);
const bytesTotal = counter('gateway_websocket_bytes_total', 'WebSocket message payload bytes relayed, by route and direction.', ['route', 'direction']);

onSnapshot(() => {
  for (const s of routeStats.values()) {
    openGauge.set(s.open, s.routeId);
    if (s.messagesIn !== 0) {
      messagesTotal.add(s.messagesIn, s.routeId, 'upstream');
      bytesTotal.add(s.bytesIn, s.routeId, 'upstream');
      s.messagesIn = s.bytesIn = 0;
    }
    if (s.messagesOut !== 0) {
      messagesTotal.add(s.messagesOut, s.routeId, 'downstream');
      bytesTotal.add(s.bytesOut, s.routeId, 'downstream');
      s.messagesOut = s.bytesOut = 0;
    }
  }
});

/** Relays open in this worker (drain closes them at its deadline). */
export const liveRelays = new Set<Relay>();

/**
 * Drain's deadline: every relay is closed with 1001; resolves once their upstreams answered
 * (or after `graceMs`, when the rest are cut).
 */
export function closeAllRelays(graceMs: number): Promise<void> {
  if (liveRelays.size === 0) return Promise.resolve();
  for (const r of liveRelays) r.closeBoth(CLOSE_GOING_AWAY, 'gateway shutting down');
  return new Promise((resolve) => {
    const started = Date.now();
    const check = setInterval(() => {
      if (liveRelays.size > 0 && Date.now() - started < graceMs) return;
      clearInterval(check);
      for (const r of liveRelays) r.terminate();
      resolve();
    }, 10);
  });
}

/** What the relay tells the transaction that made it (the access log line, metrics, drain). */
export interface RelayOwner {
  relayEnded(relay: Relay): void;
}

export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_PROTOCOL_ERROR = 1002;
export const CLOSE_NO_STATUS = 1005;
export const CLOSE_ABNORMAL = 1006;
export const CLOSE_POLICY = 1008;
export const CLOSE_TOO_BIG = 1009;
export const CLOSE_INTERNAL = 1011;

/** Codes an endpoint may send in a close frame (RFC 6455 §7.4; ws refuses the others). */
export function sendableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/**
 * What the upstream is told when uWS ended the client's connection without a usable close
 * frame (code 1006, uWS's reason): a client that broke the protocol, or one that went away.
 */
export function abnormalClientClose(uwsReason: string): [number, string] {
  switch (uwsReason) {
    case 'Received too big message': return [CLOSE_TOO_BIG, 'message too big'];
    case 'Received invalid UTF-8': return [1007, 'client sent invalid UTF-8'];
    case 'Received invalid WebSocket frame':
    case 'Received invalid close payload': return [CLOSE_PROTOCOL_ERROR, 'client protocol error'];
    default: return [CLOSE_GOING_AWAY, 'client went away']; // a vanished client (TCP FIN or reset)
  }
}

/** A close reason fits a control frame: 123 bytes at most. */
function reasonOf(reason: Buffer | string): Buffer | string {
  if (typeof reason === 'string') return Buffer.byteLength(reason) <= 123 ? reason : Buffer.from(reason).subarray(0, 123);
  return reason.length <= 123 ? reason : reason.subarray(0, 123);
}

// Masks for the frames the gateway sends upstream: a pool of random bytes refilled in bulk (as
// `ws` does itself), never all zeros (see the header).
const maskPool = Buffer.alloc(8192);
let maskAt = maskPool.length;
export function relayMask(mask: Buffer): void {
  if (maskAt === maskPool.length) {
    randomFillSync(maskPool);
    maskAt = 0;
  }
  mask[0] = maskPool[maskAt++];
  mask[1] = maskPool[maskAt++];
  mask[2] = maskPool[maskAt++];
  mask[3] = maskPool[maskAt++] | (mask[0] | mask[1] | mask[2] ? 0 : 1);
}

const BINARY = { binary: true } as const;
const TEXT = { binary: false } as const;

// Corked writes to the client without a closure per message (cork runs its callback at once).
let corkSocket: ClientSocket<RelayData>;
let corkData: Buffer;
let corkBinary = false;
let corkResult = 0;
function sendCorked(): void {
  corkResult = corkSocket.send(corkData, corkBinary, false);
}
function pingCorked(): void {
  corkSocket.ping(corkData);
}
let corkCode = 0;
let corkReason: Buffer | string = '';
function endCorked(): void {
  if (corkCode === 0) corkSocket.end();
  else corkSocket.end(corkCode, corkReason);
}

export class Relay {
  /** The client's socket, from uWS's open to its close (null outside). */
  private client: ClientSocket<RelayData> | null = null;
  private clientDone = false;
  private upstreamDone = false;
  /** The gateway closed both sides itself (limits, idle, drain): their close events are not relayed. */
  private closedByGateway = false;
  private upstreamPaused = false;
  /** Upstream messages that arrived before the client's socket opened (the upstream is paused meanwhile). */
  private early: Array<Buffer | boolean> | null = null;
  /** The close code an upstream protocol error calls for (ws closed the upstream with it). */
  private upstreamErrorCode = 0;
  private lastActivity: number;
  private idleTimer: NodeJS.Timeout | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  private readonly upstreamLimit: number;
  private ended = false;
  bytesIn = 0;
  bytesOut = 0;
  /** How the relay ended, for the log: who closed and with which code. */
  closedBy: 'client' | 'upstream' | 'gateway' | '' = '';
  closeCode = 0;

  constructor(
    private readonly owner: RelayOwner,
    private readonly upstream: UpstreamSocket,
    private readonly settings: WebSocketSettings,
    private readonly stats: RouteRelayStats,
  ) {
    this.upstreamLimit = settings.maxMessageBytes + UPSTREAM_SLACK;
    this.lastActivity = performance.now();
    stats.open++;
    liveRelays.add(this);
    upstream.on('message', (data: Buffer, isBinary: boolean) => this.fromUpstream(data, isBinary));
    upstream.on('ping', (data: Buffer) => this.upstreamPing(data));
    upstream.on('pong', () => this.touch());
    upstream.on('close', (code: number, reason: Buffer) => this.upstreamClosed(code, reason));
    upstream.on('error', (err: Error & { code?: string }) => this.upstreamError(err));
    if (settings.idleTimeoutMs > 0) this.idleTimer = setTimeout(() => this.onIdle(), settings.idleTimeoutMs);
  }

  // ------------------------------------------------------------------ client side (uWS callbacks)

  /** uWS opened the client's socket (synchronously inside res.upgrade). */
  attach(ws: ClientSocket<RelayData>): void {
    this.client = ws;
    const early = this.early;
    if (early === null) return;
    this.early = null;
    for (let i = 0; i < early.length; i += 2) this.fromUpstream(early[i] as Buffer, early[i + 1] as boolean);
    if (!this.upstreamPaused || ws.getBufferedAmount() < LOW_WATER) this.resumeUpstream();
  }

  // hot path: change with care.
  fromClient(message: ArrayBuffer, isBinary: boolean): void {
    if (this.upstreamDone) return;
    const n = message.byteLength;
    if (n > this.settings.maxMessageBytes) return this.closeBoth(CLOSE_TOO_BIG, 'message too big');
    this.lastActivity = performance.now();
    this.bytesIn += n;
    const stats = this.stats;
    stats.messagesIn++;
    stats.bytesIn += n;
    const up = this.upstream;
    up.send(Buffer.from(message), isBinary ? BINARY : TEXT);
    if (up.bufferedAmount > this.upstreamLimit) this.closeBoth(CLOSE_POLICY, 'upstream not reading');
  }

  clientPing(data: ArrayBuffer): void {
    this.touch();
    if (!this.upstreamDone) this.upstream.ping(Buffer.from(data));
  }

  clientPong(data: ArrayBuffer): void {
    this.touch();
    if (!this.upstreamDone) this.upstream.pong(Buffer.from(data));
  }

  /** uWS drained what it buffered for the client. */
  clientDrained(): void {
    if (this.upstreamPaused && this.client !== null && this.client.getBufferedAmount() < LOW_WATER) this.resumeUpstream();
  }

  /** uWS closed the client's socket (its close frame, a vanished client, or our own end()). */
  clientClosed(code: number, message: ArrayBuffer): void {
    if (this.clientDone) return;
    this.clientDone = true;
    this.client = null;
    if (!this.closedByGateway && !this.upstreamDone) {
      this.closedBy = 'client';
      this.closeCode = code;
      const reason = Buffer.from(new Uint8Array(message)); // a copy: uWS neuters the buffer on return
      if (code === CLOSE_ABNORMAL) this.closeUpstream(...abnormalClientClose(reason.toString()));
      else if (code === CLOSE_NO_STATUS) this.closeUpstream(0, '');
      else this.closeUpstream(sendableCloseCode(code) ? code : CLOSE_PROTOCOL_ERROR, reason);
    }
    this.endIfDone();
  }

  // ------------------------------------------------------------------ upstream side (ws events)

  // hot path: change with care.
  private fromUpstream(data: Buffer, isBinary: boolean): void {
    if (this.clientDone) return;
    const client = this.client;
    if (client === null) {
      (this.early ??= []).push(data, isBinary);
      this.pauseUpstream();
      return;
    }
    this.lastActivity = performance.now();
    const n = data.length;
    this.bytesOut += n;
    const stats = this.stats;
    stats.messagesOut++;
    stats.bytesOut += n;
    corkSocket = client;
    corkData = data;
    corkBinary = isBinary;
    client.cork(sendCorked);
    // 2 = dropped: cannot happen below uWS's maxBackpressure (far above HIGH_WATER); never silently.
    if (corkResult === 2) return this.closeBoth(CLOSE_POLICY, 'client not reading');
    if (!this.upstreamPaused && client.getBufferedAmount() > HIGH_WATER) this.pauseUpstream();
  }

  private upstreamPing(data: Buffer): void {
    this.touch();
    const client = this.client;
    if (client === null) return;
    corkSocket = client;
    corkData = data;
    client.cork(pingCorked);
  }

  private upstreamError(err: Error & { code?: string }): void {
    // ws closes the upstream itself after a protocol error; the client gets the same code.
    switch (err.code) {
      case 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH': this.upstreamErrorCode = CLOSE_TOO_BIG; break;
      case 'WS_ERR_INVALID_UTF8': this.upstreamErrorCode = 1007; break;
      case undefined: this.upstreamErrorCode = CLOSE_INTERNAL; break; // a socket error
      default: this.upstreamErrorCode = err.code.startsWith('WS_ERR_') ? CLOSE_PROTOCOL_ERROR : CLOSE_INTERNAL;
    }
  }

  private upstreamClosed(code: number, reason: Buffer): void {
    if (this.upstreamDone) return;
    this.upstreamDone = true;
    if (!this.closedByGateway && !this.clientDone) {
      this.closedBy = 'upstream';
      this.closeCode = code;
      const early = this.early;
      if (early !== null && this.client === null) this.early = null; // never attached: nothing to flush to
      if (this.upstreamErrorCode !== 0) this.endClient(this.upstreamErrorCode, this.upstreamErrorCode === CLOSE_TOO_BIG ? 'message too big' : 'upstream protocol error');
      else if (code === CLOSE_ABNORMAL) this.endClient(CLOSE_INTERNAL, 'upstream connection lost');
      else if (code === CLOSE_NO_STATUS) this.endClient(0, '');
      else this.endClient(code, reason);
    }
    this.endIfDone();
  }

  // ------------------------------------------------------------------ closing

  /** The gateway closes both sides with one code (limits, idle timeout, drain). */
  closeBoth(code: number, reason: string): void {
    if (this.closedByGateway) return;
    this.closedByGateway = true;
    if (this.closedBy === '') {
      this.closedBy = 'gateway';
      this.closeCode = code;
    }
    if (!this.upstreamDone) this.closeUpstream(code, reason);
    if (!this.clientDone) this.endClient(code, reason);
  }

  /** Ends the upstream at once (drain past its grace, an upstream that never answers our close). */
  terminate(): void {
    if (!this.upstreamDone) this.upstream.terminate();
  }

  private closeUpstream(code: number, reason: Buffer | string): void {
    // A paused socket would not read the upstream's close answer.
    if (this.upstreamPaused) this.resumeUpstream();
    const up = this.upstream;
    if (code === 0) up.close();
    else up.close(code, reasonOf(reason));
    // ws waits 30 s for the answer; a relay that is over should not linger that long.
    this.closeTimer ??= setTimeout(() => this.terminate(), CLOSE_GRACE_MS);
  }

  private endClient(code: number, reason: Buffer | string): void {
    const client = this.client;
    if (client === null) {
      // Not open yet or already gone: nothing to send.
      return;
    }
    corkSocket = client;
    corkCode = code;
    corkReason = code === 0 ? '' : reasonOf(reason);
    client.cork(endCorked); // uWS calls clientClosed() from inside end()
  }

  private endIfDone(): void {
    if (!this.clientDone || !this.upstreamDone || this.ended) return;
    this.ended = true;
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
    this.stats.open--;
    liveRelays.delete(this);
    this.owner.relayEnded(this);
  }

  // ------------------------------------------------------------------ flow and time

  private pauseUpstream(): void {
    this.upstreamPaused = true;
    this.upstream.pause();
  }

  private resumeUpstream(): void {
    this.upstreamPaused = false;
    this.upstream.resume();
  }

  private touch(): void {
    this.lastActivity = performance.now();
  }

  /** The idle timer: re-armed for what is left when there was activity meanwhile. */
  private onIdle(): void {
    this.idleTimer = null;
    if (this.ended || this.closedByGateway) return;
    const left = this.lastActivity + this.settings.idleTimeoutMs - performance.now();
    if (left > 1) {
      this.idleTimer = setTimeout(() => this.onIdle(), left);
      return;
    }
    this.closeBoth(CLOSE_GOING_AWAY, 'idle timeout');
  }
}
