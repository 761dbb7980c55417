/**
 * Request-path normalization, done before routing so that no spelling of a path can reach a
 * route around the route that guards it (CONFIG.md "Path matching"):
 *   - empty segments (`//`) are dropped, `.` segments are dropped, `..` removes the previous
 *     segment; climbing above `/` is an error (400);
 *   - percent-escapes of unreserved characters (ALPHA / DIGIT / "-" / "." / "_" / "~") are
 *     decoded, so `%2e%2e` is `..` and `%61` is `a`; every other escape stays encoded with
 *     upper-case hex (`%2f` -> `%2F`), so `%2F` never becomes a separator;
 *   - a malformed escape (`%`, `%4`, `%zz`) is an error (400);
 *   - a trailing `/` is kept (`/a/` and `/a` are different paths, as in nginx);
 *   - a byte outside printable ASCII, `#` or `\` anywhere in the path is an error (400): raw
 *     8-bit bytes must be percent-encoded, a target has no fragment, and a backslash would be read
 *     as "/" by WHATWG URL parsers behind the gateway (so `/public/..\private` could reach a
 *     route the gateway did not match). Encoded (`%23`, `%5C`) they stay encoded and are data.
 * The same normalized path is what the upstream receives.
 */

/** Returned instead of a path when the path is invalid. */
export const BAD_PATH = null;

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const HASH = 0x23;
const BACKSLASH = 0x5c;

// hot path: change with care. Most paths need no change: one scan, no allocation.
export function normalizePath(path: string): string | null {
  const len = path.length;
  if (len === 0 || path.charCodeAt(0) !== SLASH) return BAD_PATH;
  let slow = false;
  for (let i = 0; i < len; i++) {
    const c = path.charCodeAt(i);
    // Printable ASCII only; no fragment (origin-form has none) and no backslash (URL parsers
    // behind us would read it as "/"). uWS passes all of these through (docs/security.md).
    if (c <= 0x20 || c >= 0x7f || c === HASH || c === BACKSLASH) return BAD_PATH;
    if (slow) continue;
    if (c === PERCENT) slow = true;
    else if (c === SLASH && i + 1 < len) {
      const n = path.charCodeAt(i + 1);
      if (n === SLASH) slow = true;
      else if (n === DOT) {
        // "/." followed by end, "/" or "." (i.e. "/.", "/./", "/..") needs the slow path;
        // "/.well-known" does not.
        const n2 = i + 2 < len ? path.charCodeAt(i + 2) : SLASH;
        if (n2 === SLASH || n2 === DOT) slow = true;
      }
    }
  }
  return slow ? normalizeSlow(path) : path;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

function isUnreserved(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) ||
    c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e
  );
}

const HEX = '0123456789ABCDEF';

/** Decodes unreserved escapes in one segment, canonicalizes the others; null if malformed. */
function decodeSegment(seg: string): string | null {
  if (seg.indexOf('%') === -1) return seg;
  let out = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charCodeAt(i);
    if (c !== PERCENT) {
      out += seg[i];
      continue;
    }
    if (i + 2 >= seg.length) return null; // truncated escape
    const hi = hexValue(seg.charCodeAt(i + 1));
    const lo = hexValue(seg.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return null;
    const byte = hi * 16 + lo;
    out += isUnreserved(byte) ? String.fromCharCode(byte) : '%' + HEX[hi] + HEX[lo];
    i += 2;
  }
  return out;
}

function normalizeSlow(path: string): string | null {
  const raw = path.split('/');
  const out: string[] = [];
  let trailingSlash = false;
  // raw[0] is "" (the path starts with "/").
  for (let i = 1; i < raw.length; i++) {
    const seg = decodeSegment(raw[i]);
    if (seg === null) return BAD_PATH;
    const last = i === raw.length - 1;
    if (seg === '' || seg === '.') {
      if (last) trailingSlash = true;
      continue;
    }
    if (seg === '..') {
      if (out.length === 0) return BAD_PATH; // climbs above "/"
      out.pop();
      if (last) trailingSlash = true;
      continue;
    }
    out.push(seg);
  }
  if (out.length === 0) return '/';
  return '/' + out.join('/') + (trailingSlash ? '/' : '');
}
