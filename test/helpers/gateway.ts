/**
 * Test harness: starts the real gateway (bin/gateway.js: primary + workers) on a free port with
 * a config written to a temp file, and real upstream servers. Everything started here is
 * stopped by the test that started it (by PID).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { request as undiciRequest } from 'undici';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../bench/spawn.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const GATEWAY_BIN = join(ROOT, 'bin/gateway.js');

/** A port nobody listens on, for a gateway to bind (bench/spawn.ts says why it is not bind(0)'s pick). */
export { freePort };

export interface Upstream {
  server: Server;
  port: number;
  url: string;
  /** TCP connections the upstream has accepted so far. */
  connections: number;
  requests: number;
  close(): Promise<void>;
}

export function startUpstream(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Upstream> {
  const server = createServer({ keepAliveTimeout: 60_000 }, handler);
  const up: Upstream = {
    server, port: 0, url: '', connections: 0, requests: 0,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  server.on('connection', () => up.connections++);
  server.on('request', () => up.requests++);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      up.port = (server.address() as { port: number }).port;
      up.url = `http://127.0.0.1:${up.port}`;
      resolve(up);
    });
  });
}

/** An upstream that echoes what it received as JSON (method, url, headers, body size). */
export function echoUpstream(extra?: Record<string, string>): Promise<Upstream> {
  return startUpstream((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bodyBytes: bytes, pid: process.pid });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...extra });
      res.end(body);
    });
  });
}

export interface Gateway {
  proc: ChildProcess;
  port: number;
  url: string;
  configPath: string;
  /** Everything the gateway wrote to stderr (its JSON log) and stdout (access log). */
  stderr: string;
  stdout: string;
  /** Resolves when the process exits: its exit code (or the signal). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
  waitForLog(match: RegExp | string, timeoutMs?: number): Promise<string>;
}

export interface GatewayOptions {
  env?: Record<string, string>;
  /** Resolve as soon as the process is spawned (for tests of failing starts). */
  noWait?: boolean;
  /** More arguments for `gateway start` (e.g. --watch). */
  args?: string[];
}

export function writeConfig(config: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'gw-test-'));
  const path = join(dir, 'gateway.json');
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

/**
 * The upstream engine the integration suites run on: GATEWAY_TEST_ENGINE ("native" | "undici"),
 * set by the vitest project that reruns the upstream-facing files on undici (vitest.config.ts).
 * Unset: the configs keep the default (native for http://).
 */
export const TEST_ENGINE = (process.env.GATEWAY_TEST_ENGINE ?? 'native') as 'native' | 'undici';

/** `config` with `engine` on every upstream that does not choose one, when GATEWAY_TEST_ENGINE is set. */
export function withTestEngine<T extends Record<string, unknown>>(config: T): T {
  const engine = process.env.GATEWAY_TEST_ENGINE;
  const ups = config.upstreams as Record<string, Record<string, unknown>> | undefined;
  if (engine === undefined || ups === undefined || typeof ups !== 'object') return config;
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, up] of Object.entries(ups)) out[name] = up !== null && typeof up === 'object' && !('engine' in up) ? { ...up, engine } : up;
  return { ...config, upstreams: out };
}

export async function startGateway(config: Record<string, unknown> & { listen?: { port?: number } }, opts: GatewayOptions = {}): Promise<Gateway> {
  const port = config.listen?.port ?? (await freePort());
  const full = { workers: 2, ...withTestEngine(config), listen: { host: '127.0.0.1', ...(config.listen ?? {}), port } };
  const configPath = writeConfig(full);
  return startGatewayFile(configPath, port, opts);
}

export async function startGatewayFile(configPath: string, port: number, opts: GatewayOptions = {}): Promise<Gateway> {
  const proc = spawn(process.execPath, [GATEWAY_BIN, 'start', '--config', configPath, ...(opts.args ?? [])], {
    cwd: ROOT,
    // GATEWAY_DRAIN_KEEPALIVE_MS 0: a stop closes the test's idle keep-alive connections at once
    // instead of giving them the default 1 s grace (test/integration/zero-downtime-upgrade.test.ts
    // runs with the default).
    env: { ...process.env, GATEWAY_LOG_LEVEL: 'info', GATEWAY_DRAIN_KEEPALIVE_MS: '0', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const gw: Gateway = {
    proc, port, url: `http://127.0.0.1:${port}`, configPath, stderr: '', stdout: '',
    exited: new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal }))),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await gw.exited;
      clearTimeout(t);
    },
    waitForLog(match, timeoutMs = 20_000) {
      const test = (s: string) => (typeof match === 'string' ? s.includes(match) : match.test(s));
      return new Promise((resolve, reject) => {
        if (test(gw.stderr)) return resolve(gw.stderr);
        const timer = setTimeout(() => {
          proc.stderr!.off('data', onData);
          reject(new Error(`timed out waiting for log ${match}; log so far:\n${gw.stderr}`));
        }, timeoutMs);
        const onData = () => {
          if (test(gw.stderr)) {
            clearTimeout(timer);
            proc.stderr!.off('data', onData);
            resolve(gw.stderr);
          }
        };
        proc.stderr!.on('data', onData);
      });
    },
  };
  proc.stdout!.on('data', (c: Buffer) => (gw.stdout += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (gw.stderr += c.toString()));
  if (opts.noWait) return gw;
  await Promise.race([
    gw.waitForLog('"gateway listening"'),
    gw.exited.then(({ code }) => {
      throw new Error(`gateway exited with ${code} before listening:\n${gw.stderr}`);
    }),
  ]);
  return gw;
}

