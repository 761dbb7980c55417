/**
 * Hand-written framing and parsing cases, by category: the kinds of malformed or ambiguous
 * requests narfindustries/http-garden's bug reproductions are about (chunk syntax, Content-Length
 * and Transfer-Encoding values and duplicates, header names and values, line endings, the request
 * line, pipelining, obs-fold), written for this gateway, each with a smuggled request placed where
 * a parser that reads the case one of the plausible wrong ways would take it for the next request.
 *
 * Every case is one request as far as a strict RFC 9112 reading goes (or is invalid, and must be
 * refused): whenever a Content-Length is the framing, it covers the smuggled request. Each has a
 * Host (and the API key for the private route) unless it is about those lines.
 *
 * A case is `build(primary, smuggled) -> { before, smuggled, after }`. Notation in the names: S is
 * the smuggled request, L its length; D is CRLF + S.
 */
import { hex, type Pieces, type Primary } from './wire.js';

export interface FramingCase {
  family: string;
  name: string;
  build(p: Primary, s: string): Pieces;
}

const cases: FramingCase[] = [];
const add = (family: string, name: string, build: (p: Primary, s: string) => Pieces) => cases.push({ family, name, build });

const reqLine = (p: Primary, method = 'POST') => `${method} ${p.target} HTTP/1.1\r\n`;
const TE = 'Transfer-Encoding: chunked\r\n';

/** A chunked request: head (extra header lines after the standard ones), then body pieces around S. */
function chunked(p: Primary, s: string, pre: string, post = '', extra = ''): Pieces {
  return { before: reqLine(p) + p.std + TE + extra + '\r\n' + pre, smuggled: s, after: post };
}

/**
 * A request framed by `Content-Length: <cl(n)>` where n is the length of the whole body
 * (pre + S + post); `lines` are header lines added before the Content-Length line.
 */
function sized(p: Primary, s: string, opts: { method?: string; lines?: string; linesAfter?: string; cl?: (n: number) => string; pre?: string; post?: string } = {}): Pieces {
  const pre = opts.pre ?? '';
  const post = opts.post ?? '';
  const n = pre.length + s.length + post.length;
  const cl = opts.cl ? opts.cl(n) : String(n);
  return {
    before: reqLine(p, opts.method) + p.std + (opts.lines ?? '') + `Content-Length: ${cl}\r\n` + (opts.linesAfter ?? '') + '\r\n' + pre,
    smuggled: s,
    after: post,
  };
}

/** A request whose head is given whole (`head(n)` with n = body length), then pre + S + post. */
function raw(s: string, head: (n: number) => string, pre = '', post = ''): Pieces {
  return { before: head(pre.length + s.length + post.length) + pre, smuggled: s, after: post };
}

// ------------------------------------------------------------------------------ chunk-size syntax

// The size stands for the length of D = CRLF + S: a parser that reads the size right takes D as
// data; one that reads 0 (it stops at the odd byte) ends the body there, the CRLF ends the trailer
// section, and S is the next request.
const SIZE_FORMS: ReadonlyArray<[string, (h: string) => string]> = [
  ['0x prefix', (h) => `0x${h}`],
  ['0X prefix', (h) => `0X${h}`],
  ['underscore after a 0', (h) => `0_${h}`],
  ['plus sign', (h) => `+${h}`],
  ['minus sign', (h) => `-${h}`],
  ['leading space', (h) => ` ${h}`],
  ['leading tab', (h) => `\t${h}`],
  ['leading byte 0xc0', (h) => `\xc0${h}`],
  ['leading byte 0x85', (h) => `\x85${h}`],
  ['trailing garbage', (h) => `${h}zz`],
  ['a space between 0 and the size', (h) => `0 ${h}`],
  ['trailing space', (h) => `${h} `],
  ['trailing tab', (h) => `${h}\t`],
  ['trailing NUL', (h) => `${h}\x00`],
  ['trailing byte 0xa0', (h) => `${h}\xa0`],
  ['wraps around 64 bits to the size', (h) => `1${h.padStart(16, '0')}`],
  ['40 leading zeros', (h) => '0'.repeat(40) + h],
  ['6 leading zeros (valid)', (h) => `000000${h}`],
  ['upper-case digits (valid)', (h) => h.toUpperCase()],
];
for (const [name, form] of SIZE_FORMS) {
  add('chunk-size', `size of D written with ${name}`, (p, s) => {
    const d = '\r\n' + s;
    return chunked(p, s, `${form(hex(d.length))}\r\n\r\n`, '\r\n0\r\n\r\n');
  });
}
// A size some parsers read as 0, then an empty trailer section, then S.
for (const [name, size] of [
  ['-0', '-0'], ['-0x0', '-0x0'], ['0x0', '0x0'], ['+0', '+0'], ['an empty size line', ''], ['a space', ' '],
  ['0z', '0z'], ['20 zeros', '0'.repeat(20)], ['0 followed by a tab', '0\t'],
] as const) {
  add('chunk-size', `last-chunk size ${name}, then CRLF, then S`, (p, s) => chunked(p, s, `${size}\r\n\r\n`));
}
// Bytes that are not hex digits but that uWS's decoder counts as digits (";"-"@" are 11-16, "g" is 16).
for (const [size, n] of [['g', 16], ['G', 16], ['@', 16], [':', 10], ['?', 15], [';', 11], ['1?', 31]] as const) {
  add('chunk-size', `size "${size}" (not hex; a lenient decoder reads ${n}), ${n} bytes, last chunk, S`, (p, s) =>
    chunked(p, s, `${size}\r\n${'x'.repeat(n)}\r\n0\r\n\r\n`));
}
add('chunk-size', 'sizes that are not hex at all ("Z", "ZZ"), then S', (p, s) => chunked(p, s, 'Z\r\nZZ\r\nZZZ\r\n\r\n'));
add('chunk-size', 'size "INVALID!!!" then S', (p, s) => chunked(p, s, 'INVALID!!!\r\n'));
add('chunk-size', 'a 1 followed by junk on the size line ("1junk"), 1 byte, last chunk, S', (p, s) => chunked(p, s, '1these-bytes-are-not-a-size\r\nZ\r\n0\r\n\r\n'));
add('chunk-size', 'size of 2^64-1, then S', (p, s) => chunked(p, s, 'ffffffffffffffff\r\n'));
add('chunk-size', 'size over the body limit (0xfffffff), then S as data', (p, s) => chunked(p, s, 'fffffff\r\n'));
add('chunk-size', 'size of S minus 2 (data runs into the CRLF)', (p, s) => chunked(p, s, `${hex(s.length - 2)}\r\n`, '\r\n0\r\n\r\n'));

