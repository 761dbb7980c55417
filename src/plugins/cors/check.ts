/** cors: origins ("*" never with credentials), method tokens, header names. */
import type { Reporter } from '../api.js';
import { checkHeaderName, isString, list } from '../check-kit.js';
import { TOKEN } from '../../util/syntax.js';
import type { CorsPluginConfig } from './schema.js';

const ORIGIN = /^https?:\/\/(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(:\d{1,5})?$/;

export function checkCors(cors: CorsPluginConfig, r: Reporter): void {
  list(cors.origins).forEach((o, i) => {
    const op = `/origins/${i}`;
    if (!isString(o)) return;
    if (o === '*') {
      if (cors.credentials === true) r.error(op, 'origin "*" cannot be used with credentials: true; list the allowed origins');
    } else if (!ORIGIN.test(o)) {
      r.error(op, `expected "*", "https://host[:port]" or "https://*.domain", got ${r.show(op, o)}`);
    }
  });
  list(cors.methods).forEach((m, i) => {
    if (isString(m) && !TOKEN.test(m)) r.error(`/methods/${i}`, `invalid method ${r.show(`/methods/${i}`, m)}`);
  });
  list(cors.headers).forEach((h, i) => checkHeaderName(r, `/headers/${i}`, h));
  list(cors.exposeHeaders).forEach((h, i) => checkHeaderName(r, `/exposeHeaders/${i}`, h));
}
