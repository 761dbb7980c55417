/**
 * The apiKey plugin's native digest table (native/api_key_digests.cc): find(key) must give the
 * index of node:crypto's SHA-256 of the same string (its UTF-8 bytes, lone surrogates replaced
 * alike), -1 for every other key, whatever the key's length (the stack buffer's edge and far
 * past it) and however full the table.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { apiKeyDigests } from '../../src/native/api-key-digests.js';
import { mulberry32 } from '../../src/util/prng.js';

const hex = (key: string): string => createHash('sha256').update(key).digest('hex');

/** Keys of every kind: ASCII, 2-4 byte UTF-8, lone surrogates, lengths around 512 bytes and far beyond. */
function keys(rand: () => number, n: number): string[] {
  const out: string[] = ['', 'a', 'bench-api-key-7f3a9c', 'ключ-🔑', '\ud800', 'x\udfffy', 'k'.repeat(507), 'k'.repeat(508), 'k'.repeat(511), 'é'.repeat(254), 'é'.repeat(255), 'z'.repeat(20_000)];
  const alphabet = ['a', 'Z', '0', '-', '_', '~', 'é', '€', '😀', '\u0000', ' ', '\ud83d'];
  while (out.length < n) {
    const len = Math.floor(rand() * (rand() < 0.1 ? 1200 : 48));
    let s = '';
    for (let i = 0; i < len; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
    out.push(s + String(out.length));
  }
  return out;
}

describe('apiKeyDigests', () => {
  it('finds each stored key at its index and nothing else, for keys of every length and encoding', () => {
    const rand = mulberry32(11);
    const all = keys(rand, 2_000);
    const stored = all.filter((_, i) => i % 2 === 0);
    const table = apiKeyDigests(stored.map(hex));
    expect(table.size).toBe(stored.length);
    for (let i = 0; i < stored.length; i++) expect(table.find(stored[i])).toBe(i);
    for (let i = 1; i < all.length; i += 2) expect(table.find(all[i])).toBe(-1);
  });

  it('hashes the UTF-8 of the string as node:crypto does (a lone surrogate is U+FFFD for both)', () => {
    const table = apiKeyDigests([hex('\ufffd'), hex('é')]);
    expect(table.find('\ud800')).toBe(0);
    expect(table.find('é')).toBe(1);
    expect(table.find(Buffer.from('é', 'utf8').toString('latin1'))).toBe(-1); // 'Ã©': other bytes
  });

  it('accepts upper-case hex, keeps the first of duplicate digests, and an empty table finds nothing', () => {
    const table = apiKeyDigests([hex('one').toUpperCase(), hex('two'), hex('one')]);
    expect(table.find('one')).toBe(0);
    expect(table.find('two')).toBe(1);
    expect(apiKeyDigests([]).find('one')).toBe(-1);
  });

  it('refuses what is not a digest, and find without a string', () => {
    expect(() => apiKeyDigests(['abc'])).toThrow(/not a SHA-256 hex digest/);
    const table = apiKeyDigests([hex('one')]);
    expect(() => (table.find as (k: unknown) => number)(42)).toThrow(/find\(key: string\)/);
  });
});
