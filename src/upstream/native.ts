/**
 * The native engine: an UpstreamDispatcher for one endpoint (one http:// origin) in one worker,
 * whose connections live in the addon (native/upstream_connection.{h,cc}: libuv TCP on this
 * worker's own loop, the strict HTTP/1.1 response parser, the timers). docs/upstream-engine.md
 * has the whole design; the pool and queue rules are pool.ts's, shared with UndiciEndpoint:
 *
 *   - up to `keepAlive` idle connections stay open; under load up to `maxConnections` are open
 *     at once, the ones beyond `keepAlive` closed after SURPLUS_IDLE idle; past that, requests
 *     wait in FIFO order, each for at most its headersTimeoutMs (waitedForConnection);
 *   - an idle connection is retired after idleMs, or a second before the upstream's
 *     `Keep-Alive: timeout=N` hint runs out (in the addon);
 *   - a failure before any response byte on a reused connection is flagged reusedConnection.
 *
 * What crosses the boundary per request: one send() (the head serialized here into one reusable
 * Buffer with a latin1 write, the body Buffer if any: one write natively), and one callback per
 * read of the response (head + body + end of a small response arrive together; for a handler with
 * onPreparedHeaders, the head already filtered and serialized natively into one block). The numbers of
 * an event are in a shared Int32Array; its bytes, for a small read, in the addon's current slab
 * (an ArrayBuffer written once front to back, never reused: the rawHeaders, the prepared head and
 * the body chunk are slices of it, no copy), for a big read in a staging buffer copied out once
 * into a Buffer of its own (so that a body chunk a slow client holds pins no slab); a read in the
 * middle of a response body goes straight into a JS Buffer that onData gets a slice of (no copy).
 */
import { lookup } from 'node:dns';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import type { RecyclingBody, UpstreamHandler, UpstreamRequest } from './dispatch.js';
import { RESPONSE_TAIL_LIMIT, UpstreamFailure, recyclerOf } from './dispatch.js';
import { nativeExport } from '../native/addon.js';
import { parseErrorName } from '../native/http-response-parser-types.js';
import type { TimerList, TimerNode } from '../util/timer-lists.js';
import { ConnectionPool, type PoolConnection } from './pool.js';
import { performance } from 'node:perf_hooks';
import { statusLine, statusLineBytes } from '../errors.js';

export interface NativeSettings {
  /** Idle connections kept open (connectionsPerWorker). */
  readonly keepAlive: number;
  /** Connections open at once, busy ones included. */
  readonly maxConnections: number;
  readonly connectMs: number;
  /** An idle connection is closed after this (or the upstream's Keep-Alive hint, if shorter); 0 = never. */
  readonly idleMs: number;
}

// ---- the addon's side (native/upstream_connection.h)

interface NativeHandle {
  connect(ip: string, port: number, timeoutMs: number): number;
  /** The numbers (head length, field count, kind, flags, timeouts) go in the scratch at sendSlot first. */
  send(head: Buffer, body: Buffer | null, dropList: Buffer | null): number;
  writeBody(chunk: Buffer): number;
  endBody(): number;
  readStart(): void;
  close(): void;
}
type NativeCtor = new (owner: Connection, onEvent: (this: Connection, ev: number, slab?: ArrayBuffer, readBuffer?: Buffer) => boolean, idleMs: number) => NativeHandle;

// The event and slot layout of native/upstream_connection.h. Exported for the load suite's floor
// (bench/contenders/floor-server.ts), which drives the addon's connections without this module.
export const EV_CONNECTED = 1;
export const EV_RESPONSE = 2;
const EV_INFO = 3;
export const EV_ERROR = 4;
const EV_DRAIN = 5;

