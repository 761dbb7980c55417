/**
 * The HTTP/1.1 response parser contract shared by the native addon
 * (native/http_response_parser.{h,cc}, the product) and the pure-TS reference
 * (src/native/reference/http-response-parser.ts, the oracle). Both must produce identical
 * callback streams, statuses, error codes and error positions for identical inputs fed with
 * identical splits; test/native/http-response-parser-diff.test.ts checks that on generated and
 * mutated responses fed at every split, test/native/http-response-parser-llhttp.test.ts compares
 * the valid subset (and much of the malformed one) with llhttp, Node's own parser.
 *
 * The parser reads the byte stream of ONE upstream connection: zero or more responses back to
 * back (keep-alive), each preceded by any number of interim (1xx) heads. It is fed arbitrary
 * slices (execute), told about every request sent (expect) and about the end of the stream
 * (finish). It never allocates after construction (native), never reads outside the slice it
 * was given, and after an error it stays in that error.
 *
 * ## Requests: expect(kind)
 * Before the bytes of a response are fed, the caller calls expect() once per request it has sent
 * on the connection (a FIFO of at most MAX_PENDING_REQUESTS outstanding requests, so pipelining
 * works): REQUEST_OTHER, REQUEST_HEAD (the final response has no body) or REQUEST_CONNECT (a 2xx
 * final response turns the connection into a tunnel, like 101). Interim heads do not consume a
 * request; a final head does. The first byte of a response when no request is outstanding is
 * UNSOLICITED_RESPONSE (bytes after a complete response on a keep-alive connection are never
 * merged into it: they are the next response, or this error).
 *
 * ## Grammar (RFC 9112; everything else is an error)
 * - Line endings are CRLF everywhere (status line, header and trailer lines, chunk-size lines,
 *   after chunk data). A LF not immediately preceded by CR is BARE_LF (at the LF). A CR may only
 *   appear where a line can end: there it must be followed by LF, else BARE_CR (at the byte after
 *   the CR); where a line cannot end (inside "HTTP/1.", a status code, a header name, a quoted
 *   string...) the CR is that place's own syntax error, at the CR.
 * - Status line: exactly "HTTP/1.1" or "HTTP/1.0", SP, three digits 100-599 (first digit 1-5),
 *   then either CRLF (no reason: accepted, as llhttp does, though RFC 9112 wants the SP) or SP and
 *   a reason phrase of HTAB / SP / VCHAR / obs-text (possibly empty; kept raw, not trimmed).
 *   Nothing may precede the status line (no leading CRLF tolerance).
 *   Errors: INVALID_VERSION (first byte that breaks "HTTP/1.x "), INVALID_STATUS (a non-digit,
 *   a first digit outside 1-5, or a byte other than SP/CR after three digits), INVALID_REASON.
 * - Header (and trailer) lines: field-name = 1*tchar, ":" immediately after it (whitespace before
 *   the colon is INVALID_HEADER_NAME), OWS, field-value of HTAB / SP / VCHAR / obs-text, OWS,
 *   CRLF. Leading and trailing OWS (SP / HTAB) are removed from the value; inner whitespace is
 *   kept. NUL, DEL and every other CTL in a value are INVALID_HEADER_VALUE; a line starting with
 *   SP or HTAB (obs-fold, or whitespace before the first field) is OBS_FOLD; any other non-tchar
 *   where a name byte is expected (":" first, a missing colon reaching CR, ...) is
 *   INVALID_HEADER_NAME. Names keep their case; duplicates are kept, in order.
 * - Limits (ParserLimits): the head, counted from the first byte of the status line through the
 *   LF of the empty line, may hold at most maxHeadSize bytes: byte maxHeadSize+1 is
 *   HEAD_TOO_LARGE (at that byte, checked before anything else about it). A tchar starting field
 *   line maxHeaders+1 is TOO_MANY_HEADERS (at that byte). The trailer section (from the byte after
 *   the last-chunk line's LF through its final LF) has the same two limits, reported as
 *   TRAILERS_TOO_LARGE and TOO_MANY_TRAILERS.
 *
 * ## Framing headers (checked in every head, interim ones included)
 * Field names are compared case-insensitively. Lists are split on ",", each element trimmed of
 * OWS. Errors found when a field line is complete are reported at that line's LF; errors that
 * need the whole head, at the LF of the head's empty line.
 * - Content-Length: every element must be 1*DIGIT (leading zeros allowed), else
 *   INVALID_CONTENT_LENGTH (also for an empty value or an empty element: "5,,5", ", 5").
 *   A value over 2^53-1 is CONTENT_LENGTH_OVERFLOW. Several elements (one line "5, 5" or several
 *   lines) are accepted only if byte-identical (RFC 9110 §8.6 allows a recipient to accept a list
 *   of identical values): "5" then "05" or "6" is CONTENT_LENGTH_MISMATCH. Per element the order
 *   is syntax, overflow, mismatch.
 * - Transfer-Encoding: every element must be a token (no parameters, no empty elements), else
 *   INVALID_TRANSFER_ENCODING; "chunked" (any case) must be the last coding and appear once: an
 *   element after it (same or later line) is INVALID_TRANSFER_ENCODING. At the end of the head, in
 *   this order: Transfer-Encoding in an HTTP/1.0 response is TRANSFER_ENCODING_IN_HTTP10; both
 *   Transfer-Encoding and Content-Length is TRANSFER_ENCODING_WITH_CONTENT_LENGTH (the strict
 *   option of RFC 9112 §6.1: never "TE overrides CL"); a last coding other than chunked is
 *   TRANSFER_ENCODING_NOT_CHUNKED (never a close-delimited fallback). These apply to every
 *   response, including those that have no body (HEAD, 204, 304, 1xx).
 * - Connection: elements compared case-insensitively with "close" and "keep-alive"; others
 *   (and empty elements) ignored; never an error.
 * - Keep-Alive: the first element (over all Keep-Alive lines) starting with "timeout="
 *   (case-insensitive) decides: if the rest is 1-10 digits with a value <= 2^31-1, that is
 *   keepAliveTimeout (seconds), otherwise there is none (-1); later "timeout=" elements are
 *   ignored. Never an error.
 *
 * ## Message length and connection reuse (final heads)
 * In this order: (1) 101, or 2xx to REQUEST_CONNECT: FLAG_UPGRADE (+ FLAG_NO_BODY), the message
 * completes at the end of the head and parsing stops (STATUS_UPGRADED, upgradeOffset = index
 * into the data of the first byte that belongs to the new protocol; every later execute() returns
 * STATUS_UPGRADED again and consumes nothing). (2) REQUEST_HEAD, 204, 304: FLAG_NO_BODY, whatever
 * Content-Length / Transfer-Encoding say; the next byte starts the next response.
 * (3) Transfer-Encoding (ending in chunked): FLAG_CHUNKED. (4) Content-Length: that many bytes
 * (0: the message completes with the head). (5) Otherwise close-delimited: FLAG_CLOSE_DELIMITED,
 * the body runs until finish().
 * FLAG_KEEP_ALIVE: HTTP/1.1 without a "close" token, or HTTP/1.0 with a "keep-alive" token and
 * without "close"; never for close-delimited or upgrade responses. After a final response without
 * FLAG_KEEP_ALIVE completes, any further byte is DATA_AFTER_CLOSE.
 * contentLength is the Content-Length value (-1 if absent) for every final head, even when it
 * does not frame a body (HEAD, 304, 204, upgrade); keepAliveTimeout likewise.
 * Interim heads (1xx except 101): FLAG_INFORMATIONAL | FLAG_NO_BODY only, contentLength -1,
 * keepAliveTimeout -1; they complete at the end of their head and the same request still waits
 * for its final response.
 *
 * ## Chunked bodies
 * chunk-size = 1*HEXDIG, at most 16 digits (a 17th is CHUNK_SIZE_OVERFLOW, even zeros) and at
 * most 2^53-1 (the digit that exceeds it is CHUNK_SIZE_OVERFLOW); no sign, no "0x", no leading
 * whitespace: INVALID_CHUNK_SIZE at the first bad byte (an empty size line too, at its CR), and a
 * byte after the digits other than HEXDIG, ";", SP, HTAB, CR is INVALID_CHUNK_SIZE.
 * Extensions follow RFC 9112 §7.1.1 exactly: *( BWS ";" BWS name [ BWS "=" BWS ( token /
 * quoted-string ) ] ), name a token; the line may end after a digit, a name, a token value or a
 * closing quote, not after BWS. Violations: INVALID_CHUNK_EXTENSION at the byte. Extensions are
 * validated and ignored. Their bytes (after the last digit, up to the CR; CR and LF not counted;
 * the byte right after the digits only if it is ";", SP or HTAB) are limited to
 * maxChunkExtensionSize: the first byte over is CHUNK_EXTENSION_TOO_LONG, checked before that
 * byte's own validity.
 * The two bytes after chunk data must be CR LF, else INVALID_CHUNK_END at the offending byte.
 * A zero-size chunk is followed by the trailer section (field lines as in the head, limits as
 * above, no framing meaning) and an empty line; onTrailers is called when it has >= 1 field.
 *
 * ## End of stream: finish()
 * In a close-delimited body: the message completes. Idle (between responses) with an outstanding
 * request: NO_RESPONSE (the request got no byte of a response: safe to retry if idempotent).
 * Idle with none, after a Connection: close response, after an upgrade: OK, nothing happens.
 * Anywhere else inside a response (head, fixed or chunked body, trailers, also after an interim
 * head): UNEXPECTED_EOF. Errors at finish() are positioned at the total byte count. After
 * finish(), a byte is DATA_AFTER_FINISH.
 *
 * ## Callbacks and results
 * Per message: onMessageBegin (at its first byte), onHead, onBody once per maximal run of body
 * bytes within one execute() call (a slice of the data passed in, valid during the call only),
 * onTrailers (if any), onMessageComplete. Body bytes are reported as soon as they are fed, never
 * held back, so a response cut short reports every body byte it had. execute() returns
 * STATUS_OK (everything consumed), STATUS_UPGRADED or STATUS_ERROR; errorCode and errorPosition
 * (stream offset since construction or reset()) describe the error; all callbacks for bytes
 * before the error have run. After an error every call returns STATUS_ERROR and does nothing.
 * Handlers must not call back into the parser (execute, finish, expect, reset throw an Error if
 * they do); a handler that throws leaves the parser unusable (every later call throws) except for
 * reset().
 *
 * ## Compared with llhttp (Node's parser, strict mode)
 * Identical on valid responses (status, version, raw headers with OWS trimmed, body, keep-alive,
 * upgrade offset). Stricter on: status 600-999, CRLF before a status line, CTLs in the reason,
 * Transfer-Encoding not ending in chunked or in HTTP/1.0, chunk-extension grammar, 17+ digit chunk
 * sizes, lengths over 2^53-1, header count, extension size, bytes without an outstanding request.
 * More accepting on (per the RFCs): identical duplicate Content-Length, HTAB around a
 * Content-Length value, BWS in chunk extensions. llhttp does not see "chunked<HTAB>" as chunked
 * (it reads the body close-delimited); we trim it. Pinned per case by
 * test/native/http-response-corpus.ts and checked by test/native/http-response-parser-llhttp.test.ts.
 */

