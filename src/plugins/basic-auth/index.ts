/**
 * basicAuth: HTTP Basic authentication against the consumers' `basicAuth` credentials, stored
 * as `scrypt:N=<int>,r=<int>,p=<int>:<salt base64url>:<hash base64url>` (`gateway hash-password`:
 * N=16384, r=8, p=1, 16-byte salt, 32-byte key; the key length is the decoded hash's length).
 *
 * scrypt is slow on purpose (~30-50 ms of CPU), so it never runs on the event loop:
 *   - verification uses the async `crypto.scrypt`, which runs on the libuv thread pool;
 *   - successful verifications are cached (bounded LRU-ish map, TTL) under an HMAC of
 *     (passwordHash, username, password) with a per-process random key, so a legitimate client
 *     pays scrypt once, and a cache hit answers synchronously. Failures are never cached;
 *     a changed passwordHash in the config changes the cache key, so it takes effect at once;
 *   - at most MAX_CONCURRENT_VERIFICATIONS scrypt runs per worker at a time (half the libuv
 *     pool, so DNS and fs work still get threads); beyond that the request is answered at once
 *     with 429 `rate_limited` + `Retry-After: 1`, so a brute-force flood cannot queue without end.
 *     Cached (already verified) clients are not affected by the bound.
 *
 * An unknown username costs the same scrypt run as a wrong password (a dummy verification),
 * so response times do not tell which usernames exist. Hashes are compared with
 * crypto.timingSafeEqual.
 *
 * On success the Authorization header is removed before forwarding (the upstream never sees
 * the password). Failure: 401 `unauthorized` with `WWW-Authenticate: Basic realm="<realm>",
 * charset="UTF-8"`.
 */
import { createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { BasicAuthEntry } from '../consumers.js';
import { definePlugin, type AccessResult, type LocalReply } from '../api.js';
import type { RequestContext } from '../context.js';
import { log } from '../../observability/log.js';
import { BasicAuthPluginSchema } from './schema.js';

const THREADPOOL_SIZE = Math.min(1024, Math.max(1, Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10) || 4));

/** scrypt runs in flight per worker process (across all routes); beyond it: 429 at once. */
export const MAX_CONCURRENT_VERIFICATIONS = Math.max(1, Math.floor(THREADPOOL_SIZE / 2));
/** Cached successful verifications per worker process. */
export const CACHE_MAX_ENTRIES = 10_000;
/** How long a successful verification is reused. */
export const CACHE_TTL_MS = 5 * 60_000;

interface ScryptHash {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
  readonly maxmem: number;
}

const SCRYPT_FORMAT = /^scrypt:N=(\d+),r=(\d+),p=(\d+):([A-Za-z0-9_-]+):([A-Za-z0-9_-]+)$/;

/** Parses the config format; null when it is not usable (the loader should have refused it). */
export function parseScryptHash(text: string): ScryptHash | null {
  const m = SCRYPT_FORMAT.exec(text);
  if (m === null) return null;
  const N = Number(m[1]);
  const r = Number(m[2]);
  const p = Number(m[3]);
  const salt = Buffer.from(m[4], 'base64url');
  const hash = Buffer.from(m[5], 'base64url');
  if (!(N > 1 && (N & (N - 1)) === 0) || r < 1 || p < 1 || hash.length < 16 || salt.length === 0) return null;
  // Node refuses when 128 * N * r exceeds maxmem (default 32 MiB): allow what the hash needs.
  return { N, r, p, salt, hash, maxmem: 256 * N * r + 32 * 1024 * 1024 };
}

const parsed = new WeakMap<BasicAuthEntry, ScryptHash | null>();

function hashOf(entry: BasicAuthEntry): ScryptHash | null {
  let h = parsed.get(entry);
  if (h === undefined) {
    h = parseScryptHash(entry.passwordHash);
    if (h === null) log('error', 'basicAuth: unusable passwordHash, this consumer cannot log in', { consumer: entry.consumer.id });
    parsed.set(entry, h);
  }
  return h;
}

// Same cost as a real verification with `gateway hash-password` parameters; matches nothing.
const DUMMY: ScryptHash = { N: 16384, r: 8, p: 1, salt: randomBytes(16), hash: randomBytes(32), maxmem: 64 * 1024 * 1024 };

// ---------------------------------------------------------------------------------------------
// Cache of successful verifications (per worker process, shared by all routes and config versions)

