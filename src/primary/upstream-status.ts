/**
 * The state of every upstream target as the primary sees it (CONFIG.md GET /upstreams), put
 * together from the shared endpoint state (active health, ejection, machine-wide in-flight) and
 * the workers' reports of the last second (connections, breaker, latency estimate, counts).
 * GET /upstreams, the metrics and the dashboard read it.
 */
import type { GatewayConfig } from '../config/schema.js';
import { UNHEALTHY, sharedNowMs, type SharedEndpointState } from '../native/shared-state.js';
import type { EndpointReport } from '../upstream/endpoint.js';
import type { ResolvedUpstreams } from './targets.js';

export interface TargetStatus {
  readonly url: string;
  /** The address the connections go to (scheme://ip:port). */
  readonly address: string;
  readonly weight: number;
  readonly health: 'healthy' | 'unhealthy' | 'ejected';
  /** The most open state over the workers (each keeps its own breaker). */
  readonly breaker: 'closed' | 'open' | 'half-open';
  /** Requests in flight to it from the whole machine. */
  readonly inflight: number;
  readonly openConnections: number;
  /** Requests waiting for a connection, over the workers. */
  readonly queued: number;
  /** The latency-aware balancer's estimate (p2c-ewma), averaged over the workers; null otherwise. */
  readonly ewmaMs: number | null;
  /** Times outlier detection ejected it, over the live workers' lifetimes. */
  readonly ejections: number;
  readonly stuckConnections: number;
}

export interface UpstreamStatus {
  readonly balancer: string;
  readonly targets: TargetStatus[];
}

const BREAKER_RANK = { closed: 0, 'half-open': 1, open: 2 } as const;

export function upstreamStatus(
  config: GatewayConfig,
  targets: ResolvedUpstreams,
  shared: SharedEndpointState | null,
  reports: ReadonlyArray<readonly EndpointReport[]>,
): Record<string, UpstreamStatus> {
  const now = sharedNowMs();
  const out: Record<string, UpstreamStatus> = {};
  for (const [name, up] of Object.entries(config.upstreams)) {
    const list: TargetStatus[] = [];
    for (const t of targets[name] ?? []) {
      let connections = 0;
      let queued = 0;
      let stuck = 0;
      let ejections = 0;
      let workerInflight = 0;
      let breaker: TargetStatus['breaker'] = 'closed';
      let ewmaSum = 0;
      let ewmaN = 0;
      let localEjectedUntil = 0;
      for (const worker of reports) {
        for (const e of worker) {
          if (e.upstream !== name || e.origin !== t.origin) continue;
          connections += e.connections;
          queued += e.queued;
          stuck += e.stuck;
          ejections += e.counters.ejections;
          workerInflight += e.inflight;
          if (e.breaker !== null && BREAKER_RANK[e.breaker] > BREAKER_RANK[breaker]) breaker = e.breaker;
          if (e.ewmaMs !== null) {
            ewmaSum += e.ewmaMs;
            ewmaN++;
          }
          localEjectedUntil = Math.max(localEjectedUntil, e.ejectedUntil);
        }
      }
      const hasSlot = shared !== null && t.slot >= 0;
      const unhealthy = up.healthCheck?.active !== undefined && hasSlot && shared.health(t.slot) === UNHEALTHY;
      const ejectedUntil = hasSlot ? shared.ejectedUntil(t.slot) : localEjectedUntil;
      list.push({
        url: t.url,
        address: t.origin,
        weight: t.weight,
        health: unhealthy ? 'unhealthy' : ejectedUntil > now ? 'ejected' : 'healthy',
        breaker,
        inflight: hasSlot ? shared.inflight(t.slot) : workerInflight,
        openConnections: connections,
        queued,
        ewmaMs: ewmaN > 0 ? Math.round((ewmaSum / ewmaN) * 1000) / 1000 : null,
        ejections,
        stuckConnections: stuck,
      });
    }
    out[name] = { balancer: up.balancer, targets: list };
  }
  return out;
}

const HEALTH_VALUE = { healthy: 1, ejected: 0, unhealthy: 0 } as const;

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Prometheus text for the upstream targets' state. */
export function upstreamMetrics(status: Record<string, UpstreamStatus>, dnsFailures: number): string {
  const gauges: Array<[string, string, (t: TargetStatus) => number]> = [
    ['gateway_upstream_health', 'Upstream target health: 1 healthy, 0 unhealthy (active checks) or ejected (outlier detection).', (t) => HEALTH_VALUE[t.health]],
    ['gateway_upstream_breaker_state', 'Circuit breaker state, the most open over the workers: 0 closed, 1 half-open, 2 open.', (t) => BREAKER_RANK[t.breaker]],
    ['gateway_upstream_inflight', 'Requests in flight to the target from the whole machine.', (t) => t.inflight],
    ['gateway_upstream_open_connections', 'Open connections to the target, over the workers.', (t) => t.openConnections],
    ['gateway_upstream_queued', 'Requests waiting for a connection to the target, over the workers.', (t) => t.queued],
  ];
  const lines: string[] = [];
  for (const [name, help, value] of gauges) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [up, s] of Object.entries(status)) {
      for (const t of s.targets) lines.push(`${name}{upstream="${esc(up)}",target="${esc(t.address)}"} ${value(t)}`);
    }
  }
  lines.push('# HELP gateway_upstream_ejections_total Times outlier detection ejected the target (live workers).', '# TYPE gateway_upstream_ejections_total counter');
  for (const [up, s] of Object.entries(status)) for (const t of s.targets) lines.push(`gateway_upstream_ejections_total{upstream="${esc(up)}",target="${esc(t.address)}"} ${t.ejections}`);
  lines.push('# HELP gateway_dns_lookup_failures_total Lookups of upstream target names that failed (the last good addresses were kept).', '# TYPE gateway_dns_lookup_failures_total counter', `gateway_dns_lookup_failures_total ${dnsFailures}`);
  return lines.join('\n') + '\n';
}
