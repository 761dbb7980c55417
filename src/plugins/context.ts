/**
 * Per-request state that plugins read and write. One object per request that has plugins
 * (routes without plugins never build one). Everything in it was copied out of the uWS
 * request synchronously, so plugins may be async. The client's header lines may be bytes (the
 * addon's copy): the header helpers work on them as they are (see #list).
 *
 * Core fields only: what several parts of the gateway read (the consumer: acl, rate limits, the
 * access log; the request id). A plugin's own state goes in a typed slot, not a new field:
 *
 *   const CLAIMS = slot<Record<string, unknown>>('jwt.claims');   // once, at module load
 *   ctx.set(CLAIMS, payload);  ...  ctx.get(CLAIMS)                // undefined until set
 *
 * Slots are indexes into a small array made on the first set, so a request whose plugins keep
 * no state allocates nothing for them.
 */
import type { Consumer } from './consumers.js';
import type { RequestContext as PublicRequestContext } from './public.js';
import { splitHeaderLines } from '../upstream/dispatch.js';
import { countLines, lineValue, takeLines, takenCount, takenLength } from '../worker/header-lines.js';
import { performance } from 'node:perf_hooks';
import { isFramingHeader } from '../util/syntax.js';

/** A typed per-request state cell; allocate with slot() at module load, never per request. */
export interface Slot<T> {
  readonly index: number;
  readonly name: string;
  /** Type carrier only. */
  readonly __type?: T;
}

const slotNames: string[] = [];
const moduleSlots = new Map<string, Slot<unknown>>();

export function slot<T>(name: string): Slot<T> {
  if (slotNames.includes(name)) throw new Error(`request context slot "${name}" is allocated twice`);
  slotNames.push(name);
  return Object.freeze({ index: slotNames.length - 1, name });
}

/**
 * A plugin module's slot (the public slot(), public.ts): the same name gives the same slot, so a
 * module that a reload re-imports gets its slots back instead of new ones each time. Its own
 * namespace: a module cannot reach a built-in's slot by naming it.
 */
export function moduleSlot<T>(name: string): Slot<T> {
  let s = moduleSlots.get(name);
  if (s === undefined) {
    s = slot<unknown>(`module:${name}`);
    moduleSlots.set(name, s);
  }
  return s as Slot<T>;
}

/** Names of the slots allocated so far (diagnostics, tests). */
export function slotCount(): number {
  return slotNames.length;
}

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze(Object.create(null) as Record<string, string>);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const BAD_VALUE = /[\r\n\0]/;

/**
 * What plugin modules set must be a valid header: a lower-case token name that does not frame the
 * message or its connection (the gateway writes those; a second Content-Length, or one beside
 * chunked, would let the client frame the answer two ways), a value without CR, LF or NUL.
 */
