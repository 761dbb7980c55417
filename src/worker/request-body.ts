/**
 * The client's request body, read from uWS `onData` (attached synchronously in the request
 * handler, as uWS requires) in one of three modes decided when the route was compiled:
 *
 *   buffer   (default for proxied routes, like nginx's proxy_request_buffering): the whole body is
 *            read before the upstream is contacted, so a client that trickles its body in holds no
 *            upstream connection, a body over maxBodyBytes is refused before any upstream contact
 *            whatever its framing, and the body can be sent again (retries, mirrors). Up to
 *            `limits.bodyBufferBytes` it is kept in memory; a larger body is spooled to an unlinked
 *            temporary file (mode 0600, nothing left behind, even on a crash).
 *   stream   (route `requestBuffering: false`): chunks go upstream as they arrive, with
 *            backpressure on the client socket. For long uploads.
 *   discard  (respond routes, gateway answers): read and dropped.
 *
 * uWS hands out ArrayBuffers that are neutered when the callback returns: every chunk kept is
 * copied first.
 */
import type { HttpResponse } from 'uWebSockets.js';
import { Readable } from 'node:stream';
import { closeSync, createReadStream, openSync, unlinkSync, write as fsWrite } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type BodyMode = 'buffer' | 'stream' | 'discard';

/** What the body tells its owner (the transaction). */
export interface BodyOwner {
  /** The whole body has arrived (buffer and discard modes; stream mode too, for the record). */
  onBodyComplete(): void;
  /** The body is over maxBodyBytes (only possible without a Content-Length over it, i.e. chunked). */
  onBodyTooLarge(): void;
  /** More bytes than the Content-Length announced (uWS stops at it; kept as a guard). */
  onBodyError(): void;
}

/** Concurrent spool writes before the client socket is paused. */
const SPOOL_WRITES_IN_FLIGHT = 4;
let spoolSeq = 0;

/** Streams a body into the upstream request with backpressure on the client socket. */
class ClientBodyStream extends Readable {
  constructor(private readonly body: RequestBody) {
    super({ highWaterMark: 256 * 1024 });
  }
  override _read(): void {
    this.body.resumeClient();
  }
}

export class RequestBody {
  received = 0;
  complete = false;
  /** Set when the body was refused or the exchange ended: later chunks are dropped. */
  closed = false;
  // buffer mode
  private single: Buffer | null = null;
  /** replaceWith() put a rewritten body in `single` (`received` still counts the client's bytes). */
  private rewritten = false;
  private chunks: Buffer[] | null = null;
  private spoolFd = -1;
  private spoolWritten = 0;
  private spoolPending = 0;
  private spoolFailed: Error | null = null;
  // stream mode
  private stream: ClientBodyStream | null = null;
  private clientPaused = false;

  constructor(
    private readonly res: HttpResponse,
    private readonly owner: BodyOwner,
    readonly mode: BodyMode,
    /** -1 for a chunked body, else the Content-Length (> 0). */
    readonly length: number,
    private readonly maxBytes: number,
    private readonly memoryBytes: number,
  ) {
    if (mode === 'buffer' && length > 0 && length <= memoryBytes) this.single = Buffer.allocUnsafe(length);
    else if (mode === 'stream') this.stream = new ClientBodyStream(this);
    res.onData((chunk, isLast) => this.onChunk(chunk, isLast));
  }

  /** Buffered bodies can be sent again: retries and mirrors are allowed. */
  get replayable(): boolean {
    return this.mode === 'buffer';
  }

  /** Bytes of a complete buffered body (as it goes upstream: rewritten or not). */
  get size(): number {
    return this.rewritten && this.single !== null ? this.single.length : this.received;
  }

  /**
   * A fresh source for one upstream attempt: the buffered bytes, a new reader of the spool file,
   * or (stream mode, first attempt only) the live stream.
   */
  source(): Buffer | Readable | null {
    if (this.mode === 'stream') return this.stream;
    if (this.mode !== 'buffer' || this.received === 0) return null;
    if (this.rewritten) return this.single;
    if (this.spoolFd !== -1) {
      return createReadStream('', { fd: this.spoolFd, start: 0, end: this.spoolWritten - 1, autoClose: false, highWaterMark: 64 * 1024 });
    }
    if (this.single !== null) return this.single;
    const all = this.chunks!.length === 1 ? this.chunks![0] : Buffer.concat(this.chunks!);
    this.chunks = [all];
    return all;
  }

