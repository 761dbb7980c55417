/**
 * HTTP/1.1 response parser facade: createResponseParser(handlers, limits) gives the native parser
 * (the product, native/http_response_parser.cc); createResponseParser(handlers, limits,
 * 'reference') the pure-TS oracle. Both implement ResponseParserEngine
 * (./http-response-parser-types.ts, which holds the contract) with identical callback streams.
 *
 * The native engine crosses the boundary once per execute() in the usual case: the addon parses
 * the whole slice, writes event records into an Int32Array it shares with this facade, and copies
 * each head compactly (reason \0 name \0 value \0 ...) into a shared store; this facade then
 * replays the records as callbacks (one latin1 decode + one split per head). When the records or
 * the store fill up (hundreds of tiny messages in one slice) the addon pauses and is called again
 * for the rest, which is invisible to the caller.
 *
 * There is deliberately no silent fallback to the reference engine: a missing addon is an Error
 * asking for `npm install`.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  MAX_PENDING_REQUESTS,
  REQUEST_CONNECT,
  REQUEST_HEAD,
  REQUEST_OTHER,
  STATUS_UPGRADED,
  checkSlice,
  resolveLimits,
  type ParseStatus,
  type ParserLimits,
  type RequestKind,
  type ResponseParserEngine,
  type ResponseParserHandlers,
} from './http-response-parser-types.js';
import { ReferenceResponseParser } from './reference/http-response-parser.js';

export * from './http-response-parser-types.js';
export { ReferenceResponseParser };

export type ResponseParserEngineKind = 'native' | 'reference';

/** The JS surface of the native ResponseParser class (native/http_response_parser_napi.h). */
interface NativeParser {
  readonly output: ArrayBuffer;
  readonly store: ArrayBuffer;
  execute(data: Uint8Array, offset: number, length: number): number;
  finish(): number;
  expect(kind: number): boolean;
  pending(): number;
  reset(): void;
}
interface NativeAddon {
  ResponseParser: new (maxHeadSize: number, maxHeaders: number, maxChunkExtensionSize: number) => NativeParser;
}

// Keep in sync with native/http_response_parser.h.
const STATUS_PAUSED = 1;
const OUT_HEADER = 4;
const EV_BEGIN = 1;
const EV_HEAD = 2;
const EV_BODY = 3;
const EV_TRAILERS = 4;
const EV_COMPLETE = 5;
const EV_ERROR = 6;
const TWO_32 = 4294967296;

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

let addon: NativeAddon | null = null;
let addonError: Error | null = null;

function loadAddon(): NativeAddon {
  if (addon) return addon;
  if (addonError) throw addonError;
  let file = '(package root not found)';
  try {
    file = join(packageRoot(), 'build', 'Release', 'gateway_native.node');
    const loaded = createRequire(import.meta.url)(file) as Partial<NativeAddon>;
    if (typeof loaded.ResponseParser !== 'function') throw new Error('it does not export ResponseParser (stale build?)');
    addon = loaded as NativeAddon;
    return addon;
  } catch (err) {
    addonError = new Error(
      `the native response parser could not be loaded from ${file}: run \`npm install\` (it builds the addon with node-gyp). ` +
        `Cause: ${(err as Error).message}`,
      { cause: err },
    );
    throw addonError;
  }
}

/** True when build/Release/gateway_native.node loads and exports the response parser. */
export function nativeResponseParserAvailable(): boolean {
  try {
    loadAddon();
    return true;
  } catch {
    return false;
  }
}

const EMPTY: string[] = [];

/** ResponseParserEngine over the addon. */
class NativeResponseParser implements ResponseParserEngine {
  readonly #p: NativeParser;
  readonly #out: Int32Array;
  readonly #store: Buffer;
  readonly #h: ResponseParserHandlers;
  #busy = false;
  #broken = false;
  #errorCode = 0;
  #errorPosition = -1;
  #upgradeOffset = -1;

  constructor(handlers: ResponseParserHandlers, limits?: ParserLimits) {
    const l = resolveLimits(limits);
    const { ResponseParser } = loadAddon();
    this.#p = new ResponseParser(l.maxHeadSize, l.maxHeaders, l.maxChunkExtensionSize);
    this.#out = new Int32Array(this.#p.output);
    this.#store = Buffer.from(this.#p.store);
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
    return this.#p.pending();
  }

