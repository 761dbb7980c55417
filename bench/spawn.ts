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

/**
 * A port nobody listens on, for a server that binds it a moment later. Not bind(0)'s pick: the
 * kernel hands a released ephemeral port to the next bind(0) of any process, and the gateway's
 * workers listen with SO_REUSEPORT, so two gateways given the same port would share it without an
 * error (seen in the test suite: two test files at a time, a client reaching the other file's
 * gateway, or its admin API where a "nobody listens" port was expected). So ports come from below
 * Linux's ephemeral range (32768 and up by default, which bind(0) never picks), from a block of
 * PORT_BLOCK per process slot (VITEST_POOL_ID under vitest, which the files running at once do
 * not share; else the pid), in turn from a start that differs per process, each checked free by
 * binding it.
 */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < PORT_BLOCK; tries++) {
    const port = PORT_BASE + portBlock * PORT_BLOCK + (portCursor++ % PORT_BLOCK);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in ${PORT_BASE + portBlock * PORT_BLOCK}-${PORT_BASE + (portBlock + 1) * PORT_BLOCK - 1}`);
}

const PORT_BASE = 10_000;
const PORT_BLOCK = 2_000;
/** 11 blocks: 10000-31999, below the ephemeral range. */
const portBlock = Number(process.env.VITEST_POOL_ID ?? process.pid) % 11;
let portCursor = (process.pid * 7919) % PORT_BLOCK;

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