export const S_FLAGS = 0;
export const S_STATUS = 1;
const S_FIELDS = 2;
const S_TOTAL = 3;
export const S_BODY_START = 4;
export const S_BODY_LENGTH = 5;
const S_ERR_KIND = 6;
const S_ERR_CODE = 7;
const S_REUSED = 8;
const S_WAITED = 9;
const S_CL_HI = 10;
const S_CL_LO = 11;
export const S_FIRST_LENGTH = 12;
export const S_PREPARED_LENGTH = 13;
export const S_BASE = 14;
/** Set by JS in a body event read straight into the JS read buffer: the handler kept nothing of it. */
const S_READ_BUFFER_FREE = 15;
const S_FIELD_OFFSETS = 16;

const F_HEAD = 1;
const F_BODY = 2;
export const F_COMPLETE = 4;
export const F_REUSABLE = 8;
export const F_PREPARED = 16;

const K_CONNECT = 1;
const K_RESET = 2;
const K_TIMEOUT = 3;
const K_PROTOCOL = 4;
const K_IDLE = 5;

const SEND_STREAM = 1;
const SEND_CHUNKED = 2;
export const SEND_PREPARED = 4;
const INVALID_STATE = -10;

const REQUEST_OTHER = 0;
const REQUEST_HEAD = 1;
const REQUEST_CONNECT = 2;

export interface Addon {
  Ctor: NativeCtor;
  scratch: Int32Array;
  /** Where send()'s numbers go in the scratch. */
  sendSlot: number;
  /** Bytes the addon leaves free in front of a prepared head's lines, for the status line and CRLF. */
  preparedRoom: number;
  staging: Buffer;
  errName: (code: number) => string;
}
let addon: Addon | null = null;
/** The addon's current slab (small reads' bytes, sliced without a copy; see upstream_connection.h). */
let slab: Buffer = Buffer.alloc(0);

/** The bytes of the current event (set by eventBytes: no tuple per event). */
let evBytes: Buffer = slab;
/** Offset of the current event's byte 0 in evBytes. */
let evBase = 0;

/** The JS Buffer a body read went straight into (S_BASE === BASE_READ_BUFFER), for the current event. */
let readBuffer: Buffer = slab;
const BASE_READ_BUFFER = -2;

function eventBytes(S: Int32Array, staging: Buffer): void {
  const base = S[S_BASE];
  if (base === BASE_READ_BUFFER) {
    evBytes = readBuffer;
    evBase = 0;
    return;
  }
  if (base >= 0) {
    evBytes = slab;
    evBase = base;
    return;
  }
  // A big read: copied out of staging, so a body chunk the handler keeps pins no slab.
  const total = S[S_TOTAL];
  const copy = Buffer.allocUnsafe(total);
  staging.copy(copy, 0, 0, total);
  evBytes = copy;
  evBase = 0;
}

/** The longest status line the gateway writes ("431 Request Header Fields Too Large"; the parser takes 100-599). */
function longestStatusLine(): number {
  let n = 0;
  for (let s = 100; s < 600; s++) n = Math.max(n, statusLine(s).length);
  return n;
}

function loadAddon(): Addon {
  if (addon !== null) return addon;
  const init = nativeExport<() => { scratch: ArrayBuffer; staging: ArrayBuffer; sendSlot: number; preparedRoom: number; maxResponseTail: number }>('upstreamInit')();
  if (typeof init.sendSlot !== 'number' || typeof init.preparedRoom !== 'number' || typeof init.maxResponseTail !== 'number') {
    throw new Error('the native addon is older than this code (no sendSlot, preparedRoom or maxResponseTail): rebuild it (npm install)');
  }
  if (init.maxResponseTail < RESPONSE_TAIL_LIMIT) throw new Error(`the addon's room for a response tail (${init.maxResponseTail}) is shorter than the contract's ${RESPONSE_TAIL_LIMIT}`);
  const longest = longestStatusLine();
  if (init.preparedRoom < longest + 2) throw new Error(`the addon's room for a status line (${init.preparedRoom}) is shorter than the longest one (${longest} + CRLF)`);
  addon = {
    Ctor: nativeExport<NativeCtor>('UpstreamConnection'),
    scratch: new Int32Array(init.scratch),
    sendSlot: init.sendSlot,
    preparedRoom: init.preparedRoom,
    staging: Buffer.from(init.staging),
    errName: nativeExport<(code: number) => string>('uvErrName'),
  };
  return addon;
}