  #guard(what: string): void {
    if (this.#busy) throw new Error(`${what}() called from a parser handler`);
    if (this.#broken) throw new Error('the parser is unusable: a handler threw (reset() it)');
  }

  expect(kind: RequestKind = REQUEST_OTHER): void {
    this.#guard('expect');
    if (kind !== REQUEST_OTHER && kind !== REQUEST_HEAD && kind !== REQUEST_CONNECT) {
      throw new TypeError(`expect(kind): REQUEST_OTHER, REQUEST_HEAD or REQUEST_CONNECT, got ${String(kind)}`);
    }
    if (!this.#p.expect(kind)) throw new RangeError(`expect(): ${MAX_PENDING_REQUESTS} requests are already outstanding`);
  }

  reset(): void {
    if (this.#busy) throw new Error('reset() called from a parser handler');
    this.#p.reset();
    this.#broken = false;
    this.#errorCode = 0;
    this.#errorPosition = -1;
    this.#upgradeOffset = -1;
  }

  // hot path
  execute(data: Uint8Array, offset?: number, length?: number): ParseStatus {
    this.#guard('execute');
    const [start, end] = checkSlice(data, offset, length);
    this.#busy = true;
    try {
      this.#upgradeOffset = -1;
      let off = start;
      let left = end - start;
      for (;;) {
        const status = this.#p.execute(data, off, left);
        const consumed = this.#out[1];
        if (this.#out[0] !== 0) this.#dispatch(data, off);
        if (status === STATUS_PAUSED) {
          if (consumed === 0 && this.#out[0] === 0) throw new Error('internal error: the native parser paused without progress');
          off += consumed;
          left -= consumed;
          continue;
        }
        if (status === STATUS_UPGRADED) this.#upgradeOffset = off + consumed;
        return status as ParseStatus;
      }
    } catch (err) {
      this.#broken = true;
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
      const status = this.#p.finish();
      if (this.#out[0] !== 0) this.#dispatch(null, 0);
      return status as ParseStatus;
    } catch (err) {
      this.#broken = true;
      throw err;
    } finally {
      this.#busy = false;
    }
  }

  /** Replays the event records of the last native call. Body offsets are relative to `base`. */
  #dispatch(data: Uint8Array | null, base: number): void {
    const out = this.#out;
    const h = this.#h;
    const end = OUT_HEADER + out[0];
    let k = OUT_HEADER;
    while (k < end) {
      switch (out[k]) {
        case EV_BEGIN:
          h.onMessageBegin?.();
          k += 1;
          break;
        case EV_HEAD: {
          if (h.onHead !== undefined) {
            const hi = out[k + 4];
            const cl = hi < 0 ? -1 : hi * TWO_32 + (out[k + 5] >>> 0);
            const count = out[k + 7];
            const blockStart = out[k + 8];
            const blockLen = out[k + 9];
            const reasonLen = out[k + 10];
            // one latin1 string for the block (reason \0 name \0 value \0 ...), one split
            const block = this.#store.toString('latin1', blockStart, blockStart + blockLen);
            const headers = count === 0 ? EMPTY.slice() : block.slice(reasonLen + 1, blockLen - 1).split('\0');
            h.onHead(out[k + 1], out[k + 2], out[k + 3], cl, out[k + 6], headers, block.slice(0, reasonLen));
          }
          k += 11;
          break;
        }
        case EV_BODY: {
          const s = base + out[k + 1];
          h.onBody?.(data as Uint8Array, s, s + out[k + 2]);
          k += 3;
          break;
        }
        case EV_TRAILERS: {
          const blockStart = out[k + 2];
          const blockLen = out[k + 3];
          h.onTrailers?.(this.#store.toString('latin1', blockStart, blockStart + blockLen - 1).split('\0'));
          k += 4;
          break;
        }
        case EV_COMPLETE:
          h.onMessageComplete?.();
          k += 1;
          break;
        case EV_ERROR:
          this.#errorCode = out[k + 1];
          this.#errorPosition = out[k + 2] * TWO_32 + (out[k + 3] >>> 0);
          k += 4;
          break;
        default:
          throw new Error(`internal error: unknown native parser event ${out[k]}`);
      }
    }
  }
}

/**
 * A parser for the responses of one upstream connection. Throws RangeError on bad limits and an
 * Error asking for `npm install` when the native addon is missing (engine 'native').
 */
export function createResponseParser(
  handlers: ResponseParserHandlers,
  limits?: ParserLimits,
  engine: ResponseParserEngineKind = 'native',
): ResponseParserEngine {
  if (engine === 'native') return new NativeResponseParser(handlers, limits);
  if (engine === 'reference') return new ReferenceResponseParser(handlers, limits);
  throw new TypeError(`unknown response parser engine "${String(engine)}"`);
}