  /** A complete buffered body in one Buffer (a spooled one is read back: async). */
  whole(): Buffer | Promise<Buffer> {
    const src = this.source();
    if (src === null) return Buffer.alloc(0);
    if (src instanceof Buffer) return src;
    return (async () => {
      const parts: Buffer[] = [];
      for await (const c of src) parts.push(c as Buffer);
      return Buffer.concat(parts);
    })();
  }

  /** Puts a rewritten body in place of the buffered one (every later source() gives it). */
  replaceWith(body: Buffer): void {
    this.releaseSpool();
    this.chunks = null;
    this.single = body;
    this.rewritten = true;
  }

  private onChunk(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.closed) return;
    const len = chunk.byteLength;
    this.received += len;
    if (this.received > this.maxBytes) {
      this.closed = true;
      this.stream?.destroy();
      this.owner.onBodyTooLarge();
      return;
    }
    if (this.length > 0 && this.received > this.length) {
      this.closed = true;
      this.owner.onBodyError();
      return;
    }
    switch (this.mode) {
      case 'discard':
        break;
      case 'stream':
        // Copy: the ArrayBuffer is neutered when this callback returns.
        if (len > 0 && !this.stream!.push(Buffer.from(new Uint8Array(chunk)))) {
          this.clientPaused = true;
          this.res.pause();
        }
        if (isLast) this.stream!.push(null);
        break;
      case 'buffer':
        if (len > 0) this.keep(chunk, len);
        break;
    }
    if (isLast) {
      this.complete = true;
      // A spooled body is complete once its last write has landed.
      if (this.spoolPending === 0) this.finishBuffer();
    }
  }

  private keep(chunk: ArrayBuffer, len: number): void {
    if (this.single !== null) {
      this.single.set(new Uint8Array(chunk), this.received - len);
      return;
    }
    const copy = Buffer.from(new Uint8Array(chunk));
    if (this.spoolFd === -1 && this.received <= this.memoryBytes) {
      (this.chunks ??= []).push(copy);
      return;
    }
    if (this.spoolFd === -1) this.openSpool();
    this.spoolWrite(copy);
  }

  private openSpool(): void {
    const path = join(tmpdir(), `gateway-body-${process.pid}-${++spoolSeq}`);
    try {
      this.spoolFd = openSync(path, 'wx+', 0o600);
      unlinkSync(path); // nothing stays behind; the fd keeps the data until closed
    } catch (err) {
      this.spoolFailed = err as Error;
      return;
    }
    const earlier = this.chunks;
    this.chunks = null;
    if (earlier !== null) for (const c of earlier) this.spoolWrite(c);
  }

  private spoolWrite(buf: Buffer): void {
    if (this.spoolFailed !== null) return;
    const at = this.spoolWritten;
    this.spoolWritten += buf.length;
    this.spoolPending++;
    if (this.spoolPending >= SPOOL_WRITES_IN_FLIGHT && !this.clientPaused) {
      this.clientPaused = true;
      this.res.pause();
    }
    fsWrite(this.spoolFd, buf, 0, buf.length, at, (err) => {
      this.spoolPending--;
      if (err) this.spoolFailed = err;
      if (this.closed) return;
      if (this.spoolPending < SPOOL_WRITES_IN_FLIGHT) this.resumeClient();
      if (this.complete && this.spoolPending === 0) this.finishBuffer();
    });
  }

  private finishBuffer(): void {
    if (this.closed) return;
    if (this.spoolFailed !== null) {
      this.closed = true;
      this.owner.onBodyError();
      return;
    }
    this.owner.onBodyComplete();
  }

  /** The spool could not be written (disk full, no temp dir): the request is answered 500. */
  get failure(): Error | null {
    return this.spoolFailed;
  }

  resumeClient(): void {
    if (this.clientPaused && !this.closed) {
      this.clientPaused = false;
      this.res.resume();
    }
  }

  /** The exchange is over: stop reading, release the stream and the spool file. */
  dispose(): void {
    this.closed = true;
    this.stream?.destroy();
    this.stream = null;
    this.single = null;
    this.chunks = null;
    this.releaseSpool();
  }

  /** Closes the spool file, if any, on the next turn: its readers (an attempt being aborted) may still be running. */
  private releaseSpool(): void {
    if (this.spoolFd === -1) return;
    const fd = this.spoolFd;
    this.spoolFd = -1;
    setImmediate(() => {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    });
  }
}