/** The addon's engine exports (loaded once), for the load suite's floor. */
export function nativeEngineAddon(): Addon {
  return loadAddon();
}

/** True when the addon has the native engine (a stale build may not). */
export function nativeEngineAvailable(): boolean {
  try {
    loadAddon();
    return true;
  } catch {
    return false;
  }
}

// ---- request heads

/** The reusable Buffer every request head of this worker is serialized into (grows when needed). */
let headBuf = Buffer.allocUnsafeSlow(16 * 1024);
/** Field lines of the last serialized head. */
let headFields = 0;
/** Of the last serialized head: the body is chunked (a stream without Content-Length). */
let headChunked = false;
/** The Content-Length header of the last serialized head, -1 when absent. */
let headContentLength = -1;
/** Bytes of the last head's response tail, written after it in headBuf (0: none). */
let headTailLength = 0;

/** A timeout for the scratch's Int32 slots: whole ms (a waiter's share of a deadline is fractional), at most ~24.8 days. */
function int32Ms(ms: number): number {
  return ms < 2147483647 ? ms | 0 : 2147483647;
}

function expectsPayload(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'QUERY';
}

/**
 * Writes `s` at `o` as latin1 (each char code is a byte), returns the end. No allocation. A long
 * string goes through one native copy (~60 ns a call); a short one is cheaper as a char-code loop
 * (~1.6 ns a byte). Measured on a head with a browser's user-agent, accept and accept-language:
 * ~900 ns all by loop, ~650 ns so.
 */
function put(buf: Buffer, s: string, o: number): number {
  const n = s.length;
  if (n > 32) return o + buf.write(s, o, n, 'latin1');
  for (let j = 0; j < n; j++) buf[o + j] = s.charCodeAt(j);
  return o + n;
}

/** Writes the pairs h[from..to) as header lines at `o`, returns the end. */
function putPairs(b: Buffer, h: readonly string[], from: number, to: number, o: number): number {
  for (let i = from; i < to; i += 2) {
    o = put(b, h[i], o);
    b[o++] = 0x3a;
    b[o++] = 0x20;
    o = put(b, h[i + 1], o);
    b[o++] = 0x0d;
    b[o++] = 0x0a;
  }
  return o;
}

/** Copies header lines that already are bytes at `o`, returns the end. */
function putLines(b: Buffer, lines: Buffer, o: number): number {
  b.set(lines, o);
  return o + lines.length;
}

const HTTP11 = ' HTTP/1.1\r\n';
const CL = 'content-length: ';
const TE_CHUNKED = 'transfer-encoding: chunked\r\n';
const KEEP_ALIVE = 'connection: keep-alive\r\n\r\n';

/**
 * Serializes the request head into headBuf with a char-code loop: no string is built (a
 * concatenated head cost ~2.3 KB of heap per request, the rope and its flattening), and a header
 * value's char codes are its bytes. Returns its length, or -1 when the headers contradict the body
 * (a Content-Length that is not the Buffer's length, or not a number). The addon checks the bytes.
 */
