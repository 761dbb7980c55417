/** Checks shared by requestHeaders and responseHeaders: every name they set or remove is a valid header name, and none they set frames the message. */
import type { Reporter } from '../api.js';
import { checkHeaderName, escapePointer, isFramingHeader, isObject, list } from '../check-kit.js';
import type { HeadersPluginConfig } from './schema.js';

export function checkHeaders(conf: HeadersPluginConfig, r: Reporter): void {
  if (isObject(conf.set)) {
    for (const key of Object.keys(conf.set)) {
      const at = `/set/${escapePointer(key)}`;
      checkHeaderName(r, at, key);
      if (isFramingHeader(key)) r.error(at, `${JSON.stringify(key)} cannot be set: the gateway frames each message and its connection itself`);
      const value = (conf.set as Record<string, unknown>)[key];
      if (typeof value === 'string' && /[\r\n\0]/.test(value)) r.error(at, 'a header value cannot hold CR, LF or NUL: it would end the line and start another');
    }
  }
  list(conf.remove).forEach((h, i) => checkHeaderName(r, `/remove/${i}`, h));
}