// --------------------------------------------------------------------------- chunk line endings

add('chunk-line', 'size line ended by a bare LF, S as data', (p, s) => chunked(p, s, `${hex(s.length)}\n`, '\r\n0\r\n\r\n'));
add('chunk-line', 'size line ended by a bare CR, S as data', (p, s) => chunked(p, s, `${hex(s.length)}\r`, '\r\n0\r\n\r\n'));
add('chunk-line', 'size line ended by CR CR LF, S as data', (p, s) => chunked(p, s, `${hex(s.length)}\r\r\n`, '\r\n0\r\n\r\n'));
add('chunk-line', 'size line "1\\r0\\n" (bare CR inside), then S', (p, s) => chunked(p, s, '1\r0\nZ\r\n0\r\n\r\n'));
add('chunk-line', 'data ended by a bare LF, last chunk, S', (p, s) => chunked(p, s, '5\r\nhello\n0\r\n\r\n'));
add('chunk-line', 'data ended by a bare CR, last chunk, S', (p, s) => chunked(p, s, '5\r\nhello\r0\r\n\r\n'));
add('chunk-line', 'data not ended by CRLF ("helloXX"), last chunk, S', (p, s) => chunked(p, s, '5\r\nhelloXX0\r\n\r\n'));
add('chunk-line', 'data longer than its size, last chunk, S', (p, s) => chunked(p, s, '3\r\nhello\r\n0\r\n\r\n'));
add('chunk-line', 'last chunk ended by LF LF, then S', (p, s) => chunked(p, s, '5\r\nhello\r\n0\n\n'));
add('chunk-line', 'last chunk ended by CRLF LF, then S', (p, s) => chunked(p, s, '5\r\nhello\r\n0\r\n\n'));
add('chunk-line', 'last chunk ended by LF CRLF, then S', (p, s) => chunked(p, s, '5\r\nhello\r\n0\n\r\n'));
add('chunk-line', 'last chunk ended by CRLF CR "X", then S', (p, s) => chunked(p, s, '5\r\nhello\r\n0\r\n\rX'));
add('chunk-line', 'an extra CRLF before the last chunk, then S', (p, s) => chunked(p, s, '5\r\nhello\r\n\r\n0\r\n\r\n'));
add('chunk-line', 'no last chunk, an empty line, then S', (p, s) => chunked(p, s, '5\r\nhello\r\n\r\n'));
add('chunk-line', 'data then the last chunk without any CRLF between, then S', (p, s) => chunked(p, s, '5\r\nhello0\r\n\r\n'));

// ------------------------------------------------------------------------------ chunk extensions

add('chunk-ext', 'extension ";ext=1", last chunk, S', (p, s) => chunked(p, s, '5;ext=1\r\nhello\r\n0\r\n\r\n'));
add('chunk-ext', 'extension ";a=b" (all bytes a lenient decoder reads as digits), last chunk, S', (p, s) => chunked(p, s, '5;a=b\r\nhello\r\n0\r\n\r\n'));
add('chunk-ext', 'extension after a space ("5 ;x"), last chunk, S', (p, s) => chunked(p, s, '5 ;x\r\nhello\r\n0\r\n\r\n'));
add('chunk-ext', 'extension after a tab ("5\\t;x"), last chunk, S', (p, s) => chunked(p, s, '5\t;x\r\nhello\r\n0\r\n\r\n'));
add('chunk-ext', 'extension on the last chunk ("0;x=y"), then S', (p, s) => chunked(p, s, '5\r\nhello\r\n0;x=y\r\n\r\n'));
add('chunk-ext', 'a bare CR inside the extension ("1;a=b\\r\\r"), then S', (p, s) => chunked(p, s, '1;a=b\r\rZ\r\n0\r\n\r\n'));
add('chunk-ext', 'a bare CR between size and extension ("2\\r\\r;a"), then S', (p, s) => chunked(p, s, '2\r\r;a\r\nZZ\r\n0\r\n\r\n'));
add('chunk-ext', 'a quoted extension value spanning a CRLF, S inside the quotes', (p, s) => chunked(p, s, '5;a="\r\n0\r\n\r\n', '"\r\nhello\r\n0\r\n\r\n'));
add('chunk-ext', 'an empty extension (";"), last chunk, S', (p, s) => chunked(p, s, '5;\r\nhello\r\n0\r\n\r\n'));
add('chunk-ext', 'a NUL in the extension, last chunk, S', (p, s) => chunked(p, s, '5;a\x00\r\nhello\r\n0\r\n\r\n'));
add('chunk-ext', 'a 3000-byte extension, last chunk, S', (p, s) => chunked(p, s, `5;${'x'.repeat(3000)}\r\nhello\r\n0\r\n\r\n`));

