/** The upstream the contenders proxy to, in its own process (bench/upstream-server.ts). */
import { benchScript, ROOT } from '../paths.js';
import { extraPortDelays, targetPortsOf, type TargetSet } from '../scenarios.js';
import { probe, start, waitForLine, type Managed } from '../spawn.js';

export interface RunningUpstream {
  kind: 'uws' | 'http';
  /** The main port: the one target of every scenario but the lb-* ones. */
  port: number;
  /** Every listening port with its answer delay: [main, ...extra] (index = the upstream's counter index). */
  listeners: Array<{ port: number; delayMs: number }>;
  /** The ports of each target set (see scenarios.ts). */
  targetPorts: Record<TargetSet, number[]>;
  pid: number;
  managed: Managed;
  stop(): Promise<void>;
}

/**
 * One process for every target: the main port and the lb ports (4 plain + 1 slow twin) on one
 * event loop, so the upstream's CPU is one /proc reading and the lb-* scenarios put no more
 * processes on the 2 cores than the others.
 */
export async function startUpstream(kind: 'uws' | 'http'): Promise<RunningUpstream> {
  const extraArgs = extraPortDelays().flatMap((d) => ['--extra-port', d > 0 ? `0:${d}` : '0']);
  const m = start(`upstream (${kind})`, process.execPath, [benchScript('upstream-server.js'), '--kind', kind, '--port', '0', ...extraArgs], { cwd: ROOT });
  const line = await waitForLine(m, (l) => l.startsWith('READY '));
  const info = JSON.parse(line.slice('READY '.length)) as { port: number; kind: 'uws' | 'http'; extra: Array<{ port: number; delayMs: number }> };
  return {
    kind: info.kind,
    port: info.port,
    listeners: [{ port: info.port, delayMs: 0 }, ...info.extra],
    targetPorts: targetPortsOf(info.port, info.extra.map((e) => e.port)),
    pid: m.pid,
    managed: m,
    stop: () => m.stop(),
  };
}

/** Requests the upstream answered so far, per listening port (GET /__bench/targets on the main port). */
export async function upstreamCounts(up: RunningUpstream): Promise<Map<number, number> | null> {
  try {
    const r = await probe(up.port, '/__bench/targets', { timeoutMs: 5000 });
    const j = JSON.parse(r.body) as { ports: number[]; requests: number[] };
    return new Map(j.ports.map((p, i) => [p, j.requests[i]]));
  } catch {
    return null;
  }
}