const cacheSecret = randomBytes(32);
const verified = new Map<string, number>(); // cache key -> expiry (Date.now() ms)

function cacheKey(passwordHash: string, username: string, password: string): string {
  // passwordHash has no "\n" and a Basic username no ":", so the input is unambiguous.
  return createHmac('sha256', cacheSecret).update(passwordHash + '\n' + username + ':' + password, 'utf8').digest('base64');
}

function remember(key: string): void {
  verified.delete(key);
  if (verified.size >= CACHE_MAX_ENTRIES) {
    const oldest = verified.keys().next();
    if (!oldest.done) verified.delete(oldest.value);
  }
  verified.set(key, Date.now() + CACHE_TTL_MS);
}

function isRemembered(key: string): boolean {
  const expires = verified.get(key);
  if (expires === undefined) return false;
  if (expires > Date.now()) return true;
  verified.delete(key);
  return false;
}

/** For tests and benchmarks in this process. */
export function clearVerificationCache(): void {
  verified.clear();
}

// ---------------------------------------------------------------------------------------------
// Verification on the libuv pool, bounded

let inFlight = 0;
let lastBusyLog = 0;

const BUSY: LocalReply = {
  status: 429,
  code: 'rate_limited',
  message: 'Too many password verifications in progress; retry later.',
  headers: ['retry-after', '1'],
};

function verify(password: string, h: ScryptHash): Promise<boolean> {
  inFlight++;
  return new Promise((resolve) => {
    scrypt(password, h.salt, h.hash.length, { N: h.N, r: h.r, p: h.p, maxmem: h.maxmem }, (err, derived) => {
      inFlight--;
      resolve(err === null && derived.length === h.hash.length && timingSafeEqual(derived, h.hash));
    });
  });
}

function busy(): LocalReply {
  const now = Date.now();
  if (now - lastBusyLog > 60_000) {
    lastBusyLog = now;
    log('warn', 'basicAuth: too many concurrent password verifications, answering 429', { limit: MAX_CONCURRENT_VERIFICATIONS });
  }
  return BUSY;
}

// ---------------------------------------------------------------------------------------------

export interface BasicCredentials {
  username: string;
  password: string;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Parses `Basic <base64(user:password)>`; null when absent or malformed. */
export function parseBasicAuthorization(value: string | undefined): BasicCredentials | null {
  if (value === undefined || value.length < 7) return null;
  if (value.slice(0, 6).toLowerCase() !== 'basic ') return null;
  const b64 = value.slice(6).trim();
  if (b64.length === 0 || b64.length % 4 !== 0 || !BASE64.test(b64)) return null;
  const decoded = Buffer.from(b64, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return null;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function quote(s: string): string {
  return '"' + s.replace(/["\\]/g, '\\$&') + '"';
}

export const basicAuthPlugin = definePlugin({
  name: 'basicAuth',
  phase: 'auth',
  schema: BasicAuthPluginSchema,
  compile(conf, deps) {
    const challenge: LocalReply = {
      status: 401,
      code: 'unauthorized',
      headers: ['www-authenticate', `Basic realm=${quote(conf.realm)}, charset="UTF-8"`],
    };
    const users = deps.consumers.byUsername;

    const accept = (ctx: RequestContext, entry: BasicAuthEntry): AccessResult => {
      // Several auth plugins on a route must all pass, for the same consumer.
      if (ctx.consumer !== null && ctx.consumer !== entry.consumer) return challenge;
      ctx.consumer = entry.consumer;
      ctx.removeHeader('authorization');
      return undefined;
    };

    return {
      onRequest(ctx) {
        const creds = parseBasicAuthorization(ctx.header('authorization'));
        if (creds === null) return challenge;
        const entry = users.get(creds.username);
        const h = entry !== undefined ? hashOf(entry) : null;
        if (entry === undefined || h === null) {
          // Unknown user: same work and same answers (429 included) as a wrong password.
          if (inFlight >= MAX_CONCURRENT_VERIFICATIONS) return busy();
          return verify(creds.password, DUMMY).then(() => challenge);
        }
        const key = cacheKey(entry.passwordHash, creds.username, creds.password);
        if (isRemembered(key)) return accept(ctx, entry);
        if (inFlight >= MAX_CONCURRENT_VERIFICATIONS) return busy();
        return verify(creds.password, h).then((ok) => {
          if (!ok) return challenge;
          remember(key);
          return accept(ctx, entry);
        });
      },
    };
  },
});
