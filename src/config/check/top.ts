/** Top-level sections: trustedProxies CIDRs, the admin token's length, tracing export headers. */
import { checkCidr, checkHeaderName } from '../../util/syntax.js';
import { escapePointer } from '../../util/json-pointer.js';
import { isObject } from '../util.js';
import { arr, str, type CheckContext } from './context.js';

export function checkTop(k: CheckContext): void {
  arr(k.c.trustedProxies).forEach((v, i) => checkCidr(k.root, `/trustedProxies/${i}`, v));
  const admin = k.c.admin;
  if (isObject(admin) && str(admin.token) && admin.token.length < 16) {
    k.warn('/admin/token', 'is shorter than 16 characters; use a long random token');
  }
  const tracing = k.c.tracing;
  if (isObject(tracing) && isObject(tracing.otlp) && isObject(tracing.otlp.headers)) {
    for (const name of Object.keys(tracing.otlp.headers)) checkHeaderName(k.root, `/tracing/otlp/headers/${escapePointer(name)}`, name);
  }
}
