/**
 * JSON access log, one line per request, batched: lines are appended to a string and flushed
 * every 100 ms or at 64 KiB, so the request path never waits on a write.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { ProxyExchange } from '../worker/exchange.js';
import { GATEWAY_ERRORS, type GatewayErrorCode } from '../errors.js';

const FLUSH_BYTES = 64 * 1024;
const FLUSH_MS = 100;

export class AccessLog {
  #buffer = '';
  #timer: NodeJS.Timeout | null = null;
  #out: NodeJS.WritableStream | WriteStream;

  constructor(path: string) {
    this.#out = path === 'stdout' ? process.stdout : createWriteStream(path, { flags: 'a' });
  }

  #push(entry: Record<string, unknown>): void {
    this.#buffer += JSON.stringify(entry) + '\n';
    if (this.#buffer.length >= FLUSH_BYTES) this.flush();
    else if (this.#timer === null) this.#timer = setTimeout(() => this.flush(), FLUSH_MS);
  }

  flush(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#buffer.length === 0) return;
    this.#out.write(this.#buffer);
    this.#buffer = '';
  }

  /** A proxied request, when it finished (answered, failed or aborted). */
  recordExchange(ex: ProxyExchange): void {
    this.#push({
      time: new Date().toISOString(),
      client: ex.client,
      method: ex.method,
      path: ex.clientPath,
      route: ex.route.id,
      upstreamPath: ex.path,
      status: ex.aborted ? 499 : ex.status,
      upstream: ex.target?.origin ?? null,
      upstreamStatus: ex.upstreamStatus || null,
      bytesIn: ex.requestBytes,
      bytesOut: ex.responseBytes,
      durationMs: Math.round((performance.now() - ex.startedAt) * 1000) / 1000,
      ...(ex.ctx?.requestId ? { requestId: ex.ctx.requestId } : {}),
      ...(ex.ctx?.consumer ? { consumer: ex.ctx.consumer.id } : {}),
    });
  }

  /** A request the gateway answered itself (respond route). */
  record(client: string, method: string, path: string, route: string, status: number, bytes: number, requestId?: string, error?: string): void {
    this.#push({ time: new Date().toISOString(), client, method, path, route, status, bytesOut: bytes, ...(requestId ? { requestId } : {}), ...(error ? { error } : {}) });
  }

  /** A gateway error answered before any route ran. */
  recordError(client: string, method: string, path: string, code: GatewayErrorCode, requestId?: string): void {
    this.#push({ time: new Date().toISOString(), client, method, path, status: GATEWAY_ERRORS[code].status, error: code, ...(requestId ? { requestId } : {}) });
  }
}
