/**
 * Verification keys for the jwt plugin: which key may verify which algorithm, and the two
 * static key sources (`secret`, `publicKeyFile`). The JWKS source is in jwks.ts.
 *
 * A key is held as a node:crypto KeyObject with the set of JWS algorithms it can verify,
 * worked out once when the key is loaded (key type, RSA size, EC curve), so the request path
 * only does a Set lookup before calling crypto.verify.
 */
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { JWT_ALGORITHMS, type JwtAlgorithm } from './schema.js';

export interface KeyEntry {
  /** The JWK's `kid`, if any. */
  readonly kid: string | undefined;
  readonly key: KeyObject;
  /** Algorithms this key can verify (key type and size allowing, and the JWK's `alg` if set). */
  readonly algs: ReadonlySet<string>;
}

export const NO_KEYS: readonly KeyEntry[] = Object.freeze([]);

/**
 * Where a verifier gets its keys. `keysFor` answers synchronously whenever it can; a Promise
 * only when keys must be fetched first (JWKS: first load, or an unknown `kid` that is allowed
 * to trigger a refresh). An empty list means "no key": the token is rejected.
 */
export interface KeySource {
  keysFor(kid: string | undefined): readonly KeyEntry[] | Promise<readonly KeyEntry[]>;
  /**
   * Called on every token, cached verdicts included: does the source's upkeep (JWKS: start a
   * background refresh when due, drop a set that is too stale) and returns the generation, which
   * changes whenever the key set changes, so cached verdicts made with old keys are dropped.
   */
  generationAt(now: number): number;
}

const RSA_MIN_BITS = 2048;
const EC_CURVES: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

/** The algorithms a KeyObject can verify, from its type alone (no `alg` restriction). */
export function algorithmsForKey(key: KeyObject): Set<JwtAlgorithm> {
  const out = new Set<JwtAlgorithm>();
  if (key.type === 'secret') {
    for (const a of ['HS256', 'HS384', 'HS512'] as const) out.add(a);
    return out;
  }
  if (key.type !== 'public') return out;
  const t = key.asymmetricKeyType;
  const d = key.asymmetricKeyDetails ?? {};
  if (t === 'rsa' || t === 'rsa-pss') {
    if ((d.modulusLength ?? 0) < RSA_MIN_BITS) return out;
    if (t === 'rsa') for (const a of ['RS256', 'RS384', 'RS512'] as const) out.add(a);
    for (const a of ['PS256', 'PS384', 'PS512'] as const) out.add(a);
  } else if (t === 'ec') {
    for (const [alg, curve] of Object.entries(EC_CURVES)) if (d.namedCurve === curve) out.add(alg as JwtAlgorithm);
  } else if (t === 'ed25519' || t === 'ed448') {
    out.add('EdDSA');
  }
  return out;
}

/** A KeyEntry for `key`, restricted to `jwkAlg` when the JWK names one. */
export function keyEntry(key: KeyObject, kid: string | undefined, jwkAlg?: unknown): KeyEntry {
  const algs = algorithmsForKey(key);
  if (typeof jwkAlg === 'string') {
    for (const a of [...algs]) if (a !== jwkAlg) algs.delete(a);
  }
  return Object.freeze({ kid, key, algs });
}

/** A fixed set of keys. With `ignoreKid` (one key from a secret or a PEM file) the token's kid is not looked at. */
export class StaticKeySource implements KeySource {
  private readonly byKid = new Map<string, KeyEntry[]>();

  constructor(
    private readonly entries: readonly KeyEntry[],
    private readonly ignoreKid: boolean,
  ) {
    for (const e of entries) {
      if (e.kid === undefined) continue;
      const list = this.byKid.get(e.kid);
      if (list) list.push(e);
      else this.byKid.set(e.kid, [e]);
    }
  }

  generationAt(): number {
    return 0;
  }

  keysFor(kid: string | undefined): readonly KeyEntry[] {
    if (this.ignoreKid || kid === undefined) return this.entries;
    return this.byKid.get(kid) ?? NO_KEYS;
  }
}

export function secretKeySource(secret: string): StaticKeySource {
  return new StaticKeySource([keyEntry(createSecretKey(Buffer.from(secret, 'utf8')), undefined)], true);
}

/**
 * `publicKeyFile`: a PEM public key (SPKI "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY") or X.509
 * certificate, a JWK, or a JWK Set ({"keys": [...]}, matched by `kid` like a JWKS URL).
 * Read and parsed synchronously at compile time; throws a readable error when the file is
 * unusable (the config cannot be served as written).
 */
export function fileKeySource(path: string, algorithms: readonly string[]): StaticKeySource {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`jwt publicKeyFile "${path}": cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const entries: KeyEntry[] = [];
  let isSet = false;
  const trimmed = text.trim();
  try {
    if (trimmed.startsWith('{')) {
      const doc = JSON.parse(trimmed) as Record<string, unknown>;
      const jwks = Array.isArray(doc.keys) ? (doc.keys as unknown[]) : [doc];
      isSet = Array.isArray(doc.keys);
      for (const jwk of jwks) {
        if (!isObject(jwk)) throw new Error('a JWK is not an object');
        if (jwk.d !== undefined || jwk.kty === 'oct') throw new Error('it holds a private or secret key; give the public key');
        if (jwk.use !== undefined && jwk.use !== 'sig') continue;
        const key = createPublicKey({ key: jwk as never, format: 'jwk' });
        entries.push(keyEntry(key, typeof jwk.kid === 'string' ? jwk.kid : undefined, jwk.alg));
      }
    } else {
      if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(trimmed)) throw new Error('it holds a private key; give the public key');
      if (!trimmed.startsWith('-----BEGIN ')) throw new Error('expected a PEM public key, a certificate, a JWK or a JWK Set');
      entries.push(keyEntry(createPublicKey(trimmed), undefined));
    }
  } catch (err) {
    throw new Error(`jwt publicKeyFile "${path}": ${(err as Error).message}`);
  }
  const usable = entries.filter((e) => algorithms.some((a) => e.algs.has(a)));
  if (usable.length === 0) {
    throw new Error(
      `jwt publicKeyFile "${path}": no key in it can verify ${algorithms.join(', ')} (RSA keys need at least ${RSA_MIN_BITS} bits, ES* need the matching curve)`,
    );
  }
  return new StaticKeySource(usable, !isSet);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export const ALL_ALGORITHMS: ReadonlySet<string> = new Set(JWT_ALGORITHMS);
