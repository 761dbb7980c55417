/** Checks shared by requestHeaders and responseHeaders: every name they set or remove is a valid header name. */
import type { Reporter } from '../api.js';
import { checkHeaderName, escapePointer, isObject, list } from '../check-kit.js';
import type { HeadersPluginConfig } from './schema.js';

export function checkHeaders(conf: HeadersPluginConfig, r: Reporter): void {
  if (isObject(conf.set)) for (const key of Object.keys(conf.set)) checkHeaderName(r, `/set/${escapePointer(key)}`, key);
  list(conf.remove).forEach((h, i) => checkHeaderName(r, `/remove/${i}`, h));
}