// ------------------------------------------------------------------------------------- trailers

add('chunk-trailer', 'a trailer field, then S', (p, s) => chunked(p, s, '5\r\nhello\r\n0\r\nX: y\r\n\r\n'));
add('chunk-trailer', 'a trailer name whose line runs into S ("X:" + S)', (p, s) => chunked(p, s, '5\r\nhello\r\n0\r\nX:'));
add('chunk-trailer', 'two bytes of junk after the last chunk ("XX"), then S', (p, s) => chunked(p, s, '5\r\nhello\r\n0\r\nXX'));
add('chunk-trailer', 'S right after the last-chunk line (S is the trailer section)', (p, s) => chunked(p, s, '5\r\nhello\r\n0\r\n'));
add('chunk-trailer', 'a Content-Length trailer, then S', (p, s) => chunked(p, s, '5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n'));
add('chunk-trailer', 'a Transfer-Encoding trailer, then S', (p, s) => chunked(p, s, '5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n'));
add('chunk-trailer', 'a trailer ended by LF LF, then S', (p, s) => chunked(p, s, '5\r\nhello\r\n0\r\nX: y\n\n'));
add('chunk-trailer', 'a folded trailer line, then S', (p, s) => chunked(p, s, '5\r\nhello\r\n0\r\nX: y\r\n z\r\n\r\n'));
add('chunk-trailer', 'a NUL in a trailer value, then S', (p, s) => chunked(p, s, '5\r\nhello\r\n0\r\nX: a\x00b\r\n\r\n'));
add('chunk-trailer', 'a trailer with an empty name, then S', (p, s) => chunked(p, s, '5\r\nhello\r\n0\r\n: y\r\n\r\n'));
add('chunk-trailer', 'a NUL after the complete body, then S', (p, s) => chunked(p, s, '5\r\nhello\r\n0\r\n\r\n\x00'));

// ------------------------------------------------------------------- Content-Length value syntax

// The body is S; the value is the body length written so that some parsers read 0 or another
// number (then S, or part of it, would be the next request).
const CL_FORMS: ReadonlyArray<[string, (n: number) => string]> = [
  ['a plus sign', (n) => `+${n}`],
  ['a minus sign', (n) => `-${n}`],
  ['hex with 0x', (n) => `0x${hex(n)}`],
  ['a leading zero (octal to some)', (n) => `0${n}`],
  ['16 leading zeros', (n) => `${'0'.repeat(16)}${n}`],
  ['trailing letters', (n) => `${n}abc`],
  ['".0"', (n) => `${n}.0`],
  ['an exponent', (n) => `${n}e0`],
  ['an underscore', (n) => `${String(n)[0]}_${String(n).slice(1)}`],
  ['a space inside', (n) => `${n} ${n}`],
  ['a list of two equal values', (n) => `${n}, ${n}`],
  ['a list without a space', (n) => `${n},${n}`],
  ['a list "0, n"', (n) => `0, ${n}`],
  ['a list "n, 0"', (n) => `${n}, 0`],
  ['leading whitespace (valid)', (n) => ` ${n}`],
  ['a trailing tab (valid)', (n) => `${n}\t`],
  ['a leading tab (valid)', (n) => `\t${n}`],
  ['a trailing VT', (n) => `${n}\x0b`],
  ['a trailing NUL', (n) => `${n}\x00`],
  ['a leading byte 0xa0', (n) => `\xa0${n}`],
  ['a trailing byte 0xa0', (n) => `${n}\xa0`],
  ['a trailing byte 0x85', (n) => `${n}\x85`],
  ['2^64 + n (wraps to n in 64 bits)', (n) => (18446744073709551616n + BigInt(n)).toString()],
  ['2^64 (wraps to 0 in 64 bits)', () => '18446744073709551616'],
  ['2^32 + n (wraps to n in 32 bits)', (n) => String(4294967296 + n)],
  ['a value over the body limit', () => '99999999999'],
  ['non-numeric', () => 'blahblahblah'],
];
for (const [name, form] of CL_FORMS) add('content-length-value', `Content-Length written with ${name}, body S`, (p, s) => sized(p, s, { cl: form }));
for (const [name, value] of [['empty', ''], ['spaces only', '   '], ['a tab only', '\t']] as const) {
  add('content-length-empty', `Content-Length ${name}, body S`, (p, s) => raw(s, () => reqLine(p) + p.std + `Content-Length:${value}\r\n\r\n`));
}
add('content-length-empty', 'Content-Length with a single space, body S', (p, s) => raw(s, () => reqLine(p) + p.std + 'Content-Length: \r\n\r\n'));

// -------------------------------------------------------------------- duplicate Content-Length

