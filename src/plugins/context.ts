/**
 * Per-request state that plugins read and write. One object per request that has plugins
 * (routes without plugins never build one). Everything in it was copied out of the uWS
 * request synchronously, so plugins may be async.
 */
import type { Consumer } from './consumers.js';

export class RequestContext {
  /** Authenticated consumer, set by an auth plugin. */
  consumer: Consumer | null = null;
  /** Verified JWT claims, set by the jwt plugin. */
  claims: Record<string, unknown> | null = null;
  /** Set by the requestId plugin; echoed in gateway error bodies. */
  requestId = '';
  /** performance.now() when the request arrived. */
  startedAt = 0;
  /** Headers added to whatever answer the client gets, flat [name, value, ...]. */
  readonly responseHeaders: string[] = [];

  constructor(
    readonly method: string,
    /** The normalized path the route matched. */
    readonly path: string,
    /** Raw query string without "?", "" when none. Plugins may rewrite it (apiKey removes its key). */
    public query: string,
    readonly hostHeader: string,
    /**
     * Request headers as they will be forwarded: flat [name, value, ...], lower-case names,
     * hop-by-hop and X-Forwarded-* already removed. Plugins edit it with the helpers below.
     */
    readonly headers: string[],
    /** The TCP peer. */
    readonly peer: string,
    /** The client: the peer, or the nearest untrusted X-Forwarded-For hop when the peer is a trusted proxy. */
    readonly clientIp: string,
    readonly routeId: string,
  ) {}

  /** First value of a request header (lower-case name), or undefined. */
  header(name: string): string | undefined {
    const h = this.headers;
    for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1];
    return undefined;
  }

  /** Replaces every value of a header with one value. */
  setHeader(name: string, value: string): void {
    this.removeHeader(name);
    this.headers.push(name, value);
  }

  /** Removes every value of a header. */
  removeHeader(name: string): void {
    const h = this.headers;
    for (let i = h.length - 2; i >= 0; i -= 2) if (h[i] === name) h.splice(i, 2);
  }

  addResponseHeader(name: string, value: string): void {
    this.responseHeaders.push(name, value);
  }
}
