/**
 * Request ids (CONFIG.md `requestId`): a core feature, not a plugin, as in Envoy's connection
 * manager: the id is read or made with the head, forwarded upstream, echoed on every answer the
 * route gives (gateway errors included), and written in error bodies and the access log.
 *
 * Ids are a per-process random prefix plus a counter in base 36: unique across workers and
 * restarts for practical purposes, and a few string ops per request (no crypto call).
 */
import { randomBytes } from 'node:crypto';

const prefix = randomBytes(6).toString('base64url') + '-';
let counter = 0;

export function newRequestId(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return prefix + counter.toString(36);
}
