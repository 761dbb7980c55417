/**
 * The spans of one sampled request, made when it finishes (Transaction.finish) from times the
 * transaction kept, and queued on the worker's tracer (observability/tracing.ts):
 *
 *   SERVER "<METHOD> <route>"   the gateway's hop: parent = the client's span (traceparent), or root
 *     INTERNAL "plugins"        the access phase, when the route has plugins
 *     CLIENT "upstream"         the upstream exchange (retries included, as events); its id is
 *                               the parent the upstream saw in its traceparent
 *
 * Each carries http.request.method, http.route (the route id), http.response.status_code and
 * server.address of the upstream target (CONFIG.md); the client span also the upstream's own
 * status, and events for the response head and each retry.
 */
import { SPAN_KIND_CLIENT, SPAN_KIND_INTERNAL, SPAN_KIND_SERVER, Tracer, type AttributeValue, type SpanEvent } from '../observability/tracing.js';
import { newSpanId } from '../observability/trace-context.js';
import type { Transaction } from './transaction.js';
import { packageVersion } from '../util/version.js';


/** This worker's tracer (configured by worker/main.ts on every config version). */
export const tracer = new Tracer(packageVersion());

/** What the proxy action kept of the upstream exchange, for its span. */
export interface UpstreamTiming {
  /** performance.now() of the first dispatch, 0 if none. */
  startedAt: number;
  /** Response head of the attempt that answered, 0 if none. */
  headersAt: number;
  /** The exchange ended (answer complete or failed). */
  endedAt: number;
  /** Retries, as span events. */
  retries: SpanEvent[] | null;
}

function hostOf(origin: string): string {
  const i = origin.indexOf('://');
  return i === -1 ? origin : origin.slice(i + 3);
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
  const up = tx.upstreamTiming;
  if (up !== null && up.startedAt > 0) {
    const events: SpanEvent[] = [];
    if (up.retries !== null) events.push(...up.retries);
    if (up.headersAt > 0) events.push({ name: 'response headers', at: up.headersAt });
    const port = serverAddress.lastIndexOf(':');
    tracer.record({
      traceId: head.traceId,
      spanId: head.upstreamSpanId,
      parentSpanId: serverId,
      name: 'upstream ' + head.method,
      kind: SPAN_KIND_CLIENT,
      start: up.startedAt,
      end: up.endedAt > 0 ? up.endedAt : end,
      attributes: [
        ...common,
        ...(port > 0 ? ['server.port', Number(serverAddress.slice(port + 1))] : []),
        'gateway.upstream.status_code', tx.upstreamStatus,
        'gateway.upstream.attempts', tx.attempt + 1,
      ],
      error: tx.upstreamStatus >= 500 || tx.upstreamStatus === 0 ? (tx.errorCode ?? (tx.upstreamStatus === 0 ? 'no answer' : String(tx.upstreamStatus))) : null,
      events: events.length > 0 ? events : null,
    });
  }
}
