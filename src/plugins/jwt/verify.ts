/**
 * JWT verification for the jwt plugin.
 *
 * The common case is synchronous: the key comes from a KeySource that has it already (secret,
 * public key file, or a JWKS set in memory), the signature is checked with node:crypto's
 * one-shot verify / HMAC on a KeyObject prepared when the key was loaded, and the claims with
 * plain comparisons. Only a JWKS fetch (first load, unknown kid) makes a verdict a Promise.
 * GATEWAY_JWT_VERIFY=jose switches the signature and claim checks to jose's jwtVerify
 * (always async) instead; it exists to compare the two (docs/plugins/jwt.md, Performance).
 *
 * What is checked, in order (any failure: the token is refused, the reason only logged at debug):
 *  - compact JWS form: three non-empty base64url parts (JWE and unsigned "x.y." tokens fail);
 *  - protected header: a JSON object; `alg` one of the configured algorithms ("none" never is);
 *    no `crit` (no extension is understood); `kid`, if present, a string. `jku`, `x5u`, `jwk`
 *    and `x5c` in the header are ignored: keys only ever come from the configuration;
 *  - a key that fits the algorithm (type, RSA >= 2048 bits, EC curve; JWK `alg` if given), and
 *    the signature; at most MAX_KEY_TRIES keys are tried for one token;
 *  - payload: a JSON object; `exp`, `nbf`, `iat` numbers when present; not expired
 *    (exp > now - tolerance), not before nbf (nbf <= now + tolerance), not issued in the future
 *    (iat <= now + tolerance); `iss` equal to `issuer` and `aud` (string or array) containing one
 *    of `audience` when those are configured; `sub`, when present, a string.
 *
 * Verified tokens can be kept in a TokenCache (bounded, keyed by the whole token string, each
 * entry valid until the token's exp + tolerance, at most TOKEN_CACHE_TTL_MS, and only while
 * the key set it was verified with is unchanged).
 */