export function serializeHead(req: UpstreamRequest): number {
  const h = req.headers;
  const method = req.method;
  const path = req.path;
  const lines = req.rawLines ?? null;
  const forward = req.forwardLines ?? null;
  let size = method.length + path.length + 1 + HTTP11.length + KEEP_ALIVE.length + TE_CHUNKED.length + CL.length + 18;
  if (lines !== null) size += lines.length;
  if (forward !== null) size += forward.length;
  const tail = req.responseTail ?? '';
  size += tail.length;
  let cl = -1;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i];
    size += name.length + h[i + 1].length + 4;
    if (name.length === 14 && name === 'content-length') {
      const value = h[i + 1];
      if (cl !== -1 || !/^\d{1,15}$/.test(value)) return -1;
      cl = Number(value);
    }
  }
  if (size > headBuf.length) headBuf = Buffer.allocUnsafeSlow(Math.max(size, headBuf.length * 2));
  const b = headBuf;
  let o = put(b, method, 0);
  b[o++] = 0x20;
  o = put(b, path, o);
  o = put(b, HTTP11, o);
  // The client's lines, copied natively from its head (they never hold a Content-Length).
  if (lines !== null) o = putLines(b, lines, o);
  // The gateway's forwarding headers, serialized once per connection (head.ts forwardingLines), go before headers[forwardAt].
  if (forward === null) {
    o = putPairs(b, h, 0, h.length, o);
  } else {
    o = putPairs(b, h, 0, req.forwardAt!, o);
    o = putLines(b, forward, o);
    o = putPairs(b, h, req.forwardAt!, h.length, o);
  }
  let fields = (h.length >> 1) + (lines !== null ? req.rawLineCount! : 0) + (forward !== null ? req.forwardLineCount! : 0);
  const body = req.body;
  let chunked = false;
  let addLength = -1;
  if (body === null) {
    if (cl === -1 && expectsPayload(method)) addLength = 0;
    else if (cl > 0) return -1;
  } else if (body instanceof Uint8Array) {
    if (cl === -1) addLength = body.length;
    else if (cl !== body.length) return -1;
  } else if (cl === -1) {
    o = put(b, TE_CHUNKED, o);
    fields++;
    chunked = true;
  }
  if (addLength >= 0) {
    o = put(b, CL, o);
    o = put(b, String(addLength), o);
    b[o++] = 0x0d;
    b[o++] = 0x0a;
    fields++;
  }
  o = put(b, KEEP_ALIVE, o);
  fields++;
  headFields = fields;
  headChunked = chunked;
  headContentLength = cl;
  // The response tail rides after the head in the same buffer (the addon keeps a copy).
  headTailLength = tail.length;
  if (headTailLength !== 0) put(b, tail, o);
  return o;
}

/** A route's dropResponseHeaders as the addon wants it ("name\0name\0"), by array identity. */
const dropLists = new WeakMap<readonly string[], Buffer>();
function dropListOf(names: readonly string[] | null | undefined): Buffer | null {
  if (names === null || names === undefined || names.length === 0) return null;
  let b = dropLists.get(names);
  if (b === undefined) {
    b = Buffer.from(names.map((n) => n.toLowerCase() + '\0').join(''), 'latin1');
    dropLists.set(names, b);
  }
  return b;
}

// ---- connections (the pool is pool.ts)

/** One native connection and the request running on it (this object is reused request after request). */
class Connection implements PoolConnection {
  tnAt = 0;
  tnPrev: TimerNode | null = null;
  tnNext: TimerNode | null = null;
  tnList: TimerList | null = null;
  readonly native: NativeHandle;
  /** Connected (counted in the endpoint's connections). */
  up = false;
  /** The addon closed it, or we did: never reused. */
  closed = false;
  handler: UpstreamHandler | null = null;
  abortedAt = 0;
  // The response being relayed.
  private paused = false;
  private pendingData: Buffer | null = null;
  private pendingComplete = false;
  // A streamed request body.
  private stream: Readable | null = null;
  /** The streamed body's recycle hook (RecyclingBody), if it has one. */
  private recycler: RecyclingBody | null = null;
  private streamLeft = -1;

  constructor(readonly engine: NativeEndpoint) {
    this.native = new (loadAddon().Ctor)(this, Connection.prototype.onEvent, engine.settings.idleMs);
  }

