/**
 * Access log, one line per request, batched: lines are appended to a string and flushed every
 * 100 ms or at 64 KiB, so the request path never waits on a write. Two formats:
 *   json      one JSON object per line (the default);
 *   combined  the Apache/nginx "combined" format, for tools that read it:
 *             client - consumer [time] "METHOD target HTTP/1.1" status bytes "referer" "user-agent"
 *
 * A file is opened for appending; reopen() (SIGUSR1 to the primary, for logrotate) writes out
 * what is buffered to the file as it was opened, closes it and opens the path again, so after a
 * rename every line lands in exactly one of the two files.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { log } from './log.js';
import { performance } from 'node:perf_hooks';

const FLUSH_BYTES = 64 * 1024;
const FLUSH_MS = 100;

/** What the access log needs of a finished request (the worker's Transaction provides it). */
export interface TxSummary {
  readonly client: string;
  readonly method: string;
  /** The target's path as the client sent it. */
  readonly rawPath: string;
  readonly query: string;
  /** The route id, '' when none matched. */
  readonly routeId: string;
  readonly status: number;
  readonly aborted: boolean;
  readonly errorCode: string | null;
  /** The upstream target's origin, or null. */
  readonly upstreamOrigin: string | null;
  readonly upstreamStatus: number;
  readonly upstreamPath: string;
  readonly requestBytes: number;
  readonly responseBytes: number;
  readonly startedAt: number;
  readonly requestId: string;
  /** The W3C trace id ('' for answers given before routing). */
  readonly traceId: string;
  readonly consumerId: string | null;
  header(name: string): string | undefined;
}

export type AccessLogFormat = 'json' | 'combined';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => (n < 10 ? '0' + n : String(n));

/** [01/Dec/2026:09:05:26 +0000] */
function clfTime(d: Date): string {
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/**
 * An access log file for appending. A file that cannot be written (its directory removed, a full
 * disk) is logged, never a crash of the worker: requests matter more than their log lines.
 */
function openFile(path: string): WriteStream {
  const stream = createWriteStream(path, { flags: 'a' });
  stream.on('error', (err) => log('error', 'access log file cannot be written; its lines are lost until it can', { path, error: err.message }));
  return stream;
}

/** A quoted field of the combined format: `"` and `\` escaped, controls as \xHH (as nginx does). */
function quoted(v: string | undefined): string {
  if (v === undefined || v === '') return '"-"';
  return '"' + v.replace(/["\\\x00-\x1f\x7f-\xff]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0')) + '"';
}

export class AccessLog {
  #buffer = '';
  #timer: NodeJS.Timeout | null = null;
  #out: NodeJS.WritableStream | WriteStream;
  /** A file of ours (not stdout/stderr): reopened on reopen(), closed on close(). */
  readonly #file: boolean;

  constructor(readonly path: string, readonly format: AccessLogFormat = 'json') {
    this.#file = path !== 'stdout' && path !== 'stderr';
    this.#out = this.#file ? openFile(path) : path === 'stdout' ? process.stdout : process.stderr;
  }

  /** logrotate moved the file away: what is buffered goes to it, new lines to a new file at the path. */
  reopen(): void {
    this.flush();
    if (!this.#file) return;
    (this.#out as WriteStream).end();
    this.#out = openFile(this.path);
  }

  /** A reload that changes the access log: write out what is buffered and let the file go. */
  close(): void {
    this.flush();
    if (this.#file) (this.#out as WriteStream).end();
  }

  #push(line: string): void {
    this.#buffer += line + '\n';
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

  /** A finished request (answered, failed or aborted). */
  record(tx: TxSummary): void {
    const status = tx.aborted ? 499 : tx.status;
    if (this.format === 'combined') {
      const target = tx.query ? tx.rawPath + '?' + tx.query : tx.rawPath;
      this.#push(
        `${tx.client} - ${tx.consumerId ?? '-'} [${clfTime(new Date())}] ${quoted(`${tx.method} ${target} HTTP/1.1`)} ${status} ${tx.responseBytes} ${quoted(tx.header('referer'))} ${quoted(tx.header('user-agent'))}`,
      );
      return;
    }
    const entry: Record<string, unknown> = {
      time: new Date().toISOString(),
      client: tx.client,
      method: tx.method,
      path: tx.rawPath,
      route: tx.routeId || null,
      status,
    };
    if (tx.upstreamOrigin !== null) {
      entry.upstream = tx.upstreamOrigin;
      entry.upstreamPath = tx.upstreamPath;
      entry.upstreamStatus = tx.upstreamStatus || null;
    }
    entry.bytesIn = tx.requestBytes;
    entry.bytesOut = tx.responseBytes;
    entry.durationMs = Math.round((performance.now() - tx.startedAt) * 1000) / 1000;
    if (tx.errorCode !== null) entry.error = tx.errorCode;
    if (tx.requestId) entry.requestId = tx.requestId;
    if (tx.traceId) entry.traceId = tx.traceId;
    if (tx.consumerId !== null) entry.consumer = tx.consumerId;
    this.#push(JSON.stringify(entry));
  }
}
