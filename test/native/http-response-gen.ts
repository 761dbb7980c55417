/**
 * Seeded generator of upstream connections' byte streams: one to three responses (interim heads,
 * pipelined HEAD / CONNECT requests, Content-Length, chunked with extensions and trailers,
 * close-delimited, 101), valid per the contract, then often mutated at random byte positions.
 * Every case also says whether it only uses constructs on which llhttp and our contract agree
 * (`llhttpComparable`), so that the llhttp comparison can demand identical results on those.
 */
import { REQUEST_CONNECT, REQUEST_HEAD, REQUEST_OTHER, type ParserLimits, type RequestKind } from '../../src/native/http-response-parser.js';
import { mulberry32 } from '../../src/util/prng.js';

export interface GenCase {
  raw: string; // latin1
  kinds: RequestKind[];
  limits?: ParserLimits;
  mutated: boolean;
  /** Valid (before mutation) and built only from constructs llhttp treats as we do. */
  llhttpComparable: boolean;
}

export class Gen {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
}

const NAMES = ['Content-Type', 'content-type', 'X-Request-Id', 'Set-Cookie', 'Cache-Control', 'ETag', 'Vary', 'Server', 'Date', 'X-A', 'x', 'Link', "X-!#$%&'*+-.^_`|~"];
const VALUES = ['text/plain', 'a=b; Path=/; HttpOnly', 'no-cache', '"abc"', 'Accept-Encoding', 'gateway/1.0', '', 'a  b', '\xe9t\xe9', 'x,y', '\t', 'v"q', '(c)'];
const REASONS = ['OK', 'Not Found', '', 'Some  Reason ', 'D\xe9j\xe0', 'A\tB'];
const FINAL_STATUSES = [200, 200, 200, 200, 201, 204, 206, 301, 302, 304, 400, 404, 500, 503];
const INTERIM = [100, 102, 103];
const CONNECTION = ['close', 'keep-alive', 'Keep-Alive', 'upgrade', 'close, foo', 'x, keep-alive', 'CLOSE'];
const KEEP_ALIVE = ['timeout=5', 'timeout=5, max=100', 'max=1', 'timeout=x', 'Timeout=99999999999', 'max=3, timeout=7'];
const EXTENSIONS = [';a', ';a=b', ' ; a = "q\\"x"', ';n=1;m', '\t;x=\t"y z"', ';e="\xe9"', ';k="\xe9\\\xe9"'];
/** BWS in a chunk extension: RFC 9112 allows it, llhttp (strict) refuses it. */
const hasBws = (ext: string) => /[ \t]/.test(ext.split('"')[0]);
const TE = ['chunked', 'Chunked', 'gzip, chunked', 'chunked '];
const BODY_BYTES = 'abcdefghijklmnopqrstuvwxyz0123456789 \r\n\x00\xff;:"\\\t';
const INTERESTING = [0x0d, 0x0a, 0x00, 0x20, 0x09, 0x3a, 0x3b, 0x22, 0x5c, 0x2c, 0x3d, 0x30, 0x66, 0x78, 0x7f, 0x80, 0xff, 0x31, 0x48, 0x2d, 0x2b];

function ows(g: Gen): string {
  return g.chance(0.7) ? '' : g.pick([' ', '  ', '\t', ' \t ']);
}

function body(g: Gen): string {
  const n = g.chance(0.05) ? g.int(3000) : g.int(g.chance(0.3) ? 4 : 60);
  let s = '';
  for (let i = 0; i < n; i++) s += BODY_BYTES[g.int(BODY_BYTES.length)];
  return s;
}

interface Built {
  text: string;
  kind: RequestKind;
  /** The connection can carry another response after this one. */
  reusable: boolean;
  comparable: boolean;
}

function headerLines(g: Gen): string[] {
  const lines: string[] = [];
  for (let n = g.int(g.chance(0.1) ? 12 : 4); n > 0; n--) lines.push(`${g.pick(NAMES)}:${ows(g)}${g.pick(VALUES)}${ows(g)}`);
  return lines;
}

function interimHead(g: Gen): string {
  const lines = [`HTTP/1.1 ${g.pick(INTERIM)} ${g.pick(['Continue', 'Processing', 'Early Hints', ''])}`];
  if (g.chance(0.5)) lines.push('Link: </a.css>; rel=preload');
  return lines.join('\r\n') + '\r\n\r\n';
}

