/**
 * Messages between the primary and its workers (node:cluster IPC, "advanced" serialization).
 * Configs travel msgpackr-encoded: one Buffer, decoded once per worker per version.
 */
import { pack, unpack } from 'msgpackr';
import type { GatewayConfig } from './config/schema.js';
import type { MetricsSnapshot } from './observability/metrics.js';
import type { LoopDelaySample } from './observability/event-loop.js';
import type { EndpointReport } from './upstream/endpoint.js';
import type { ResolvedUpstreams } from './primary/targets.js';
import type { PluginModuleRef } from './plugins/catalog.js';

/** The environment variable that names the shared endpoint-state segment for the workers. */
export const STATE_SEGMENT_ENV = 'GATEWAY_STATE_SEGMENT';

export type PrimaryToWorker =
  /**
   * A config version, with its upstreams' targets as the primary resolved them and the plugin
   * module versions it validated (the worker imports exactly those before compiling).
   */
  | { type: 'config'; version: number; config: Uint8Array; targets: ResolvedUpstreams; pluginModules: PluginModuleRef[] }
  /** A host name of a target resolves to other addresses now: the same config over the new targets. */
  | { type: 'targets'; targets: ResolvedUpstreams }
  | { type: 'drain'; deadlineMs: number; keepAliveGraceMs: number }
  /** SIGUSR1 to the primary: reopen the access log file (logrotate). */
  | { type: 'reopen-logs' };

/**
 * The worker answers every 'config': the first one with 'ready' once it listens, later ones
 * with 'reloaded' or 'reload-failed'. Every answer says which version the worker runs after it
 * (`version` of 'ready'/'reloaded', `running` of 'reload-failed'): a worker that got a newer
 * config before it listened reports that one in 'ready', and an older config than the one it
 * runs is not applied ('reloaded' with the version it runs). Versions only grow.
 */
export type WorkerToPrimary =
  | { type: 'hello' } // listener attached: the config can be sent (cluster's 'online' comes too early for ESM)
  | { type: 'ready'; version: number }
  | { type: 'reloaded'; version: number }
  | { type: 'reload-failed'; version: number; running: number; error: string }
  | { type: 'fatal'; error: string }
  | { type: 'metrics'; snapshot: MetricsSnapshot }
  /** Every second: this worker's view of each upstream endpoint (connections, queue, leaks). */
  | { type: 'endpoints'; endpoints: EndpointReport[] }
  /** Every second: the last second's event-loop delay and the client connections open now. */
  | { type: 'stats'; loop: LoopDelaySample; connections: number }
  | { type: 'drained' };

export function encodeConfig(config: GatewayConfig): Uint8Array {
  return pack(config);
}

export function decodeConfig(bytes: Uint8Array): GatewayConfig {
  return unpack(bytes) as GatewayConfig;
}