/** Sends raw bytes on a fresh TCP connection and collects everything until close or timeout. */
export function rawRequest(port: number, data: string | Buffer, waitMs = 1500): Promise<string> {
  return new Promise((resolve) => {
    const sock: Socket = connect(port, '127.0.0.1');
    let out = '';
    const done = () => {
      clearTimeout(t);
      sock.destroy();
      resolve(out);
    };
    const t = setTimeout(done, waitMs);
    sock.on('data', (c) => (out += c.toString('latin1')));
    sock.on('close', done);
    sock.on('error', done);
    sock.write(data);
  });
}

/**
 * Sends several raw requests on ONE connection, each `gapMs` after the previous (not pipelined
 * in one write: the gateway drops a connection on which a request arrives while an answer is
 * pending), and collects everything until close or `waitMs` after the last write.
 */
export function rawSequence(port: number, parts: Array<string | Buffer>, gapMs = 150, waitMs = 600): Promise<string> {
  return new Promise((resolve) => {
    const sock: Socket = connect(port, '127.0.0.1');
    let out = '';
    let t: NodeJS.Timeout;
    const done = () => {
      clearTimeout(t);
      sock.destroy();
      resolve(out);
    };
    sock.on('data', (c) => (out += c.toString('latin1')));
    sock.on('close', done);
    sock.on('error', done);
    parts.forEach((p, i) => setTimeout(() => sock.write(p), i * gapMs));
    t = setTimeout(done, (parts.length - 1) * gapMs + waitMs);
  });
}

/** The JSON lines of the gateway's operational log with this `msg`, in order. */
export function logLines(gw: Gateway, msg: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of gw.stderr.split('\n')) {
    if (!line.startsWith('{') || !line.includes(JSON.stringify(msg))) continue;
    const entry = JSON.parse(line) as Record<string, unknown>;
    if (entry.msg === msg) out.push(entry);
  }
  return out;
}

