/**
 * The open-loop load generator: requests at a fixed rate, whatever the answers do, each latency
 * counted from the time the request was *scheduled*, not from when it could be sent. A contender
 * that stalls for 100 ms then shows 100 ms worth of requests waiting, as real clients arriving at
 * that rate would see it; a closed loop (wrk, autocannon) sends nothing while it waits and so
 * records one slow answer instead (coordinated omission).
 *
 * Why our own client: wrk2 (wrk with a rate and the same accounting) is not packaged for Debian,
 * and autocannon's `overallRate` paces the sends but times each request from its actual send:
 * queueing behind a busy connection is not counted, which is the omission an open-loop test is
 * for; it also costs ~3× wrk's CPU per request on cores it shares with the contender.
 *
 * `node dist/bench/loadgen-open.js '<LoadSpec JSON with rate>'` prints `BENCH-RESULT {...}`.
 *
 * - `connections` keep-alive connections, opened before the schedule starts, one request in
 *   flight on each (HTTP/1.1, no pipelining); a request due while every connection is busy waits
 *   in a FIFO queue, and its latency includes the wait.
 * - The schedule is `rate` requests per second from t0: request i is due at t0 + i / rate. A
 *   timer wakes every millisecond and sends what is due, so a request leaves up to ~1 ms after its
 *   time even on an idle box; that lag is measured and reported (`sendLagUs`) and counted in the
 *   latency, the same for every contender.
 * - After `durationS` of schedule, the answers still owed get up to `timeoutS` (at most 5 s);
 *   what is still missing then counts as timeouts, and so does any answer slower than `timeoutS`.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { encode, newHistogram, summarize } from './histogram.js';
import type { ChildResult, LoadSpec } from './loadgen.js';

const spec = JSON.parse(process.argv[2]) as LoadSpec;
const rate = spec.rate ?? 0;
if (!(rate > 0)) {
  process.stderr.write('loadgen-open: the spec needs a rate > 0\n');
  process.exit(2);
}

const hist = newHistogram();
const lag = newHistogram();
const intervalMs = 1000 / rate;
const total = Math.max(1, Math.round(rate * spec.durationS));
const timeoutMs = spec.timeoutS * 1000;

function requestBytes(): Buffer {
  const head = [`${spec.method} ${spec.path} HTTP/1.1`, `Host: 127.0.0.1:${spec.port}`];
  for (const [k, v] of Object.entries(spec.headers)) head.push(`${k}: ${v}`);
  if (spec.bodyBytes > 0) head.push(`Content-Length: ${spec.bodyBytes}`);
  const text = Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1');
  return spec.bodyBytes > 0 ? Buffer.concat([text, Buffer.alloc(spec.bodyBytes, 'x')]) : text;
}
const REQUEST = requestBytes();
const HEAD_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

let responses = 0;
let non2xx = 0;
const errors = { socket: 0, timeout: 0, parse: 0 };
let maxQueued = 0;
let stopping = false;

/** Due times (performance.now() ms) of the requests waiting for a free connection; a ring would do, an array with a head index is enough. */
const queue: number[] = [];
let queueHead = 0;

/**
 * One keep-alive connection with at most one request in flight, and a parser for its answers:
 * status line, Content-Length or chunked body (the contenders answer either way).
 */
class Conn {
  sock!: Socket;
  ready = false;
  /** Due time of the request in flight, or -1 when idle. */
  due = -1;
  private buf: Buffer | null = null;
  private status = 0;
  /** Body bytes still expected (Content-Length), -1 = chunked, -2 = head not parsed yet. */
  private remaining = -2;

  constructor(private readonly onReady: () => void) {
    this.open();
  }

  private open(): void {
    this.ready = false;
    this.buf = null;
    this.remaining = -2;
    const sock = connect({ host: '127.0.0.1', port: spec.port, noDelay: true });
    this.sock = sock;
    sock.on('connect', () => {
      this.ready = true;
      this.onReady();
    });
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('error', () => {
      if (!stopping) errors.socket++;
    });
    sock.on('close', () => {
      if (stopping || this.sock !== sock) return;
      // Closed under a request in flight: that request is lost. Reconnect either way.
      if (this.due >= 0) errors.socket++;
      this.due = -1;
      this.open();
    });
  }

  send(due: number, now: number): void {
    this.due = due;
    lag.recordValue(Math.max(1, Math.round((now - due) * 1000)));
    this.sock.write(REQUEST);
  }

  /** A request older than the timeout: count it, drop the connection, open another. */
  expire(): void {
    errors.timeout++;
    this.due = -1;
    const old = this.sock;
    this.open();
    old.destroy();
  }

