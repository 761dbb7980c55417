/**
 * Parts of the config contract (CONFIG.md) that this build does not implement yet. The schema
 * knows every field, so editors autocomplete them and typos are caught; but a config that asks
 * for one of these is refused with a clear error instead of being accepted and silently
 * ignored (a rate limit that limits nothing is worse than an error). Which fields: the schema's
 * notImplemented() annotations (src/config/schema.ts, and the plugins' schemas: cache,
 * encoding); an annotation is removed in the change that implements the field.
 */
import type { TSchema } from '@sinclair/typebox';
import type { ConfigError } from './report.js';
import { GatewayConfigSchema, type GatewayConfig } from './schema.js';
import { branches, childSchemas, notImplementedOf } from '../util/schema-kit.js';
import { typeMatches } from './load/ajv.js';
import { escapePointer, isObject } from './util.js';

function notYet(pointer: string, what: string): ConfigError {
  return { pointer, message: `${what} is not implemented in this version of the gateway yet` };
}

function fits(s: TSchema, value: unknown): boolean {
  if ('const' in s) return (s as unknown as { const: unknown }).const === value;
  return typeMatches((s as { type?: unknown }).type, value);
}

/** The schemas themselves, and the union branches the value fits. */
function fitting(schemas: readonly TSchema[], value: unknown): TSchema[] {
  const out: TSchema[] = [];
  for (const s of schemas) {
    out.push(s);
    const bs = branches(s);
    if (bs.length > 1) for (const b of bs) if (fits(b, value)) out.push(b);
  }
  return out;
}

export function notImplementedErrors(config: GatewayConfig): ConfigError[] {
  const out: ConfigError[] = [];
  const visit = (value: unknown, schemas: readonly TSchema[], pointer: string): void => {
    const here = fitting(schemas, value);
    for (const s of here) {
      const what = notImplementedOf(s);
      const message = typeof what === 'function' ? what(value) : what;
      if (message !== undefined && message !== null) {
        out.push(notYet(pointer, message));
        return; // one refusal per field: what is inside it is refused with it
      }
    }
    if (Array.isArray(value)) value.forEach((v, i) => visit(v, here.flatMap((s) => childSchemas(s, String(i))), `${pointer}/${i}`));
    else if (isObject(value)) {
      for (const key of Object.keys(value)) visit(value[key], here.flatMap((s) => childSchemas(s, key)), `${pointer}/${escapePointer(key)}`);
    }
  };
  visit(config, [GatewayConfigSchema], '');
  return out;
}
