/**
 * The HTTP caching rules of the `cache` plugin (CONFIG.md "Caching", RFC 9111 for a shared
 * cache), as pure functions over header values.
 */

/** Answers stored: the statuses RFC 9110 §15.1 calls heuristically cacheable (206 aside: ranges are not cached). */
const STORABLE_STATUS = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);

export interface CacheControl {
  noStore: boolean;
  noCache: boolean;
  private: boolean;
  public: boolean;
  mustRevalidate: boolean;
  /** Seconds, -1 when absent. */
  maxAge: number;
  sMaxAge: number;
}

/** Parses Cache-Control (several header lines joined with ","); unknown directives are ignored. */
export function parseCacheControl(value: string | undefined): CacheControl {
  const cc: CacheControl = { noStore: false, noCache: false, private: false, public: false, mustRevalidate: false, maxAge: -1, sMaxAge: -1 };
  if (value === undefined) return cc;
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    const arg = eq === -1 ? '' : part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    switch (name) {
      case 'no-store': cc.noStore = true; break;
      // no-cache="field" and private="field" name headers not to reuse: treated as the whole answer.
      case 'no-cache': cc.noCache = true; break;
      case 'private': cc.private = true; break;
      case 'public': cc.public = true; break;
      case 'must-revalidate': cc.mustRevalidate = true; break;
      case 'max-age': cc.maxAge = seconds(arg); break;
      case 's-maxage': cc.sMaxAge = seconds(arg); break;
    }
  }
  return cc;
}

/** delta-seconds; an invalid value is 0 (stale: RFC 9111 §1.2.2). */
function seconds(arg: string): number {
  if (!/^\d+$/.test(arg)) return 0;
  const n = Number(arg);
  return n > 2147483648 ? 2147483648 : n;
}

export interface Storable {
  /** Milliseconds the answer stays fresh. */
  readonly ttlMs: number;
}

/**
 * Whether an answer may be stored, and for how long: the status is cacheable; no `no-store`,
 * `private` or `no-cache` (we do not revalidate); no Set-Cookie; no `Vary: *`; a request with
 * Authorization only when the answer says `public` or `s-maxage` (RFC 9111 §3.5); `s-maxage`,
 * then `max-age`, shorten the route's ttlMs (0 = not stored). Returns why not as a string.
 */
export function storability(
  status: number,
  headers: readonly string[],
  requestHasAuthorization: boolean,
  ttlMs: number,
): Storable | string {
  if (!STORABLE_STATUS.has(status)) return 'status';
  let cacheControl: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i];
    if (n === 'cache-control') cacheControl = cacheControl === undefined ? headers[i + 1] : cacheControl + ',' + headers[i + 1];
    else if (n === 'set-cookie') return 'set-cookie';
    else if (n === 'vary' && headers[i + 1].split(',').some((v) => v.trim() === '*')) return 'vary *';
  }
  const cc = parseCacheControl(cacheControl);
  if (cc.noStore) return 'no-store';
  if (cc.private) return 'private';
  if (cc.noCache) return 'no-cache';
  if (requestHasAuthorization && !cc.public && cc.sMaxAge < 0) return 'authorization';
  let ttl = ttlMs;
  const lifetime = cc.sMaxAge >= 0 ? cc.sMaxAge : cc.maxAge;
  if (lifetime >= 0) ttl = Math.min(ttl, lifetime * 1000);
  if (ttl <= 0) return 'max-age 0';
  return { ttlMs: ttl };
}

/** The request header names a stored answer varies on (lower-case, sorted, unique); [] for none. */
export function varyNames(headers: readonly string[]): string[] {
  const names = new Set<string>();
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'vary') continue;
    for (const v of headers[i + 1].split(',')) {
      const n = v.trim().toLowerCase();
      if (n !== '') names.add(n);
    }
  }
  return [...names].sort();
}

/** The variant of a request for these Vary names: its values, normalized (RFC 9111 §4.1 allows whitespace normalization). */
export function variantOf(names: readonly string[], header: (name: string) => string | undefined): string {
  let key = '';
  for (const n of names) {
    const v = header(n);
    key += '\u0001' + (v === undefined ? '' : v.trim().replace(/\s*,\s*/g, ',').replace(/\s+/g, ' '));
  }
  return key;
}

/** If-None-Match holds one of the entity tag's forms (weak comparison, RFC 9110 §13.1.2), or "*". */
export function etagMatches(ifNoneMatch: string, etag: string | undefined): boolean {
  if (etag === undefined) return false;
  const bare = (t: string) => t.trim().replace(/^W\//, '');
  const want = bare(etag);
  return ifNoneMatch.split(',').some((t) => t.trim() === '*' || bare(t) === want);
}
