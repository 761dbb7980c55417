/**
 * The cost of recording and encoding one sampled request's spans (server + plugins + upstream,
 * with the attributes the gateway sets), the gateway's tracer (src/observability/tracing.ts)
 * against the OpenTelemetry SDK (@opentelemetry/sdk-trace-base's BasicTracerProvider with a
 * BatchSpanProcessor, the W3C propagator, and otlp-transformer's JSON serializer, which is
 * what the OTLP/HTTP exporter sends). Both include the batch encoding; neither sends anything.
 *
 * Run: node dist/bench/tracing-bench.js  (one process, CPU time per request from process.cpuUsage)
 */
import { context, propagation, trace, SpanKind, type TextMapGetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { encodeOtlpJson, SPAN_KIND_CLIENT, SPAN_KIND_INTERNAL, SPAN_KIND_SERVER, type SpanRecord } from '../src/observability/tracing.js';
import { newSpanId, parseTraceparent } from '../src/observability/trace-context.js';

const N = Number(process.env.N ?? 100_000);
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
let sink = 0;

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function ours(): number {
  let batch: SpanRecord[] = [];
  const t0 = cpuMicros();
  for (let i = 0; i < N; i++) {
    const parent = parseTraceparent(TRACEPARENT)!;
    const start = performance.now();
    const serverId = newSpanId();
    const common = ['http.request.method', 'GET', 'http.route', 'users', 'http.response.status_code', 200, 'server.address', '127.0.0.1:9001'];
    batch.push(
      { traceId: parent.traceId, spanId: serverId, parentSpanId: parent.spanId, name: 'GET users', kind: SPAN_KIND_SERVER, start, end: start + 1, attributes: [...common, 'url.path', '/users/1', 'client.address', '127.0.0.1'], error: null, events: null },
      { traceId: parent.traceId, spanId: newSpanId(), parentSpanId: serverId, name: 'plugins', kind: SPAN_KIND_INTERNAL, start, end: start + 0.1, attributes: common, error: null, events: null },
      { traceId: parent.traceId, spanId: newSpanId(), parentSpanId: serverId, name: 'upstream GET', kind: SPAN_KIND_CLIENT, start, end: start + 1, attributes: [...common, 'server.port', 9001, 'gateway.upstream.status_code', 200], error: null, events: [{ name: 'response headers', at: start + 0.5 }] },
    );
    if (batch.length >= 1024) {
      sink += encodeOtlpJson(batch, 'gateway', '0.1.0').length;
      batch = [];
    }
  }
  if (batch.length > 0) sink += encodeOtlpJson(batch, 'gateway', '0.1.0').length;
  return (cpuMicros() - t0) / N;
}

async function otel(): Promise<number> {
  const exporter: SpanExporter = {
    export(spans: ReadableSpan[], done) {
      const bytes = JsonTraceSerializer.serializeRequest(spans as never);
      sink += bytes?.length ?? 0;
      done({ code: 0 });
    },
    shutdown: async () => {},
  };
  const provider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 1 << 20, maxExportBatchSize: 1024, scheduledDelayMillis: 1 })],
  });
  const tracer = provider.getTracer('uws-gateway', '0.1.0');
  const propagator = new W3CTraceContextPropagator();
  propagation.setGlobalPropagator(propagator);
  const carrier = { traceparent: TRACEPARENT };
  const getter: TextMapGetter<typeof carrier> = { keys: (c) => Object.keys(c), get: (c, k) => (c as Record<string, string>)[k] };
  const t0 = cpuMicros();
  for (let i = 0; i < N; i++) {
    const parentCtx = propagator.extract(context.active(), carrier, getter);
    const attrs = { 'http.request.method': 'GET', 'http.route': 'users', 'server.address': '127.0.0.1:9001' };
    const server = tracer.startSpan('GET users', { kind: SpanKind.SERVER, attributes: { ...attrs, 'url.path': '/users/1', 'client.address': '127.0.0.1' } }, parentCtx);
    const serverCtx = trace.setSpan(parentCtx, server);
    const plugins = tracer.startSpan('plugins', { kind: SpanKind.INTERNAL, attributes: attrs }, serverCtx);
    plugins.setAttribute('http.response.status_code', 200);
    plugins.end();
    const client = tracer.startSpan('upstream GET', { kind: SpanKind.CLIENT, attributes: { ...attrs, 'server.port': 9001 } }, serverCtx);
    client.addEvent('response headers');
    client.setAttribute('http.response.status_code', 200);
    client.setAttribute('gateway.upstream.status_code', 200);
    client.end();
    server.setAttribute('http.response.status_code', 200);
    server.end();
    if (i % 1000 === 999) await provider.forceFlush();
  }
  await provider.forceFlush();
  const us = (cpuMicros() - t0) / N;
  await provider.shutdown();
  return us;
}

export async function runTracingBench(): Promise<{ oursUs: number; otelUs: number }> {
  ours(); // warm-up
  await otel();
  const oursUs = ours();
  const otelUs = await otel();
  return { oursUs, otelUs };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await runTracingBench();
  console.log(`spans of one sampled request (3 spans, recorded + OTLP JSON encoded), CPU per request over ${N} requests:`);
  console.log(`  gateway tracer       ${r.oursUs.toFixed(2)} µs`);
  console.log(`  OpenTelemetry SDK    ${r.otelUs.toFixed(2)} µs  (${(r.otelUs / r.oursUs).toFixed(1)}x)`);
  if (sink < 0) console.log(sink);
}