/** Waits until the gateway has written `count` log lines with this `msg`; returns them all. */
export async function waitForLogLines(gw: Gateway, msg: string, count: number, timeoutMs = 20_000): Promise<Array<Record<string, unknown>>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = logLines(gw, msg);
    if (lines.length >= count) return lines;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} "${msg}" log lines (${lines.length} so far); log:\n${gw.stderr}`);
    await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Downloads `path` over a raw TCP connection and decodes the HTTP/1.1 framing itself
 * (Content-Length or chunked), reading as fast as the socket delivers: a client with no
 * library of its own between the test and the bytes.
 */
export function rawDownload(port: number, path: string): Promise<{ status: number; headers: string; bodyBytes: number; framing: 'length' | 'chunked' | 'close' }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let head = '';
    let headDone = false;
    let status = 0;
    let framing: 'length' | 'chunked' | 'close' = 'close';
    let remaining = 0; // content-length left, or bytes left in the current chunk
    let bodyBytes = 0;
    let chunkState: 'size' | 'data' | 'crlf' | 'trailer' = 'size';
    let sizeLine = '';
    const finish = () => {
      sock.destroy();
      resolve({ status, headers: head, bodyBytes, framing });
    };
    const onBody = (buf: Buffer) => {
      if (framing === 'length') {
        bodyBytes += buf.length;
        remaining -= buf.length;
        if (remaining <= 0) finish();
        return;
      }
      if (framing === 'close') {
        bodyBytes += buf.length;
        return;
      }
      let i = 0;
      while (i < buf.length) {
        if (chunkState === 'size') {
          const nl = buf.indexOf(10, i);
          if (nl === -1) {
            sizeLine += buf.toString('latin1', i);
            return;
          }
          sizeLine += buf.toString('latin1', i, nl);
          i = nl + 1;
          remaining = parseInt(sizeLine.trim(), 16);
          sizeLine = '';
          chunkState = remaining === 0 ? 'trailer' : 'data';
        } else if (chunkState === 'data') {
          const take = Math.min(remaining, buf.length - i);
          bodyBytes += take;
          remaining -= take;
          i += take;
          if (remaining === 0) {
            chunkState = 'crlf';
            remaining = 2;
          }
        } else if (chunkState === 'crlf') {
          const take = Math.min(remaining, buf.length - i);
          remaining -= take;
          i += take;
          if (remaining === 0) chunkState = 'size';
        } else {
          // the final CRLF after the 0-size chunk (no trailers from the gateway)
          return finish();
        }
      }
    };
    sock.on('data', (c: Buffer) => {
      if (headDone) return onBody(c);
      head += c.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      const rest = Buffer.from(head.slice(end + 4), 'latin1');
      head = head.slice(0, end);
      headDone = true;
      status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (cl) {
        framing = 'length';
        remaining = Number(cl[1]);
      } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
        framing = 'chunked';
      }
      if (rest.length) onBody(rest);
      else if (framing === 'length' && remaining === 0) finish();
    });
    sock.on('error', reject);
    sock.on('close', () => {
      if (framing === 'close') resolve({ status, headers: head, bodyBytes, framing });
      else reject(new Error(`connection closed after ${bodyBytes} body bytes (${framing})`));
    });
    sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  });
}

/** Runs `gateway hash-key` / `gateway hash-password` with `secret` on stdin; returns the config value. */
export function gatewayCli(command: 'hash-key' | 'hash-password', secret: string): string {
  const r = spawnSync(process.execPath, [GATEWAY_BIN, command], { cwd: ROOT, input: secret, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gateway ${command} exited ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}

/** One request through undici with the body read as text (and parsed on demand). */
export async function fetchText(url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' | 'POST' | 'DELETE' | 'OPTIONS' = 'GET') {
  const res = await undiciRequest(url, { method, headers });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

export interface SeenRequest {
  method: string;
  url: string;
  /** Header names and values exactly as received (latin1 strings of the bytes). */
  rawHeaders: string[];
  body: Buffer;
}

export interface RecordingUpstream extends Upstream {
  /** Every request the upstream parsed, in order. */
  seen: SeenRequest[];
  /** Every byte it received, per connection. */
  raw: Buffer[];
}

/**
 * A real node:http upstream (llhttp, strict) that records every request it parses, with its
 * header bytes, and every byte it receives; it answers 200 with a JSON echo of the request.
 */
export async function recordingUpstream(): Promise<RecordingUpstream> {
  const seen: SeenRequest[] = [];
  const raw: Buffer[] = [];
  const up = (await startUpstream((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec: SeenRequest = { method: req.method!, url: req.url!, rawHeaders: req.rawHeaders.map((h) => Buffer.from(h, 'latin1').toString('latin1')), body: Buffer.concat(chunks) };
      seen.push(rec);
      const body = JSON.stringify({ method: rec.method, url: rec.url, headers: req.headers, bodyBytes: rec.body.length, n: seen.length });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  })) as RecordingUpstream;
  up.seen = seen;
  up.raw = raw;
  up.server.on('connection', (sock: Socket) => {
    const idx = raw.push(Buffer.alloc(0)) - 1;
    sock.on('data', (c: Buffer) => (raw[idx] = Buffer.concat([raw[idx], c])));
  });
  return up;
}

/**
 * The status codes of the responses in a raw byte stream, found by framing each message (status
 * line, headers, then Content-Length bytes, a chunked body, or nothing for 1xx/204/304) the way a
 * client on that connection would. A message without any framing takes the rest of the stream.
 */
export function responseStatuses(raw: string): number[] {
  const out: number[] = [];
  let i = 0;
  while (i < raw.length) {
    const m = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n/.exec(raw.slice(i, i + 256));
    if (m === null) break;
    const end = raw.indexOf('\r\n\r\n', i);
    if (end === -1) {
      out.push(Number(m[1]));
      break;
    }
    const status = Number(m[1]);
    out.push(status);
    const head = raw.slice(i, end).toLowerCase();
    i = end + 4;
    if (status < 200 || status === 204 || status === 304) continue;
    const cl = /\r\ncontent-length: *(\d+)/.exec(head);
    if (cl) {
      i += Number(cl[1]);
    } else if (/\r\ntransfer-encoding: *chunked/.test(head)) {
      for (;;) {
        const nl = raw.indexOf('\r\n', i);
        if (nl === -1) return out;
        const size = parseInt(raw.slice(i, nl), 16);
        i = nl + 2 + size + 2;
        if (size === 0 || Number.isNaN(size)) break;
      }
    } else {
      break; // close-delimited: the rest is its body
    }
  }
  return out;
}
