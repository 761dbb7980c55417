/**
 * The balancers' string hash: FNV-1a over the string's UTF-16 code units, then murmur3's 32-bit
 * finalizer (fmix32) so that every input bit reaches the low bits too (consistent hashing takes
 * the hash modulo a table size; FNV-1a alone leaves short keys' low bits poorly mixed). No
 * allocation: a range of the string is hashed in place (a cookie's value inside the Cookie
 * header is hashed without slicing it out). Not cryptographic: a client that picks its key can
 * pick its member, which is what a hash key means anyway.
 */

/** FNV-1a's 32-bit offset basis; other seeds give independent hashes of the same key. */
export const FNV_BASIS = 0x811c9dc5;

export function hashRange(s: string, start: number, end: number, seed: number = FNV_BASIS): number {
  let h = seed | 0;
  for (let i = start; i < end; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return fmix32(h);
}

export function hashString(s: string, seed: number = FNV_BASIS): number {
  return hashRange(s, 0, s.length, seed);
}

/** murmur3's finalizer: a bijection on 32 bits with full avalanche. Returns an unsigned 32-bit integer. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