for (const [name, first, second] of [
  ['empty, then n', () => '', (n: number) => String(n)],
  ['n, then empty', (n: number) => String(n), () => ''],
  ['0, then n', () => '0', (n: number) => String(n)],
  ['n, then 0', (n: number) => String(n), () => '0'],
  ['n twice', (n: number) => String(n), (n: number) => String(n)],
  ['1, then n', () => '1', (n: number) => String(n)],
] as const) {
  add('content-length-duplicate', `two Content-Length lines: ${name}, body S`, (p, s) =>
    raw(s, (n) => reqLine(p) + p.std + `Content-Length: ${first(n)}\r\nContent-Length: ${second(n)}\r\n\r\n`));
}
add('content-length-duplicate', 'two Content-Length lines in different case, body S', (p, s) =>
  raw(s, (n) => reqLine(p) + p.std + `content-length: ${n}\r\nCONTENT-LENGTH: ${n}\r\n\r\n`));
add('content-length-duplicate', 'Content_Length: 0 (a CGI twin) before the real Content-Length, body S', (p, s) => sized(p, s, { lines: 'Content_Length: 0\r\n' }));
add('content-length-duplicate', 'Content_Length: 0 (a CGI twin) after the real Content-Length, body S', (p, s) => sized(p, s, { linesAfter: 'Content_Length: 0\r\n' }));

// ------------------------------------------------------------------------------- CL + TE together

add('cl-and-te', 'Transfer-Encoding then Content-Length (whole body), body "0" CRLF CRLF + S', (p, s) => sized(p, s, { lines: TE, pre: '0\r\n\r\n' }));
add('cl-and-te', 'Content-Length (whole body) then Transfer-Encoding, body "0" CRLF CRLF + S', (p, s) => sized(p, s, { linesAfter: TE, pre: '0\r\n\r\n' }));
add('cl-and-te', 'Content-Length (whole body) + Transfer-Encoding, body one chunk "Z", last chunk, S', (p, s) => sized(p, s, { lines: TE, pre: '1\r\nZ\r\n0\r\n\r\n' }));
add('cl-and-te', 'Content-Length covering only the size line + Transfer-Encoding, S inside the chunk', (p, s) =>
  sized(p, s, { lines: TE, pre: `${hex(s.length)}\r\n`, post: '\r\n0\r\n\r\n', cl: () => String(hex(s.length).length + 2) }));
add('cl-and-te', 'Content-Length: 0 + Transfer-Encoding, S inside the chunk', (p, s) =>
  sized(p, s, { lines: TE, pre: `${hex(s.length)}\r\n`, post: '\r\n0\r\n\r\n', cl: () => '0' }));
add('cl-and-te', 'Transfer-Encoding: ,chunked + Content-Length (whole body), body "0" CRLF CRLF + S', (p, s) =>
  sized(p, s, { lines: 'Transfer-Encoding: ,chunked\r\n', pre: '0\r\n\r\n' }));
add('cl-and-te', 'Transfer-Encoding: chunked + an empty Content-Length, body "0" CRLF CRLF + S', (p, s) =>
  chunked(p, s, '0\r\n\r\n', '', 'Content-Length: \r\n'));
add('cl-and-te', 'an empty Transfer-Encoding + Content-Length (whole body), body "0" CRLF CRLF + S', (p, s) =>
  sized(p, s, { lines: 'Transfer-Encoding: \r\n', pre: '0\r\n\r\n' }));
add('cl-and-te', 'Transfer-Encoding: identity + Content-Length (whole body), body S', (p, s) => sized(p, s, { lines: 'Transfer-Encoding: identity\r\n' }));
add('cl-and-te', 'a non-numeric Content-Length + Transfer-Encoding, one chunk, last chunk, S', (p, s) =>
  chunked(p, s, '1\r\nZ\r\n0\r\n\r\n', '', 'Content-Length: blahblahblah\r\n'));
add('cl-and-te', 'a GET with Content-Length (whole body) + Transfer-Encoding, body "0" CRLF CRLF + S', (p, s) =>
  sized(p, s, { method: 'GET', lines: TE, pre: '0\r\n\r\n' }));

// ------------------------------------------------------------------------- Transfer-Encoding values

const TE_VALUES: ReadonlyArray<[string, string]> = [
  [',chunked', ',chunked'], ['chunked,', 'chunked,'], ['chunked, chunked', 'chunked, chunked'], ['identity, chunked', 'identity, chunked'],
  ['gzip, chunked', 'gzip, chunked'], ['chunked, identity', 'chunked, identity'], ['cow', 'cow'], ['blegh', 'blegh'], ['identity', 'identity'],
  ['gzip', 'gzip'], ['"chunked"', '"chunked"'], ['chunked;q=1', 'chunked;q=1'], ['chunked ;q=1', 'chunked ;q=1'], ['chunk', 'chunk'],
  ['chunkedx', 'chunkedx'], ['xchunked', 'xchunked'], [', ,chunked', ', ,chunked'], ['chunked,,', 'chunked,,'], [',', ','],
  ['empty', ''], ['chunked + trailing tab (valid)', 'chunked\t'], ['chunked with spaces around (valid)', '  chunked  '],
  ['CHUNKED (valid)', 'CHUNKED'], ['ChUnKeD (valid)', 'ChUnKeD'], ['0xa0 around chunked', '\xa0chunked\xa0'],
  ['0xff around chunked', '\xffchunked\xff'], ['0x85 before chunked', '\x85chunked'], ['0x96 inside chunked', 'ch\x96nked'],
  ['chunked + NUL', 'chunked\x00'], ['chunked + VT', 'chunked\x0b'], ['chunked + DEL', 'chunked\x7f'],
  ['UTF-8 NBSP before chunked', '\xc2\xa0chunked'],
];
for (const [name, value] of TE_VALUES) {
  add('te-value', `Transfer-Encoding: ${name}, body "0" CRLF CRLF + S`, (p, s) => ({
    before: reqLine(p) + p.std + `Transfer-Encoding: ${value}\r\n\r\n0\r\n\r\n`, smuggled: s, after: '',
  }));
  add('te-value', `Transfer-Encoding: ${name}, one chunk "Z", last chunk, S`, (p, s) => ({
    before: reqLine(p) + p.std + `Transfer-Encoding: ${value}\r\n\r\n1\r\nZ\r\n0\r\n\r\n`, smuggled: s, after: '',
  }));
}
add('te-value', 'TE: chunked (the TE header, not Transfer-Encoding) + Content-Length (whole body), body "0" CRLF CRLF + S', (p, s) =>
  sized(p, s, { lines: 'TE: chunked\r\n', pre: '0\r\n\r\n' }));
