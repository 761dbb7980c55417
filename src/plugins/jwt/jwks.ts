/**
 * JWKS key source: one per URL per worker process (shared by every route and every config
 * version that names the URL, so a reload does not refetch).
 *
 * Rules (docs/plugins/jwt.md):
 * - Fetched with undici when first needed (compile time), with a timeout and a size limit.
 * - Refreshed in the background when older than REFRESH_MS and a request uses it; a token whose
 *   `kid` is not in the set triggers a refresh too. At most one fetch per COOLDOWN_MS per URL,
 *   whatever asks for it; one fetch at a time.
 * - While a fetch is in flight, requests for a known kid never wait. A request with an unknown
 *   kid (or the very first requests, before any key set arrived) waits for the fetch, but only
 *   while the host is believed up: after a failed fetch nobody waits, they are answered at once.
 * - A failed fetch keeps the last good key set, which is served for up to MAX_STALE_MS after the
 *   last successful fetch; after that the set is dropped and tokens are refused until a fetch
 *   succeeds. A response with no usable key counts as a failure (it does not wipe good keys).
 *
 * The timings can be tuned per process with environment variables (tests use short ones):
 * GATEWAY_JWKS_TIMEOUT_MS, GATEWAY_JWKS_COOLDOWN_MS, GATEWAY_JWKS_REFRESH_MS, GATEWAY_JWKS_MAX_STALE_MS.
 */
import { KeyObject } from 'node:crypto';
import { request } from 'undici';
import { importJWK, type JWK } from 'jose';
import { keyEntry, NO_KEYS, type KeyEntry, type KeySource } from './keys.js';
import { log } from '../../observability/log.js';

function envMs(name: string, dflt: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : dflt;
}

export const JWKS_TIMEOUT_MS = envMs('GATEWAY_JWKS_TIMEOUT_MS', 5_000);
export const JWKS_COOLDOWN_MS = envMs('GATEWAY_JWKS_COOLDOWN_MS', 10_000);
export const JWKS_REFRESH_MS = envMs('GATEWAY_JWKS_REFRESH_MS', 300_000);
export const JWKS_MAX_STALE_MS = envMs('GATEWAY_JWKS_MAX_STALE_MS', 86_400_000);
const MAX_BODY_BYTES = 1024 * 1024;
const MAX_KEYS = 100;

/** A parsed key set: lookups by kid, plus every key for tokens without one. */
class KeySet {
  readonly byKid = new Map<string, KeyEntry[]>();
  constructor(
    readonly all: readonly KeyEntry[],
    readonly fetchedAt: number,
  ) {
    for (const e of all) {
      if (e.kid === undefined) continue;
      const list = this.byKid.get(e.kid);
      if (list) list.push(e);
      else this.byKid.set(e.kid, [e]);
    }
  }
}

export class JwksSource implements KeySource {
  generation = 0;
  private set: KeySet | null = null;
  private inFlight: Promise<void> | null = null;
  private lastAttemptAt = -Infinity;
  /** The last fetch succeeded (or none was made yet): requests may wait for the next one. */
  private hostUp = true;
  /** Fetches made (tests and metrics). */
  fetches = 0;

  constructor(readonly url: string) {}

  generationAt(now: number): number {
    const set = this.set;
    if (set !== null) {
      const age = now - set.fetchedAt;
      if (age > JWKS_MAX_STALE_MS) {
        log('warn', 'jwks key set dropped: no successful fetch for too long', { url: this.url, maxStaleMs: JWKS_MAX_STALE_MS });
        this.set = null;
        this.generation++;
        this.refresh(now);
      } else if (age > JWKS_REFRESH_MS) {
        this.refresh(now);
      }
    }
    return this.generation;
  }

  /** Call generationAt(now) first (the Verifier does, for every token). */
  keysFor(kid: string | undefined): readonly KeyEntry[] | Promise<readonly KeyEntry[]> {
    const now = Date.now();
    const set = this.set;
    if (set !== null) {
      const found = lookup(set, kid);
      if (found !== null) return found;
    }
    // No key set yet, or an unknown kid: a refresh may bring it.
    const fetching = this.refresh(now);
    if (fetching === null || !this.hostUp) return NO_KEYS;
    return fetching.then(() => (this.set !== null ? lookup(this.set, kid) ?? NO_KEYS : NO_KEYS));
  }

