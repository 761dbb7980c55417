/** The upstream the contenders proxy to, in its own process (bench/upstream-server.ts). */
import { benchScript, ROOT } from '../paths.js';
import { start, waitForLine, type Managed } from '../spawn.js';

export interface RunningUpstream {
  kind: 'uws' | 'http';
  port: number;
  pid: number;
  managed: Managed;
  stop(): Promise<void>;
}

export async function startUpstream(kind: 'uws' | 'http'): Promise<RunningUpstream> {
  const m = start(`upstream (${kind})`, process.execPath, [benchScript('upstream-server.js'), '--kind', kind, '--port', '0'], { cwd: ROOT });
  const line = await waitForLine(m, (l) => l.startsWith('READY '));
  const info = JSON.parse(line.slice('READY '.length)) as { port: number; kind: 'uws' | 'http' };
  return { kind: info.kind, port: info.port, pid: m.pid, managed: m, stop: () => m.stop() };
}