add('te-value', 'Transfer-Encoding: chunked on a GET, one chunk, last chunk, S', (p, s) => ({
  before: reqLine(p, 'GET') + p.std + TE + '\r\n1\r\nZ\r\n0\r\n\r\n', smuggled: s, after: '',
}));

// ----------------------------------------------------------------------- duplicate Transfer-Encoding

for (const [a, b] of [
  ['chunked', 'chunked'], ['cow', 'chunked'], ['chunked', 'cow'], ['chunked', 'identity'], ['identity', 'chunked'],
  ['', 'chunked'], ['chunked', ''], ['gzip', 'chunked'],
] as const) {
  add('te-duplicate', `two Transfer-Encoding lines "${a}" and "${b}", one chunk, last chunk, S`, (p, s) => ({
    before: reqLine(p) + p.std + `Transfer-Encoding: ${a}\r\nTransfer-Encoding: ${b}\r\n\r\n1\r\nZ\r\n0\r\n\r\n`, smuggled: s, after: '',
  }));
}
add('te-duplicate', 'Transfer-Encoding twice in different case, body "0" CRLF CRLF + S', (p, s) => ({
  before: reqLine(p) + p.std + 'transfer-encoding: chunked\r\nTRANSFER-ENCODING: chunked\r\n\r\n0\r\n\r\n', smuggled: s, after: '',
}));
add('te-duplicate', 'Transfer-Encoding twice, Content-Length (whole body), body "0" CRLF CRLF + S', (p, s) => sized(p, s, { lines: TE + TE, pre: '0\r\n\r\n' }));

// ------------------------------------------------------------------------------- header names

// A line before the Content-Length (whole body, S): a parser that stops or resets at it would not
// see the Content-Length, and S would be the next request.
const NAME_LINES: ReadonlyArray<[string, string]> = [
  ['an empty name ": x"', ': x'], ['a lone ":"', ':'], ['": " (empty name and value)', ': '], ['":x"', ':x'],
  ['a NUL name', '\x00: x'], ['a NUL in the name', 'Hea\x00der: value'], ['a name ending in NUL', 'H\x00: value'],
  ['a name starting with 0xef', '\xefoo: bar'], ['a name starting with 0xff', '\xffoo: bar'], ['0x85 before the colon', 'Header\x85: value'],
  ['0xa0 before the colon', 'Header\xa0: value'], ['a space inside the name', 'X Y: z'], ['a tab before the colon', 'X\t: y'],
  ['a space before the colon', 'X : y'], ['a quoted name', '"X": y'], ['parentheses', 'X(Y): z'], ['"@"', 'X@Y: z'], ['"/"', 'X/Y: z'],
  ['brackets', 'X[Y]: z'], ['braces', 'X{Y}: z'], ['"="', 'X=Y: z'], ['";"', 'X;Y: z'], ['","', 'X,Y: z'], ['"?"', 'X?Y: z'],
  ['angle brackets', 'X<Y>: z'], ['a backslash', 'X\\Y: z'], ['DEL', 'X\x7fY: z'],
  ['every CTL and separator', '\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f "(),/;<=>?@[\\]{}: whatever'],
  ['8-bit bytes 0xc0-0xef', Array.from({ length: 0x30 }, (_, i) => String.fromCharCode(0xc0 + i)).join('') + ': yep'],
  ['every tchar (valid)', "!#$%&'*+-.^_`|~09AZaz: ok"], ['"Te!st" (valid)', 'Te!st: a'],
];
for (const [name, line] of NAME_LINES) add('header-name', `${name} before Content-Length, body S`, (p, s) => sized(p, s, { lines: `${line}\r\n` }));
add('header-name', 'an empty name right after the request line (before Host), body S', (p, s) =>
  raw(s, (n) => reqLine(p) + `: x\r\n${p.std}Content-Length: ${n}\r\n\r\n`));