/** Outcome of execute() / finish(). (STATUS_PAUSED is internal to the native engine.) */
export const STATUS_OK = 0;
export const STATUS_UPGRADED = 2;
export const STATUS_ERROR = -1;
export type ParseStatus = typeof STATUS_OK | typeof STATUS_UPGRADED | typeof STATUS_ERROR;

/** What the request a response answers was, for expect(). */
export const REQUEST_OTHER = 0;
export const REQUEST_HEAD = 1;
export const REQUEST_CONNECT = 2;
export type RequestKind = typeof REQUEST_OTHER | typeof REQUEST_HEAD | typeof REQUEST_CONNECT;

/** Outstanding requests expect() can queue. */
export const MAX_PENDING_REQUESTS = 64;

/** onHead flags. */
export const FLAG_INFORMATIONAL = 1;
export const FLAG_KEEP_ALIVE = 2;
export const FLAG_CHUNKED = 4;
export const FLAG_NO_BODY = 8;
export const FLAG_UPGRADE = 16;
export const FLAG_CLOSE_DELIMITED = 32;

/** Error codes (errorCode). Keep in sync with native/http_response_parser.h. */
export const ParseError = {
  NONE: 0,
  UNSOLICITED_RESPONSE: 1,
  INVALID_VERSION: 2,
  INVALID_STATUS: 3,
  INVALID_REASON: 4,
  BARE_CR: 5,
  BARE_LF: 6,
  INVALID_HEADER_NAME: 7,
  INVALID_HEADER_VALUE: 8,
  OBS_FOLD: 9,
  HEAD_TOO_LARGE: 10,
  TOO_MANY_HEADERS: 11,
  INVALID_CONTENT_LENGTH: 12,
  CONTENT_LENGTH_OVERFLOW: 13,
  CONTENT_LENGTH_MISMATCH: 14,
  INVALID_TRANSFER_ENCODING: 15,
  TRANSFER_ENCODING_NOT_CHUNKED: 16,
  TRANSFER_ENCODING_WITH_CONTENT_LENGTH: 17,
  TRANSFER_ENCODING_IN_HTTP10: 18,
  INVALID_CHUNK_SIZE: 19,
  CHUNK_SIZE_OVERFLOW: 20,
  INVALID_CHUNK_EXTENSION: 21,
  CHUNK_EXTENSION_TOO_LONG: 22,
  INVALID_CHUNK_END: 23,
  TRAILERS_TOO_LARGE: 24,
  TOO_MANY_TRAILERS: 25,
  UNEXPECTED_EOF: 26,
  NO_RESPONSE: 27,
  DATA_AFTER_CLOSE: 28,
  DATA_AFTER_FINISH: 29,
} as const;
export type ParseErrorName = keyof typeof ParseError;
export type ParseErrorCode = (typeof ParseError)[ParseErrorName];

