/**
 * Pure-TS reference implementation of the HTTP/1.1 response parser contract
 * (../http-response-parser-types.ts): the oracle the native parser (native/http_response_parser.cc)
 * is checked against by test/native/http-response-parser-diff.test.ts.
 *
 * Written to be obviously right, not fast, and deliberately unlike the native engine: one byte
 * at a time through named states, each line collected as a latin1 string, the head kept as an
 * array of strings (no block store, no pausing), and the framing fields interpreted with
 * split/regex on complete strings instead of byte scans. Body bytes are the one bulk step (a
 * run is min(bytes left, bytes given)), which is what makes "one onBody per maximal run within
 * one execute()" hold by construction.
 */
import {
  FLAG_CHUNKED,
  FLAG_CLOSE_DELIMITED,
  FLAG_INFORMATIONAL,
  FLAG_KEEP_ALIVE,
  FLAG_NO_BODY,
  FLAG_UPGRADE,
  MAX_CHUNK_SIZE_DIGITS,
  MAX_LENGTH,
  MAX_PENDING_REQUESTS,
  ParseError,
  REQUEST_CONNECT,
  REQUEST_HEAD,
  REQUEST_OTHER,
  STATUS_ERROR,
  STATUS_OK,
  STATUS_UPGRADED,
  TCHAR,
  checkSlice,
  resolveLimits,
  type ParseStatus,
  type ParserLimits,
  type RequestKind,
  type ResponseParserEngine,
  type ResponseParserHandlers,
} from '../http-response-parser-types.js';

type State =
  | 'idle' // between responses
  | 'closed' // after a final response without keep-alive
  | 'finished' // after finish()
  | 'upgraded'
  | 'error'
  | 'version' // "HTTP/1.x "
  | 'status' // three digits
  | 'afterStatus' // SP or CR
  | 'reason'
  | 'statusLf'
  | 'lineStart' // a field line or the empty line
  | 'name'
  | 'valueOws'
  | 'value'
  | 'lineLf'
  | 'sectionEndLf'
  | 'bodyFixed'
  | 'bodyClose'
  | 'chunkSizeStart'
  | 'chunkSize'
  | 'extension'
  | 'chunkSizeLf'
  | 'chunkData'
  | 'chunkDataCr'
  | 'chunkDataLf'
  | 'trailersStart';

/** Where in a chunk extension we are (RFC 9112 §7.1.1). */
type Ext =
  | 'bwsBeforeSemi'
  | 'nameStart'
  | 'name'
  | 'bwsAfterName'
  | 'valueStart'
  | 'token'
  | 'quoted'
  | 'quotedPair'
  | 'afterQuoted';
/** Extension places where the chunk-size line may end. */
const EXT_MAY_END: ReadonlySet<Ext> = new Set<Ext>(['name', 'token', 'afterQuoted']);

const CR = 0x0d;
const LF = 0x0a;
const isOws = (b: number) => b === 0x20 || b === 0x09;
const isTchar = (b: number) => TCHAR[b] === 1;
/** field-vchar, obs-text, SP, HTAB: what a field value or a reason phrase may hold. */
const isFieldByte = (b: number) => b === 0x09 || (b >= 0x20 && b !== 0x7f);
const isDigit = (b: number) => b >= 0x30 && b <= 0x39;
const isHex = (b: number) => isDigit(b) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
/** qdtext: HTAB, SP, "!", "#"-"[", "]"-"~", obs-text. */
const isQdtext = (b: number) => b === 0x09 || b === 0x20 || b === 0x21 || (b >= 0x23 && b <= 0x5b) || (b >= 0x5d && b <= 0x7e) || b >= 0x80;

const asciiLower = (s: string) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
const trimOws = (s: string) => s.replace(/^[ \t]+/, '').replace(/[ \t]+$/, '');
const listElements = (value: string) => value.split(',').map(trimOws);
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const HTTP_PREFIX = 'HTTP/1.';

class Failure {
  constructor(
    readonly code: number,
    readonly position: number,
  ) {}
}

