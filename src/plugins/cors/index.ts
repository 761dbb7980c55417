/**
 * cors: answers CORS preflights at the gateway and adds the CORS headers to every other answer
 * of the route (the upstream's, a plugin's 401/403/429, a gateway 502...).
 *
 * Runs in phase 'cors', right after requestId and before ip/auth: browsers send preflights
 * without credentials, so auth must not see them. A preflight is an OPTIONS request with both
 * `Origin` and `Access-Control-Request-Method`; it is always answered here (never proxied):
 *   - allowed origin: 204 with Access-Control-Allow-Origin / -Methods / -Headers / -Max-Age
 *     (and -Credentials when configured); the browser checks its method and headers against them;
 *   - any other origin: 204 without Access-Control-* headers, so the browser refuses.
 * Every answer carries `Vary: Origin` (it depends on the Origin header). The upstream's own
 * Access-Control-* response headers are dropped: the gateway's policy is the one in force.
 *
 * The descriptor says `answersPreflight`: for a route whose `methods` do not list OPTIONS, the
 * runtime compiler gives the router preflight-only OPTIONS patterns for the route's paths
 * (src/runtime/compile.ts), so a preflight for a method the route accepts reaches this plugin
 * (and a non-preflight OPTIONS still gets the route's 405). The core knows nothing of CORS.
 */
import type { RequestContext } from '../context.js';
import { definePlugin, type AccessHandler, type LocalReply } from '../api.js';
import { checkCors } from './check.js';
import { CorsPluginSchema } from './schema.js';

/** An OPTIONS request with Origin and Access-Control-Request-Method. */
export function isPreflight(ctx: RequestContext): boolean {
  return ctx.method === 'OPTIONS' && ctx.header('origin') !== undefined && ctx.header('access-control-request-method') !== undefined;
}

interface WildcardOrigin {
  /** "https://" */
  readonly scheme: string;
  /** ".example.com" */
  readonly suffix: string;
  /** ":8443" or "" (default port) */
  readonly port: string;
}

const DEFAULT_PORT: Record<string, string> = { 'http://': ':80', 'https://': ':443' };

/** Lower-cased, default port dropped: the form browsers serialize an origin in. */
function canonicalOrigin(origin: string): string {
  const o = origin.toLowerCase();
  const sep = o.indexOf('://');
  if (sep === -1) return o;
  const scheme = o.slice(0, sep + 3);
  const def = DEFAULT_PORT[scheme];
  return def !== undefined && o.endsWith(def) ? o.slice(0, o.length - def.length) : o;
}

/** Compiles the `origins` list into a predicate over the request's Origin header. */
export function compileOrigins(origins: readonly string[]): (origin: string) => boolean {
  if (origins.includes('*')) return () => true;
  const exact = new Set<string>();
  const wild: WildcardOrigin[] = [];
  for (const o of origins) {
    const c = canonicalOrigin(o);
    const star = c.indexOf('://*.');
    if (star === -1) {
      exact.add(c);
      continue;
    }
    const scheme = c.slice(0, star + 3);
    const rest = c.slice(star + 4); // ".example.com[:port]"
    const colon = rest.indexOf(':');
    wild.push({ scheme, suffix: colon === -1 ? rest : rest.slice(0, colon), port: colon === -1 ? '' : rest.slice(colon) });
  }
  return (origin) => {
    const c = canonicalOrigin(origin);
    if (exact.has(c)) return true;
    for (const w of wild) {
      if (!c.startsWith(w.scheme)) continue;
      const hostPort = c.slice(w.scheme.length);
      const colon = hostPort.indexOf(':');
      const host = colon === -1 ? hostPort : hostPort.slice(0, colon);
      const port = colon === -1 ? '' : hostPort.slice(colon);
      // At least one label before the suffix: "https://*.example.com" does not match "https://example.com".
      if (port === w.port && host.length > w.suffix.length && host.endsWith(w.suffix) && /^[a-z0-9_.-]+$/.test(host)) return true;
    }
    return false;
  };
}

// Names the gateway owns on a CORS route: the upstream's copies are dropped.
const CORS_RESPONSE_HEADERS = [
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-expose-headers',
  'access-control-max-age',
];

const REFUSED_PREFLIGHT: LocalReply = { status: 204, headers: ['vary', 'Origin'], body: '' };

export const corsPlugin = definePlugin({
  name: 'cors',
  phase: 'cors',
  schema: CorsPluginSchema,
  answersPreflight: true,
  check: checkCors,
  normalize(conf) {
    return { ...conf, methods: conf.methods.map((m) => m.toUpperCase()) };
  },
  compile(conf) {
    const origins = conf.origins;
    const anyOrigin = origins.includes('*');
    const credentials = conf.credentials;
    // "*" only without credentials (the loader refuses the combination; never send it anyway).
    const starValue = anyOrigin && !credentials;
    const allowed = compileOrigins(origins);
    const methods = conf.methods.join(', ');
    const allowHeaders = conf.headers !== undefined ? conf.headers.join(', ') : null;
    const expose = conf.exposeHeaders.length > 0 ? conf.exposeHeaders.join(', ') : null;
    const maxAge = String(Math.floor(conf.maxAgeMs / 1000));
    const varyPreflight = allowHeaders === null ? 'Origin, Access-Control-Request-Headers' : 'Origin';

    const access: AccessHandler = (ctx) => {
      if (ctx.method !== 'OPTIONS') return undefined;
      const origin = ctx.header('origin');
      if (origin === undefined || ctx.header('access-control-request-method') === undefined) return undefined;
      if (!allowed(origin)) return REFUSED_PREFLIGHT;
      const headers = [
        'access-control-allow-origin', starValue ? '*' : origin,
        'access-control-allow-methods', methods,
        'access-control-max-age', maxAge,
        'vary', varyPreflight,
      ];
      if (credentials) headers.push('access-control-allow-credentials', 'true');
      const requested = allowHeaders ?? ctx.header('access-control-request-headers');
      if (requested !== undefined && requested !== '') headers.push('access-control-allow-headers', requested);
      return { status: 204, headers, body: '' };
    };
    return {
      onRequest: access,
      onResponseHeaders(ctx) {
        // The preflight answer already carries its headers.
        if (isPreflight(ctx)) return;
        ctx.addResponseHeader('vary', 'Origin');
        const origin = ctx.header('origin');
        if (origin === undefined || !allowed(origin)) return;
        ctx.addResponseHeader('access-control-allow-origin', starValue ? '*' : origin);
        if (credentials) ctx.addResponseHeader('access-control-allow-credentials', 'true');
        if (expose !== null) ctx.addResponseHeader('access-control-expose-headers', expose);
      },
      removeResponseHeaders: CORS_RESPONSE_HEADERS,
    };
  },
});