  /** Handed to a waiter whose request starts in a microtask. */
  reserved = false;

  get busy(): boolean {
    return this.handler !== null || this.reserved;
  }

  /** A surplus idle connection was not needed again for a while. */
  onTimer(): void {
    this.engine.expireSurplus(this);
  }

  connect(ip: string, port: number, connectMs: number): void {
    if (this.closed) return;
    const r = this.native.connect(ip, port, connectMs);
    if (r !== 0) this.failConnect(loadAddon().errName(r));
  }

  /** DNS or a synchronous connect error: the connection never came up. */
  failConnect(code: string): void {
    if (this.closed) return;
    this.close();
    const h = this.release();
    if (h !== null) h.onError(new UpstreamFailure('connect', `could not connect: ${code}`, code));
  }

  start(req: UpstreamRequest, handler: UpstreamHandler, headersTimeoutMs: number): void {
    this.handler = handler;
    this.abortedAt = 0;
    this.paused = false;
    this.pendingData = null;
    this.pendingComplete = false;
    this.engine.active++;
    if (this.closed) {
      // A connect that failed synchronously (or the connection went away before its first request).
      const h = this.release();
      h?.onError(new UpstreamFailure('connect', 'could not connect to the upstream', 'ECONNECT'));
      return;
    }
    const len = serializeHead(req);
    if (len < 0) return this.refuse('the Content-Length header does not match the body', 'REQ_CONTENT_LENGTH_MISMATCH');
    const m = req.method;
    const kind = m === 'HEAD' ? REQUEST_HEAD : m === 'CONNECT' ? REQUEST_CONNECT : REQUEST_OTHER;
    const body = req.body;
    let flags = 0;
    let buf: Buffer | null = null;
    if (body instanceof Uint8Array) buf = body;
    else if (body !== null) flags = SEND_STREAM | (headChunked ? SEND_CHUNKED : 0);
    let drop: Buffer | null = null;
    if (handler.onPreparedHeaders !== undefined && req.rawHeaders !== true) {
      flags |= SEND_PREPARED;
      drop = dropListOf(req.dropResponseHeaders);
    }
    const { scratch: S, sendSlot: at } = loadAddon();
    S[at] = len;
    S[at + 1] = headFields;
    S[at + 2] = kind;
    S[at + 3] = flags;
    S[at + 4] = int32Ms(headersTimeoutMs);
    S[at + 5] = int32Ms(req.bodyTimeoutMs);
    S[at + 6] = headTailLength;
    const r = this.native.send(headBuf, buf, drop);
    if (r !== 0) {
      if (r === INVALID_STATE) {
        // Closed under us (cannot happen: a closed connection is never handed out): a reset.
        this.closed = true;
        const h = this.release();
        h?.onError(new UpstreamFailure('reset', 'the upstream connection was closed', 'CLOSED'));
        return;
      }
      return this.refuse(`the request cannot be sent as HTTP/1.1 (${INVALID_NAMES[-r] ?? r})`, INVALID_NAMES[-r] ?? 'INVALID');
    }
    if ((flags & SEND_STREAM) !== 0) this.pipe(body as Readable, headContentLength);
  }

  /** The request was refused before a byte was sent: the connection stays as it was. */
  private refuse(message: string, code: string): void {
    const h = this.release();
    h?.onError(new UpstreamFailure('invalid', message, code));
  }

  readonly abort = (reason?: Error): void => {
    const h = this.handler;
    if (h === null) return;
    if (this.abortedAt === 0) this.abortedAt = performance.now();
    // A response that is complete (only held for a paused handler) leaves the connection usable.
    if (!this.pendingComplete) this.close();
    this.release();
    h.onError(new UpstreamFailure('aborted', reason?.message ?? 'aborted', 'ABORTED'));
  };

