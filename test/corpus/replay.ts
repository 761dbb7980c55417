/**
 * Replays cases against a gateway over raw TCP and judges what came back: one connection per
 * case, the writes ~50 ms apart, then reading until the server closes or nothing has moved for
 * `quietMs`; a bounded number of cases at a time.
 */
import { connect } from 'node:net';
import { RESPOND_BODY, type ReplayCase } from './wire.js';

export interface ExchangeResult {
  raw: Buffer;
  /** The server ended the connection (FIN or reset) before we gave up on it. */
  closedByServer: boolean;
  ms: number;
}

export interface ExchangeOptions {
  gapMs: number;
  quietMs: number;
  /** Hard limit for one case, whatever the server does. */
  capMs: number;
}

export function exchange(port: number, parts: readonly Buffer[], o: ExchangeOptions): Promise<ExchangeResult> {
  return new Promise((resolve) => {
    const started = performance.now();
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timers: NodeJS.Timeout[] = [];
    let quiet: NodeJS.Timeout | undefined;
    let closedByServer = false;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      for (const t of timers) clearTimeout(t);
      clearTimeout(quiet);
      clearTimeout(cap);
      sock.destroy();
      resolve({ raw: Buffer.concat(chunks), closedByServer, ms: performance.now() - started });
    };
    const armQuiet = () => {
      clearTimeout(quiet);
      quiet = setTimeout(finish, o.quietMs);
    };
    const cap = setTimeout(finish, o.capMs);
    sock.setNoDelay(true);
    sock.on('connect', () => {
      parts.forEach((p, i) => {
        timers.push(
          setTimeout(() => {
            if (finished || sock.destroyed || closedByServer) return;
            sock.write(p);
            armQuiet();
          }, i * o.gapMs),
        );
      });
    });
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      armQuiet();
    });
    sock.on('end', () => {
      closedByServer = true;
      finish();
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      // A reset, or a write after the server closed: the server ended it.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') closedByServer = true;
      finish();
    });
    sock.on('close', finish);
  });
}

/** Runs `fn` over `items`, at most `limit` at a time, keeping the order of results. */
export async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export interface Message {
  status: number;
  /** The head (status line and headers), lower-cased. */
  head: string;
  body: string;
  /** Framed by Content-Length / chunked and complete, or close-delimited. */
  complete: boolean;
}

/**
 * Frames the responses in a client's byte stream the way the client would: 1xx, 204, 304 and
 * answers to HEAD have no body; else Content-Length, chunked, or everything up to the close.
 * `rest` is what is left that does not start a response.
 */
export function frameResponses(raw: string, headRequest: boolean): { messages: Message[]; rest: string } {
  const messages: Message[] = [];
  let i = 0;
  while (i < raw.length) {
    const m = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/.exec(raw.slice(i, i + 512));
    if (m === null) break;
    const end = raw.indexOf('\r\n\r\n', i);
    if (end === -1) {
      messages.push({ status: Number(m[1]), head: raw.slice(i).toLowerCase(), body: '', complete: false });
      return { messages, rest: '' };
    }
    const status = Number(m[1]);
    const head = raw.slice(i, end).toLowerCase();
    i = end + 4;
    if (status < 200 || status === 204 || status === 304 || (headRequest && status >= 200)) {
      messages.push({ status, head, body: '', complete: true });
      continue;
    }
    const cl = /\r\ncontent-length: *(\d+)/.exec(head);
    if (cl) {
      const n = Number(cl[1]);
      messages.push({ status, head, body: raw.slice(i, i + n), complete: raw.length - i >= n });
      i += n;
    } else if (/\r\ntransfer-encoding: *chunked/.test(head)) {
      let body = '';
      let complete = false;
      for (;;) {
        const nl = raw.indexOf('\r\n', i);
        if (nl === -1) break;
        const size = parseInt(raw.slice(i, nl), 16);
        if (Number.isNaN(size)) break;
        body += raw.slice(nl + 2, nl + 2 + size);
        i = nl + 2 + size + 2;
        if (size === 0) {
          complete = true;
          break;
        }
      }
      messages.push({ status, head, body, complete });
      if (!complete) return { messages, rest: '' };
    } else {
      messages.push({ status, head, body: raw.slice(i), complete: true });
      return { messages, rest: '' };
    }
  }
  return { messages, rest: raw.slice(i) };
}

export type AnswerKind = 'json-error' | 'uws-html' | 'upstream-200' | 'upstream-error' | 'respond-200' | 'closed-without-answer' | 'no-answer-quiet' | 'unexpected';