  /** Starts a fetch unless one is running or the cooldown forbids it; the running fetch, or null. */
  refresh(now = Date.now()): Promise<void> | null {
    if (this.inFlight !== null) return this.inFlight;
    if (now - this.lastAttemptAt < JWKS_COOLDOWN_MS) return null;
    this.lastAttemptAt = now;
    this.fetches++;
    const p = this.fetchOnce().then(
      (set) => {
        this.set = set;
        this.generation++;
        this.hostUp = true;
      },
      (err: unknown) => {
        this.hostUp = false;
        log('warn', 'jwks fetch failed; the last good key set keeps serving', {
          url: this.url,
          error: (err as Error).message,
          haveKeys: this.set !== null,
          lastSuccessAgeMs: this.set !== null ? Date.now() - this.set.fetchedAt : null,
        });
      },
    );
    this.inFlight = p.finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async fetchOnce(): Promise<KeySet> {
    const signal = AbortSignal.timeout(JWKS_TIMEOUT_MS);
    const res = await request(this.url, {
      method: 'GET',
      headers: { accept: 'application/jwk-set+json, application/json' },
      headersTimeout: JWKS_TIMEOUT_MS,
      bodyTimeout: JWKS_TIMEOUT_MS,
      signal,
    });
    if (res.statusCode !== 200) {
      res.body.destroy();
      throw new Error(`status ${res.statusCode}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        res.body.destroy();
        throw new Error(`key set larger than ${MAX_BODY_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new Error('not JSON');
    }
    const keys = (doc as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys)) throw new Error('no "keys" array');
    const entries: KeyEntry[] = [];
    let skipped = 0;
    for (const jwk of keys.slice(0, MAX_KEYS)) {
      const e = await importKey(jwk);
      if (e === null) skipped++;
      else entries.push(e);
    }
    if (keys.length > MAX_KEYS) log('warn', 'jwks has too many keys; only the first ones are used', { url: this.url, max: MAX_KEYS });
    if (skipped > 0) log('warn', 'jwks keys skipped (not signature keys, private, or unsupported)', { url: this.url, skipped });
    if (entries.length === 0) throw new Error('no usable signature key');
    return new KeySet(entries, Date.now());
  }
}

function lookup(set: KeySet, kid: string | undefined): readonly KeyEntry[] | null {
  if (kid === undefined) return set.all;
  return set.byKid.get(kid) ?? null;
}

/** The algorithm jose needs to import a JWK as a verification key, from its kty/crv. */
function importAlg(jwk: Record<string, unknown>): string | null {
  if (typeof jwk.alg === 'string') return jwk.alg;
  if (jwk.kty === 'RSA') return 'RS256';
  if (jwk.kty === 'EC') return ({ 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as Record<string, string>)[jwk.crv as string] ?? null;
  if (jwk.kty === 'OKP' && (jwk.crv === 'Ed25519' || jwk.crv === 'Ed448')) return 'EdDSA';
  return null;
}

/** One JWK -> KeyEntry via jose's importJWK (which validates it), or null when unusable here. */
async function importKey(jwk: unknown): Promise<KeyEntry | null> {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return null;
  const j = jwk as Record<string, unknown>;
  if (j.use !== undefined && j.use !== 'sig') return null;
  if (Array.isArray(j.key_ops) && !j.key_ops.includes('verify')) return null;
  if (j.d !== undefined || j.kty === 'oct') return null; // never use private or secret material from a URL
  const alg = importAlg(j);
  if (alg === null || alg.startsWith('HS')) return null;
  try {
    const imported = await importJWK(j as JWK, alg);
    const key = imported instanceof KeyObject ? imported : KeyObject.from(imported as Parameters<typeof KeyObject.from>[0]);
    const entry = keyEntry(key, typeof j.kid === 'string' ? j.kid : undefined, j.alg);
    return entry.algs.size > 0 ? entry : null;
  } catch {
    return null;
  }
}

/**
 * The worker's source for this URL (created, and its first fetch started, on first use), from
 * `sources` (the JWKS_SOURCES service: one per process, so a reload does not refetch).
 */
export function jwksSource(sources: Map<string, JwksSource>, url: string): JwksSource {
  let s = sources.get(url);
  if (s === undefined) {
    s = new JwksSource(url);
    sources.set(url, s);
    s.refresh();
  }
  return s;
}
