/**
 * IPv4 / IPv6 address and CIDR matching, compiled once from config (trustedProxies,
 * ipRestriction). IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) match IPv4 ranges.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** 16 bytes; IPv4 is stored mapped (::ffff:a.b.c.d) so one comparison covers both. */
export function parseAddress(text: string): Uint8Array | null {
  if (isIPv4(text)) {
    const out = new Uint8Array(16);
    out[10] = 0xff;
    out[11] = 0xff;
    const parts = text.split('.');
    for (let i = 0; i < 4; i++) out[12 + i] = Number(parts[i]);
    return out;
  }
  if (!isIPv6(text)) return null;
  let addr = text;
  const zone = addr.indexOf('%');
  if (zone !== -1) addr = addr.slice(0, zone);
  const out = new Uint8Array(16);
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const lastColon = addr.lastIndexOf(':');
  const tail = addr.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = tail.split('.').map(Number);
    addr = addr.slice(0, lastColon + 1) + ((v4[0] << 8) | v4[1]).toString(16) + ':' + ((v4[2] << 8) | v4[3]).toString(16);
  }
  const [head, rest] = addr.includes('::') ? addr.split('::') : [addr, undefined];
  const headParts = head ? head.split(':') : [];
  const restParts = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const groups: number[] = [];
  for (const h of headParts) groups.push(parseInt(h, 16));
  if (rest !== undefined) for (let i = headParts.length + restParts.length; i < 8; i++) groups.push(0);
  for (const h of restParts) groups.push(parseInt(h, 16));
  if (groups.length !== 8) return null;
  for (let i = 0; i < 8; i++) {
    out[2 * i] = groups[i] >> 8;
    out[2 * i + 1] = groups[i] & 0xff;
  }
  return out;
}

interface Range {
  bytes: Uint8Array;
  prefix: number; // in bits over the 16-byte form
}

/** Parses "10.0.0.0/8", "2001:db8::/32" or a plain address; null when invalid. */
export function parseCidr(text: string): Range | null {
  const slash = text.indexOf('/');
  const addrText = slash === -1 ? text : text.slice(0, slash);
  const bytes = parseAddress(addrText);
  if (bytes === null) return null;
  const v4 = isIPv4(addrText);
  const max = v4 ? 32 : 128;
  let bits = max;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return null;
    bits = Number(p);
    if (bits > max) return null;
  }
  return { bytes, prefix: v4 ? bits + 96 : bits };
}

function inRange(addr: Uint8Array, r: Range): boolean {
  let bits = r.prefix;
  for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((addr[i] & mask) !== (r.bytes[i] & mask)) return false;
  }
  return true;
}

export type AddressMatcher = (address: string) => boolean;

const NEVER: AddressMatcher = () => false;

/**
 * A matcher for a list of CIDRs. Invalid entries throw (config validation rejects them
 * first). Recent answers are cached in a bounded map: client addresses repeat a lot.
 */
export function compileCidrs(cidrs: readonly string[]): AddressMatcher {
  if (cidrs.length === 0) return NEVER;
  const ranges = cidrs.map((c) => {
    const r = parseCidr(c);
    if (r === null) throw new Error(`invalid CIDR "${c}"`);
    return r;
  });
  const cache = new Map<string, boolean>();
  return (address: string) => {
    const hit = cache.get(address);
    if (hit !== undefined) return hit;
    const bytes = parseAddress(address);
    const result = bytes !== null && ranges.some((r) => inRange(bytes, r));
    if (cache.size >= 10_000) cache.clear();
    cache.set(address, result);
    return result;
  };
}
