/**
 * rateLimit key extraction, compiled once per route: `key` becomes a closure that returns the
 * bucket key of a request. Prefixes keep the kinds apart, so a consumer named "10.0.0.1" and
 * the client 10.0.0.1 never share a bucket.
 *
 * - "ip": the client address (after trustedProxies / X-Forwarded-For).
 * - "consumer": the authenticated consumer's id; a request without one (no auth plugin, or an
 *   anonymous route) falls back to its client address, in the "ip" namespace.
 * - "route": one bucket per route (per policy: a global policy still counts each route apart).
 * - "header:<name>": the header's first value; every request without the header shares one
 *   bucket of its own (a missing header is not a way around the limit).
 */
import type { RequestContext } from '../context.js';

export type KeyFn = (ctx: RequestContext) => string;

/** The key of requests without the configured header (cannot collide with "h:" + value). */
export const MISSING_HEADER_KEY = 'm:';

export function compileKey(spec: string, routeId: string): KeyFn {
  if (spec === 'ip') return (ctx) => 'i:' + ctx.clientIp;
  if (spec === 'consumer') return (ctx) => (ctx.consumer !== null ? 'c:' + ctx.consumer.id : 'i:' + ctx.clientIp);
  if (spec === 'route') {
    const key = 'r:' + routeId;
    return () => key;
  }
  if (spec.startsWith('header:')) {
    const name = spec.slice(7).toLowerCase();
    return (ctx) => {
      const v = ctx.header(name);
      return v === undefined ? MISSING_HEADER_KEY : 'h:' + v;
    };
  }
  // The loader refuses anything else; reaching this is a bug.
  throw new TypeError(`rateLimit: unknown key "${spec}"`);
}
