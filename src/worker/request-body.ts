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
 * copied first. A spooled body is copied into 256 KiB blocks that are written whole and reused
 * (a worker-wide free list), and read back into blocks of the same list, which the native engine
 * hands back once written (RecyclingBody); large streamed chunks are copied into such blocks too:
 * a 200 MB upload makes no 200 MB of garbage, and ~800 writes, not one per chunk. The spool
 * file's descriptor is closed only when no write and no reader of it is left: closing it under a
 * pending write or read would let the number be reused by another file or socket, and that I/O
 * would land there.
 */
import type { HttpResponse } from 'uWebSockets.js';
import type { RecyclingBody } from '../upstream/dispatch.js';
import { ReadLoopGuard } from './read-loop-guard.js';
import { Readable } from 'node:stream';
import { closeSync, openSync, read as fsRead, unlinkSync, write as fsWrite } from 'node:fs';
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

/**
 * The unit of spool writes and reads and of large streamed chunks, and the free list of its
 * blocks (shared by the worker's bodies). Each block is its own ArrayBuffer (allocUnsafeSlow), so a
 * chunk cut from one (byteOffset 0 of an ArrayBuffer of exactly this size) leads back to it.
 */
const SPOOL_BLOCK = 256 * 1024;
const MAX_FREE_BLOCKS = 16;
const freeBlocks: Buffer[] = [];
function takeBlock(): Buffer {
  return freeBlocks.pop() ?? Buffer.allocUnsafeSlow(SPOOL_BLOCK);
}
function giveBlock(b: Buffer): void {
  // A block listed twice would be handed to two users at once: never add one already there (by
  // its memory: recycleChunk hands back a new view of a block cut short).
  if (freeBlocks.length < MAX_FREE_BLOCKS && !freeBlocks.some((f) => f.buffer === b.buffer)) freeBlocks.push(b);
}
/** The block a chunk pushed by one of our body streams was cut from (RecyclingBody.recycle). */
function recycleChunk(chunk: Buffer): void {
  if (chunk.byteOffset !== 0 || chunk.buffer.byteLength !== SPOOL_BLOCK) return; // not one of ours
  giveBlock(chunk.length === SPOOL_BLOCK ? chunk : Buffer.from(chunk.buffer, 0, SPOOL_BLOCK));
}
/** Streamed client chunks from this size up are copied into pooled blocks; smaller ones into Buffers of their own. */
const POOLED_CHUNK_MIN = 16 * 1024;

/** An open, unlinked spool file: closed when its body, its pending writes and its readers are all done with it. */
class SpoolFile {
  /** The body holds one reference until it lets go (releaseSpool), each write and reader one more. */
  private refs = 1;
  constructor(readonly fd: number) {}
  retain(): void {
    this.refs++;
  }
  release(): void {
    if (--this.refs !== 0) return;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}

/**
 * Streams a body into the upstream request with backpressure on the client socket. A
 * RecyclingBody: large chunks are copies in pooled blocks, which the native engine hands back.
 */
class ClientBodyStream extends Readable implements RecyclingBody {
  constructor(private readonly body: RequestBody) {
    super({ highWaterMark: SPOOL_BLOCK });
  }
  override _read(): void {
    this.body.resumeClient();
  }

  /** Pushes a copy of a uWS chunk (neutered when its callback returns); false: over the high-water mark. */
  pushCopy(chunk: ArrayBuffer): boolean {
    const bytes = new Uint8Array(chunk);
    if (bytes.length < POOLED_CHUNK_MIN) return this.push(Buffer.from(bytes));
    let more = true;
    for (let off = 0; off < bytes.length; off += SPOOL_BLOCK) {
      const n = Math.min(bytes.length - off, SPOOL_BLOCK);
      const block = takeBlock();
      block.set(off === 0 && n === bytes.length ? bytes : bytes.subarray(off, off + n));
      more = this.push(n === SPOOL_BLOCK ? block : block.subarray(0, n));
    }
    return more;
  }

  recycle(chunk: Buffer): void {
    recycleChunk(chunk);
  }
}

/**
 * One reader of a spool file (one upstream attempt): reads [0, end) in pooled blocks (a
 * RecyclingBody: the native engine hands them back). Not an fs.ReadStream: that one closes the
 * descriptor when destroyed, even with autoClose: false, and the descriptor is shared (other
 * attempts, pending writes). Its destroy waits for a read in progress; 'close' (after the end, or
 * a destroy) lets go of the file.
 */
class SpoolReader extends Readable implements RecyclingBody {
  private pos = 0;
  private reading = false;
  private destroyWhenRead: (() => void) | null = null;

  constructor(
    private readonly spool: SpoolFile,
    private readonly end: number,
  ) {
    super({ highWaterMark: SPOOL_BLOCK });
    spool.retain();
    this.once('close', () => spool.release());
  }

