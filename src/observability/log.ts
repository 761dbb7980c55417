/**
 * Operational log: JSON lines on stderr (stdout carries the access log when it goes to
 * "stdout", so the two never interleave in one stream). Cheap when quiet; not on the hot path.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';

const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const threshold = LEVELS[(process.env.GATEWAY_LOG_LEVEL as Level) ?? 'info'] ?? LEVELS.info;

function write(level: Level, msg: string, fields: Record<string, unknown> | undefined): void {
  const line = JSON.stringify({ time: new Date().toISOString(), level, pid: process.pid, msg, ...fields });
  process.stderr.write(line + '\n');
}

export function log(level: Level, msg: string, fields?: Record<string, unknown>): void {
  if (LEVELS[level] < threshold) return;
  write(level, msg, fields);
}

/** A line that is written whatever GATEWAY_LOG_LEVEL says (the reload audit trail). */
export function logAlways(level: Level, msg: string, fields?: Record<string, unknown>): void {
  write(level, msg, fields);
}
