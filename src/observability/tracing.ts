/**
 * Span recording and OTLP/HTTP export (CONFIG.md `tracing`; docs/observability.md).
 *
 * A worker records the spans of sampled requests when they finish (Transaction.finish: nothing
 * on the way), queues them in a bounded queue, and exports them in batches (every second, or at
 * BATCH_SPANS) as OTLP/HTTP JSON with undici, one export in flight at a time. When the collector
 * is slow or down the queue fills and further spans are dropped and counted
 * (gateway_tracing_spans_dropped_total): requests never wait for tracing.
 *
 * Why not the OpenTelemetry SDK on the request path: its spans are objects with attribute maps,
 * context propagation and span processors, which cost several microseconds per request
 * (measured in bench/tracing-bench.ts against this module); here a span is a plain record made
 * once at the end of the request from numbers the transaction already has, and the OTLP JSON is
 * written per batch, off the request path. The wire format is OTLP/HTTP JSON
 * (opentelemetry-proto's JSON mapping: hex ids, nanosecond times as strings).
 */
import { Agent, request } from 'undici';
import { counter } from './metrics.js';
import { log } from './log.js';
import { performance } from 'node:perf_hooks';

export const SPAN_KIND_INTERNAL = 1;
export const SPAN_KIND_SERVER = 2;
export const SPAN_KIND_CLIENT = 3;

export type AttributeValue = string | number | boolean;

export interface SpanEvent {
  readonly name: string;
  /** performance.now() milliseconds. */
  readonly at: number;
}

export interface SpanRecord {
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: number;
  /** performance.now() milliseconds. */
  readonly start: number;
  readonly end: number;
  /** Flat [key, value, ...]. */
  readonly attributes: AttributeValue[];
  readonly error: string | null;
  readonly events: SpanEvent[] | null;
}

export interface TracingSettings {
  readonly sampleRatio: number;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly timeoutMs: number;
  readonly serviceName: string;
}

/**
 * Spans waiting for export, per worker: beyond this they are dropped. GATEWAY_TRACING_QUEUE_SPANS
 * (read once, at start) sets another bound: for tests, and operators who trade memory for
 * fewer drops during a collector outage.
 */
export const QUEUE_SPANS = queueSpans(process.env.GATEWAY_TRACING_QUEUE_SPANS);

function queueSpans(v: string | undefined): number {
  if (v === undefined || v === '') return 8192;
  const n = Number(v);
  if (Number.isInteger(n) && n >= 1) return n;
  log('warn', 'GATEWAY_TRACING_QUEUE_SPANS is not a positive integer: the default 8192 applies', { value: v });
  return 8192;
}
/** Spans per export request. */
export const BATCH_SPANS = 1024;
const FLUSH_MS = 1000;

const exported = counter('gateway_tracing_spans_exported_total', 'Spans the collector accepted.');
const dropped = counter('gateway_tracing_spans_dropped_total', 'Spans not exported, by reason: queue_full (the collector is slower than the traffic) or export_failed (the collector refused or could not be reached).', ['reason']);

/** Milliseconds since the epoch of a performance.now() time, as OTLP's nanosecond string. */
function unixNano(at: number): string {
  const ms = performance.timeOrigin + at;
  const whole = Math.floor(ms);
  const micro6 = Math.floor((ms - whole) * 1e6);
  return String(whole) + String(micro6).padStart(6, '0');
}

function attr(key: string, v: AttributeValue): unknown {
  if (typeof v === 'string') return { key, value: { stringValue: v } };
  if (typeof v === 'boolean') return { key, value: { boolValue: v } };
  return Number.isInteger(v) ? { key, value: { intValue: String(v) } } : { key, value: { doubleValue: v } };
}