  /** The handler's resume(): delivers what it held back, then lets the addon read again. */
  readonly resume = (): void => {
    const h = this.handler;
    if (!this.paused || h === null) return;
    this.paused = false;
    const d = this.pendingData;
    if (d !== null) {
      this.pendingData = null;
      if (!h.onData(d)) this.paused = true;
      if (this.handler !== h || this.paused) return;
    }
    if (this.pendingComplete) {
      this.pendingComplete = false;
      this.complete();
      return;
    }
    if (!this.closed) this.native.readStart();
  };

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
    this.down();
  }

  private down(): void {
    if (!this.up) return;
    this.up = false;
    this.engine.connections--;
  }

  // ---- the addon's events (this = the connection; returns false to pause reading)

  onEvent(ev: number, newSlab?: ArrayBuffer, read?: Buffer): boolean {
    if (newSlab !== undefined) slab = Buffer.from(newSlab);
    if (read !== undefined) readBuffer = read;
    switch (ev) {
      case EV_RESPONSE:
        return this.onResponse();
      case EV_CONNECTED:
        this.up = true;
        this.engine.connections++;
        this.handler?.onUpstreamConnected?.();
        return true;
      case EV_INFO:
        this.onInfo();
        return true;
      case EV_ERROR:
        this.onFailure();
        return true;
      case EV_DRAIN:
        this.stream?.resume();
        return true;
    }
    return true;
  }

  private onResponse(): boolean {
    const { scratch: S, staging, preparedRoom } = loadAddon();
    const f = S[S_FLAGS];
    const h = this.handler;
    if ((f & (F_HEAD | F_BODY)) !== 0) eventBytes(S, staging);
    const bytes = evBytes;
    const base = evBase;
    const complete = (f & F_COMPLETE) !== 0;
    if (complete && (f & F_REUSABLE) === 0) {
      this.closed = true; // the addon closed it
      this.down();
    }
    if (h === null) {
      if (this.closed) this.engine.drop(this);
      return true;
    }
    if ((f & F_PREPARED) !== 0) {
      // The status line goes into the room the addon left in front of the lines: the whole head
      // is then one view for one writeStatus (instead of a status write and two views).
      const status = S[S_STATUS];
      const line = statusLineBytes(status);
      const firstLength = S[S_FIRST_LENGTH];
      let head = line;
      if (firstLength >= 0) {
        const linesAt = base + preparedRoom;
        const start = linesAt - 2 - line.length;
        bytes.set(line, start);
        bytes[linesAt - 2] = 0x0d;
        bytes[linesAt - 1] = 0x0a;
        head = bytes.subarray(start, linesAt + S[S_PREPARED_LENGTH]);
      }
      const clHi = S[S_CL_HI];
      const cl = clHi < 0 ? -1 : clHi * 4294967296 + (S[S_CL_LO] >>> 0);
      if (!h.onPreparedHeaders!(status, head, firstLength, cl, this.resume)) this.paused = true;
      if (this.handler !== h) return true;
    } else if ((f & F_HEAD) !== 0) {
      const raw = fieldsOf(bytes, base, S);
      if (!h.onHeaders(S[S_STATUS], raw, this.resume)) this.paused = true;
      if (this.handler !== h) return true;
    }
    if ((f & F_BODY) !== 0) {
      const start = base + S[S_BODY_START];
      const chunk = bytes.subarray(start, start + S[S_BODY_LENGTH]);
      const direct = bytes === readBuffer;
      if (this.paused) this.pendingData = chunk;
      else if (!h.onData(chunk)) this.paused = true;
      if (this.handler !== h) return true;
      // The addon reads the next piece into the same Buffer when nobody holds this one.
      if (direct && !this.paused && h.keptChunk?.() === false) S[S_READ_BUFFER_FREE] = 1;
    }
    if (complete) {
      if (this.paused) this.pendingComplete = true;
      else this.complete();
      return true;
    }
    return !this.paused;
  }

  private onInfo(): void {
    const h = this.handler;
    if (h === null) return;
    const { scratch: S, staging } = loadAddon();
    eventBytes(S, staging);
    h.onInformational(S[S_STATUS], fieldsOf(evBytes, evBase, S));
  }

  /** The addon closed the connection: the request on it (if any) failed. */
  private onFailure(): void {
    const S = loadAddon().scratch;
    const kind = S[S_ERR_KIND];
    const code = S[S_ERR_CODE];
    const reused = S[S_REUSED] === 1;
    const waited = S[S_WAITED] === 1;
    this.closed = true;
    this.down();
    const h = this.handler;
    if (h === null) return this.engine.drop(this); // idle: it just goes
    if (this.pendingComplete) return; // holds a complete response for a paused handler: dropped at its end
    this.release();
    h.onError(failure(kind, code, reused, waited));
  }

  private complete(): void {
    const h = this.release();
    h?.onComplete();
  }

  /** Ends the current request on this connection and hands the connection on. */
  private release(): UpstreamHandler | null {
    const h = this.handler;
    if (h === null) return null;
    this.handler = null;
    this.unpipe();
    this.engine.active--;
    this.engine.onFree(this);
    return h;
  }

  // ---- streamed request bodies

  private pipe(stream: Readable, contentLength: number): void {
    this.stream = stream;
    this.recycler = recyclerOf(stream);
    this.streamLeft = contentLength;
    stream.on('data', this.onBodyData);
    stream.on('end', this.onBodyEnd);
    stream.on('error', this.onBodyError);
  }

  private unpipe(): void {
    const s = this.stream;
    if (s === null) return;
    this.stream = null;
    this.recycler = null;
    s.off('data', this.onBodyData);
    s.off('end', this.onBodyEnd);
    s.off('error', this.onBodyError);
  }

  private readonly onBodyData = (chunk: Buffer): void => {
    if (this.stream === null || this.handler === null) return;
    if (this.streamLeft >= 0) {
      this.streamLeft -= chunk.length;
      if (this.streamLeft < 0) return this.failBody('the request body is longer than its Content-Length', 'REQ_CONTENT_LENGTH_MISMATCH');
    }
    const r = this.native.writeBody(chunk);
    // writeBody wrote the bytes or copied them into its queue: the chunk's memory is free again.
    this.recycler?.recycle(chunk);
    if (r === 0) this.stream.pause(); // resumed on EV_DRAIN
    else if (r < 0) this.unpipe(); // the failure arrives as an event
  };

  private readonly onBodyEnd = (): void => {
    if (this.stream === null || this.handler === null) return;
    if (this.streamLeft > 0) return this.failBody('the request body is shorter than its Content-Length', 'REQ_CONTENT_LENGTH_MISMATCH');
    this.unpipe();
    this.native.endBody();
  };

  private readonly onBodyError = (err: Error): void => {
    if (this.stream === null || this.handler === null) return;
    const h = this.handler;
    this.close();
    this.release();
    h.onError(new UpstreamFailure('aborted', `the request body failed: ${err.message}`, 'REQUEST_BODY_ERROR'));
  };

  private failBody(message: string, code: string): void {
    const h = this.handler!;
    this.close();
    this.release();
    h.onError(new UpstreamFailure('invalid', message, code));
  }
}

