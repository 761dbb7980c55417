/**
 * What uWebSockets.js hides about a request head, read from the head itself by the addon
 * (native/uws_head.cc has the why and the memory layout it relies on): a header line with an
 * empty name (it hides every header after it, a Content-Length included) and values whose first or
 * last byte is >= 0x80 (uWS trims those bytes away). Called synchronously in the request handler.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { nativeExport } from './addon.js';

export const HEAD_VERIFIED = 1;
export const HEAD_EMPTY_NAME = 2;
export const HEAD_EDGE_8BIT = 4;
export const HEAD_UNTERMINATED = 8;
/** A field value holds a control byte (not HTAB) or DEL. */
export const HEAD_CONTROL = 16;
/** A field value holds a byte >= 0x80 (JS must re-read such values as bytes). */
export const HEAD_EIGHT_BIT = 32;
/** A Connection header lists the "close" option (in any position, any header line). */
export const HEAD_CONNECTION_CLOSE = 64;
/** The head has a Connection header line (JS reads its value only then). */
export const HEAD_CONNECTION_HEADER = 128;
/**
 * The client's header lines were written for forwarding (see forwardedLines): asked for with
 * FORWARD_WRITE, and the head holds nothing the native filter leaves to JS.
 */
export const HEAD_FORWARD_READY = 256;
/**
 * uWS set its own close flag for this request: the first Connection value is 5 bytes long, whatever
 * they are (`close`, `CLOSE`, `abcde`). uWS closes the connection after the answer, and its end()
 * with the close flag then writes no `Connection: close`: the gateway writes it (RFC 9112 §9.6).
 */
export const HEAD_UWS_CLOSES = 512;
export const HEAD_LAYOUT_MISMATCH = -1;

// inspectHead's forwarding options.
/** Write the forwarded header lines (collectHeader's filter, native/uws_head.cc ForwardLines). */
export const FORWARD_WRITE = 1;
/** Names with '_' are forwarded (limits.allowUnderscoreHeaders). */
export const FORWARD_UNDERSCORES = 2;
/** Some peer is a trusted proxy: a head with forwarding headers is left to JS (their values may count). */
export const FORWARD_TRUSTS_PROXIES = 4;
// What forwardedSeen() reports: header lines JS reads with getHeader (each was there once).
export const SEEN_VIA = 1;
export const SEEN_TRACEPARENT = 2;
export const SEEN_TRACESTATE = 4;

type InspectHead = (req: HttpRequest, methodLength: number, targetLength: number, maxBytes: number, forwardOptions?: number) => number;
let inspect: InspectHead | null = null;
type SlotOf = (res: HttpResponse) => number;
let slotOf: SlotOf | null = null;
let releaseSlot: SlotOf | null = null;

/**
 * The slot of the connection a uWS HttpResponse belongs to: a small integer, the same for every
 * request of the connection and different for every open one, given on first use (-1 when `res`
 * wraps nothing). A slot is given again once releaseConnectionSlot took it back (app.filter tells
 * when a connection opens or closes), lowest numbers first.
 */
export function connectionSlot(res: HttpResponse): number {
  if (slotOf === null) slotOf = nativeExport<SlotOf>('connectionSlot');
  return slotOf(res);
}

/** Takes back the slot of `res`'s connection; returns it, or -1 when it had none. */
export function releaseConnectionSlot(res: HttpResponse): number {
  if (releaseSlot === null) releaseSlot = nativeExport<SlotOf>('releaseConnectionSlot');
  return releaseSlot(res);
}

type LimitReceiveBuffer = (res: HttpResponse, bytes: number) => number;
let limitRcv: LimitReceiveBuffer | null = null;

/**
 * Sets SO_RCVBUF on the client socket behind a uWS HttpResponse (uWS's HttpResponse is its
 * us_socket_t; native/uws_head.cc has the why: uWS reads a socket again at once, pause() or not,
 * while each read fills its 512 KiB buffer). Returns the size the kernel reports (2 x bytes on
 * Linux), -1 when uWS's memory layout is not the expected one, -2 when the response is over, or
 * -errno.
 */
export function limitReceiveBuffer(res: HttpResponse, bytes: number): number {
  if (limitRcv === null) limitRcv = nativeExport<LimitReceiveBuffer>('limitReceiveBuffer');
  return limitRcv(res, bytes);
}

/**
 * The head's flags. `targetLength` is the request target's length in bytes as the client sent it
 * (path, and "?" + query when there is a "?"); `maxBytes` bounds the scan (the head-size limit).
 */
export function inspectHead(req: HttpRequest, methodLength: number, targetLength: number, maxBytes: number, forwardOptions = 0): number {
  if (inspect === null) inspect = nativeExport<InspectHead>('inspectHead');
  if (forwardOptions !== 0 && arena.length < maxBytes) growArena(maxBytes);
  return inspect(req, methodLength, targetLength, maxBytes, forwardOptions);
}

// ---- forwarded header lines: written by inspectHead into one reused arena, copied out per request

let arena = Buffer.alloc(0);
/** [0] bytes written, [1] lines, [2] Content-Length lines, [3] SEEN_* bits (of the last HEAD_FORWARD_READY head). */
const report = new Int32Array(4);

function growArena(bytes: number): void {
  arena = Buffer.allocUnsafeSlow(Math.max(bytes, 16 * 1024));
  nativeExport<(arena: Buffer, report: Int32Array) => void>('setHeadForwarding')(arena, report);
}

/**
 * The forwarded lines of the head inspectHead just answered HEAD_FORWARD_READY for
 * ("name: value\r\n" each, in the client's order): a copy of its own (the arena is the next
 * head's), or null when there are none.
 */
export function forwardedLines(): Buffer | null {
  const n = report[0];
  if (n === 0) return null;
  const out = Buffer.allocUnsafe(n);
  arena.copy(out, 0, 0, n);
  return out;
}

/** Of that head: how many lines forwardedLines() holds. */
export function forwardedLineCount(): number {
  return report[1];
}

/** Of that head: its Content-Length lines (0 or 1). */
export function forwardedContentLengths(): number {
  return report[2];
}

/** Of that head: SEEN_* bits of the lines JS reads itself (Via, traceparent, tracestate). */
export function forwardedSeen(): number {
  return report[3];
}