add('header-name', 'an empty name after Content-Length, body S', (p, s) => sized(p, s, { linesAfter: ': x\r\n' }));
// The Content-Length's own name mangled (the only framing header): whoever accepts it takes S as body.
for (const [name, line] of [
  ['a space before the colon', (n: number) => `Content-Length : ${n}`],
  ['a tab before the colon', (n: number) => `Content-Length\t: ${n}`],
  ['0x85 before the colon', (n: number) => `Content-Length\x85: ${n}`],
  ['0xa0 before the colon', (n: number) => `Content-Length\xa0: ${n}`],
  ['a NUL before the colon', (n: number) => `Content-Length\x00: ${n}`],
  ['a NUL for the dash', (n: number) => `Content\x00Length: ${n}`],
  ['a space for the dash', (n: number) => `Content Length: ${n}`],
  ['lower case (valid)', (n: number) => `content-length: ${n}`],
  ['upper case (valid)', (n: number) => `CONTENT-LENGTH: ${n}`],
] as const) {
  add('header-name', `Content-Length name with ${name}, body S`, (p, s) => raw(s, (n) => reqLine(p) + p.std + `${line(n)}\r\n\r\n`));
}
add('header-name', 'a tab before the first header name (Content-Length), body S', (p, s) =>
  raw(s, (n) => reqLine(p) + `\tContent-Length: ${n}\r\n${p.std}\r\n`));
add('header-name', 'a space before the first header name (Content-Length), body S', (p, s) =>
  raw(s, (n) => reqLine(p) + ` Content-Length: ${n}\r\n${p.std}\r\n`));
add('header-name', 'the Transfer-Encoding name split over two lines + Content-Length, body "0" CRLF CRLF + S', (p, s) =>
  sized(p, s, { lines: 'Transfer-\r\nEncoding: chunked\r\n', pre: '0\r\n\r\n' }));

// --------------------------------------------------------------------------- lines without a colon

add('header-no-colon', '"Content-Length <n>" (no colon) as the only framing, body S', (p, s) => raw(s, (n) => reqLine(p) + p.std + `Content-Length ${n}\r\n\r\n`));
add('header-no-colon', 'a name without colon or value before Content-Length, body S', (p, s) => sized(p, s, { lines: 'X-No-Colon\r\n' }));
add('header-no-colon', 'a name without colon after Content-Length, body S', (p, s) => sized(p, s, { linesAfter: 'X-No-Colon\r\n' }));
add('header-no-colon', '"c" NUL (no colon) before Content-Length, body S', (p, s) => sized(p, s, { lines: 'a:b\r\nc\x00\r\n' }));
add('header-no-colon', 'a bare LF inside a name ("Te\\nst: test"), body S', (p, s) => sized(p, s, { lines: 'Te\nst: test\r\n' }));
add('header-no-colon', 'a request line inside the head, body S', (p, s) => sized(p, s, { lines: `GET /public/inner HTTP/1.1\r\n` }));

// --------------------------------------------------------------- NUL, CR, 8-bit bytes in values

const VALUE_LINES: ReadonlyArray<[string, string]> = [
  ['NUL then bare CR inside a value', 'Header: v\x00\ralue'], ['a bare CR inside a value', 'Header: va\rlue'],
  ['bare CRs inside a value', 'Invalid-Header: this\rvalue\ris\rinvalid'], ['a NUL inside a value', 'Test: test\x00THESE BYTES'],
  ['a NUL alone', 'H: \x00'], ['a trailing NUL', 'Evil: evil\x00'], ['LF NUL CR inside a value', 'Header: v\n\x00\ralue'],
  ['0x85 and 0xa0 around a value', 'User: \x85admin\xa0'], ['0x85 inside a value (forwarded as is)', 'X-A: a\x85b'],
  ['0xa0 inside a value (forwarded as is)', 'X-A: a\xa0b'], ['a leading 0xff', 'X-A: \xffab'], ['DEL inside a value', 'X-A: a\x7fb'],
  ['VT inside a value', 'X-A: a\x0bb'], ['ESC inside a value', 'X-A: a\x1bb'], ['a bare CR, then another header', 'Visible: :/\rSmuggled: :)'],
  ['a bare CR then "Content-Length: 0"', 'X-A: a\rContent-Length: 0'], ['a value of LF LF', 'Useless:\n\nX: y'],
];
for (const [name, line] of VALUE_LINES) add('header-value', `${name}, Content-Length (whole body), body S`, (p, s) => sized(p, s, { lines: `${line}\r\n` }));
add('header-value', 'the only Content-Length behind a bare CR ("X: x\\rContent-Length: n"), body S', (p, s) =>
  raw(s, (n) => reqLine(p) + p.std + `Whatever: whatever\rContent-Length: ${n}\r\n\r\n`));
add('header-value', 'a NUL inside the Host value, body S', (p, s) => raw(s, (n) => reqLine(p) + `Host: gw.test\x00.evil.example\r\n${p.authLine}Content-Length: ${n}\r\n\r\n`));
add('header-value', '0xff around the Host value, body S', (p, s) => raw(s, (n) => reqLine(p) + `Host: \xffgw.test\xff\r\n${p.authLine}Content-Length: ${n}\r\n\r\n`));
add('header-value', 'Transfer-Encoding: 0x85 chunked, body "0" CRLF CRLF + S', (p, s) => ({
  before: reqLine(p) + p.std + 'Transfer-Encoding: \x85chunked\r\n\r\n0\r\n\r\n', smuggled: s, after: '',
}));
add('header-value', 'the Content-Length value with 0xa0 around it, body S', (p, s) => sized(p, s, { cl: (n) => `\xa0${n}\xa0` }));

// ------------------------------------------------------------------------------- line endings