  private onData(chunk: Buffer): void {
    let b = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (this.remaining === -2) {
        const end = b.indexOf(HEAD_END);
        if (end < 0) break;
        const head = b.subarray(0, end).toString('latin1');
        this.status = Number(head.slice(9, 12));
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        const chunked = /\r\ntransfer-encoding:[^\r]*chunked/i.test(head);
        b = b.subarray(end + 4);
        this.remaining = chunked ? -1 : cl ? Number(cl[1]) : 0;
        if (this.status === 204 || this.status === 304) this.remaining = 0;
      }
      if (this.remaining >= 0) {
        if (b.length < this.remaining) break;
        b = b.subarray(this.remaining);
        this.complete();
        continue;
      }
      // chunked: "<hex>\r\n<data>\r\n" ... "0\r\n" [trailers] "\r\n"
      const eol = b.indexOf(CRLF);
      if (eol < 0) break;
      const size = parseInt(b.subarray(0, eol).toString('latin1'), 16);
      if (Number.isNaN(size)) {
        errors.parse++;
        this.sock.destroy();
        return;
      }
      if (size === 0) {
        const end = b.indexOf(CRLF, eol + 2) === eol + 2 ? eol + 4 : b.indexOf(HEAD_END, eol) + 4;
        if (end < 4) break;
        b = b.subarray(end);
        this.complete();
        continue;
      }
      if (b.length < eol + 2 + size + 2) break;
      b = b.subarray(eol + 2 + size + 2);
    }
    this.buf = b.length > 0 ? b : null;
  }

  private complete(): void {
    const now = performance.now();
    this.remaining = -2;
    if (this.due >= 0) {
      responses++;
      if (this.status < 200 || this.status > 299) non2xx++;
      hist.recordValue(Math.max(1, Math.round((now - this.due) * 1000)));
    }
    this.due = -1;
    dispatch(now);
  }
}

const conns: Conn[] = [];
const idle = (c: Conn) => c.ready && c.due < 0;

function dispatch(now: number): void {
  if (stopping) return;
  for (const c of conns) {
    if (queueHead >= queue.length) break;
    if (idle(c)) c.send(queue[queueHead++], now);
  }
  if (queueHead > 4096 && queueHead * 2 > queue.length) {
    queue.splice(0, queueHead);
    queueHead = 0;
  }
}

let t0 = 0;
let scheduled = 0;
let lastCheck = 0;

function tick(): void {
  const now = performance.now();
  const due = Math.min(total, Math.floor((now - t0) / intervalMs) + 1);
  while (scheduled < due) queue.push(t0 + scheduled++ * intervalMs);
  // Requests waiting longer than the timeout will not be answered in time: count them now.
  while (queueHead < queue.length && now - queue[queueHead] > timeoutMs) {
    queueHead++;
    errors.timeout++;
  }
  maxQueued = Math.max(maxQueued, queue.length - queueHead);
  dispatch(now);
  if (now - lastCheck > 100) {
    lastCheck = now;
    for (const c of conns) if (c.due >= 0 && now - c.due > timeoutMs) c.expire();
  }
  const owed = queue.length - queueHead + conns.filter((c) => c.due >= 0).length;
  const scheduleEnd = t0 + spec.durationS * 1000;
  if (scheduled < total || (owed > 0 && now < scheduleEnd + Math.min(timeoutMs, 5000))) {
    setTimeout(tick, 1);
    return;
  }
  finish(now, owed);
}

function finish(now: number, owed: number): void {
  stopping = true;
  errors.timeout += owed;
  for (const c of conns) c.sock.destroy();
  const out: ChildResult = {
    requests: responses,
    durationS: Math.max(spec.durationS, (now - t0) / 1000),
    errors: errors.socket + errors.timeout + errors.parse,
    errorDetail: { ...errors },
    non2xx,
    hist: encode(hist),
    openLoop: { rate, sendLagUs: summarize(lag), maxQueued },
  };
  process.stdout.write(`BENCH-RESULT ${JSON.stringify(out)}\n`);
  process.exit(0);
}

let opened = 0;
const n = Math.max(1, spec.connections);
for (let i = 0; i < n; i++) {
  conns.push(
    new Conn(() => {
      // The schedule starts once every connection is up; reconnects later only rejoin.
      if (++opened === n) {
        t0 = performance.now();
        tick();
      } else if (t0 > 0) dispatch(performance.now());
    }),
  );
}
setTimeout(() => {
  if (t0 === 0) {
    process.stderr.write(`loadgen-open: only ${opened} of ${n} connections opened in 10 s\n`);
    process.exit(1);
  }
}, 10_000).unref();
process.on('SIGTERM', () => finish(performance.now(), 0));
process.on('SIGINT', () => finish(performance.now(), 0));
