/**
 * Named upstream responses: regression cases (valid ones that once went wrong in proxies, and the
 * malformed kinds a black-box review of the gateway used), each with the outcome our contract
 * gives and what llhttp (Node's parser, strict mode) does with it. Used by the regression suite,
 * as seeds of the differential fuzzing, by the llhttp comparison and as the seed corpus of the
 * C++ fuzz target.
 */
import { REQUEST_CONNECT, REQUEST_HEAD, REQUEST_OTHER, type ParserLimits, type RequestKind } from '../../src/native/http-response-parser.js';

export interface CorpusCase {
  name: string;
  /** The bytes, as a latin1 string. */
  raw: string;
  /** expect() calls (default: one REQUEST_OTHER). */
  kinds?: RequestKind[];
  limits?: ParserLimits;
  /** Our outcome: "OK", "UPGRADED" or an error name (ParseError key). */
  outcome: string;
  /** Final responses we report (default 1 when OK/UPGRADED). */
  responses?: number;
  /**
   * What llhttp does: 'same' (accepts with the same messages, or rejects too), 'accepts' (it
   * accepts what we reject: we are stricter; the reason is in `note`), 'rejects' (it rejects what
   * we accept), 'differs' (both accept, with different messages) or 'skip' (nothing to compare).
   */
  llhttp: 'same' | 'accepts' | 'rejects' | 'differs' | 'skip';
  note?: string;
}

const CRLF = '\r\n';
const head = (...lines: string[]) => lines.join(CRLF) + CRLF + CRLF;
const CHUNKED = 'Transfer-Encoding: chunked';

export const VALID: CorpusCase[] = [
  { name: '200 with Content-Length', raw: head('HTTP/1.1 200 OK', 'Content-Type: text/plain', 'Content-Length: 5') + 'hello', outcome: 'OK', llhttp: 'same' },
  {
    name: '304 with Content-Length (no body), then the next response on the connection',
    raw: head('HTTP/1.1 304 Not Modified', 'ETag: "abc"', 'Content-Length: 1234') + head('HTTP/1.1 200 OK', 'Content-Length: 2') + 'ok',
    kinds: [REQUEST_OTHER, REQUEST_OTHER],
    outcome: 'OK',
    responses: 2,
    llhttp: 'same',
  },
  {
    name: 'unsolicited 100 Continue before the final response',
    raw: head('HTTP/1.1 100 Continue') + head('HTTP/1.1 201 Created', 'Content-Length: 3') + 'new',
    outcome: 'OK',
    llhttp: 'same',
  },
  {
    name: '103 Early Hints then 200',
    raw: head('HTTP/1.1 103 Early Hints', 'Link: </style.css>; rel=preload; as=style') + head('HTTP/1.1 200 OK', 'Link: </style.css>; rel=preload; as=style', 'Content-Length: 4') + 'page',
    outcome: 'OK',
    llhttp: 'same',
  },
  { name: '204 with Content-Length: 0', raw: head('HTTP/1.1 204 No Content', 'Content-Length: 0'), outcome: 'OK', llhttp: 'same' },
  { name: 'HEAD response with Content-Length', raw: head('HTTP/1.1 200 OK', 'Content-Length: 5000'), kinds: [REQUEST_HEAD], outcome: 'OK', llhttp: 'same' },
  {
    name: 'chunked with extensions and trailers',
    raw: head('HTTP/1.1 200 OK', CHUNKED, 'Trailer: Checksum') + '4;name=value\r\nWiki\r\n5;q="a \\"b\\""\r\npedia\r\n0\r\nChecksum: abc\r\n\r\n',
    outcome: 'OK',
    llhttp: 'same',
  },
  { name: 'HTTP/1.0 close-delimited', raw: head('HTTP/1.0 200 OK', 'Server: old') + 'until the end', outcome: 'OK', llhttp: 'same' },
  { name: 'HTTP/1.0 keep-alive with Content-Length', raw: head('HTTP/1.0 200 OK', 'Connection: keep-alive', 'Keep-Alive: timeout=5, max=100', 'Content-Length: 2') + 'ok', outcome: 'OK', llhttp: 'same' },
  { name: 'status line without reason', raw: head('HTTP/1.1 200', 'Content-Length: 0'), outcome: 'OK', llhttp: 'same' },
  { name: '101 Switching Protocols with trailing protocol bytes', raw: head('HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade') + '\x81\x02hi', outcome: 'UPGRADED', llhttp: 'same' },
  { name: 'CONNECT 200 tunnel', raw: head('HTTP/1.1 200 Connection established') + 'tunnel bytes', kinds: [REQUEST_CONNECT], outcome: 'UPGRADED', llhttp: 'same' },
  {
    name: 'pipelined: GET, HEAD, GET',
    raw: head('HTTP/1.1 200 OK', 'Content-Length: 1') + 'a' + head('HTTP/1.1 200 OK', 'Content-Length: 10') + head('HTTP/1.1 200 OK', CHUNKED) + '1\r\nb\r\n0\r\n\r\n',
    kinds: [REQUEST_OTHER, REQUEST_HEAD, REQUEST_OTHER],
    outcome: 'OK',
    responses: 3,
    llhttp: 'same',
  },
  { name: 'gzip, chunked', raw: head('HTTP/1.1 200 OK', 'Content-Encoding: gzip', 'Transfer-Encoding: gzip, chunked') + '2\r\n\x1f\x8b\r\n0\r\n\r\n', outcome: 'OK', llhttp: 'same' },
  { name: 'obs-text in values and reason', raw: head('HTTP/1.1 200 D\xe9j\xe0 vu', 'X-Name: Ren\xe9', 'Content-Length: 0'), outcome: 'OK', llhttp: 'same' },
  { name: 'body with NUL, CR and LF bytes', raw: head('HTTP/1.1 200 OK', 'Content-Length: 6') + '\x00\r\n\r\x00\n', outcome: 'OK', llhttp: 'same' },
];

