/**
 * The forwarding headers every request the gateway sends upstream carries, whatever the route's
 * action (proxy, aggregate): X-Forwarded-For / -Proto / -Host / -Port, X-Real-IP, Via, and the
 * Forwarded / X-Forwarded-Prefix a trusted proxy sent. Their values were computed from the
 * client's headers before any plugin ran (head.ts); the plugins' own edits (request headers,
 * forwarded claims, the request id) are already in `head.headers`.
 */
import type { RequestHead } from './head.js';

/** Appends the forwarding headers to the request's headers and returns that array (no copy). */
export function appendForwardingHeaders(head: RequestHead): string[] {
  const h = head.headers;
  h.push(
    'x-forwarded-for', head.forwardedFor,
    'x-forwarded-proto', head.forwardedProto,
    'x-forwarded-host', head.forwardedHost,
    'x-forwarded-port', head.forwardedPort,
    'x-real-ip', head.clientIp,
    'via', head.via,
  );
  if (head.trustedExtra !== null) for (const v of head.trustedExtra) h.push(v);
  return h;
}
