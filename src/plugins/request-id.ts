/**
 * requestId: every request gets an id (the client's, when it sent a well-formed one, else a new
 * one), forwarded upstream in the configured header, echoed on the answer, written in gateway
 * error bodies and the access log.
 *
 * Ids are a per-process random prefix plus a counter in base 36: unique across workers and
 * restarts for practical purposes, and a few string ops per request (no crypto call).
 */
import { randomBytes } from 'node:crypto';
import type { RequestIdPluginConfig } from '../config/schema.js';
import type { PluginDefinition } from './types.js';

const prefix = randomBytes(6).toString('base64url') + '-';
let counter = 0;

export function newRequestId(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return prefix + counter.toString(36);
}

// A client-sent id is kept only if it is short and plain (it ends up in logs and headers).
export const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export const requestIdPlugin: PluginDefinition<RequestIdPluginConfig> = {
  name: 'requestId',
  phase: 'requestId',
  compile(conf) {
    const header = (conf.header ?? 'x-request-id').toLowerCase();
    return {
      access(ctx) {
        const given = ctx.header(header);
        if (given !== undefined && SAFE_REQUEST_ID.test(given)) {
          ctx.requestId = given;
        } else {
          ctx.requestId = newRequestId();
          ctx.setHeader(header, ctx.requestId);
        }
        return undefined;
      },
      onResponse(ctx) {
        if (ctx.requestId) ctx.addResponseHeader(header, ctx.requestId);
      },
      removeResponseHeaders: [header], // ours is the one the client sees
    };
  },
};