export interface Judged {
  kind: AnswerKind;
  /** e.g. `400 bad_header`, `505 (uWS HTML)`, `200 upstream`. */
  label: string;
  /** Final responses on the connection (interim 1xx left out). */
  finalCount: number;
  /** Why the answer breaks a rule, or null. */
  problem: string | null;
}

const UWS_HTML = /^<h1>[A-Za-z ]+<\/h1>(<p>[^<]*<\/p>)?<hr><i>uWebSockets\/20 Server<\/i>$/;

/**
 * Rules 2 and 3 for one case: at most one final answer, and that one of the expected kinds.
 * `upstreamGotPrimary` says whether the upstream's received bytes hold the case's own request (an
 * upstream that refuses a request it cannot parse, e.g. a lower-case method, answers an error the
 * gateway relays: accepted for that request only).
 */
export function judge(c: ReplayCase, r: ExchangeResult, upstreamGotPrimary: (c: ReplayCase) => boolean): Judged {
  const raw = r.raw.toString('latin1');
  const headRequest = c.parts[0].toString('latin1').startsWith('HEAD ');
  const { messages, rest } = frameResponses(raw, headRequest);
  const finals = messages.filter((m) => m.status >= 200);
  const finalCount = finals.length + (rest.length > 0 ? 1 : 0);
  if (finals.length === 0) {
    if (rest.length > 0) return { kind: 'unexpected', label: 'bytes that are not a response', finalCount, problem: 'the connection carried bytes that are not an HTTP response' };
    return r.closedByServer
      ? { kind: 'closed-without-answer', label: 'closed, no answer', finalCount, problem: null }
      : { kind: 'no-answer-quiet', label: 'no answer (quiet, still open)', finalCount, problem: null };
  }
  const multi = finalCount > 1 ? `${finalCount} answers on the connection for one request (${finals.map((m) => m.status).join(', ')}${rest ? ', + junk' : ''})` : null;
  const m = finals[0];
  const isJson = /\r\ncontent-type: application\/json/.test(m.head);
  if (m.status >= 400 && isJson) {
    let code = '?';
    try {
      const e = JSON.parse(m.body).error;
      if (e.status === m.status && typeof e.code === 'string') code = e.code;
    } catch {
      /* judged below */
    }
    if (code !== '?') return { kind: 'json-error', label: `${m.status} ${code}`, finalCount, problem: multi };
  }
  if ([400, 431, 505].includes(m.status) && !/\r\ncontent-type:/.test(m.head) && UWS_HTML.test(m.body)) {
    return { kind: 'uws-html', label: `${m.status} (uWS HTML)`, finalCount, problem: multi };
  }
  if (m.status === 200 && c.primary.kind === 'respond' && (headRequest ? m.body === '' : m.body === RESPOND_BODY)) {
    return { kind: 'respond-200', label: '200 respond route', finalCount, problem: multi };
  }
  if (m.status === 200 && c.primary.kind !== 'respond' && isJson) {
    if (headRequest) return { kind: 'upstream-200', label: '200 upstream', finalCount, problem: multi };
    try {
      const url = String(JSON.parse(m.body).url);
      if (url.split('?')[0] === c.primary.path) return { kind: 'upstream-200', label: '200 upstream', finalCount, problem: multi };
      return { kind: 'unexpected', label: `200 upstream for ${url}`, finalCount, problem: `the upstream answered for ${url}, not for the case's path ${c.primary.path}` };
    } catch {
      /* falls through */
    }
  }
  if (m.status >= 400 && !isJson && /\r\nvia: 1\.1 gateway/.test(m.head) && c.primary.kind !== 'respond' && upstreamGotPrimary(c)) {
    return { kind: 'upstream-error', label: `${m.status} from the upstream (relayed)`, finalCount, problem: multi };
  }
  return {
    kind: 'unexpected',
    label: `${m.status} unexpected`,
    finalCount,
    problem: multi ?? `unexpected answer: ${JSON.stringify(raw.slice(0, 300))}`,
  };
}

/** Hex of a byte string, with an ASCII rendering next to it, for failure messages. */
export function hexDump(b: Buffer, max = 2048): string {
  const part = b.subarray(0, max);
  const text = part.toString('latin1').replace(/[^\x20-\x7e]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `${part.toString('hex')}${b.length > max ? '...' : ''}\n    = "${text}"`;
}