const INVALID_NAMES: Record<number, string> = {
  1: 'INVALID_REQUEST_LINE',
  2: 'INVALID_HEADER_NAME',
  3: 'INVALID_HEADER_VALUE',
  4: 'INVALID_HEADER_LINES',
  5: 'UNSUPPORTED_HEADER',
  6: 'INVALID_RESPONSE_TAIL',
};

/** rawHeaders as the contract has them: [name, value, ...] slices of `bytes` (offsets from `base`). */
function fieldsOf(bytes: Buffer, base: number, S: Int32Array): Buffer[] {
  const n = S[S_FIELDS];
  const raw: Buffer[] = new Array(2 * n);
  for (let k = 0, o = S_FIELD_OFFSETS; k < n; k++, o += 4) {
    raw[2 * k] = bytes.subarray(base + S[o], base + S[o + 1]);
    raw[2 * k + 1] = bytes.subarray(base + S[o + 2], base + S[o + 3]);
  }
  return raw;
}

/** The addon's failure (kind, code) as the contract's UpstreamFailure. */
function failure(kind: number, code: number, reused: boolean, waited: boolean): UpstreamFailure {
  switch (kind) {
    case K_CONNECT:
      if (code === 1) return new UpstreamFailure('connect', 'connect timed out', 'CONNECT_TIMEOUT');
      return new UpstreamFailure('connect', `could not connect: ${loadAddon().errName(code)}`, loadAddon().errName(code));
    case K_TIMEOUT:
      if (code === 3) return new UpstreamFailure('timeout', 'the upstream went silent while sending the body', 'BODY_TIMEOUT');
      return new UpstreamFailure('timeout', 'the upstream sent no response head in time', 'HEADERS_TIMEOUT', false, waited);
    case K_PROTOCOL:
      if (code === 100) return new UpstreamFailure('protocol', 'the upstream switched protocols (101 / CONNECT): not supported by the native engine', 'UPGRADE_UNSUPPORTED');
      return new UpstreamFailure('protocol', `malformed upstream response: ${parseErrorName(code)}`, `HPE_${parseErrorName(code)}`);
    case K_RESET:
      if (code === 4) return new UpstreamFailure('reset', 'the upstream closed the connection before answering', 'UPSTREAM_CLOSED', reused);
      if (code === 5) return new UpstreamFailure('reset', 'the upstream closed the connection in the middle of the response', 'UPSTREAM_CLOSED');
      return new UpstreamFailure('reset', `the upstream connection failed: ${loadAddon().errName(code)}`, loadAddon().errName(code), reused);
  }
  return new UpstreamFailure('reset', `the upstream connection went away (${kind}/${code})`, 'CLOSED');
}