const ERROR_NAMES: string[] = [];
for (const [name, code] of Object.entries(ParseError)) ERROR_NAMES[code] = name;

/** "INVALID_STATUS" for 3, "UNKNOWN_<n>" for a code outside the enum. */
export function parseErrorName(code: number): string {
  return ERROR_NAMES[code] ?? `UNKNOWN_${code}`;
}

/** Largest Content-Length / chunk size accepted (Number.MAX_SAFE_INTEGER). */
export const MAX_LENGTH = 2 ** 53 - 1;
export const MAX_CHUNK_SIZE_DIGITS = 16;

export interface ParserLimits {
  /** Bytes of the head (status line through the empty line), also of a trailer section. Default 16384, 16..16 MiB. */
  maxHeadSize?: number;
  /** Field lines per head, also per trailer section. Default 100, 0..65535. */
  maxHeaders?: number;
  /** Bytes of a chunk-size line's extensions. Default 1024, 0..1 MiB. */
  maxChunkExtensionSize?: number;
}

export const DEFAULT_LIMITS: Readonly<Required<ParserLimits>> = Object.freeze({
  maxHeadSize: 16384,
  maxHeaders: 100,
  maxChunkExtensionSize: 1024,
});

const LIMIT_RANGES: Record<keyof ParserLimits, [number, number]> = {
  maxHeadSize: [16, 16 * 1024 * 1024],
  maxHeaders: [0, 65535],
  maxChunkExtensionSize: [0, 1024 * 1024],
};

