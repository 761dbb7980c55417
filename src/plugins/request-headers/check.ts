/** Checks shared by requestHeaders and responseHeaders: every name they set or remove is a valid header name, and none they set frames the message. */
import type { Reporter } from '../api.js';
import { checkHeaderName, escapePointer, isObject, list } from '../check-kit.js';
import type { HeadersPluginConfig } from './schema.js';

/**
 * Headers that frame the message or belong to one connection: the gateway writes them itself for
 * each hop (Content-Length or chunked framing, keep-alive), so one set by a plugin would be a
 * second, contradicting one (two Content-Lengths in an answer, a request head the upstream
 * engine refuses).
 */
const FRAMING = /^(connection|keep-alive|proxy-connection|te|trailer|transfer-encoding|upgrade|expect|content-length)$/i;

export function checkHeaders(conf: HeadersPluginConfig, r: Reporter): void {
  if (isObject(conf.set)) {
    for (const key of Object.keys(conf.set)) {
      const at = `/set/${escapePointer(key)}`;
      checkHeaderName(r, at, key);
      if (FRAMING.test(key)) r.error(at, `${JSON.stringify(key)} cannot be set: the gateway frames each message and its connection itself`);
    }
  }
  list(conf.remove).forEach((h, i) => checkHeaderName(r, `/remove/${i}`, h));
}
