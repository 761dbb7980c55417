/**
 * Test harness: starts the real gateway (bin/gateway.js: primary + workers) on a free port with
 * a config written to a temp file, and real upstream servers. Everything started here is
 * stopped by the test that started it (by PID).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, connect, type Socket } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const GATEWAY_BIN = join(ROOT, 'bin/gateway.js');

/** A port nobody listens on right now (the gateway's workers need a fixed port for SO_REUSEPORT). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

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
}

export function writeConfig(config: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'gw-test-'));
  const path = join(dir, 'gateway.json');
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

export async function startGateway(config: Record<string, unknown> & { listen?: { port?: number } }, opts: GatewayOptions = {}): Promise<Gateway> {
  const port = config.listen?.port ?? (await freePort());
  const full = { workers: 2, ...config, listen: { host: '127.0.0.1', ...(config.listen ?? {}), port } };
  const configPath = writeConfig(full);
  return startGatewayFile(configPath, port, opts);
}

export async function startGatewayFile(configPath: string, port: number, opts: GatewayOptions = {}): Promise<Gateway> {
  const proc = spawn(process.execPath, [GATEWAY_BIN, 'start', '--config', configPath], {
    cwd: ROOT,
    env: { ...process.env, GATEWAY_LOG_LEVEL: 'info', ...opts.env },
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

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