/** The limits with defaults filled in; RangeError for a value that is not an integer in range. */
export function resolveLimits(limits: ParserLimits = {}): Required<ParserLimits> {
  const out = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(LIMIT_RANGES) as Array<keyof ParserLimits>) {
    const v = limits[key];
    if (v === undefined) continue;
    const [lo, hi] = LIMIT_RANGES[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
      throw new RangeError(`${key} must be an integer in [${lo}, ${hi}], got ${String(v)}`);
    }
    out[key] = v;
  }
  return out;
}

export interface ResponseParserHandlers {
  /** The first byte of a response (interim or final) arrived. */
  onMessageBegin?(): void;
  /**
   * A complete head. headers is flat [name0, value0, name1, value1, ...] as received (names keep
   * their case, values are OWS-trimmed), decoded as latin1 (obs-text bytes 0x80-0xFF become
   * U+0080-U+00FF). contentLength and keepAliveTimeout are -1 when absent (see the contract).
   */
  onHead?(
    status: number,
    minor: number,
    flags: number,
    contentLength: number,
    keepAliveTimeout: number,
    headers: string[],
    reason: string,
  ): void;
  /** data[start, end): body bytes; the view is only valid during the call. */
  onBody?(data: Uint8Array, start: number, end: number): void;
  /** The trailer fields of a chunked response (flat, like headers), when there is at least one. */
  onTrailers?(trailers: string[]): void;
  onMessageComplete?(): void;
}

