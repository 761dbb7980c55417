/**
 * Mirroring (CONFIG.md route `mirror`): a fire-and-forget copy of `percent` of a route's requests
 * to a shadow upstream, as Envoy's shadow writer does. The copy carries the method, path, query,
 * headers (with X-Forwarded-*) and the request body when it was read whole into memory; the
 * shadow's answer is read and dropped. A copy never delays, changes or fails the real request:
 * it is sent after the real one, its failures are only counted, and at most
 * MIRROR_MAX_INFLIGHT copies per worker are in flight at once; over that a copy is dropped and
 * counted. Copies not made: a body streamed through (requestBuffering false) or spooled to a
 * temporary file (larger than limits.bodyBufferBytes), which the real request may still be reading.
 */
import type { UpstreamTarget } from '../../runtime/compile.js';
import type { UpstreamFailure, UpstreamHandler, UpstreamRequest } from '../../upstream/dispatch.js';
import type { Endpoint } from '../../upstream/endpoint.js';
import type { RequestBody } from '../request-body.js';
import { counter } from '../../observability/metrics.js';
import { performance } from 'node:perf_hooks';

export interface MirrorTarget {
  readonly target: UpstreamTarget;
  /** Share of requests copied, 0..100. */
  readonly percent: number;
  /** Deadline of a copy (the route's timeoutMs, or 10 s when that is 0). */
  readonly timeoutMs: number;
}

export const MIRROR_MAX_INFLIGHT = 128;

let inflight = 0;

const mirrored = counter('gateway_mirror_requests_total', 'Mirrored request copies by route and result (sent, ok, failed, dropped_*).', ['route', 'result']);

/** Discards the shadow's answer; ends the copy's accounting once. */
class ShadowAttempt implements UpstreamHandler {
  private abort: ((reason?: Error) => void) | null = null;
  private done = false;
  private timer: NodeJS.Timeout | null = null;
  private status = 0;
  private readonly startedAt = performance.now();

  constructor(private readonly m: MirrorTarget, private readonly ep: Endpoint, private readonly route: string) {
    this.timer = setTimeout(() => this.abort?.(new Error('mirror deadline')), m.timeoutMs);
    this.timer.unref();
  }
  onConnect(abort: (reason?: Error) => void): void {
    this.abort = abort;
  }
  onInformational(): void {}
  onHeaders(status: number): boolean {
    this.status = status;
    return true;
  }
  onData(): boolean {
    return true; // read and dropped
  }
  keptChunk(): boolean {
    return false; // nothing kept: the engine may read the next piece into the same memory
  }
  onComplete(): void {
    this.end(this.status >= 500 ? 'failed' : 'ok', 'response');
  }
  onError(err: UpstreamFailure): void {
    this.end('failed', err.kind === 'connect' ? 'connect-failure' : err.kind === 'invalid' ? 'protocol' : err.kind);
  }
  private end(result: 'ok' | 'failed', kind: Parameters<UpstreamTarget['cluster']['end']>[1]): void {
    if (this.done) return;
    this.done = true;
    if (this.timer !== null) clearTimeout(this.timer);
    inflight--;
    mirrored.inc(this.route, result);
    this.m.target.cluster.end(this.ep, kind, this.status, (performance.now() - this.startedAt) * 1000);
  }
}

/**
 * Sends a copy of the request to the mirror, if this request is one of the `percent` and the
 * bounds allow. `headers` are the real request's, with Host last at `hostAt` (replaced here).
 */
export function mirror(
  m: MirrorTarget,
  method: string,
  path: string,
  headers: readonly string[],
  hostAt: number,
  body: RequestBody | null,
  source: UpstreamRequest['body'],
  route: string,
): void {
  if (m.percent < 100 && Math.random() * 100 >= m.percent) return;
  let copy: Buffer | null = null;
  if (body !== null) {
    if (!(source instanceof Buffer)) {
      mirrored.inc(route, body.mode === 'stream' ? 'dropped_streamed_body' : 'dropped_spooled_body');
      return;
    }
    copy = source;
  }
  if (inflight >= MIRROR_MAX_INFLIGHT) {
    mirrored.inc(route, 'dropped_concurrency');
    return;
  }
  const cluster = m.target.cluster;
  const ep = cluster.pick(FIRST_ATTEMPT);
  if (ep === null || cluster.busy) {
    mirrored.inc(route, 'dropped_no_target');
    return;
  }
  const h = headers.slice(0, hostAt);
  h.push('host', ep.hostHeader);
  inflight++;
  mirrored.inc(route, 'sent');
  cluster.begin(ep);
  const req: UpstreamRequest = { method, path, headers: h, body: copy, headersTimeoutMs: m.target.responseHeadersMs, bodyTimeoutMs: m.target.idleMs };
  ep.dispatcher.dispatch(req, new ShadowAttempt(m, ep, route));
}

/** Mirrors are balanced without request context (round-robin and least-connections fit best). */
const FIRST_ATTEMPT = {
  clientIp: '',
  consumerId: null,
  header: () => undefined,
  attempt: 0,
  shouldSkip: () => false,
};

/** Copies in flight in this worker (tests, metrics). */
export function mirrorsInFlight(): number {
  return inflight;
}
