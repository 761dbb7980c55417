/**
 * Fakes for unit tests of the request lifecycle without processes: a FakeDownstream that behaves
 * like uWS's HttpResponse (it serializes what is written into `wire` as uWS would, applies
 * backpressure when told to, and calls the handlers the Transaction registers), and a
 * FakeDispatcher that plays an upstream engine through the gateway's upstream contract.
 */
import type { HttpResponse } from 'uWebSockets.js';
import type { DispatcherStats, UpstreamDispatcher, UpstreamFailure, UpstreamHandler, UpstreamRequest } from '../../src/upstream/dispatch.js';
import type { RequestHead } from '../../src/worker/head.js';

export class FakeDownstream {
  wire = '';
  ended = false;
  closed = false;
  closeAfter = false;
  paused = false;
  corkDepth = 0;
  /** Bytes the "socket" takes before write()/tryEnd() report backpressure; Infinity = no limit. */
  capacity = Infinity;
  private offset = 0;
  private statusWritten = false;
  private headersDone = false;
  private chunked = false;
  private abortedHandler: (() => void) | null = null;
  private dataHandler: ((chunk: ArrayBuffer, isLast: boolean) => void) | null = null;
  private writableHandler: ((offset: number) => boolean) | null = null;
  /** Calls in order, for assertions on the shape of a write ("writeStatus 200 OK", "end 5"). */
  readonly calls: string[] = [];

  private head(): void {
    if (!this.statusWritten) this.writeStatus('200 OK');
  }
  private finishHead(extra: string): void {
    if (this.headersDone) return;
    this.headersDone = true;
    this.wire += extra + '\r\n';
  }
  private take(data: string): boolean {
    this.wire += data;
    this.offset += data.length;
    return this.offset <= this.capacity;
  }
  private text(v: string | ArrayBufferView | ArrayBuffer): string {
    if (typeof v === 'string') return v;
    return Buffer.from(v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength)).toString('latin1');
  }

  writeStatus(s: string): this {
    this.calls.push(`writeStatus ${s}`);
    if (this.statusWritten) return this;
    this.statusWritten = true;
    this.wire += `HTTP/1.1 ${s}\r\n`;
    return this;
  }
  writeHeader(k: string | ArrayBufferView, v: string | ArrayBufferView): this {
    this.head();
    this.wire += `${this.text(k)}: ${this.text(v)}\r\n`;
    return this;
  }
  write(chunk: string | ArrayBufferView): boolean {
    this.head();
    if (!this.headersDone) {
      this.chunked = true;
      this.finishHead('transfer-encoding: chunked\r\n');
    }
    const t = this.text(chunk);
    this.calls.push(`write ${t.length}`);
    return this.take(`${t.length.toString(16)}\r\n${t}\r\n`);
  }
  end(body: string | ArrayBufferView = '', close = false): this {
    this.head();
    const t = this.text(body);
    this.calls.push(`end ${t.length}${close ? ' close' : ''}`);
    if (this.chunked) this.take(t.length ? `${t.length.toString(16)}\r\n${t}\r\n0\r\n\r\n` : '0\r\n\r\n');
    else {
      this.finishHead(`${close ? 'connection: close\r\n' : ''}content-length: ${t.length}\r\n`);
      this.take(t);
    }
    this.ended = true;
    this.closeAfter = close;
    return this;
  }
  endWithoutBody(reported?: number, close = false): this {
    this.head();
    this.calls.push(`endWithoutBody ${reported ?? '-'}${close ? ' close' : ''}`);
    this.finishHead(`${close ? 'connection: close\r\n' : ''}${reported !== undefined ? `content-length: ${reported}\r\n` : ''}`);
    this.ended = true;
    this.closeAfter = close;
    return this;
  }
  tryEnd(chunk: string | ArrayBufferView, total: number): [boolean, boolean] {
    this.head();
    this.finishHead(`content-length: ${total}\r\n`);
    const t = this.text(chunk);
    const room = this.capacity === Infinity ? t.length : Math.max(0, this.capacity - this.offset);
    const taken = t.slice(0, room);
    this.calls.push(`tryEnd ${taken.length}/${t.length}`);
    this.wire += taken;
    this.offset += taken.length;
    const done = this.bodyOffset() >= total;
    if (done) this.ended = true;
    return [taken.length === t.length, done];
  }
  private bodyOffset(): number {
    const at = this.wire.indexOf('\r\n\r\n');
    return at === -1 ? 0 : this.wire.length - at - 4;
  }
  getWriteOffset(): number {
    return this.bodyOffset();
  }
  onWritable(h: (offset: number) => boolean): this {
    this.writableHandler = h;
    return this;
  }
  onAborted(h: () => void): this {
    this.abortedHandler = h;
    return this;
  }
  onData(h: (chunk: ArrayBuffer, isLast: boolean) => void): this {
    this.dataHandler = h;
    return this;
  }
  cork(cb: () => void): this {
    this.corkDepth++;
    try {
      cb();
    } finally {
      this.corkDepth--;
    }
    return this;
  }
  close(): this {
    this.calls.push('close');
    this.closed = true;
    return this;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  getRemoteAddressAsText(): ArrayBuffer {
    return new TextEncoder().encode('127.0.0.1').buffer as ArrayBuffer;
  }

  // ---- test controls

  /** The client sends body bytes (copied into a fresh ArrayBuffer, as uWS hands them out). */
  send(data: string, isLast: boolean): void {
    const b = Buffer.from(data, 'latin1');
    const ab = new ArrayBuffer(b.length);
    new Uint8Array(ab).set(b);
    this.dataHandler?.(ab, isLast);
  }
  /** The client went away. */
  abort(): void {
    this.abortedHandler?.();
  }
  /** The socket drained: lift backpressure and tell the writable handler. */
  drain(): boolean {
    this.capacity = Infinity;
    return this.writableHandler?.(this.getWriteOffset()) ?? true;
  }
  get res(): HttpResponse {
    return this as unknown as HttpResponse;
  }
}

