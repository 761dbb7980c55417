/**
 * What a reload may not change: the fields the schema marks restartOnly() (listen, tls,
 * workers, admin, limits.maxHeaderBytes, limits.rateLimitBuckets). The primary refuses such a
 * reload with "changing this needs a restart, not a reload" at each pointer.
 */
import type { TSchema } from '@sinclair/typebox';
import { GatewayConfigSchema, type GatewayConfig } from './schema.js';
import { branches, isRestartOnly } from '../util/schema-kit.js';
import { escapePointer } from './util.js';

/** Pointers of the restart-only fields, in schema order. */
function restartOnlyPointers(schema: TSchema, at: string, out: string[]): string[] {
  if (isRestartOnly(schema)) {
    out.push(at);
    return out;
  }
  for (const b of branches(schema)) {
    const props = (b as { properties?: Record<string, TSchema> }).properties;
    if (props) for (const [k, sub] of Object.entries(props)) restartOnlyPointers(sub, `${at}/${escapePointer(k)}`, out);
  }
  return out;
}

const RESTART_ONLY = restartOnlyPointers(GatewayConfigSchema, '', []);

function at(config: unknown, pointer: string): unknown {
  let cur = config;
  for (const seg of pointer.slice(1).split('/')) cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[seg] : undefined;
  return cur;
}

/** The restart-only fields whose values differ between the config in force and a new one. */
export function restartOnlyDiff(a: GatewayConfig, b: GatewayConfig): string[] {
  return RESTART_ONLY.filter((p) => JSON.stringify(at(a, p)) !== JSON.stringify(at(b, p)));
}

export function restartOnlyFields(): readonly string[] {
  return RESTART_ONLY;
}
