/**
 * GET /metrics: the Prometheus text the primary serves. Its own families (workers, config and
 * reloads, each worker's event-loop delay and client connections), the upstream targets' state
 * (upstream-status.ts) and what the workers counted (observability/metrics.ts, aggregated).
 *
 * Every family has HELP and TYPE, counters end in _total, units are base units in the name
 * (_seconds, _bytes), and `promtool check metrics` passes (test/integration/metrics-hygiene.test.ts).
 * docs/operations.md lists every family with its type and labels.
 */
import type { Supervisor } from './supervisor.js';
import type { ReloadSource } from './audit.js';
import { upstreamMetrics } from './upstream-status.js';

const RELOAD_SOURCES: readonly ReloadSource[] = ['signal', 'admin', 'watch'];
const RELOAD_RESULTS = ['applied', 'refused'] as const;

function family(out: string[], name: string, type: 'counter' | 'gauge' | 'summary', help: string): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

function primaryMetrics(sup: Supervisor): string {
  const out: string[] = [];
  family(out, 'gateway_workers', 'gauge', 'Worker processes by state.');
  const ready = sup.slots.filter((s) => s.ready).length;
  out.push(`gateway_workers{state="ready"} ${ready}`, `gateway_workers{state="down"} ${sup.slots.length - ready}`);
  family(out, 'gateway_worker_restarts_total', 'counter', 'Workers restarted after dying.');
  out.push(`gateway_worker_restarts_total ${sup.workerRestarts}`);

  family(out, 'gateway_config_version', 'gauge', 'Version of the newest accepted config (1 at start, +1 per accepted reload).');
  out.push(`gateway_config_version ${sup.version}`);
  family(out, 'gateway_config_info', 'gauge', 'The config in force: its version and hash (sha256 of its canonical JSON with secrets redacted, 16 hex digits; equal on nodes that run the same config). Always 1.');
  out.push(`gateway_config_info{version="${sup.version}",hash="${sup.configHash}"} 1`);
  // Every source and result from the start, so that rate() and increase() see the first one.
  family(out, 'gateway_config_reloads_total', 'counter', 'Reload attempts by who asked (signal, admin, watch) and what came of it (applied, refused).');
  for (const source of RELOAD_SOURCES) {
    for (const result of RELOAD_RESULTS) {
      out.push(`gateway_config_reloads_total{source="${source}",result="${result}"} ${sup.reloadStats.attempts.get(`${source}\u0001${result}`) ?? 0}`);
    }
  }
  family(out, 'gateway_config_last_reload_successful', 'gauge', 'Whether the last reload attempt was applied (1) or refused (0); 1 before any.');
  out.push(`gateway_config_last_reload_successful ${sup.reloadStats.lastOk ? 1 : 0}`);
  family(out, 'gateway_config_last_reload_success_timestamp_seconds', 'gauge', 'When the config in force was loaded (the start or the last applied reload), in Unix time.');
  out.push(`gateway_config_last_reload_success_timestamp_seconds ${(sup.reloadStats.lastAppliedAt / 1000).toFixed(3)}`);

  // Per live worker, by slot index: bounded, and stable across a worker's restarts.
  const live = sup.slots.filter((s) => s.worker !== null);
  family(out, 'gateway_client_connections', 'gauge', 'Client connections open now, by worker (reported every second).');
  for (const s of live) out.push(`gateway_client_connections{worker="${s.index}"} ${s.connections}`);
  family(out, 'gateway_event_loop_delay_seconds', 'summary', "How late each worker's event loop runs, beyond monitorEventLoopDelay's 10 ms sampling interval: each quantile is the worst second's since the previous scrape; _sum and _count since start.");
  for (const s of live) {
    const d = s.loopDelay;
    out.push(
      `gateway_event_loop_delay_seconds{worker="${s.index}",quantile="0.5"} ${d.p50S}`,
      `gateway_event_loop_delay_seconds{worker="${s.index}",quantile="0.99"} ${d.p99S}`,
      `gateway_event_loop_delay_seconds_sum{worker="${s.index}"} ${d.sumS}`,
      `gateway_event_loop_delay_seconds_count{worker="${s.index}"} ${d.count}`,
    );
  }
  family(out, 'gateway_event_loop_delay_max_seconds', 'gauge', 'Longest event-loop delay by worker since the previous scrape.');
  for (const s of live) out.push(`gateway_event_loop_delay_max_seconds{worker="${s.index}"} ${s.loopDelay.maxS}`);
  for (const s of sup.slots) s.loopDelay.scraped();
  return out.join('\n') + '\n';
}

export function metricsText(sup: Supervisor): string {
  return primaryMetrics(sup) + upstreamMetrics(sup.upstreamStatus(), sup.dnsFailures) + sup.metrics.render();
}