/** One dispatched request and the handle to play its upstream. */
export interface FakeExchange {
  readonly req: UpstreamRequest;
  readonly handler: UpstreamHandler;
  aborted: Error | null;
  paused: boolean;
  resumes: number;
}

export class FakeDispatcher implements UpstreamDispatcher {
  readonly exchanges: FakeExchange[] = [];

  dispatch(req: UpstreamRequest, handler: UpstreamHandler): void {
    const ex: FakeExchange = { req, handler, aborted: null, paused: false, resumes: 0 };
    this.exchanges.push(ex);
    handler.onConnect((reason) => {
      if (ex.aborted !== null) return;
      ex.aborted = reason ?? new Error('aborted');
    });
  }

  get last(): FakeExchange {
    return this.exchanges[this.exchanges.length - 1];
  }

  /** The upstream answers: status, raw headers, body chunks, complete (unless `open`). */
  respond(ex: FakeExchange, status: number, headers: Record<string, string>, chunks: string[] = [], open = false): void {
    const raw: Buffer[] = [];
    for (const [k, v] of Object.entries(headers)) raw.push(Buffer.from(k), Buffer.from(v));
    const resume = () => {
      ex.resumes++;
      ex.paused = false;
    };
    if (ex.handler.onHeaders(status, raw, resume) === false) ex.paused = true;
    for (const c of chunks) if (ex.handler.onData(Buffer.from(c)) === false) ex.paused = true;
    if (!open) ex.handler.onComplete();
  }

  fail(ex: FakeExchange, err: UpstreamFailure): void {
    ex.handler.onError(err);
  }

  get stats(): DispatcherStats {
    return { connections: 0, active: 0, queued: 0, stuck: 0 };
  }

  async close(): Promise<void> {}
}

/** A request head for unit tests; any field may be overridden. */
export function testHead(over: Partial<RequestHead> = {}): RequestHead {
  return {
    method: 'GET', rawPath: '/x', path: '/x', query: '', hostHeader: 'client.example', peer: '127.0.0.1', clientIp: '127.0.0.1',
    headers: ['accept', '*/*'], contentLength: 0, clientClose: false, closeUnsaid: false, forwardedFor: '127.0.0.1', forwardedProto: 'http',
    forwardedHost: 'client.example', forwardedPort: '8080', via: '1.1 gateway', trustedExtra: null, requestIdHeader: '',
    requestId: '', startedAt: performance.now(),
    ...over,
  };
}