import { constants, createHmac, timingSafeEqual, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { jwtVerify } from 'jose';
import type { KeyEntry, KeySource } from './keys.js';
import { isPromise } from '../../util/promise.js';

export interface VerifiedToken {
  /** The payload, deep-frozen (shared by every request that presents the same token). */
  readonly claims: Readonly<Record<string, unknown>>;
  readonly sub: string | undefined;
  /** Date.now() value from which this verdict no longer holds. */
  readonly expiresAt: number;
  /** KeySource generation it was verified against. */
  readonly generation: number;
}

/** A verdict: the verified token, or the reason it was refused (for the debug log only). */
export type Verdict = VerifiedToken | string;

export interface VerifierOptions {
  readonly algorithms: readonly string[];
  readonly issuer?: string;
  readonly audience?: string | readonly string[];
  readonly clockToleranceMs: number;
  /** 'sync' (node:crypto, default) or 'jose' (jose's jwtVerify, async). */
  readonly mode?: 'sync' | 'jose';
}

/** Longer tokens are refused outright (the request head limit is usually lower anyway). */
export const MAX_TOKEN_CHARS = 16 * 1024;
/** Keys tried for one token (a token without kid against a large key set must not cost N verifies). */
export const MAX_KEY_TRIES = 4;
export const TOKEN_CACHE_TTL_MS = 5 * 60_000;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

const HASH: Record<string, string> = {
  HS256: 'sha256', HS384: 'sha384', HS512: 'sha512',
  RS256: 'sha256', RS384: 'sha384', RS512: 'sha512',
  PS256: 'sha256', PS384: 'sha384', PS512: 'sha512',
  ES256: 'sha256', ES384: 'sha384', ES512: 'sha512',
};
const EC_SIG_BYTES: Record<string, number> = { ES256: 64, ES384: 96, ES512: 132 };

interface Parsed {
  alg: string;
  kid: string | undefined;
  payload: Record<string, unknown>;
  /** header.payload, the signed bytes (ASCII). */
  input: string;
  sig: Buffer;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function decodeJson(part: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Splits and decodes a compact JWS; a string is the reason it is unusable. */
export function parseToken(token: string, allowed: ReadonlySet<string>): Parsed | string {
  if (token.length > MAX_TOKEN_CHARS) return 'token too long';
  if (!COMPACT_JWS.test(token)) return 'not a signed compact JWT';
  const d1 = token.indexOf('.');
  const d2 = token.indexOf('.', d1 + 1);
  const header = decodeJson(token.slice(0, d1));
  if (!isObject(header)) return 'header is not a JSON object';
  const alg = header.alg;
  if (typeof alg !== 'string' || !allowed.has(alg)) return 'algorithm not allowed';
  if (header.crit !== undefined) return 'crit header not supported';
  const kid = header.kid;
  if (kid !== undefined && typeof kid !== 'string') return 'kid is not a string';
  const payload = decodeJson(token.slice(d1 + 1, d2));
  if (!isObject(payload)) return 'payload is not a JSON object';
  return { alg, kid, payload, input: token.slice(0, d2), sig: Buffer.from(token.slice(d2 + 1), 'base64url') };
}

/** Checks one signature with node:crypto (synchronous). */
export function verifySignature(alg: string, key: KeyObject, input: string, sig: Buffer): boolean {
  try {
    switch (alg.charCodeAt(0)) {
      case 72: { // H
        const mac = createHmac(HASH[alg], key).update(input, 'latin1').digest();
        return mac.length === sig.length && timingSafeEqual(mac, sig);
      }
      case 82: // R
        return cryptoVerify(HASH[alg], Buffer.from(input, 'latin1'), key, sig);
      case 80: // P
        return cryptoVerify(
          HASH[alg],
          Buffer.from(input, 'latin1'),
          { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
          sig,
        );
      default:
        if (alg === 'EdDSA') return cryptoVerify(null, Buffer.from(input, 'latin1'), key, sig);
        if (sig.length !== EC_SIG_BYTES[alg]) return false;
        return cryptoVerify(HASH[alg], Buffer.from(input, 'latin1'), { key, dsaEncoding: 'ieee-p1363' }, sig);
    }
  } catch {
    return false;
  }
}

/** The registered-claim checks; null when they pass, else the reason. */
export function checkClaims(
  p: Record<string, unknown>,
  nowMs: number,
  toleranceMs: number,
  issuer: string | undefined,
  audience: readonly string[] | null,
): string | null {
  const now = Math.floor(nowMs / 1000);
  const tol = toleranceMs / 1000;
  const { exp, nbf, iat } = p;
  if (exp !== undefined) {
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return 'exp is not a number';
    if (exp <= now - tol) return 'expired';
  }
  if (nbf !== undefined) {
    if (typeof nbf !== 'number' || !Number.isFinite(nbf)) return 'nbf is not a number';
    if (nbf > now + tol) return 'not yet valid';
  }
  if (iat !== undefined) {
    if (typeof iat !== 'number' || !Number.isFinite(iat)) return 'iat is not a number';
    if (iat > now + tol) return 'issued in the future';
  }
  if (issuer !== undefined && p.iss !== issuer) return 'wrong issuer';
  if (audience !== null) {
    const aud = p.aud;
    if (typeof aud === 'string') {
      if (!audience.includes(aud)) return 'wrong audience';
    } else if (Array.isArray(aud)) {
      if (!aud.some((a) => typeof a === 'string' && audience.includes(a))) return 'wrong audience';
    } else {
      return 'no audience';
    }
  }
  if (p.sub !== undefined && typeof p.sub !== 'string') return 'sub is not a string';
  return null;
}

function deepFreeze(root: object): void {
  const stack: object[] = [root];
  while (stack.length > 0) {
    const o = stack.pop()!;
    Object.freeze(o);
    for (const v of Object.values(o)) if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) stack.push(v);
  }
}

/**
 * Verified tokens by token string. Bounded by entry count and by the total length of the
 * tokens held (request input never grows it without bound); the oldest entry goes first.
 * Only tokens that verified are ever inserted.
 */
export class TokenCache {
  private readonly map = new Map<string, VerifiedToken>();
  private chars = 0;
  hits = 0;
  misses = 0;

  constructor(
    readonly maxEntries = 10_000,
    readonly maxChars = 8 * 1024 * 1024,
    readonly maxTokenChars = 8 * 1024,
  ) {}

  get size(): number {
    return this.map.size;
  }

  /** A still-valid entry for this token and key generation, or undefined. */
  get(token: string, now: number, generation: number): VerifiedToken | undefined {
    const v = this.map.get(token);
    if (v === undefined) {
      this.misses++;
      return undefined;
    }
    if (v.expiresAt <= now || v.generation !== generation) {
      this.map.delete(token);
      this.chars -= token.length;
      this.misses++;
      return undefined;
    }
    this.hits++;
    return v;
  }

  set(token: string, v: VerifiedToken): void {
    if (token.length > this.maxTokenChars || this.map.has(token)) return;
    this.map.set(token, v);
    this.chars += token.length;
    if (this.map.size <= this.maxEntries && this.chars <= this.maxChars) return;
    for (const k of this.map.keys()) {
      this.map.delete(k);
      this.chars -= k.length;
      if (this.map.size <= this.maxEntries && this.chars <= this.maxChars) break;
    }
  }

  clear(): void {
    this.map.clear();
    this.chars = 0;
  }
}

export class Verifier {
  private readonly allowed: ReadonlySet<string>;
  private readonly issuer: string | undefined;
  private readonly audience: readonly string[] | null;
  private readonly toleranceMs: number;
  private readonly mode: 'sync' | 'jose';

  constructor(
    readonly source: KeySource,
    opts: VerifierOptions,
    readonly cache: TokenCache | null,
  ) {
    this.allowed = new Set(opts.algorithms.filter((a) => a.toLowerCase() !== 'none'));
    this.issuer = opts.issuer;
    this.audience = opts.audience === undefined ? null : typeof opts.audience === 'string' ? [opts.audience] : [...opts.audience];
    this.toleranceMs = opts.clockToleranceMs;
    this.mode = opts.mode ?? 'sync';
  }

  /** Drops what this verifier holds (its config version was retired); in-flight verifications still finish. */
  dispose(): void {
    this.cache?.clear();
  }

  /** The verdict on a token: synchronous unless keys must be fetched first (or mode is 'jose'). */
  verify(token: string): Verdict | Promise<Verdict> {
    const now = Date.now();
    const generation = this.source.generationAt(now);
    const cache = this.cache;
    if (cache !== null) {
      const hit = cache.get(token, now, generation);
      if (hit !== undefined) return hit;
    }
    const parsed = parseToken(token, this.allowed);
    if (typeof parsed === 'string') return parsed;
    const keys = this.source.keysFor(parsed.kid);
    if (isPromise(keys)) return keys.then((k) => this.finish(token, parsed, k, Date.now()));
    return this.finish(token, parsed, keys, now);
  }

  private finish(token: string, t: Parsed, keys: readonly KeyEntry[], now: number): Verdict | Promise<Verdict> {
    if (this.mode === 'jose') return this.finishJose(token, t, keys);
    const generation = this.source.generationAt(now);
    let tries = 0;
    let ok = false;
    for (let i = 0; i < keys.length && tries < MAX_KEY_TRIES; i++) {
      const e = keys[i];
      if (!e.algs.has(t.alg)) continue;
      tries++;
      if (verifySignature(t.alg, e.key, t.input, t.sig)) {
        ok = true;
        break;
      }
    }
    if (!ok) return tries === 0 ? 'no key for this token' : 'bad signature';
    const bad = checkClaims(t.payload, now, this.toleranceMs, this.issuer, this.audience);
    if (bad !== null) return bad;
    return this.accept(token, t.payload, now, generation);
  }

  private accept(token: string, payload: Record<string, unknown>, now: number, generation: number): VerifiedToken {
    deepFreeze(payload);
    const exp = payload.exp;
    const expiresAt = Math.min(typeof exp === 'number' ? exp * 1000 + this.toleranceMs : Infinity, now + TOKEN_CACHE_TTL_MS);
    const v: VerifiedToken = { claims: payload, sub: payload.sub as string | undefined, expiresAt, generation };
    if (this.cache !== null) this.cache.set(token, v);
    return v;
  }

  /** The same checks through jose (async): for comparison, see GATEWAY_JWT_VERIFY. */
  private async finishJose(token: string, t: Parsed, keys: readonly KeyEntry[]): Promise<Verdict> {
    const generation = this.source.generationAt(Date.now());
    let tries = 0;
    for (let i = 0; i < keys.length && tries < MAX_KEY_TRIES; i++) {
      const e = keys[i];
      if (!e.algs.has(t.alg)) continue;
      tries++;
      try {
        const { payload } = await jwtVerify(token, e.key, {
          algorithms: [...this.allowed],
          issuer: this.issuer,
          audience: this.audience === null ? undefined : [...this.audience],
          clockTolerance: this.toleranceMs / 1000,
        });
        const now = Date.now();
        const bad = checkClaims(payload as Record<string, unknown>, now, this.toleranceMs, this.issuer, this.audience);
        if (bad !== null) return bad;
        return this.accept(token, payload as Record<string, unknown>, now, generation);
      } catch (err) {
        if ((err as { code?: string }).code !== 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') return (err as Error).message;
      }
    }
    return tries === 0 ? 'no key for this token' : 'bad signature';
  }
}
