/**
 * RateLimit-Policy / RateLimit response headers of the IETF httpapi ratelimit-headers draft
 * (draft-ietf-httpapi-ratelimit-headers-08 and later: Structured Field lists of named policies):
 *
 *   RateLimit-Policy: "<name>";q=<quota>;w=<window seconds>
 *   RateLimit: "<name>";r=<remaining>;t=<seconds until the quota is fully back>
 *
 * A token bucket expressed as quota per window: w = ceil(burst / rps) (at least 1 s), the time
 * an empty bucket takes to fill, and q = floor(rps * w) (at least 1), the requests the bucket
 * lets through over w at the sustained rate. With burst = rps * w (e.g. 100/s, burst 200) that
 * is exactly q = burst.
 */

/** A Structured Field sf-string: printable ASCII, `"` and `\` escaped. */
export function sfString(s: string): string {
  return '"' + s.replace(/[^\x20-\x7e]/g, '').replace(/[\\"]/g, '\\$&') + '"';
}

export function policyHeaderValue(name: string, rps: number, burst: number): string {
  const w = Math.max(1, Math.ceil(burst / rps));
  const q = Math.max(1, Math.floor(rps * w));
  return `${sfString(name)};q=${q};w=${w}`;
}

export function rateLimitHeaderValue(quotedName: string, remaining: number, resetSeconds: number): string {
  return `${quotedName};r=${remaining};t=${resetSeconds}`;
}