/** One OTLP ExportTraceServiceRequest (JSON mapping) for these spans. */
export function encodeOtlpJson(spans: readonly SpanRecord[], serviceName: string, version: string): string {
  const out = spans.map((s) => {
    const attributes = [];
    for (let i = 0; i < s.attributes.length; i += 2) attributes.push(attr(s.attributes[i] as string, s.attributes[i + 1]));
    return {
      traceId: s.traceId,
      spanId: s.spanId,
      ...(s.parentSpanId !== '' ? { parentSpanId: s.parentSpanId } : {}),
      name: s.name,
      kind: s.kind,
      startTimeUnixNano: unixNano(s.start),
      endTimeUnixNano: unixNano(s.end),
      attributes,
      ...(s.events !== null ? { events: s.events.map((e) => ({ name: e.name, timeUnixNano: unixNano(e.at) })) } : {}),
      status: s.error !== null ? { code: 2, message: s.error } : { code: 0 },
    };
  });
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [attr('service.name', serviceName), attr('service.version', version), attr('process.pid', process.pid)] },
        scopeSpans: [{ scope: { name: 'uws-gateway', version }, spans: out }],
      },
    ],
  });
}

/** The worker's tracer: the settings in force and the export queue (one per process). */
export class Tracer {
  settings: TracingSettings | null = null;
  private queue: SpanRecord[] = [];
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private agent: Agent | null = null;
  private agentFor = '';
  private lastWarn = 0;

  constructor(private readonly version: string) {}

  /** The config's tracing section (null: export nothing; spans already queued still go out). */
  configure(settings: TracingSettings | null): void {
    this.settings = settings;
    if (settings === null) return;
    if (this.agentFor !== settings.url) {
      const old = this.agent;
      this.agent = new Agent({ connections: 2, headersTimeout: settings.timeoutMs, bodyTimeout: settings.timeoutMs, connect: { timeout: settings.timeoutMs } });
      this.agentFor = settings.url;
      void old?.close();
    }
  }

  /** Queues a finished span (or counts it dropped). */
  record(span: SpanRecord): void {
    if (this.queue.length >= QUEUE_SPANS) {
      dropped.inc('queue_full');
      return;
    }
    this.queue.push(span);
    if (this.queue.length >= BATCH_SPANS) this.flushSoon(0);
    else this.flushSoon(FLUSH_MS);
  }

  private flushSoon(ms: number): void {
    if (this.timer !== null) {
      if (ms > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, ms);
    this.timer.unref();
  }

  /** Exports what is queued, a batch at a time; one export in flight. */
  async flush(): Promise<void> {
    if (this.inFlight !== null) return this.inFlight;
    const s = this.settings;
    if (s === null || this.agent === null || this.queue.length === 0) return;
    const batch = this.queue.splice(0, BATCH_SPANS);
    this.inFlight = this.send(batch, s).finally(() => {
      this.inFlight = null;
      if (this.queue.length > 0) this.flushSoon(this.queue.length >= BATCH_SPANS ? 0 : FLUSH_MS);
    });
    return this.inFlight;
  }

  private async send(batch: SpanRecord[], s: TracingSettings): Promise<void> {
    try {
      const res = await request(s.url, {
        method: 'POST',
        dispatcher: this.agent!,
        headers: { ...s.headers, 'content-type': 'application/json' },
        body: encodeOtlpJson(batch, s.serviceName, this.version),
        headersTimeout: s.timeoutMs,
        bodyTimeout: s.timeoutMs,
      });
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) {
        exported.add(batch.length);
        return;
      }
      this.failed(batch.length, `the collector answered ${res.statusCode}`);
    } catch (err) {
      this.failed(batch.length, (err as Error).message);
    }
  }

  private failed(n: number, why: string): void {
    dropped.add(n, 'export_failed');
    const now = Date.now();
    if (now - this.lastWarn > 10_000) {
      this.lastWarn = now;
      log('warn', 'tracing: spans could not be exported (dropped)', { url: this.settings?.url, spans: n, error: why });
    }
  }

  /** At drain: what is queued goes out, within `ms`. */
  async close(ms: number): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const deadline = Date.now() + ms;
    // An export in flight to a collector that does not answer must not hold the exit past `ms`.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((r) => (timer = setTimeout(r, ms)));
    const drain = async (): Promise<void> => {
      if (this.inFlight !== null) await this.inFlight;
      while (this.queue.length > 0 && this.settings !== null && Date.now() < deadline) await this.flush();
    };
    await Promise.race([drain(), late]);
    clearTimeout(timer);
    // Drained by now, or out of time: an export still waiting is abandoned (its spans are lost).
    await this.agent?.destroy().catch(() => undefined);
  }

  /** Queued spans (tests, metrics). */
  get queued(): number {
    return this.queue.length;
  }
}
