/**
 * The spans of one sampled request, made when it finishes (Transaction.finish) from times the
 * transaction kept, and queued on the worker's tracer (observability/tracing.ts):
 *
 *   SERVER "<METHOD> <route>"   the gateway's hop: parent = the client's span (traceparent), or root
 *     INTERNAL "plugins"        the access phase, when the route has plugins
 *     CLIENT "upstream <METHOD>"  proxy: the upstream exchange (retries included, as events)
 *     CLIENT "upstream websocket" WebSocket: the upstream handshake, until the upgrade is answered
 *     CLIENT "backend <as>"     aggregate: one per backend call (retries included)
 *
 * A CLIENT span's id is the parent id its upstream saw in its traceparent. Each span carries
 * http.request.method, http.route (the route id), http.response.status_code and server.address
 * of the upstream target (CONFIG.md); a client span also the upstream's own status, the attempts,
 * and events for a new connection ("connected"), each retry and the response head.
 */
import { SPAN_KIND_CLIENT, SPAN_KIND_INTERNAL, SPAN_KIND_SERVER, Tracer, type AttributeValue, type SpanEvent } from '../observability/tracing.js';
import { newSpanId } from '../observability/trace-context.js';
import type { RequestHead } from './head.js';
import type { Transaction } from './transaction.js';
import { packageVersion } from '../util/version.js';
import { performance } from 'node:perf_hooks';


/** This worker's tracer (configured by worker/main.ts on every config version). */
export const tracer = new Tracer(packageVersion());

/**
 * One upstream exchange of a sampled request, for its CLIENT span: made when the exchange starts
 * (only for sampled requests: nothing is allocated otherwise), times kept as it runs. The proxy's
 * and the WebSocket handshake's outcome is read from the transaction when the span is recorded;
 * an aggregate backend call fills `origin`, `status`, `attempts` and `error` itself.
 */
export class ClientSpan {
  /** performance.now() of the first dispatch, 0 if none. */
  startedAt = 0;
  /** Response head of the attempt that answered, 0 if none. */
  headersAt = 0;
  /** The exchange ended (answer complete or failed). */
  endedAt = 0;
  /** New connections ("connected") and retries, in the order they happened. */
  events: SpanEvent[] | null = null;
  /** The target of the last attempt (its origin), '' for none. */
  origin = '';
  /** The upstream's status (0: no answer). */
  status = 0;
  attempts = 1;
  /** Why the exchange failed (the span's error status), or null. */
  error: string | null = null;

  constructor(
    /** The parent id the upstream sees in its traceparent. */
    readonly spanId: string,
    readonly name: string,
    readonly method: string,
    /** More attributes, flat [key, value, ...]. */
    readonly extra: AttributeValue[] | null,
  ) {}

  event(name: string): void {
    (this.events ??= []).push({ name, at: performance.now() });
  }
}

function hostOf(origin: string): string {
  const i = origin.indexOf('://');
  return i === -1 ? origin : origin.slice(i + 3);
}

/** One CLIENT span under the request's server span; `answered` is its http.response.status_code. */
function recordClientSpan(head: RequestHead, serverId: string, route: string, c: ClientSpan, answered: number, end: number): void {
  const serverAddress = c.origin !== '' ? hostOf(c.origin) : '';
  const attributes: AttributeValue[] = ['http.request.method', c.method, 'http.route', route];
  if (answered > 0) attributes.push('http.response.status_code', answered);
  if (serverAddress !== '') {
    attributes.push('server.address', serverAddress);
    const port = serverAddress.lastIndexOf(':');
    if (port > 0) attributes.push('server.port', Number(serverAddress.slice(port + 1)));
  }
  attributes.push('gateway.upstream.status_code', c.status, 'gateway.upstream.attempts', c.attempts);
  if (c.extra !== null) for (const v of c.extra) attributes.push(v);
  let events = c.events;
  if (c.headersAt > 0) (events ??= []).push({ name: 'response headers', at: c.headersAt });
  tracer.record({
    traceId: head.traceId,
    spanId: c.spanId,
    parentSpanId: serverId,
    name: c.name,
    kind: SPAN_KIND_CLIENT,
    start: c.startedAt,
    end: c.endedAt > 0 ? c.endedAt : end,
    attributes,
    error: c.error,
    events,
  });
}

export function recordSpans(tx: Transaction, end: number): void {
  if (tracer.settings === null) return;
  const head = tx.head;
  const route = tx.routeId;
  const origin = tx.upstreamOrigin;
  const serverAddress = origin !== null ? hostOf(origin) : '';
  const serverId = newSpanId();
  const error = tx.status >= 500 ? (tx.errorCode ?? String(tx.status)) : tx.aborted ? 'client aborted' : null;
  const common: AttributeValue[] = ['http.request.method', head.method, 'http.route', route, 'http.response.status_code', tx.status];
  if (serverAddress !== '') common.push('server.address', serverAddress);
  tracer.record({
    traceId: head.traceId,
    spanId: serverId,
    parentSpanId: head.parentSpanId,
    name: head.method + ' ' + route,
    kind: SPAN_KIND_SERVER,
    start: head.startedAt,
    end,
    attributes: [...common, 'url.path', head.path, 'client.address', head.clientIp, ...(head.requestId !== '' ? ['gateway.request_id', head.requestId] : []), ...(tx.errorCode !== null ? ['error.type', tx.errorCode] : [])],
    error,
    events: null,
  });
  if (tx.accessDoneAt > 0) {
    tracer.record({
      traceId: head.traceId,
      spanId: newSpanId(),
      parentSpanId: serverId,
      name: 'plugins',
      kind: SPAN_KIND_INTERNAL,
      start: head.startedAt,
      end: tx.accessDoneAt,
      attributes: common,
      error: null,
      events: null,
    });
  }
  // The proxy's exchange, a WebSocket handshake: their outcome is the transaction's.
  const up = tx.upstreamTiming;
  if (up !== null && up.startedAt > 0) {
    const s = tx.upstreamStatus;
    up.origin = origin ?? '';
    up.status = s;
    up.attempts = tx.attempt + 1;
    up.error = s >= 500 || s === 0 ? (tx.errorCode ?? (s === 0 ? 'no answer' : String(s))) : null;
    recordClientSpan(head, serverId, route, up, tx.status, end);
  }
  // An aggregate's backend calls: each its own.
  const calls = tx.clientSpans;
  if (calls !== null) for (const c of calls) if (c.startedAt > 0) recordClientSpan(head, serverId, route, c, c.status, end);
}
