/**
 * apiKey: authenticates a consumer by an API key sent in a header (default `x-api-key`) or a
 * query parameter (default `api_key`; `query: false` turns that off). The header wins when both
 * are sent.
 *
 * Keys are never held in clear: consumers' `apiKeys` are `sha256:<hex>` in the config, and the
 * presented key is hashed with SHA-256 and its digest looked up in the addon's table
 * (src/native/api-key-digests.ts), one native call. The lookup compares digests, not keys, so
 * its timing says nothing useful about a key.
 *
 * The key is removed before forwarding: the header (every copy), and every occurrence of the
 * query parameter (the rest of the query string is kept byte for byte).
 *
 * Missing or unknown key: 401 `unauthorized` with `WWW-Authenticate: Key realm="gateway"`.
 */
import { definePlugin, type LocalReply } from '../api.js';
import { checkHeaderName } from '../check-kit.js';
import { ApiKeyPluginSchema } from './schema.js';
import { apiKeyDigests } from '../../native/api-key-digests.js';

const UNAUTHORIZED: LocalReply = { status: 401, code: 'unauthorized', headers: ['www-authenticate', 'Key realm="gateway"'] };

/** application/x-www-form-urlencoded decoding of one name or value; null when malformed. */
function formDecode(s: string): string | null {
  if (s.indexOf('%') === -1 && s.indexOf('+') === -1) return s;
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return null;
  }
}

export interface TakenParam {
  /** The query without the parameter; the other pairs unchanged, in order. */
  rest: string;
  /** Decoded value of the first occurrence; null when it cannot be decoded. */
  value: string | null;
}

/**
 * Finds `name` in a raw query string (names compared after form decoding, so `api%5Fkey` is
 * `api_key` too) and removes every occurrence. Null when the parameter is absent.
 */
export function takeQueryParam(query: string, name: string): TakenParam | null {
  if (query.indexOf(name) === -1 && query.indexOf('%') === -1 && query.indexOf('+') === -1) return null; // fast path
  const parts = query.split('&');
  let value: string | null | undefined;
  const kept: string[] = [];
  for (const part of parts) {
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    if (formDecode(rawName) === name) {
      if (value === undefined) value = eq === -1 ? '' : formDecode(part.slice(eq + 1));
      continue;
    }
    kept.push(part);
  }
  if (value === undefined) return null;
  return { rest: kept.join('&'), value };
}

export const apiKeyPlugin = definePlugin({
  name: 'apiKey',
  phase: 'auth',
  schema: ApiKeyPluginSchema,
  check(conf, r) {
    checkHeaderName(r, '/header', conf.header);
  },
  compile(conf, deps) {
    const header = conf.header.toLowerCase();
    const param = conf.query;
    // The digests and their consumers in the same order: find's index is the consumer's.
    const byHash = deps.consumers.byApiKeyHash;
    const digests = apiKeyDigests([...byHash.keys()]);
    const consumers = [...byHash.values()];
    const find = digests.find;
    return {
      onRequest(ctx) {
        let key: string | null | undefined = ctx.header(header);
        if (key !== undefined) ctx.removeHeader(header);
        // ctx.query may be undefined at run time (uWS getQuery() without "?"): test truthiness.
        if (param !== false && ctx.query) {
          const taken = takeQueryParam(ctx.query, param);
          if (taken !== null) {
            ctx.query = taken.rest;
            if (key === undefined) key = taken.value;
          }
        }
        if (key === undefined || key === null || key === '') return UNAUTHORIZED;
        const at = find(key);
        if (at < 0) return UNAUTHORIZED;
        const consumer = consumers[at];
        // Several auth plugins on a route must all pass, for the same consumer.
        if (ctx.consumer !== null && ctx.consumer !== consumer) return UNAUTHORIZED;
        ctx.consumer = consumer;
        return undefined;
      },
    };
  },
});
