/**
 * The apiKey plugin's lookup (native/api_key_digests.cc): the consumers' key digests in a native
 * table, and find(key), which hashes the presented key with SHA-256 and returns the index of its
 * digest, or -1: one N-API call where crypto.hash, a 64-character hex string and a Map lookup
 * cost about four times as much on the request path. test/native/api-key-digests.test.ts holds it
 * to node:crypto's digests of the same strings.
 */
import { nativeExport } from './addon.js';

export interface ApiKeyDigests {
  /** Index (in the digests given) of the SHA-256 of `key`'s UTF-8 bytes, or -1. hot path. */
  readonly find: (key: string) => number;
  readonly size: number;
}

/** A table of the given digests (64 hex digits each, as the config holds them after `sha256:`). */
export function apiKeyDigests(hexDigests: readonly string[]): ApiKeyDigests {
  for (const d of hexDigests) if (!/^[0-9a-fA-F]{64}$/.test(d)) throw new TypeError(`not a SHA-256 hex digest: ${JSON.stringify(d)}`);
  const make = nativeExport<(digests: Buffer) => ApiKeyDigests>('apiKeyDigests');
  return make(Buffer.from(hexDigests.join(''), 'hex'));
}