export class ReferenceResponseParser implements ResponseParserEngine {
  readonly #limits: Required<ParserLimits>;
  readonly #h: ResponseParserHandlers;

  #state: State = 'idle';
  #pending: RequestKind[] = [];
  #total = 0; // stream offset of the first byte of the current execute()
  #errorCode = 0;
  #errorPosition = -1;
  #upgradeOffset = -1;
  #busy = false;
  #broken = false;

  // The current head / trailer section.
  #trailers = false;
  #sectionBytes = 0;
  #line = ''; // the current line so far (latin1), without CR
  #fields: string[] = [];
  #version = 0;
  #status = 0;
  #reason = '';
  #name = '';
  #framing = {
    contentLength: null as string | null, // the first element, as text
    transferCodings: [] as string[],
    close: false,
    keepAlive: false,
    timeoutDecided: false,
    timeout: -1,
  };
  #keepAlive = false;
  /** An interim head has answered the oldest outstanding request (EOF now is UNEXPECTED_EOF). */
  #interimSeen = false;

  // Bodies.
  #remaining = 0;
  #sizeDigits = '';
  #ext: Ext = 'nameStart';
  #extBytes = 0;

  constructor(handlers: ResponseParserHandlers, limits?: ParserLimits) {
    this.#limits = resolveLimits(limits);
    this.#h = handlers;
  }

  get errorCode(): number {
    return this.#errorCode;
  }
  get errorPosition(): number {
    return this.#errorPosition;
  }
  get upgradeOffset(): number {
    return this.#upgradeOffset;
  }
  get pendingRequests(): number {
    return this.#pending.length;
  }

  expect(kind: RequestKind = REQUEST_OTHER): void {
    this.#guard('expect');
    if (kind !== REQUEST_OTHER && kind !== REQUEST_HEAD && kind !== REQUEST_CONNECT) {
      throw new TypeError(`expect(kind): REQUEST_OTHER, REQUEST_HEAD or REQUEST_CONNECT, got ${String(kind)}`);
    }
    if (this.#pending.length >= MAX_PENDING_REQUESTS) {
      throw new RangeError(`expect(): ${MAX_PENDING_REQUESTS} requests are already outstanding`);
    }
    this.#pending.push(kind);
  }

  reset(): void {
    if (this.#busy) throw new Error('reset() called from a parser handler');
    this.#broken = false;
    this.#state = 'idle';
    this.#pending = [];
    this.#interimSeen = false;
    this.#total = 0;
    this.#errorCode = 0;
    this.#errorPosition = -1;
    this.#upgradeOffset = -1;
  }

  #guard(what: string): void {
    if (this.#busy) throw new Error(`${what}() called from a parser handler`);
    if (this.#broken) throw new Error('the parser is unusable: a handler threw (reset() it)');
  }

  execute(data: Uint8Array, offset?: number, length?: number): ParseStatus {
    this.#guard('execute');
    const [start, end] = checkSlice(data, offset, length);
    this.#busy = true;
    try {
      return this.#run(data, start, end);
    } catch (err) {
      if (!(err instanceof Failure)) this.#broken = true;
      throw err;
    } finally {
      this.#busy = false;
    }
  }

  finish(): ParseStatus {
    this.#guard('finish');
    this.#busy = true;
    try {
      this.#upgradeOffset = -1;
      switch (this.#state) {
        case 'error':
          return STATUS_ERROR;
        case 'upgraded':
        case 'finished':
          return STATUS_OK;
        case 'idle':
          if (this.#pending.length > 0) {
            return this.#fail(this.#interimSeen ? ParseError.UNEXPECTED_EOF : ParseError.NO_RESPONSE, this.#total);
          }
          this.#state = 'finished';
          return STATUS_OK;
        case 'closed':
          this.#state = 'finished';
          return STATUS_OK;
        case 'bodyClose':
          this.#state = 'finished';
          this.#h.onMessageComplete?.();
          return STATUS_OK;
        default:
          return this.#fail(ParseError.UNEXPECTED_EOF, this.#total);
      }
    } catch (err) {
      this.#broken = true;
      throw err;
    } finally {
      this.#busy = false;
    }
  }

  #fail(code: number, position: number): typeof STATUS_ERROR {
    this.#state = 'error';
    this.#errorCode = code;
    this.#errorPosition = position;
    return STATUS_ERROR;
  }

  #run(data: Uint8Array, start: number, end: number): ParseStatus {
    this.#upgradeOffset = -1;
    if (this.#state === 'error') return STATUS_ERROR;
    if (this.#state === 'upgraded') {
      this.#upgradeOffset = start;
      return STATUS_UPGRADED;
    }
    let i = start;
    try {
      while (i < end) {
        if (this.#isBody()) {
          i = this.#body(data, i, end);
        } else {
          this.#byte(data[i], this.#total + (i - start));
          i++;
        }
        if ((this.#state as State) === 'upgraded') {
          this.#total += i - start;
          this.#upgradeOffset = i;
          return STATUS_UPGRADED;
        }
      }
    } catch (err) {
      if (err instanceof Failure) {
        this.#total += i - start;
        return this.#fail(err.code, err.position);
      }
      throw err;
    }
    this.#total += end - start;
    return STATUS_OK;
  }

  #isBody(): boolean {
    return this.#state === 'bodyFixed' || this.#state === 'bodyClose' || this.#state === 'chunkData';
  }

  /** A run of body bytes from data[i]; returns the index after it. */
  #body(data: Uint8Array, i: number, end: number): number {
    const n = this.#state === 'bodyClose' ? end - i : Math.min(this.#remaining, end - i);
    this.#h.onBody?.(data, i, i + n);
    this.#remaining -= n;
    if (this.#state === 'bodyFixed' && this.#remaining === 0) this.#messageDone();
    else if (this.#state === 'chunkData' && this.#remaining === 0) this.#state = 'chunkDataCr';
    return i + n;
  }

  #byte(b: number, at: number): void {
    const fail = (code: number): never => {
      throw new Failure(code, at);
    };
    switch (this.#state) {
      case 'idle':
        if (this.#pending.length === 0) fail(ParseError.UNSOLICITED_RESPONSE);
        this.#beginHead();
        this.#h.onMessageBegin?.();
        this.#byte(b, at); // the first byte of the status line
        return;
      case 'closed':
        fail(ParseError.DATA_AFTER_CLOSE);
        return;
      case 'finished':
        fail(ParseError.DATA_AFTER_FINISH);
        return;
      case 'trailersStart':
        this.#beginSection(true);
        this.#byte(b, at);
        return;
      case 'chunkDataCr':
        if (b !== CR) fail(ParseError.INVALID_CHUNK_END);
        this.#state = 'chunkDataLf';
        return;
      case 'chunkDataLf':
        if (b !== LF) fail(ParseError.INVALID_CHUNK_END);
        this.#startChunkLine();
        return;
      case 'chunkSizeLf':
        if (b !== LF) fail(ParseError.BARE_CR);
        this.#state = this.#remaining === 0 ? 'trailersStart' : 'chunkData';
        return;
      case 'chunkSizeStart':
      case 'chunkSize':
      case 'extension':
        this.#chunkLineByte(b, fail);
        return;
      default:
        this.#sectionByte(b, fail);
    }
  }

  #beginHead(): void {
    this.#beginSection(false);
    this.#state = 'version';
    this.#version = 0;
    this.#status = 0;
    this.#reason = '';
    this.#framing = { contentLength: null, transferCodings: [], close: false, keepAlive: false, timeoutDecided: false, timeout: -1 };
  }

  #beginSection(trailers: boolean): void {
    this.#trailers = trailers;
    this.#sectionBytes = 0;
    this.#fields = [];
    this.#line = '';
    if (trailers) this.#state = 'lineStart';
  }

  /** A byte of the head or of a trailer section. */
  #sectionByte(b: number, fail: (code: number) => never): void {
    this.#sectionBytes++;
    if (this.#sectionBytes > this.#limits.maxHeadSize) {
      fail(this.#trailers ? ParseError.TRAILERS_TOO_LARGE : ParseError.HEAD_TOO_LARGE);
    }
    const st = this.#state;
    if (st === 'statusLf' || st === 'lineLf' || st === 'sectionEndLf') {
      if (b !== LF) fail(ParseError.BARE_CR);
      if (st === 'statusLf') this.#state = 'lineStart';
      else if (st === 'lineLf') this.#fieldLineDone(fail);
      else if (this.#trailers) this.#trailersDone();
      else this.#headDone(fail);
      return;
    }
    if (b === LF) fail(ParseError.BARE_LF);
    const ch = String.fromCharCode(b);
    switch (st) {
      case 'version': {
        const k = this.#line.length;
        const ok = k < HTTP_PREFIX.length ? ch === HTTP_PREFIX[k] : k === HTTP_PREFIX.length ? ch === '0' || ch === '1' : ch === ' ';
        if (!ok) fail(ParseError.INVALID_VERSION);
        this.#line += ch;
        if (this.#line.length === HTTP_PREFIX.length + 2) {
          this.#version = Number(this.#line[HTTP_PREFIX.length]);
          this.#line = '';
          this.#state = 'status';
        }
        return;
      }
      case 'status': {
        const ok = this.#line.length === 0 ? b >= 0x31 && b <= 0x35 : isDigit(b);
        if (!ok) fail(ParseError.INVALID_STATUS);
        this.#line += ch;
        if (this.#line.length === 3) {
          this.#status = Number(this.#line);
          this.#line = '';
          this.#state = 'afterStatus';
        }
        return;
      }
      case 'afterStatus':
        if (ch === ' ') this.#state = 'reason';
        else if (b === CR) this.#state = 'statusLf';
        else fail(ParseError.INVALID_STATUS);
        return;
      case 'reason':
        if (b === CR) {
          this.#reason = this.#line;
          this.#line = '';
          this.#state = 'statusLf';
        } else if (isFieldByte(b)) {
          this.#line += ch;
        } else {
          fail(ParseError.INVALID_REASON);
        }
        return;
      case 'lineStart':
        if (b === CR) {
          this.#state = 'sectionEndLf';
        } else if (isTchar(b)) {
          if (this.#fields.length / 2 >= this.#limits.maxHeaders) {
            fail(this.#trailers ? ParseError.TOO_MANY_TRAILERS : ParseError.TOO_MANY_HEADERS);
          }
          this.#line = ch;
          this.#state = 'name';
        } else if (isOws(b)) {
          fail(ParseError.OBS_FOLD);
        } else {
          fail(ParseError.INVALID_HEADER_NAME);
        }
        return;
      case 'name':
        if (isTchar(b)) {
          this.#line += ch;
        } else if (ch === ':') {
          this.#name = this.#line;
          this.#line = '';
          this.#state = 'valueOws';
        } else {
          fail(ParseError.INVALID_HEADER_NAME);
        }
        return;
      case 'valueOws':
      case 'value':
        if (b === CR) {
          this.#fields.push(this.#name, trimOws(this.#line));
          this.#line = '';
          this.#state = 'lineLf';
        } else if (isFieldByte(b)) {
          if (st === 'value' || !isOws(b)) {
            this.#line += ch;
            this.#state = 'value';
          }
        } else {
          fail(ParseError.INVALID_HEADER_VALUE);
        }
        return;
      default:
        throw new Error(`unreachable state ${st}`);
    }
  }

  /** The LF of a field line: interpret the framing fields of the head. */
  #fieldLineDone(fail: (code: number) => never): void {
    this.#state = 'lineStart';
    if (this.#trailers) return;
    const name = asciiLower(this.#fields[this.#fields.length - 2]);
    const value = this.#fields[this.#fields.length - 1];
    const f = this.#framing;
    if (name === 'content-length') {
      for (const el of listElements(value)) {
        if (!/^[0-9]+$/.test(el)) fail(ParseError.INVALID_CONTENT_LENGTH);
        if (BigInt(el) > BigInt(MAX_LENGTH)) fail(ParseError.CONTENT_LENGTH_OVERFLOW);
        if (f.contentLength === null) f.contentLength = el;
        else if (el !== f.contentLength) fail(ParseError.CONTENT_LENGTH_MISMATCH);
      }
    } else if (name === 'transfer-encoding') {
      for (const el of listElements(value)) {
        if (!TOKEN_RE.test(el)) fail(ParseError.INVALID_TRANSFER_ENCODING);
        if (f.transferCodings.includes('chunked')) fail(ParseError.INVALID_TRANSFER_ENCODING);
        f.transferCodings.push(asciiLower(el));
      }
      if (f.transferCodings.length === 0) fail(ParseError.INVALID_TRANSFER_ENCODING); // unreachable: split gives >= 1
    } else if (name === 'connection') {
      for (const el of listElements(value)) {
        const token = asciiLower(el);
        if (token === 'close') f.close = true;
        if (token === 'keep-alive') f.keepAlive = true;
      }
    } else if (name === 'keep-alive') {
      for (const el of listElements(value)) {
        if (f.timeoutDecided) break;
        if (asciiLower(el.slice(0, 8)) !== 'timeout=') continue;
        f.timeoutDecided = true;
        const rest = el.slice(8);
        if (/^[0-9]{1,10}$/.test(rest) && Number(rest) <= 2 ** 31 - 1) f.timeout = Number(rest);
      }
    }
  }

  /** The LF of the head's empty line. */
  #headDone(fail: (code: number) => never): void {
    const f = this.#framing;
    const te = f.transferCodings.length > 0;
    const hasCl = f.contentLength !== null;
    if (te && this.#version === 0) fail(ParseError.TRANSFER_ENCODING_IN_HTTP10);
    if (te && hasCl) fail(ParseError.TRANSFER_ENCODING_WITH_CONTENT_LENGTH);
    if (te && f.transferCodings[f.transferCodings.length - 1] !== 'chunked') fail(ParseError.TRANSFER_ENCODING_NOT_CHUNKED);

    const status = this.#status;
    const fields = this.#fields;
    const head = (flags: number, cl: number, timeout: number) =>
      this.#h.onHead?.(status, this.#version, flags, cl, timeout, fields, this.#reason);

    if (status >= 100 && status <= 199 && status !== 101) {
      this.#state = 'idle';
      this.#interimSeen = true;
      head(FLAG_INFORMATIONAL | FLAG_NO_BODY, -1, -1);
      this.#h.onMessageComplete?.();
      return;
    }
    this.#interimSeen = false;
    const kind = this.#pending.shift();
    const cl = hasCl ? Number(f.contentLength) : -1;
    if (status === 101 || (kind === REQUEST_CONNECT && status >= 200 && status <= 299)) {
      this.#state = 'upgraded';
      head(FLAG_UPGRADE | FLAG_NO_BODY, cl, f.timeout);
      this.#h.onMessageComplete?.();
      return;
    }
    this.#keepAlive = this.#version === 1 ? !f.close : f.keepAlive && !f.close;
    const ka = this.#keepAlive ? FLAG_KEEP_ALIVE : 0;
    if (kind === REQUEST_HEAD || status === 204 || status === 304) {
      head(FLAG_NO_BODY | ka, cl, f.timeout);
      this.#messageDone();
    } else if (te) {
      this.#startChunkLine();
      head(FLAG_CHUNKED | ka, cl, f.timeout);
    } else if (hasCl) {
      this.#remaining = cl;
      this.#state = 'bodyFixed';
      head(ka, cl, f.timeout);
      if (cl === 0) this.#messageDone();
    } else {
      this.#keepAlive = false;
      this.#state = 'bodyClose';
      head(FLAG_CLOSE_DELIMITED, cl, f.timeout);
    }
  }

  #trailersDone(): void {
    if (this.#fields.length > 0) this.#h.onTrailers?.(this.#fields);
    this.#messageDone();
  }

  #messageDone(): void {
    this.#state = this.#keepAlive ? 'idle' : 'closed';
    this.#h.onMessageComplete?.();
  }

  #startChunkLine(): void {
    this.#state = 'chunkSizeStart';
    this.#sizeDigits = '';
    this.#extBytes = 0;
    this.#remaining = 0;
  }

  /** A byte of a chunk-size line (size digits and extensions, before its CR). */
  #chunkLineByte(b: number, fail: (code: number) => never): void {
    if (b === LF) fail(ParseError.BARE_LF);
    if (this.#state === 'chunkSizeStart' || this.#state === 'chunkSize') {
      if (isHex(b)) {
        if (this.#sizeDigits.length >= MAX_CHUNK_SIZE_DIGITS) fail(ParseError.CHUNK_SIZE_OVERFLOW);
        const digits = this.#sizeDigits + String.fromCharCode(b);
        if (BigInt('0x' + digits) > BigInt(MAX_LENGTH)) fail(ParseError.CHUNK_SIZE_OVERFLOW);
        this.#sizeDigits = digits;
        this.#remaining = parseInt(digits, 16);
        this.#state = 'chunkSize';
        return;
      }
      if (this.#state === 'chunkSizeStart') fail(ParseError.INVALID_CHUNK_SIZE);
      if (b === CR) {
        this.#state = 'chunkSizeLf';
        return;
      }
      if (b !== 0x3b && !isOws(b)) fail(ParseError.INVALID_CHUNK_SIZE);
      this.#countExtByte(fail);
      this.#state = 'extension';
      this.#ext = b === 0x3b ? 'nameStart' : 'bwsBeforeSemi';
      return;
    }
    // In an extension.
    if (b === CR) {
      if (!EXT_MAY_END.has(this.#ext)) fail(ParseError.INVALID_CHUNK_EXTENSION);
      this.#state = 'chunkSizeLf';
      return;
    }
    this.#countExtByte(fail);
    const next = nextExt(this.#ext, b);
    if (next === null) fail(ParseError.INVALID_CHUNK_EXTENSION);
    this.#ext = next;
  }

  #countExtByte(fail: (code: number) => never): void {
    this.#extBytes++;
    if (this.#extBytes > this.#limits.maxChunkExtensionSize) fail(ParseError.CHUNK_EXTENSION_TOO_LONG);
  }
}

/** The chunk-extension grammar: *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ). */
function nextExt(at: Ext, b: number): Ext | null {
  const semi = b === 0x3b;
  const eq = b === 0x3d;
  switch (at) {
    case 'bwsBeforeSemi': // after the size, a value or BWS: only BWS or ";"
      return isOws(b) ? 'bwsBeforeSemi' : semi ? 'nameStart' : null;
    case 'nameStart':
      return isOws(b) ? 'nameStart' : isTchar(b) ? 'name' : null;
    case 'name':
      if (isTchar(b)) return 'name';
      return isOws(b) ? 'bwsAfterName' : eq ? 'valueStart' : semi ? 'nameStart' : null;
    case 'bwsAfterName':
      return isOws(b) ? 'bwsAfterName' : eq ? 'valueStart' : semi ? 'nameStart' : null;
    case 'valueStart':
      return isOws(b) ? 'valueStart' : b === 0x22 ? 'quoted' : isTchar(b) ? 'token' : null;
    case 'token':
      if (isTchar(b)) return 'token';
      return isOws(b) ? 'bwsBeforeSemi' : semi ? 'nameStart' : null;
    case 'quoted':
      return b === 0x22 ? 'afterQuoted' : b === 0x5c ? 'quotedPair' : isQdtext(b) ? 'quoted' : null;
    case 'quotedPair':
      return isFieldByte(b) ? 'quoted' : null;
    case 'afterQuoted':
      return isOws(b) ? 'bwsBeforeSemi' : semi ? 'nameStart' : null;
  }
}
