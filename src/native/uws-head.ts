/**
 * What uWebSockets.js hides about a request head, read from the head itself by the addon
 * (native/uws_head.cc has the why and the memory layout it relies on): a header line with an
 * empty name (it hides every header after it, a Content-Length included) and values whose first or
 * last byte is >= 0x80 (uWS trims those bytes away). Called synchronously in the request handler.
 */
import type { HttpRequest } from 'uWebSockets.js';
import { nativeExport } from './addon.js';

export const HEAD_VERIFIED = 1;
export const HEAD_EMPTY_NAME = 2;
export const HEAD_EDGE_8BIT = 4;
export const HEAD_UNTERMINATED = 8;
export const HEAD_LAYOUT_MISMATCH = -1;

type InspectHead = (req: HttpRequest, methodLength: number, targetLength: number, maxBytes: number) => number;
let inspect: InspectHead | null = null;

/**
 * The head's flags. `targetLength` is the request target's length in bytes as the client sent it
 * (path, and "?" + query when there is a "?"); `maxBytes` bounds the scan (the head-size limit).
 */
export function inspectHead(req: HttpRequest, methodLength: number, targetLength: number, maxBytes: number): number {
  if (inspect === null) inspect = nativeExport<InspectHead>('inspectHead');
  return inspect(req, methodLength, targetLength, maxBytes);
}
