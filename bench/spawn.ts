/**
 * Child processes of the load suite: started, waited for (a line on stdout/stderr, or an HTTP
 * answer), and always stopped, by PID, at the end or on Ctrl-C.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { request } from 'node:http';
import { createServer } from 'node:net';

export interface Managed {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** The last 64 KiB of stdout + stderr, for error messages. */
  output(): string;
  exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`. Resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<Managed>();

/** Everything still running that this module started. */
export function liveProcesses(): Managed[] {
  return [...live];
}

/** Synchronous last resort (process 'exit'): SIGKILL whatever is left. */
export function killAllNow(): void {
  for (const m of live) {
    try {
      process.kill(m.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  live.clear();
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((m) => m.stop()));
}

export function start(name: string, cmd: string, args: string[], opts: SpawnOptions = {}): Managed {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  if (proc.pid === undefined) throw new Error(`${name}: could not start ${cmd}`);
  let out = '';
  const keep = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    if (out.length > 65536) out = out.slice(-65536);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<number | string>((resolve) => {
    proc.once('exit', (code, signal) => {
      live.delete(m);
      resolve(code ?? signal ?? 'unknown');
    });
    proc.once('error', (err) => {
      live.delete(m);
      keep(Buffer.from(String(err)));
      resolve('error');
    });
  });
  const m: Managed = {
    name,
    proc,
    pid: proc.pid,
    output: () => out,
    exited,
    stop: async (graceMs = 15_000) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      try {
        process.kill(proc.pid!, 'SIGTERM');
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          process.kill(proc.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  live.add(m);
  return m;
}

/** Resolves with the first line (stdout or stderr) that `test` accepts; rejects on exit or timeout. */
export function waitForLine(m: Managed, test: (line: string) => boolean, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (test(line)) {
          done();
          resolve(line);
          return;
        }
      }
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${m.name}: not ready after ${timeoutMs} ms\n${m.output().slice(-4000)}`));
    }, timeoutMs);
    const onExit = () => {
      done();
      reject(new Error(`${m.name}: exited before it was ready\n${m.output().slice(-4000)}`));
    };
    const done = () => {
      clearTimeout(timer);
      m.proc.stdout?.off('data', onData);
      m.proc.stderr?.off('data', onData);
      m.proc.off('exit', onExit);
    };
    m.proc.stdout?.on('data', onData);
    m.proc.stderr?.on('data', onData);
    m.proc.once('exit', onExit);
  });
}

export interface HttpProbe {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body as UTF-8 text, and its length in bytes as received. */
  body: string;
  bodyBytes: number;
}

/** One HTTP request with a fresh connection (no keep-alive), for readiness and sanity checks. */
export function probe(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: Buffer; timeoutMs?: number } = {},
): Promise<HttpProbe> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: { ...opts.headers, connection: 'close' }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw.toString('utf8'), bodyBytes: raw.length });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Polls until `port` answers HTTP (any status) or `timeoutMs` passes. */
export async function waitForHttp(port: number, timeoutMs = 20_000, m?: Managed): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (m && (m.proc.exitCode !== null || m.proc.signalCode !== null)) {
      throw new Error(`${m.name}: exited before it answered\n${m.output().slice(-4000)}`);
    }
    try {
      await probe(port, '/', { timeoutMs: 1000 });
      return;
    } catch (e) {
      last = e;
      await sleep(100);
    }
  }
  throw new Error(`nothing answers HTTP on 127.0.0.1:${port} after ${timeoutMs} ms (${String(last)})${m ? `\n${m.output().slice(-4000)}` : ''}`);
}

/** A port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
