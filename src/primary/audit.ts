/**
 * The reload audit trail (CONFIG.md, Admin API): one JSON line on the operational log per
 * reload attempt, whatever asked for it and whatever came of it:
 *
 *   {"time":..., "level":"info", "pid":..., "msg":"config audit", "source":"admin",
 *    "address":"10.0.0.7", "result":"applied", "version":8, "previousVersion":7,
 *    "changes":{"routes":{"added":["orders-v2"],"removed":[],"changed":["users"]}, ...}}
 *
 * Ids only (config/diff.ts), never values, so a secret never reaches the log. A refused reload
 * says how many errors and the first of them (the loader's messages never quote secrets) and
 * that the previous version is still in force. Written whatever GATEWAY_LOG_LEVEL says: an audit
 * trail with holes is not one.
 */
import type { ConfigChanges } from '../config/diff.js';
import { formatErrors, type ConfigError } from '../config/index.js';
import { logAlways } from '../observability/log.js';

export type ReloadSource = 'signal' | 'admin' | 'watch';

/** Who asked for a reload: a signal, the file watch, or an admin call from this peer address. */
export interface ReloadRequest {
  source: ReloadSource;
  /** The admin caller's address (admin requests only). */
  address?: string;
}

/** How the config in force was loaded (GET /config, the metrics). */
export interface LoadedFrom {
  source: 'start' | ReloadSource;
  address?: string;
  /** ms since the epoch. */
  at: number;
}

/** How many errors of a refused reload the audit line quotes. */
const QUOTED_ERRORS = 5;

export type ReloadOutcome =
  | { result: 'applied'; version: number; previousVersion: number; complete: boolean; changes: ConfigChanges }
  /** `changes` when the new file was valid but could not be applied (a restart-only field, a compile error). */
  | { result: 'refused'; version: number; errors: readonly ConfigError[]; changes: ConfigChanges | null };

/**
 * The audit line of one reload attempt. Requests that arrived while another reload ran share
 * one attempt (supervisor.ts, reload()): the first of them is `source`/`address`, and all of them
 * are listed in `requests` when there were several.
 */
export function auditReload(requests: readonly ReloadRequest[], file: string, outcome: ReloadOutcome): void {
  const first = requests[0]!;
  const fields: Record<string, unknown> = { source: first.source };
  if (first.address !== undefined) fields.address = first.address;
  if (requests.length > 1) fields.requests = requests;
  fields.file = file;
  fields.result = outcome.result;
  if (outcome.result === 'applied') {
    fields.version = outcome.version;
    fields.previousVersion = outcome.previousVersion;
    fields.complete = outcome.complete;
    fields.changes = outcome.changes;
  } else {
    fields.version = outcome.version; // the version still in force
    fields.errorCount = outcome.errors.length;
    fields.errors = formatErrors(outcome.errors.slice(0, QUOTED_ERRORS)).split('\n');
    if (outcome.changes !== null) fields.changes = outcome.changes;
  }
  logAlways(outcome.result === 'applied' ? 'info' : 'warn', 'config audit', fields);
}

/** `::ffff:10.0.0.7` is 10.0.0.7: the address as people write it. */
export function peerAddress(remote: string | undefined): string {
  if (remote === undefined) return 'unknown';
  return remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote;
}
