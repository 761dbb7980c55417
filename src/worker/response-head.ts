/**
 * Filters for the upstream's response head, comparing raw header names byte-wise (no string per
 * header): hop-by-hop and framing headers are dropped, as are names the upstream listed in its
 * Connection header and names plugins own.
 */

export function nameIs(buf: Buffer, lower: string): boolean {
  if (buf.length !== lower.length) return false;
  for (let i = 0; i < buf.length; i++) if ((buf[i] | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** Case-insensitive match of a raw header name against lower-case names, without allocating. */
export function nameIsOneOf(buf: Buffer, lowerNames: readonly string[]): boolean {
  for (let i = 0; i < lowerNames.length; i++) if (nameIs(buf, lowerNames[i])) return true;
  return false;
}

/** Hop-by-hop and framing headers of an upstream response that are not passed to the client. */
export function dropResponseHeader(name: Buffer): boolean {
  switch (name.length) {
    case 2: return nameIs(name, 'te');
    case 4: return nameIs(name, 'date'); // uWS writes its own Date
    case 7: return nameIs(name, 'trailer') || nameIs(name, 'upgrade');
    case 10: return nameIs(name, 'connection') || nameIs(name, 'keep-alive');
    case 14: return nameIs(name, 'content-length');
    case 17: return nameIs(name, 'transfer-encoding');
    default:
      return name.length > 6 && (name[0] | 0x20) === 0x70 && nameIs(name.subarray(0, 6), 'proxy-');
  }
}

/** Header names listed in a Connection value, other than keep-alive/close; null when none. */
export function responseConnectionTokens(value: Buffer): string[] | null {
  const tokens = value.toString('latin1').toLowerCase().split(',').map((t) => t.trim()).filter((t) => t && t !== 'keep-alive' && t !== 'close');
  return tokens.length > 0 ? tokens : null;
}

/** Strict decimal from a raw header value; -1 if malformed. */
export function parseContentLength(buf: Buffer): number {
  let n = 0;
  if (buf.length === 0 || buf.length > 15) return -1;
  for (let i = 0; i < buf.length; i++) {
    const d = buf[i] - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}
