/** The upstream the contenders proxy to, in its own process (bench/upstream-server.ts). */
import { benchScript, ROOT } from '../paths.js';
import { extraPortDelays, targetPortsOf, type TargetSet } from '../scenarios.js';
import { probe, start, waitForLine, type Managed } from '../spawn.js';
import { STATS_PATH, type UpstreamStats } from '../upstream-api.js';

export interface RunningUpstream {
  kind: 'uws' | 'http';
  /** The main port: the one target of every scenario but the lb-* ones. */
  port: number;
  /** Every listening port with its answer delay: [main, ...extra] (index = the upstream's counter index). */
  listeners: Array<{ port: number; delayMs: number }>;
  /** The ports of each target set (see scenarios.ts). */
  targetPorts: Record<TargetSet, number[]>;
  /** The OTLP/HTTP sink's port (POST /v1/traces), for the tracing-* scenarios. */
  otlpPort: number;
  pid: number;
  managed: Managed;
  stop(): Promise<void>;
}

/**
 * One process for every target: the main port, the lb ports (4 plain + 1 slow twin) and the OTLP
 * sink on one event loop, so the upstream's CPU is one /proc reading and the lb-* scenarios put no
 * more processes on the 2 cores than the others.
 */
export async function startUpstream(kind: 'uws' | 'http'): Promise<RunningUpstream> {
  const extraArgs = extraPortDelays().flatMap((d) => ['--extra-port', d > 0 ? `0:${d}` : '0']);
  const m = start(`upstream (${kind})`, process.execPath, [benchScript('upstream-server.js'), '--kind', kind, '--port', '0', ...extraArgs, '--otlp-port', '0'], { cwd: ROOT });
  const line = await waitForLine(m, (l) => l.startsWith('READY '));
  const info = JSON.parse(line.slice('READY '.length)) as { port: number; kind: 'uws' | 'http'; extra: Array<{ port: number; delayMs: number }>; otlpPort: number };
  return {
    kind: info.kind,
    port: info.port,
    listeners: [{ port: info.port, delayMs: 0 }, ...info.extra],
    targetPorts: targetPortsOf(info.port, info.extra.map((e) => e.port)),
    otlpPort: info.otlpPort,
    pid: m.pid,
    managed: m,
    stop: () => m.stop(),
  };
}

/**
 * The upstream's counters (GET /__bench/stats on the main port): requests answered and connections
 * accepted per listening port, the OTLP sink's exports. null when it does not answer.
 */
export async function upstreamStats(up: RunningUpstream): Promise<UpstreamStats | null> {
  try {
    const r = await probe(up.port, STATS_PATH, { timeoutMs: 5000 });
    return JSON.parse(r.body) as UpstreamStats;
  } catch {
    return null;
  }
}

/** What the upstream saw between two readings of its counters, for the ports of one target set. */
export interface UpstreamDelta {
  ports: number[];
  /** Requests answered per port. */
  requests: number[];
  /** New TCP connections per port (the second reading's own connection taken out). */
  accepts: number[];
  otlp: { requests: number; bytes: number; spans: number } | null;
}

export function upstreamDelta(before: UpstreamStats, after: UpstreamStats, ports: number[]): UpstreamDelta {
  const at = (s: UpstreamStats, key: 'requests' | 'accepts', port: number) => {
    const i = s.ports.indexOf(port);
    return i < 0 ? 0 : s[key][i];
  };
  // The probe that read `after` came in on a new connection to the main port (index 0).
  const probeOwn = (port: number) => (port === after.ports[0] ? 1 : 0);
  return {
    ports,
    requests: ports.map((p) => at(after, 'requests', p) - at(before, 'requests', p)),
    accepts: ports.map((p) => Math.max(0, at(after, 'accepts', p) - at(before, 'accepts', p) - probeOwn(p))),
    otlp:
      before.otlp && after.otlp
        ? { requests: after.otlp.requests - before.otlp.requests, bytes: after.otlp.bytes - before.otlp.bytes, spans: after.otlp.spans - before.otlp.spans }
        : null,
  };
}
