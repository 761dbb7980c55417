/**
 * Syntax of the strings JSON Schema cannot check well: path patterns, {param} templates, route
 * hosts, CIDRs, RFC 9110 tokens. Pure functions, shared by the config checks (src/config/check/),
 * the plugins' checks and the runtime.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** An RFC 9110 token (header names, methods). */
export const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
export const PARAM_NAME = /^[A-Za-z0-9_]+$/;

/**
 * Header names that frame the message or belong to one connection: the gateway writes them itself
 * for each hop (Content-Length or chunked framing, keep-alive), so a configured one would be a
 * second, contradicting line (two Content-Lengths in an answer, a request head the upstream
 * engine refuses).
 */
const FRAMING_HEADER = /^(connection|keep-alive|proxy-connection|te|trailer|transfer-encoding|upgrade|expect|content-length)$/i;

export function isFramingHeader(name: string): boolean {
  return FRAMING_HEADER.test(name);
}

/** Where the helpers below report (a plugin's Reporter is one; so is the config checks' root reporter). */
export interface SyntaxReporter {
  error(pointer: string, message: string): void;
  warn(pointer: string, message: string): void;
  show(pointer: string, value: unknown): string;
}

/** An invalid header name (or any RFC 9110 token) is an error at `at`. */
export function checkHeaderName(r: SyntaxReporter, at: string, name: unknown, what = 'header name'): void {
  if (typeof name === 'string' && !TOKEN.test(name)) r.error(at, `invalid ${what} ${r.show(at, name)}`);
}

/** An address or CIDR: an error when invalid, a warning when only suspicious (host bits set). */
export function checkCidr(r: SyntaxReporter, at: string, v: unknown): void {
  if (typeof v !== 'string') return;
  const problem = cidrProblem(v);
  if (problem === null) return;
  if (problem.startsWith('warning:')) r.warn(at, problem.slice(9));
  else r.error(at, `${problem}, got ${r.show(at, v)}`);
}

/** Parses a route path pattern: its shape (params as ":" / "*") and param names, or an error. */
export function parsePath(path: string): { shape: string; params: string[] } | { error: string } {
  if (!path.startsWith('/')) return { error: 'must start with "/"' };
  if (/[?#]/.test(path)) return { error: '"?" and "#" are not allowed (the query string is not matched)' };
  if (/[\s\u0000-\u001f\u007f]/.test(path)) return { error: 'whitespace and control characters are not allowed' };
  if (path.includes('%')) return { error: 'write paths decoded, without "%" escapes (matching is on the decoded path)' };
  const segments = path.slice(1).split('/');
  const params: string[] = [];
  const shape: string[] = [];
  for (let k = 0; k < segments.length; k++) {
    const seg = segments[k];
    const last = k === segments.length - 1;
    if (seg === '') {
      if (last) {
        shape.push('');
        continue;
      }
      return { error: 'empty segment ("//")' };
    }
    if (seg === '.' || seg === '..') return { error: `"${seg}" segment` };
    if (seg.startsWith(':')) {
      const name = seg.slice(1);
      if (name === '') return { error: '":" without a parameter name' };
      if (!PARAM_NAME.test(name)) return { error: `invalid parameter name "${name}" (use letters, digits and "_")` };
      if (params.includes(name)) return { error: `duplicate parameter ":${name}"` };
      params.push(name);
      shape.push(':');
      continue;
    }
    if (seg.includes('*')) {
      if (seg !== '*') return { error: '"*" must be a whole segment' };
      if (!last) return { error: '"*" is only allowed as the last segment' };
      params.push('*');
      shape.push('*');
      continue;
    }
    shape.push(seg);
  }
  return { shape: `/${shape.join('/')}`, params };
}

/** Problem with a {param} template (rewrite, aggregate backend path), or null. */
export function templateProblem(template: string): string | null {
  let depth = 0;
  for (const ch of template) {
    if (ch === '{') {
      if (depth > 0) return 'nested "{" in template';
      depth++;
    } else if (ch === '}') {
      if (depth === 0) return 'unmatched "}" in template';
      depth--;
    }
  }
  if (depth !== 0) return 'unclosed "{" in template';
  for (const m of template.matchAll(/\{([^{}]*)\}/g)) {
    if (m[1] === '') return 'empty "{}" placeholder';
    if (m[1] !== '*' && !PARAM_NAME.test(m[1])) return `invalid placeholder "{${m[1]}}"`;
  }
  return null;
}

const LABEL = '[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?';
const HOSTNAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);

/** Problem with a (lower-cased) route host, or null. */
export function hostProblem(host: string): string | null {
  if (host === '') return 'must not be empty';
  if (host.includes('://') || host.includes('/')) return 'expected a host name without scheme or path';
  if (host.startsWith('[') && host.endsWith(']')) return isIPv6(host.slice(1, -1)) ? null : 'invalid IPv6 literal';
  if (host.includes(':')) return 'expected a host name without ":port" (the port is ignored when matching)';
  if (host.includes('*')) {
    if (!host.startsWith('*.') || host.slice(2).includes('*')) return '"*." is only allowed as a prefix ("*.example.com")';
    return HOSTNAME.test(host.slice(2)) ? null : 'invalid host name after "*."';
  }
  if (host.endsWith('.')) return 'expected a host name without a trailing "."';
  return HOSTNAME.test(host) ? null : 'invalid host name';
}

/** Problem with a CIDR / address, null when fine; "warning: ..." when only suspicious. */
export function cidrProblem(text: string): string | null {
  const expected = 'expected an IPv4/IPv6 address or CIDR ("10.0.0.0/8", "fd00::/8")';
  const slash = text.indexOf('/');
  const addr = slash === -1 ? text : text.slice(0, slash);
  const v4 = isIPv4(addr);
  if (addr.includes('%') || (!v4 && !isIPv6(addr))) return expected;
  if (slash === -1) return null;
  const prefixText = text.slice(slash + 1);
  const max = v4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) return `${expected}; the prefix length must be 0..${max}`;
  const bytes = addressBytes(addr, v4);
  const prefix = Number(prefixText);
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    if (bytes[bit >> 3] & (0x80 >> (bit & 7))) return `warning: "${text}" has host bits set; it means the whole /${prefix} network`;
  }
  return null;
}

function addressBytes(addr: string, v4: boolean): number[] {
  if (v4) return addr.split('.').map(Number);
  let text = addr;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const b = tail.split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const r = rest ? rest.split(':') : [];
  const groups = [...h, ...Array(rest === undefined ? 0 : 8 - h.length - r.length).fill('0'), ...r].map((g) => parseInt(g, 16));
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