add('line-ending', 'bare LF line ends everywhere, body S', (p, s) =>
  raw(s, (n) => `POST ${p.target} HTTP/1.1\nHost: gw.test\n${p.authLine.replace('\r\n', '\n')}Content-Length: ${n}\n\n`));
add('line-ending', 'bare LF line ends in the headers only, body S', (p, s) =>
  raw(s, (n) => reqLine(p) + `Host: gw.test\n${p.authLine.replace('\r\n', '\n')}Content-Length: ${n}\n\n`));
add('line-ending', 'the head ended by CRLF LF, body S', (p, s) => raw(s, (n) => reqLine(p) + p.std + `Content-Length: ${n}\r\n\n`));
add('line-ending', 'the head ended by CRLF CR CRLF, body S', (p, s) => raw(s, (n) => reqLine(p) + p.std + `Content-Length: ${n}\r\n\r\r\n`));
add('line-ending', 'the head ended by CRLF CR "Z", then S', (p, s) => raw(s, (n) => reqLine(p) + p.std + `Content-Length: ${n}\r\n\rZ`));
add('line-ending', 'bare CR line ends everywhere, body S', (p, s) =>
  raw(s, (n) => `POST ${p.target} HTTP/1.1\rHost: gw.test\r${p.authLine.replace('\r\n', '\r')}Content-Length: ${n}\r\r`));
add('line-ending', 'one header line ended by a bare LF (before Content-Length), body S', (p, s) =>
  raw(s, (n) => reqLine(p) + `Host: gw.test\n${p.authLine}Content-Length: ${n}\r\n\r\n`));
add('line-ending', 'one header line ended by a bare CR (before Content-Length), body S', (p, s) =>
  raw(s, (n) => reqLine(p) + `Host: gw.test\r${p.authLine}Content-Length: ${n}\r\n\r\n`));
add('line-ending', 'a CRLF before the request line, body S', (p, s) => raw(s, (n) => '\r\n' + reqLine(p) + p.std + `Content-Length: ${n}\r\n\r\n`));
add('line-ending', 'a bare LF before the request line, body S', (p, s) => raw(s, (n) => '\n' + reqLine(p) + p.std + `Content-Length: ${n}\r\n\r\n`));
add('line-ending', 'two CRLFs before the request line, body S', (p, s) => raw(s, (n) => '\r\n\r\n' + reqLine(p) + p.std + `Content-Length: ${n}\r\n\r\n`));

// ------------------------------------------------------------------------------- the request line

const LINE_FORMS: ReadonlyArray<[string, (t: string) => string]> = [
  ['HTTP/1.0', (t) => `POST ${t} HTTP/1.0`], ['HTTP/1.32', (t) => `POST ${t} HTTP/1.32`], ['HTTP/4294967295.255', (t) => `POST ${t} HTTP/4294967295.255`],
  ['CR CR inside the version', (t) => `POST ${t} HTTP/\r\r1.1`], ['a lower-case version', (t) => `POST ${t} http/1.1`], ['HTTP/2.0', (t) => `POST ${t} HTTP/2.0`],
  ['HTTP/01.1', (t) => `POST ${t} HTTP/01.1`], ['HTTP/1.01', (t) => `POST ${t} HTTP/1.01`], ['HTTP/1', (t) => `POST ${t} HTTP/1`],
  ['a space after the version', (t) => `POST ${t} HTTP/1.1 `], ['a space inside the version', (t) => `POST ${t} HTTP /1.1`],
  ['the line ended by a bare LF', (t) => `POST ${t} HTTP/1.1\nX-After-LF: 1`],
  ['a method of separators', (t) => `G=":<>(e),[T];?" ${t} HTTP/1.1`], ['a NUL method', (t) => `\x00 ${t} HTTP/1.1`], ['a lower-case method', (t) => `post ${t} HTTP/1.1`],
  ['a space inside the method', (t) => `PO ST ${t} HTTP/1.1`], ['a NUL after the method', (t) => `POST\x00 ${t} HTTP/1.1`], ['an 8-bit byte in the method', (t) => `P\xd3ST ${t} HTTP/1.1`],
  ['a 300-byte method', (t) => `${'A'.repeat(300)} ${t} HTTP/1.1`], ['two spaces after the method', (t) => `POST  ${t} HTTP/1.1`],
  ['two spaces before the version', (t) => `POST ${t}  HTTP/1.1`], ['a tab after the method', (t) => `POST\t${t} HTTP/1.1`],
  ['a tab before the version', (t) => `POST ${t}\tHTTP/1.1`], ['a leading space', (t) => ` POST ${t} HTTP/1.1`], ['a bare LF for the space before the version', (t) => `POST ${t}\nHTTP/1.1`],
  ['target "!"', () => 'POST ! HTTP/1.1'], ['target "*"', () => 'POST * HTTP/1.1'], ['absolute-form', (t) => `POST http://gw.test${t} HTTP/1.1`],
  ['a fragment', (t) => `POST ${t}#frag HTTP/1.1`], ['a NUL in the target', (t) => `POST ${t}\x00x HTTP/1.1`], ['DEL in the target', (t) => `POST ${t}\x7fx HTTP/1.1`],
  ['an 8-bit byte in the target', (t) => `POST ${t}\xffx HTTP/1.1`], ['a space inside the target', (t) => `POST ${t} x HTTP/1.1`],
  ['a backslash in the target', (t) => `POST ${t}\\..\\x HTTP/1.1`], ['a dot-dot climbing out of the route', (t) => `POST ${t}/../../../private/p HTTP/1.1`],
];
for (const [name, form] of LINE_FORMS) {
  add('request-line', `request line with ${name}, Content-Length (whole body), body S`, (p, s) => raw(s, (n) => `${form(p.target)}\r\n${p.std}Content-Length: ${n}\r\n\r\n`));
}
add('request-line', 'an HTTP/0.9-style line (no version), then headers and body S', (p, s) => raw(s, (n) => `POST ${p.target}\r\n${p.std}Content-Length: ${n}\r\n\r\n`));
add('request-line', 'an HTTP/2 connection preface, then S', (p, s) => raw(s, () => 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));