export class NativeEndpoint extends ConnectionPool<Connection> {
  #closed: (() => void) | null = null;
  readonly #host: string;
  readonly #port: number;
  /** The host as an IP literal, or null when it needs a DNS lookup per connection. */
  readonly #ip: string | null;

  constructor(readonly origin: string, readonly settings: NativeSettings) {
    super(settings);
    const url = new URL(origin);
    if (url.protocol !== 'http:') throw new TypeError(`the native upstream engine speaks http:// only, not ${url.protocol}//`);
    loadAddon();
    this.#host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.#port = url.port === '' ? 80 : Number(url.port);
    this.#ip = isIP(this.#host) !== 0 ? this.#host : null;
  }

  protected create(): Connection {
    return new Connection(this);
  }

  protected connectNew(conn: Connection): void {
    const connectMs = this.settings.connectMs;
    if (this.#ip !== null) return conn.connect(this.#ip, this.#port, connectMs);
    const started = performance.now();
    lookup(this.#host, (err, address) => {
      if (err !== null) return conn.failConnect((err as NodeJS.ErrnoException).code ?? 'ENOTFOUND');
      const left = connectMs === 0 ? 0 : Math.max(1, connectMs - (performance.now() - started));
      conn.connect(address, this.#port, left);
    });
  }

  protected isClosed(conn: Connection): boolean {
    return conn.closed;
  }

  protected retire(conn: Connection): void {
    conn.close();
  }

  protected override onEmpty(): void {
    this.#closed?.();
  }

  close(): Promise<void> {
    this.closing = true;
    this.queue.abortAll(new Error('shutting down'));
    for (const c of this.idle.slice()) this.drop(c);
    // A connection that never came up and has no request is closed too.
    for (const c of this.conns.slice()) if (!c.busy) this.drop(c);
    if (this.conns.length === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#closed = resolve));
  }
}