function checkHeader(name: string, value: string): void {
  if (typeof name !== 'string' || !TOKEN.test(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}: expected a lower-case RFC 9110 token`);
  if (isFramingHeader(name)) throw new TypeError(`header "${name}" cannot be set by a plugin: the gateway frames each message and its connection itself`);
  if (typeof value !== 'string' || BAD_VALUE.test(value)) throw new TypeError(`invalid value for header "${name}": expected a string without CR, LF or NUL`);
}

/**
 * What a route with a plugin module gives its plugins beyond what the built-ins use: the route's
 * params by name (`pairs`: the router's capture offsets into `path`, this pattern's from pair
 * `first`), and checks on the header values plugins set (a module may build them from request
 * data). Routes without plugin modules never pay for either (front.ts calls this only for them).
 */
export function openToModules(ctx: RequestContext, names: readonly string[], path: string, pairs: Int32Array, first: number): void {
  ctx.checkHeaders = true;
  if (names.length === 0) return;
  const params = Object.create(null) as Record<string, string>;
  for (let k = 0; k < names.length; k++) params[names[k]] = path.slice(pairs[2 * (first + k)], pairs[2 * (first + k) + 1]);
  ctx.params = params;
}

export class RequestContext implements PublicRequestContext {
  /** Authenticated consumer, set by an auth plugin. */
  consumer: Consumer | null = null;
  /** The route's captures (`:name`, `*`) by name; filled on routes with a plugin module (built-ins do not read them). */
  params: Readonly<Record<string, string>> = NO_PARAMS;
  /**
   * Headers set through setHeader/addResponseHeader are checked (routes with a plugin module:
   * a module may build a value from request data; the built-ins' values are checked at load).
   */
  checkHeaders = false;
  /** A plugin module's response hook failed during this answer's response hooks (modules/guard.ts). */
  moduleHookFailed = false;
  /** The request id (core, src/worker/request-id.ts); '' when ids are off. Echoed in error bodies. */
  requestId = '';
  /** performance.now() when the request arrived. */
  startedAt = 0;
  /** The transaction has finished (answered, or the client went away): the completion hooks have run. */
  finished = false;
  /** Headers added to whatever answer the client gets, flat [name, value, ...]. */
  readonly responseHeaders: string[] = [];
  /** Plugin state by slot index; null until a plugin sets one. */
  #slots: unknown[] | null = null;
  /**
   * The request's headers: the head's array (RequestHead.headers, the same object). When the
   * client's lines came as bytes (#raw: a plain head on a route whose upstreams take lines), it
   * holds only what the gateway and the plugins added, and the client's lines stay bytes (this
   * request's own copy) until a plugin reads the whole list (`headers`): lookups search the bytes,
   * removals cut lines out of them in place (src/worker/header-lines.ts).
   */
  readonly #list: string[];
  #raw: Buffer | null;
  /** Bytes and lines of #raw still in use. */
  #rawLength: number;
  #rawCount: number;
  /** upstreamLines() was called: the request went upstream; `headers` no longer edits it. */
  #sent = false;
  /** Lines in the Buffer upstreamLines() returned. */
  upstreamLineCount = 0;

  constructor(
    readonly method: string,
    /** The normalized path the route matched. */
    readonly path: string,
    /** Raw query string without "?", "" when none. Plugins may rewrite it (apiKey removes its key). */
    public query: string,
    readonly hostHeader: string,
    /**
     * Request headers as they will be forwarded: flat [name, value, ...], lower-case names,
     * hop-by-hop and X-Forwarded-* already removed (RequestHead.headers).
     */
    headers: string[],
    /** The TCP peer. */
    readonly peer: string,
    /** The client: the peer, or the nearest untrusted X-Forwarded-For hop when the peer is a trusted proxy. */
    readonly clientIp: string,
    readonly routeId: string,
    /** The client's lines as bytes, before `headers` (RequestHead.rawHeaders: the request's own copy), or null. */
    rawLines: Buffer | null = null,
    rawLineCount = 0,
  ) {
    this.#list = headers;
    this.#raw = rawLines;
    this.#rawLength = rawLines !== null ? rawLines.length : 0;
    this.#rawCount = rawLineCount;
  }

  get<T>(s: Slot<T>): T | undefined {
    const slots = this.#slots;
    return slots === null ? undefined : (slots[s.index] as T | undefined);
  }

  set<T>(s: Slot<T>, value: T): void {
    if (this.#slots === null) this.#slots = new Array<unknown>(slotNames.length);
    this.#slots[s.index] = value;
  }

  /**
   * Request headers as they will be forwarded: flat [name, value, ...], lower-case names,
   * hop-by-hop and X-Forwarded-* already removed. Plugins may edit the array until the request
   * goes upstream. Reading it turns the client's lines into strings (the helpers below do not).
   */
  get headers(): string[] {
    const raw = this.#raw;
    if (raw === null) return this.#list;
    const pairs = this.#rawCount === 0 ? [] : splitHeaderLines(raw.subarray(0, this.#rawLength));
    if (this.#sent) return pairs.concat(this.#list); // a copy: what was sent stays as it was
    // In place, so that the head's array (the same object) stays the whole list.
    this.#list.unshift(...pairs);
    this.#raw = null;
    return this.#list;
  }

  /** First value of a request header (lower-case name), or undefined. */
  header(name: string): string | undefined {
    if (this.#raw !== null) {
      const v = lineValue(this.#raw, this.#rawLength, name);
      if (v !== undefined) return v;
    }
    const h = this.#list;
    for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1];
    return undefined;
  }

  /** How many values of a request header (lower-case name) there are. */
  headerCount(name: string): number {
    let n = this.#raw !== null ? countLines(this.#raw, this.#rawLength, name) : 0;
    const h = this.#list;
    for (let i = 0; i < h.length; i += 2) if (h[i] === name) n++;
    return n;
  }

  /** Replaces every value of a header with one value. */
  setHeader(name: string, value: string): void {
    if (this.checkHeaders) checkHeader(name, value);
    this.removeHeader(name);
    this.#list.push(name, value);
  }

  /** Adds a value of a header after those there are. */
  appendHeader(name: string, value: string): void {
    if (this.checkHeaders) checkHeader(name, value);
    this.#list.push(name, value);
  }

  /** Removes every value of a header. */
  removeHeader(name: string): void {
    // Once sent, the bytes are the upstream request's (a retry sends them again): never cut then.
    if (this.#raw !== null && !this.#sent && takeLines(this.#raw, this.#rawLength, this.#rawCount, name) !== undefined) {
      this.#rawLength = takenLength();
      this.#rawCount = takenCount();
    }
    // In place, without splice (a generic builtin that also makes the array of what it removed).
    const h = this.#list;
    let w = 0;
    for (let r = 0; r < h.length; r += 2) {
      if (h[r] === name) continue;
      if (w !== r) {
        h[w] = h[r];
        h[w + 1] = h[r + 1];
      }
      w += 2;
    }
    while (h.length > w) h.pop(); // pop, not a length store (a call into the runtime)
  }

  addResponseHeader(name: string, value: string): void {
    if (this.checkHeaders) checkHeader(name, value);
    this.responseHeaders.push(name, value);
  }

  /**
   * The client's lines to send upstream, before `headers` (UpstreamRequest.rawLines): those the
   * plugins did not remove, as bytes; null when they are all in `headers`. Their count is then in
   * upstreamLineCount. Called once, when the request goes upstream.
   */
  upstreamLines(): Buffer | null {
    this.#sent = true;
    const raw = this.#raw;
    if (raw === null || this.#rawCount === 0) return null;
    this.upstreamLineCount = this.#rawCount;
    return this.#rawLength === raw.length ? raw : raw.subarray(0, this.#rawLength);
  }
}
