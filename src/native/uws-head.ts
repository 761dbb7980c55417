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
export const HEAD_LAYOUT_MISMATCH = -1;

type InspectHead = (req: HttpRequest, methodLength: number, targetLength: number, maxBytes: number) => number;
let inspect: InspectHead | null = null;
type ConnectionId = (res: HttpResponse) => number;
let connId: ConnectionId | null = null;

/**
 * The id of the connection a uWS HttpResponse belongs to (its socket's address): the same for
 * every request of a connection, different for every open connection; an id may come back for a
 * later connection once this one closed (app.filter tells when).
 */
export function connectionId(res: HttpResponse): number {
  if (connId === null) connId = nativeExport<ConnectionId>('connectionId');
  return connId(res);
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
export function inspectHead(req: HttpRequest, methodLength: number, targetLength: number, maxBytes: number): number {
  if (inspect === null) inspect = nativeExport<InspectHead>('inspectHead');
  return inspect(req, methodLength, targetLength, maxBytes);
}