function response(g: Gen): Built {
  let comparable = true;
  const r = g.next();
  const kind: RequestKind = r < 0.1 ? REQUEST_HEAD : r < 0.13 ? REQUEST_CONNECT : REQUEST_OTHER;
  let text = '';
  for (let n = g.chance(0.15) ? 1 + g.int(2) : 0; n > 0; n--) text += interimHead(g);
  const upgrade = g.chance(0.03);
  const status = upgrade ? 101 : g.pick(FINAL_STATUSES);
  const minor = g.chance(0.12) ? 0 : 1;
  const lines = [g.chance(0.05) ? `HTTP/1.${minor} ${status}` : `HTTP/1.${minor} ${status} ${g.pick(REASONS)}`];
  lines.push(...headerLines(g));
  let closeTok = false;
  let kaTok = false;
  if (g.chance(0.2)) {
    const v = g.pick(CONNECTION);
    closeTok = /close/i.test(v);
    kaTok = /keep-alive/i.test(v);
    lines.push(`Connection: ${v}`);
  }
  if (g.chance(0.1)) lines.push(`Keep-Alive: ${g.pick(KEEP_ALIVE)}`);
  const noBody = kind === REQUEST_HEAD || status === 204 || status === 304;
  const tunnel = upgrade || (kind === REQUEST_CONNECT && status >= 200 && status < 300);
  const b = body(g);
  let framing: 'cl' | 'chunked' | 'close' = g.chance(0.5) ? 'cl' : g.chance(0.6) ? 'chunked' : 'close';
  if (minor === 0 && framing === 'chunked') framing = 'cl';
  let payload = '';
  if (framing === 'cl') {
    const cl = noBody || tunnel ? String(g.int(100)) : String(b.length);
    const after = ows(g);
    if (after.includes('\t')) comparable = false; // llhttp refuses a trailing HTAB there
    lines.push(`Content-Length: ${ows(g)}${cl}${after}`);
    if (g.chance(0.03)) {
      lines.push(`content-length: ${cl}`); // an identical duplicate: we accept, llhttp refuses
      comparable = false;
    }
    if (!noBody && !tunnel) payload = b;
  } else if (framing === 'chunked') {
    lines.push(`Transfer-Encoding: ${g.pick(TE)}`);
    if (!noBody && !tunnel) {
      let rest = b;
      while (rest.length > 0) {
        const n = 1 + g.int(Math.min(rest.length, 40));
        let size = n.toString(16);
        if (g.chance(0.3)) size = size.toUpperCase();
        if (g.chance(0.1)) size = '0'.repeat(g.int(16 - size.length)) + size;
        const ext = g.chance(0.2) ? g.pick(EXTENSIONS) : '';
        if (hasBws(ext)) comparable = false;
        payload += `${size}${ext}\r\n${rest.slice(0, n)}\r\n`;
        rest = rest.slice(n);
      }
      const last = g.chance(0.1) ? g.pick(EXTENSIONS) : '';
      if (hasBws(last)) comparable = false;
      payload += `0${last}\r\n`;
      if (g.chance(0.2)) payload += `Checksum:${ows(g)}${g.pick(VALUES)}\r\n`;
      if (g.chance(0.1)) payload += `X-T: 1\r\n`;
      payload += '\r\n';
    }
  } else if (!noBody && !tunnel) {
    payload = b;
  }
  text += lines.join('\r\n') + '\r\n\r\n' + payload;
  if (tunnel) text += g.chance(0.5) ? 'upgraded protocol bytes' : '';
  const closeDelimited = framing === 'close' && !noBody && !tunnel;
  const keepAlive = minor === 1 ? !closeTok : kaTok && !closeTok;
  return { text, kind, reusable: !tunnel && !closeDelimited && keepAlive, comparable };
}

function mutate(g: Gen, s: string): string {
  const bytes = [...s].map((c) => c.charCodeAt(0));
  for (let n = 1 + g.int(3); n > 0; n--) {
    const at = g.int(bytes.length + 1);
    const byte = g.chance(0.7) ? g.pick(INTERESTING) : g.int(256);
    const r = g.next();
    if (r < 0.35 && at < bytes.length) bytes[at] = byte;
    else if (r < 0.6) bytes.splice(at, 0, byte);
    else if (r < 0.75) bytes.splice(at, 1 + g.int(3));
    else if (r < 0.85) bytes.splice(at, 0, ...bytes.slice(at, at + 1 + g.int(10)));
    else if (r < 0.92) bytes.length = Math.min(bytes.length, at);
    else {
      // a CRLF becomes a bare LF or a bare CR
      const k = s.indexOf('\r\n', at);
      if (k >= 0 && k < bytes.length) bytes.splice(k, 2, g.chance(0.5) ? 0x0a : 0x0d);
    }
  }
  return String.fromCharCode(...bytes);
}

/** One connection's byte stream. */
export function genCase(seed: number, mutationRate = 0.5): GenCase {
  const g = new Gen(seed);
  const kinds: RequestKind[] = [];
  let raw = '';
  let comparable = true;
  for (let n = 1 + (g.chance(0.3) ? g.int(3) : 0); n > 0; n--) {
    const r = response(g);
    raw += r.text;
    kinds.push(r.kind);
    comparable &&= r.comparable;
    if (!r.reusable) break;
  }
  let limits: ParserLimits | undefined;
  if (g.chance(0.15)) {
    limits = { maxHeadSize: 16 + g.int(400), maxHeaders: g.int(9), maxChunkExtensionSize: g.int(13) };
    comparable = false;
  }
  const mutated = g.chance(mutationRate);
  if (mutated) raw = mutate(g, raw);
  if (g.chance(0.03)) kinds.push(REQUEST_OTHER); // an extra outstanding request: NO_RESPONSE at EOF
  return { raw, kinds, limits, mutated, llhttpComparable: comparable && !mutated };
}