export const MALFORMED: CorpusCase[] = [
  // status lines
  { name: 'status code with letters', raw: head('HTTP/1.1 2OO OK', 'Content-Length: 0'), outcome: 'INVALID_STATUS', llhttp: 'same' },
  { name: 'status code missing', raw: head('HTTP/1.1 OK', 'Content-Length: 0'), outcome: 'INVALID_STATUS', llhttp: 'same' },
  { name: 'four-digit status code', raw: head('HTTP/1.1 1000 Big', 'Content-Length: 0'), outcome: 'INVALID_STATUS', llhttp: 'same' },
  { name: 'status code 600', raw: head('HTTP/1.1 600 Odd', 'Content-Length: 0'), outcome: 'INVALID_STATUS', llhttp: 'accepts', note: 'we accept 100-599 only' },
  { name: 'HTTP/3.0 version', raw: head('HTTP/3.0 200 OK', 'Content-Length: 0'), outcome: 'INVALID_VERSION', llhttp: 'same' },
  { name: 'no SP after the version', raw: head('HTTP/1.1200 OK', 'Content-Length: 0'), outcome: 'INVALID_VERSION', llhttp: 'same' },
  { name: 'not HTTP at all', raw: 'hello world\r\n\r\n', outcome: 'INVALID_VERSION', llhttp: 'same' },
  { name: 'empty line before the status line', raw: '\r\n' + head('HTTP/1.1 200 OK', 'Content-Length: 0'), outcome: 'INVALID_VERSION', llhttp: 'accepts', note: 'llhttp skips leading CRLF' },
  { name: 'control character in the reason', raw: head('HTTP/1.1 200 O\x01K', 'Content-Length: 0'), outcome: 'INVALID_REASON', llhttp: 'accepts', note: 'llhttp does not check the reason phrase' },
  // header names and values
  { name: 'space before the colon', raw: head('HTTP/1.1 200 OK', 'Content-Length : 5') + 'hello', outcome: 'INVALID_HEADER_NAME', llhttp: 'same' },
  { name: 'non-token header name', raw: head('HTTP/1.1 200 OK', 'Bad[Name]: x', 'Content-Length: 0'), outcome: 'INVALID_HEADER_NAME', llhttp: 'same' },
  { name: 'header line without a colon', raw: head('HTTP/1.1 200 OK', 'NoColonHere', 'Content-Length: 0'), outcome: 'INVALID_HEADER_NAME', llhttp: 'same' },
  { name: 'NUL in a header name', raw: head('HTTP/1.1 200 OK', 'X-\x00: 1', 'Content-Length: 0'), outcome: 'INVALID_HEADER_NAME', llhttp: 'same' },
  { name: 'NUL in a header value', raw: head('HTTP/1.1 200 OK', 'X-A: a\x00b', 'Content-Length: 0'), outcome: 'INVALID_HEADER_VALUE', llhttp: 'same' },
  { name: 'vertical tab in a header value', raw: head('HTTP/1.1 200 OK', 'X-A: a\x0bb', 'Content-Length: 0'), outcome: 'INVALID_HEADER_VALUE', llhttp: 'same' },
  { name: 'DEL in a header value', raw: head('HTTP/1.1 200 OK', 'X-A: a\x7fb', 'Content-Length: 0'), outcome: 'INVALID_HEADER_VALUE', llhttp: 'same' },
  { name: 'obs-fold', raw: head('HTTP/1.1 200 OK', 'X-A: a', '  folded', 'Content-Length: 0'), outcome: 'OBS_FOLD', llhttp: 'same' },
  { name: 'whitespace before the first header', raw: head('HTTP/1.1 200 OK', ' X-A: a', 'Content-Length: 0'), outcome: 'OBS_FOLD', llhttp: 'same' },
  { name: 'bare CR in a header value', raw: head('HTTP/1.1 200 OK', 'X-A: a\rb', 'Content-Length: 0'), outcome: 'BARE_CR', llhttp: 'same' },
  { name: 'bare LF line endings', raw: 'HTTP/1.1 200 OK\nContent-Length: 0\n\n', outcome: 'BARE_LF', llhttp: 'same' },
  { name: 'bare LF ending one header', raw: 'HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 0\r\n\r\n', outcome: 'BARE_LF', llhttp: 'same' },
  // Content-Length
  { name: 'two different Content-Length values', raw: head('HTTP/1.1 200 OK', 'Content-Length: 5', 'Content-Length: 6') + 'hello!', outcome: 'CONTENT_LENGTH_MISMATCH', llhttp: 'same' },
  { name: 'Content-Length list of different values', raw: head('HTTP/1.1 200 OK', 'Content-Length: 5, 6') + 'hello!', outcome: 'CONTENT_LENGTH_MISMATCH', llhttp: 'same' },
  { name: 'negative Content-Length', raw: head('HTTP/1.1 200 OK', 'Content-Length: -5') + 'hello', outcome: 'INVALID_CONTENT_LENGTH', llhttp: 'same' },
  { name: 'Content-Length with a plus sign', raw: head('HTTP/1.1 200 OK', 'Content-Length: +5') + 'hello', outcome: 'INVALID_CONTENT_LENGTH', llhttp: 'same' },
  { name: 'Content-Length over 2^64', raw: head('HTTP/1.1 200 OK', 'Content-Length: 18446744073709551616') + 'x', outcome: 'CONTENT_LENGTH_OVERFLOW', llhttp: 'same' },
  { name: 'Content-Length over 2^53 (response to HEAD)', raw: head('HTTP/1.1 200 OK', 'Content-Length: 9007199254740993'), kinds: [REQUEST_HEAD], outcome: 'CONTENT_LENGTH_OVERFLOW', llhttp: 'accepts', note: 'llhttp accepts up to 2^64-1; JS numbers are exact to 2^53-1 only' },
  { name: 'space inside Content-Length', raw: head('HTTP/1.1 200 OK', 'Content-Length: 1 0') + 'x'.repeat(10), outcome: 'INVALID_CONTENT_LENGTH', llhttp: 'same' },
  { name: 'hex Content-Length', raw: head('HTTP/1.1 200 OK', 'Content-Length: 0x10') + 'x'.repeat(16), outcome: 'INVALID_CONTENT_LENGTH', llhttp: 'same' },
  { name: 'empty Content-Length', raw: head('HTTP/1.1 200 OK', 'Content-Length:') + 'x', outcome: 'INVALID_CONTENT_LENGTH', llhttp: 'same' },
  { name: 'body shorter than Content-Length (truncated at EOF)', raw: head('HTTP/1.1 200 OK', 'Content-Length: 100') + 'only this', outcome: 'UNEXPECTED_EOF', llhttp: 'same' },
  { name: 'body longer than Content-Length (extra bytes on a keep-alive connection)', raw: head('HTTP/1.1 200 OK', 'Content-Length: 3') + 'abcdef', outcome: 'UNSOLICITED_RESPONSE', llhttp: 'same', note: 'llhttp rejects the extra bytes as a bad status line' },
  { name: 'a response after Connection: close', raw: head('HTTP/1.1 200 OK', 'Connection: close', 'Content-Length: 3') + 'abc' + head('HTTP/1.1 200 OK', 'Content-Length: 0'), kinds: [REQUEST_OTHER, REQUEST_OTHER], outcome: 'DATA_AFTER_CLOSE', llhttp: 'same' },
  { name: 'a CRLF after Connection: close', raw: head('HTTP/1.1 200 OK', 'Connection: close', 'Content-Length: 3') + 'abc\r\n', outcome: 'DATA_AFTER_CLOSE', llhttp: 'accepts', note: 'llhttp skips empty lines between messages' },
  { name: 'a CRLF between keep-alive responses', raw: head('HTTP/1.1 200 OK', 'Content-Length: 3') + 'abc\r\n' + head('HTTP/1.1 204 No Content'), kinds: [REQUEST_OTHER, REQUEST_OTHER], outcome: 'INVALID_VERSION', llhttp: 'accepts', note: 'llhttp skips empty lines between messages' },
  { name: 'BWS in a chunk extension (accepted)', raw: head('HTTP/1.1 200 OK', CHUNKED) + '3 ; a = b\r\nabc\r\n0\r\n\r\n', outcome: 'OK', llhttp: 'rejects', note: 'RFC 9112 §7.1.1 allows BWS there; llhttp strict mode refuses any' },
  // Transfer-Encoding and chunked bodies
  { name: 'Transfer-Encoding and Content-Length', raw: head('HTTP/1.1 200 OK', CHUNKED, 'Content-Length: 3') + '3\r\nabc\r\n0\r\n\r\n', outcome: 'TRANSFER_ENCODING_WITH_CONTENT_LENGTH', llhttp: 'same' },
  { name: 'Transfer-Encoding not ending in chunked', raw: head('HTTP/1.1 200 OK', 'Transfer-Encoding: gzip') + 'abc', outcome: 'TRANSFER_ENCODING_NOT_CHUNKED', llhttp: 'accepts', note: 'llhttp reads it as close-delimited (RFC 9112 §6.3); we refuse' },
  { name: 'chunked followed by another coding', raw: head('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked, gzip') + '0\r\n\r\n', outcome: 'INVALID_TRANSFER_ENCODING', llhttp: 'accepts', note: 'llhttp: close-delimited again' },
  { name: 'Transfer-Encoding in HTTP/1.0', raw: head('HTTP/1.0 200 OK', CHUNKED) + '3\r\nabc\r\n0\r\n\r\n', outcome: 'TRANSFER_ENCODING_IN_HTTP10', llhttp: 'accepts', note: 'RFC 9112 §6.1: the framing is faulty' },
  { name: 'non-hex chunk size', raw: head('HTTP/1.1 200 OK', CHUNKED) + 'zz\r\nabc\r\n0\r\n\r\n', outcome: 'INVALID_CHUNK_SIZE', llhttp: 'same' },
  { name: '0x chunk size', raw: head('HTTP/1.1 200 OK', CHUNKED) + '0x3\r\nabc\r\n0\r\n\r\n', outcome: 'INVALID_CHUNK_SIZE', llhttp: 'same' },
  { name: 'negative chunk size', raw: head('HTTP/1.1 200 OK', CHUNKED) + '-3\r\nabc\r\n0\r\n\r\n', outcome: 'INVALID_CHUNK_SIZE', llhttp: 'same' },
  { name: 'space before the chunk size', raw: head('HTTP/1.1 200 OK', CHUNKED) + ' 3\r\nabc\r\n0\r\n\r\n', outcome: 'INVALID_CHUNK_SIZE', llhttp: 'same' },
  { name: 'space after the chunk size', raw: head('HTTP/1.1 200 OK', CHUNKED) + '3 \r\nabc\r\n0\r\n\r\n', outcome: 'INVALID_CHUNK_EXTENSION', llhttp: 'same' },
  { name: 'chunk size over 16 hex digits', raw: head('HTTP/1.1 200 OK', CHUNKED) + 'FFFFFFFFFFFFFFFFF\r\nabc', outcome: 'CHUNK_SIZE_OVERFLOW', llhttp: 'same' },
  { name: 'chunk size over 2^53-1', raw: head('HTTP/1.1 200 OK', CHUNKED) + '20000000000000\r\nabc', outcome: 'CHUNK_SIZE_OVERFLOW', llhttp: 'skip', note: 'llhttp accepts sizes up to 2^64-1 (and then waits for that much body)' },
  { name: 'missing CRLF after chunk data', raw: head('HTTP/1.1 200 OK', CHUNKED) + '3\r\nabc0\r\n\r\n', outcome: 'INVALID_CHUNK_END', llhttp: 'same' },
  { name: 'chunk data longer than its size', raw: head('HTTP/1.1 200 OK', CHUNKED) + '3\r\nabcdef\r\n0\r\n\r\n', outcome: 'INVALID_CHUNK_END', llhttp: 'same' },
  { name: 'LF-only chunk line', raw: head('HTTP/1.1 200 OK', CHUNKED) + '3\nabc\r\n0\r\n\r\n', outcome: 'BARE_LF', llhttp: 'same' },
  { name: 'chunk extension without a name', raw: head('HTTP/1.1 200 OK', CHUNKED) + '3;=x\r\nabc\r\n0\r\n\r\n', outcome: 'INVALID_CHUNK_EXTENSION', llhttp: 'accepts', note: 'llhttp accepts an empty extension name' },
  { name: 'chunk extension with an empty value', raw: head('HTTP/1.1 200 OK', CHUNKED) + '3;a=\r\nabc\r\n0\r\n\r\n', outcome: 'INVALID_CHUNK_EXTENSION', llhttp: 'accepts', note: 'the RFC 9112 grammar needs a token or a quoted string' },
  { name: 'unterminated quoted chunk extension', raw: head('HTTP/1.1 200 OK', CHUNKED) + '3;a="open\r\nabc\r\n0\r\n\r\n', outcome: 'INVALID_CHUNK_EXTENSION', llhttp: 'same' },
  { name: 'chunk extension over the limit', raw: head('HTTP/1.1 200 OK', CHUNKED) + `3;${'e'.repeat(2000)}\r\nabc\r\n0\r\n\r\n`, outcome: 'CHUNK_EXTENSION_TOO_LONG', llhttp: 'accepts', note: 'llhttp does not bound extensions (Node counts them against its header limit)' },
  { name: 'trailer without a colon', raw: head('HTTP/1.1 200 OK', CHUNKED) + '3\r\nabc\r\n0\r\nBadTrailer\r\n\r\n', outcome: 'INVALID_HEADER_NAME', llhttp: 'same' },
  { name: 'folded trailer', raw: head('HTTP/1.1 200 OK', CHUNKED) + '3\r\nabc\r\n0\r\nT: a\r\n b\r\n\r\n', outcome: 'OBS_FOLD', llhttp: 'same' },
  { name: 'chunked body truncated at EOF (no last chunk)', raw: head('HTTP/1.1 200 OK', CHUNKED) + '3\r\nabc\r\n', outcome: 'UNEXPECTED_EOF', llhttp: 'same' },
  { name: 'chunked body truncated inside the trailers', raw: head('HTTP/1.1 200 OK', CHUNKED) + '3\r\nabc\r\n0\r\nT: 1\r\n', outcome: 'UNEXPECTED_EOF', llhttp: 'same' },
  // truncation and limits
  { name: 'head truncated at EOF', raw: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n', outcome: 'UNEXPECTED_EOF', llhttp: 'same' },
  { name: 'no response at all (EOF)', raw: '', outcome: 'NO_RESPONSE', llhttp: 'skip', note: 'llhttp just sees nothing; node:http reports "socket hang up"' },
  { name: 'head over 16 KiB', raw: head('HTTP/1.1 200 OK', `X-Big: ${'b'.repeat(17000)}`, 'Content-Length: 0'), outcome: 'HEAD_TOO_LARGE', llhttp: 'same' },
  { name: 'too many headers', raw: head('HTTP/1.1 200 OK', ...Array.from({ length: 120 }, (_, i) => `X-${i}: ${i}`), 'Content-Length: 0'), outcome: 'TOO_MANY_HEADERS', llhttp: 'accepts', note: 'Node has no header-count limit at the parser (maxHeadersCount only truncates)' },
  { name: 'Content-Length with a trailing HTAB (accepted)', raw: head('HTTP/1.1 200 OK', 'Content-Length: 3\t') + 'abc', outcome: 'OK', llhttp: 'rejects', note: 'OWS includes HTAB; llhttp only allows a trailing SP' },
  { name: 'chunked with a trailing HTAB (accepted as chunked)', raw: head('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked\t') + '3\r\nabc\r\n0\r\n\r\n', outcome: 'OK', llhttp: 'differs', note: 'llhttp does not see "chunked\\t" as chunked and reads the body close-delimited: a framing disagreement worth knowing about' },
  { name: 'identical duplicate Content-Length (accepted)', raw: head('HTTP/1.1 200 OK', 'Content-Length: 3', 'Content-Length: 3') + 'abc', outcome: 'OK', llhttp: 'rejects', note: 'here llhttp is the stricter one: it rejects any duplicate (RFC 9110 §8.6 allows either)' },
];

export const CORPUS: CorpusCase[] = [...VALID, ...MALFORMED];
