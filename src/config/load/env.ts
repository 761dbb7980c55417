/**
 * `env:NAME` substitution: a string value "env:NAME" is replaced by the variable's value
 * (coerced to a number or boolean where the schema takes no string), its pointer remembered
 * (such values are never quoted in messages and are redacted in GET /config), and as a last
 * line of defence no message may contain a value read from the environment.
 */
import type { Collector } from '../report.js';
import { unescapePointer, walk } from '../util.js';
import { schemaDocument, type JsonSchema } from './ajv.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** JSON types the schema accepts at a pointer of the config (empty set: unknown location). */
export type TypesAt = (pointer: string) => Set<string>;

export function substituteEnv(data: unknown, env: Record<string, string | undefined>, ctx: Collector, typesAt: TypesAt = schemaTypesAt): unknown {
  const box = { value: data };
  walk(box.value, (value, set, pointer) => {
    if (typeof value !== 'string' || !value.startsWith('env:')) return;
    const name = value.slice(4);
    if (!ENV_NAME.test(name)) {
      ctx.errors.push({
        pointer,
        message: `invalid environment variable name in ${JSON.stringify(value)}: expected "env:NAME" with NAME made of letters, digits and "_"`,
      });
      return;
    }
    const v = env[name];
    if (v === undefined) {
      ctx.errors.push({ pointer, message: `environment variable ${name} is not set (referenced as "env:${name}")` });
      return;
    }
    ctx.env.set(pointer, name);
    ctx.envValues.set(name, v);
    set(coerceEnvValue(pointer, v, typesAt));
  });
  return box.value;
}

/** "8080" from the environment becomes 8080 where the schema takes no string (ports, ...). */
export function coerceEnvValue(pointer: string, value: string, typesAt: TypesAt = schemaTypesAt): unknown {
  const types = typesAt(pointer);
  if (types.size === 0 || types.has('string')) return value;
  if ((types.has('integer') || types.has('number')) && /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(value.trim())) {
    return Number(value.trim());
  }
  if (types.has('boolean') && (value.trim() === 'true' || value.trim() === 'false')) return value.trim() === 'true';
  return value;
}


/** JSON types the schema (default: the gateway's) accepts at a pointer relative to it (empty set: unknown location). */
export function schemaTypesAt(pointer: string, root: JsonSchema = schemaDocument()): Set<string> {
  const segs = pointer === '' ? [] : pointer.slice(1).split('/').map(unescapePointer);
  let current: JsonSchema[] = [root];
  for (const seg of segs) {
    const next: JsonSchema[] = [];
    for (const s of expandUnions(current)) {
      const props = s.properties as Record<string, JsonSchema> | undefined;
      if (props && Object.prototype.hasOwnProperty.call(props, seg)) next.push(props[seg]);
      const pattern = s.patternProperties as Record<string, JsonSchema> | undefined;
      if (pattern) for (const [re, sub] of Object.entries(pattern)) if (new RegExp(re).test(seg)) next.push(sub);
      if (s.items && /^\d+$/.test(seg)) next.push(s.items as JsonSchema);
    }
    current = next;
  }
  const types = new Set<string>();
  for (const s of expandUnions(current)) if (typeof s.type === 'string') types.add(s.type);
  return types;
}

function expandUnions(schemas: JsonSchema[]): JsonSchema[] {
  const out: JsonSchema[] = [];
  const add = (s: JsonSchema): void => {
    if (Array.isArray(s.anyOf)) (s.anyOf as JsonSchema[]).forEach(add);
    else out.push(s);
  };
  schemas.forEach(add);
  return out;
}

/** Last line of defence: no message may contain a (non-trivial) value read from the environment. */
export function scrubEnvValues(ctx: Collector): void {
  const values = [...ctx.envValues].filter(([, v]) => v.length >= 6).sort((a, b) => b[1].length - a[1].length);
  if (values.length === 0) return;
  const scrub = (message: string): string =>
    values.reduce((m, [name, v]) => m.split(v).join(`[value of env:${name}]`), message);
  for (const e of ctx.errors) e.message = scrub(e.message);
  for (const w of ctx.warnings) w.message = scrub(w.message);
}