// ------------------------------------------------------------------------------- pipelining

add('pipelining', 'GET with Connection: close, then junk, then S', (p, s) => raw(s, () => reqLine(p, 'GET') + p.std + 'Connection: close\r\n\r\n', 'Invalid\r\n\r\n'));
for (const [name, line] of [
  ['Connection: close', 'Connection: close'], ['Connection: Close', 'Connection: Close'], ['Connection: keep-alive, close', 'Connection: keep-alive, close'],
  ['Connection: close, X-Foo', 'Connection: close, X-Foo\r\nX-Foo: 1'], ['connection:close', 'connection:close'],
  ['Connection: close, close', 'Connection: close, close'], ['Connection: close + a trailing tab', 'Connection: close\t'],
  ['two Connection lines (keep-alive, then close)', 'Connection: keep-alive\r\nConnection: close'],
] as const) {
  add('pipelining', `GET with ${name}, then S`, (p, s) => raw(s, () => reqLine(p, 'GET') + p.std + `${line}\r\n\r\n`));
}
add('pipelining', 'POST with Content-Length: 0 and Connection: close, then S', (p, s) => raw(s, () => reqLine(p) + p.std + 'Content-Length: 0\r\nConnection: close\r\n\r\n'));
add('pipelining', 'POST with Connection: close, Content-Length (whole body), body S', (p, s) => sized(p, s, { lines: 'Connection: close\r\n' }));
for (const method of ['GET', 'HEAD', 'DELETE', 'OPTIONS']) {
  add('pipelining', `${method} with Content-Length (whole body), body S`, (p, s) => sized(p, s, { method }));
}
add('pipelining', 'Expect: 100-continue, Content-Length (whole body), body S', (p, s) => sized(p, s, { lines: 'Expect: 100-continue\r\n' }));
add('pipelining', 'Expect: 100-continue, chunked, S inside the chunk', (p, s) => chunked(p, s, `${hex(s.length)}\r\n`, '\r\n0\r\n\r\n', 'Expect: 100-continue\r\n'));
add('pipelining', 'an h2c upgrade, Content-Length (whole body), body S', (p, s) =>
  sized(p, s, { lines: 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n' }));
// A declined upgrade leaves the connection HTTP/1.1 (RFC 9110 §7.8), so S goes in a body here.
add('pipelining', 'a WebSocket upgrade GET, Content-Length (whole body), body S', (p, s) =>
  sized(p, s, { method: 'GET', lines: 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' }));
add('pipelining', 'a well-formed chunked body, then S', (p, s) => chunked(p, s, '5\r\nhello\r\n0\r\n\r\n'));

// ------------------------------------------------------------------------------- obs-fold

add('obs-fold', 'a folded header line (SP) before Content-Length, body S', (p, s) => sized(p, s, { lines: 'X-A: a\r\n b\r\n' }));
add('obs-fold', 'a folded header line (HTAB) before Content-Length, body S', (p, s) => sized(p, s, { lines: 'X-A: a\r\n\tb\r\n' }));
add('obs-fold', 'an empty continuation line before Content-Length, body S', (p, s) => sized(p, s, { lines: 'X-A: a\r\n \r\n' }));
add('obs-fold', 'the Content-Length value on a folded line, body S', (p, s) => raw(s, (n) => reqLine(p) + p.std + `Content-Length:\r\n ${n}\r\n\r\n`));
add('obs-fold', 'the Content-Length value continued on a folded line, body S', (p, s) => raw(s, (n) => reqLine(p) + p.std + `Content-Length: ${n}\r\n ${n}\r\n\r\n`));
add('obs-fold', 'the Transfer-Encoding value on a folded line + Content-Length, body "0" CRLF CRLF + S', (p, s) =>
  sized(p, s, { lines: 'Transfer-Encoding:\r\n chunked\r\n', pre: '0\r\n\r\n' }));
add('obs-fold', 'Transfer-Encoding: chunked continued by ", identity" on a folded line, body "0" CRLF CRLF + S', (p, s) => ({
  before: reqLine(p) + p.std + 'Transfer-Encoding: chunked\r\n , identity\r\n\r\n0\r\n\r\n', smuggled: s, after: '',
}));
add('obs-fold', 'a folded line right after the request line, body S', (p, s) => raw(s, (n) => reqLine(p) + `\tX-A: y\r\n${p.std}Content-Length: ${n}\r\n\r\n`));
add('obs-fold', 'the Host value continued on a folded line, body S', (p, s) =>
  raw(s, (n) => reqLine(p) + `Host: gw.test\r\n evil.example\r\n${p.authLine}Content-Length: ${n}\r\n\r\n`));

export function framingCases(): readonly FramingCase[] {
  return cases;
}
