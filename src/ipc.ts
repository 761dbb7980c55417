/**
 * Messages between the primary and its workers (node:cluster IPC, "advanced" serialization).
 * Configs travel msgpackr-encoded: one Buffer, decoded once per worker per version.
 */
import { pack, unpack } from 'msgpackr';
import type { GatewayConfig } from './config/schema.js';
import type { MetricsSnapshot } from './observability/metrics.js';

export type PrimaryToWorker =
  | { type: 'config'; version: number; config: Uint8Array }
  | { type: 'drain'; deadlineMs: number };

export type WorkerToPrimary =
  | { type: 'hello' } // listener attached: the config can be sent (cluster's 'online' comes too early for ESM)
  | { type: 'ready'; version: number }
  | { type: 'reloaded'; version: number }
  | { type: 'reload-failed'; version: number; error: string }
  | { type: 'fatal'; error: string }
  | { type: 'metrics'; snapshot: MetricsSnapshot }
  | { type: 'drained' };

export function encodeConfig(config: GatewayConfig): Uint8Array {
  return pack(config);
}

export function decodeConfig(bytes: Uint8Array): GatewayConfig {
  return unpack(bytes) as GatewayConfig;
}