export interface ResponseParserEngine {
  /** Registers a sent request (FIFO); RangeError when MAX_PENDING_REQUESTS are outstanding. */
  expect(kind?: RequestKind): void;
  /** Parses data[offset, offset + length) (defaults: all of data). */
  execute(data: Uint8Array, offset?: number, length?: number): ParseStatus;
  /** The stream ended (the upstream closed its side). */
  finish(): ParseStatus;
  /** Back to the initial state: no outstanding request, no error, position 0. */
  reset(): void;
  /** ParseError code, NONE unless the last status was STATUS_ERROR. */
  readonly errorCode: number;
  /** Stream offset of the byte at which the error was detected (total bytes at finish()); -1 if none. */
  readonly errorPosition: number;
  /** After STATUS_UPGRADED: index into the data of the last execute() where the new protocol starts; else -1. */
  readonly upgradeOffset: number;
  /** Requests registered by expect() and not yet answered by a final head. */
  readonly pendingRequests: number;
}

// RFC 9110 tchar, as a 256-entry table (shared by the reference and the tests' generators).
export const TCHAR: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (const c of "!#$%&'*+-.^_`|~") t[c.charCodeAt(0)] = 1;
  for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  return t;
})();

/**
 * execute()'s slice arguments, checked identically by both engines: data a Uint8Array (Buffer
 * included), offset and length integers within it (defaults: the rest of data), length at most
 * 2^31-1. Returns [start, end).
 */
export function checkSlice(data: Uint8Array, offset?: number, length?: number): [number, number] {
  if (!(data instanceof Uint8Array)) throw new TypeError('execute(data, offset, length): data must be a Uint8Array');
  const off = offset ?? 0;
  if (typeof off !== 'number' || !Number.isInteger(off) || off < 0 || off > data.length) {
    throw new RangeError(`execute(): offset ${String(offset)} is not an integer in [0, ${data.length}]`);
  }
  const len = length ?? data.length - off;
  if (typeof len !== 'number' || !Number.isInteger(len) || len < 0 || len > data.length - off || len > 2 ** 31 - 1) {
    throw new RangeError(`execute(): length ${String(length)} is not an integer in [0, ${Math.min(data.length - off, 2 ** 31 - 1)}]`);
  }
  return [off, off + len];
}