  override _read(): void {
    const n = Math.min(this.end - this.pos, SPOOL_BLOCK);
    if (n <= 0) {
      this.push(null);
      return;
    }
    const block = takeBlock();
    this.reading = true;
    fsRead(this.spool.fd, block, 0, n, this.pos, (err, bytes) => {
      this.reading = false;
      const destroyed = this.destroyWhenRead;
      if (destroyed !== null || err || bytes === 0) giveBlock(block);
      if (destroyed !== null) return destroyed();
      if (err) return void this.destroy(err);
      if (bytes === 0) return void this.destroy(new Error('the request body spool file ended early'));
      this.pos += bytes;
      this.push(bytes === SPOOL_BLOCK ? block : block.subarray(0, bytes));
    });
  }

  recycle(chunk: Buffer): void {
    recycleChunk(chunk);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.reading) this.destroyWhenRead = () => cb(err);
    else cb(err);
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
  private spool: SpoolFile | null = null;
  /** The block being filled (spooled bodies) and how much of it is. */
  private stage: Buffer | null = null;
  private staged = 0;
  private spoolWritten = 0;
  /** Readers of the spool handed out by source() and not closed yet (dispose destroys them). */
  private readers: Set<Readable> | null = null;
  private spoolPending = 0;
  private spoolFailed: Error | null = null;
  // stream mode
  private stream: ClientBodyStream | null = null;
  private clientPaused = false;
  /** Limits the socket's receive buffer if uSockets' read-again loop shows (bodies that can be long enough). */
  private readonly readLoop: ReadLoopGuard | null;

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
    this.readLoop = ReadLoopGuard.needed(length) ? new ReadLoopGuard(res) : null;
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
    if (this.spool !== null) {
      const reader = new SpoolReader(this.spool, this.spoolWritten); // it holds its own reference
      const readers = (this.readers ??= new Set());
      readers.add(reader);
      reader.once('close', () => readers.delete(reader));
      return reader;
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
    this.readLoop?.received(len);
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
        if (len > 0 && !this.stream!.pushCopy(chunk)) this.pauseClient();
        if (isLast) {
          this.stream!.push(null);
          // No byte of this body is left to hold back, and an ended stream asks for no more
          // (_read): a pause left in place would keep the connection from reading its next
          // request, until uWS's timeout reset it.
          this.resumeClient();
        }
        break;
      case 'buffer':
        if (len > 0) this.keep(chunk, len);
        break;
    }
    if (isLast) {
      this.complete = true;
      if (this.stage !== null) this.flushStage();
      // A spooled body is complete once its last write has landed.
      if (this.spoolPending === 0) this.finishBuffer();
    }
  }

  private keep(chunk: ArrayBuffer, len: number): void {
    if (this.single !== null) {
      this.single.set(new Uint8Array(chunk), this.received - len);
      return;
    }
    if (this.spool === null && this.spoolFailed === null && this.received <= this.memoryBytes) {
      (this.chunks ??= []).push(Buffer.from(new Uint8Array(chunk)));
      return;
    }
    if (this.spool === null && this.spoolFailed === null) this.openSpool();
    if (this.spoolFailed !== null) return; // answered 500 once the body is in (finishBuffer)
    const bytes = new Uint8Array(chunk);
    for (let off = 0; off < len; ) {
      if (this.stage === null) {
        this.stage = takeBlock();
        this.staged = 0;
      }
      const n = Math.min(len - off, SPOOL_BLOCK - this.staged);
      this.stage.set(n === len ? bytes : bytes.subarray(off, off + n), this.staged);
      this.staged += n;
      off += n;
      if (this.staged === SPOOL_BLOCK) this.flushStage();
    }
  }

  private openSpool(): void {
    const path = join(tmpdir(), `gateway-body-${process.pid}-${++spoolSeq}`);
    try {
      this.spool = new SpoolFile(openSync(path, 'wx+', 0o600));
      unlinkSync(path); // nothing stays behind; the fd keeps the data until closed
    } catch (err) {
      this.spoolFailed = err as Error;
      return;
    }
    const earlier = this.chunks;
    this.chunks = null;
    if (earlier !== null) for (const c of earlier) this.spoolWrite(c, c.length, false);
  }

  private flushStage(): void {
    const block = this.stage!;
    this.stage = null;
    if (this.spool === null || this.spoolFailed !== null) return giveBlock(block);
    this.spoolWrite(block, this.staged, true);
  }

  /** Writes buf[0, length) at the end of the spool; a pooled block goes back to the free list after. */
  private spoolWrite(buf: Buffer, length: number, pooled: boolean): void {
    const spool = this.spool!;
    const at = this.spoolWritten;
    this.spoolWritten += length;
    this.spoolPending++;
    spool.retain();
    if (this.spoolPending >= SPOOL_WRITES_IN_FLIGHT && !this.clientPaused) this.pauseClient();
    fsWrite(spool.fd, buf, 0, length, at, (err) => {
      this.spoolPending--;
      spool.release();
      if (pooled) giveBlock(buf);
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

  private pauseClient(): void {
    this.clientPaused = true;
    this.res.pause();
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

  /** Lets go of the spool file, if any (closed once its pending writes and readers are done), and of the block being filled. */
  private releaseSpool(): void {
    if (this.readers !== null) for (const r of this.readers) r.destroy();
    if (this.stage !== null) {
      giveBlock(this.stage);
      this.stage = null;
    }
    if (this.spool === null) return;
    const spool = this.spool;
    this.spool = null;
    spool.release();
  }
}
