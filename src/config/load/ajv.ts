/**
 * Schema validation with Ajv (allErrors, useDefaults) against the document generated from
 * src/config/schema.ts, and the translation of Ajv's errors into readable messages: unions
 * collapsed to the branch the value was meant for, "did you mean", plugin keys in the wrong
 * place, secrets and env values never quoted.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { PLUGIN_NAMES, gatewaySchemaDocument } from '../schema.js';
import { didYouMean, show, type Collector } from '../report.js';

export type JsonSchema = Record<string, unknown>;

let documentCache: JsonSchema | undefined;
let validatorCache: ValidateFunction | undefined;

export function schemaDocument(): JsonSchema {
  documentCache ??= gatewaySchemaDocument();
  return documentCache;
}

/** An Ajv with the loader's settings: the gateway's schema and plugin modules' schemas are compiled alike. */
export function newAjv(): Ajv {
  // strict: false because Ajv (rightly) notes that it ignores defaults inside anyOf branches;
  // applyDefaults() (load/defaults.ts) fills those in.
  const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: false });
  // VS Code's readable pattern error; an annotation for Ajv (the loader reads it, see below).
  ajv.addKeyword({ keyword: 'patternErrorMessage', schemaType: 'string' });
  return ajv;
}

export function compiledValidator(): ValidateFunction {
  validatorCache ??= newAjv().compile(schemaDocument());
  return validatorCache;
}

export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

export function typeMatches(schemaType: unknown, value: unknown): boolean {
  const t = jsonType(value);
  if (schemaType === undefined) return true;
  if (schemaType === t) return true;
  return schemaType === 'number' && t === 'integer';
}

/** "an integer between 0 and 65535", "\"auto\"", "an object", ... */
function describeSchema(s: JsonSchema): string {
  if ('const' in s) return JSON.stringify(s.const);
  if (Array.isArray(s.anyOf)) return describeUnion(s.anyOf as JsonSchema[]);
  switch (s.type) {
    case 'integer':
    case 'number':
      return describeRange(s);
    case 'string':
      return (s.minLength as number) >= 1 ? 'a non-empty string' : 'a string';
    case 'boolean':
      return 'true or false';
    case 'object':
      return 'an object';
    case 'array':
      return 'an array';
    default:
      return 'a valid value';
  }
}

function describeRange(s: JsonSchema): string {
  const noun = s.type === 'integer' ? 'an integer' : 'a number';
  const min = s.minimum as number | undefined;
  const max = s.maximum as number | undefined;
  const xmin = s.exclusiveMinimum as number | undefined;
  if (min !== undefined && max !== undefined) return `${noun} between ${min} and ${max}`;
  if (xmin !== undefined && max !== undefined) return `${noun} > ${xmin} and <= ${max}`;
  if (min !== undefined) return `${noun} >= ${min}`;
  if (xmin !== undefined) return `${noun} > ${xmin}`;
  if (max !== undefined) return `${noun} <= ${max}`;
  return noun;
}

export function describeUnion(branches: JsonSchema[]): string {
  const consts = branches.filter((b) => 'const' in b && b.type === 'string').map((b) => JSON.stringify(b.const));
  const others = branches.filter((b) => !('const' in b && b.type === 'string')).map(describeSchema);
  const parts: string[] = [];
  if (consts.length === 1) parts.push(consts[0]);
  else if (consts.length > 1) parts.push(`one of ${consts.join(', ')}`);
  parts.push(...others);
  return parts.length <= 2 ? parts.join(' or ') : `${parts.slice(0, -1).join(', ')} or ${parts[parts.length - 1]}`;
}

interface Pending {
  pointer: string;
  message: string;
  schemaPath: string;
  instancePath: string;
  suppressible: boolean;
}

export function translateAjvErrors(raw: ErrorObject[], ctx: Collector): void {
  // Everything becomes a Pending; anyOf groups are then collapsed, deepest first.
  let pending: Array<Pending & { raw?: ErrorObject }> = raw
    .filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf')
    .map((e) => ({ ...translateOne(e, ctx), schemaPath: e.schemaPath, instancePath: e.instancePath, raw: e }));
  const unions = raw
    .filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf')
    .sort((a, b) => b.schemaPath.length - a.schemaPath.length || b.instancePath.length - a.instancePath.length);
  for (const u of unions) {
    const prefix = `${u.schemaPath}/`;
    const inside = (p: Pending): boolean =>
      p.schemaPath.startsWith(prefix) && (p.instancePath === u.instancePath || p.instancePath.startsWith(`${u.instancePath}/`));
    const children = pending.filter(inside);
    pending = pending.filter((p) => !inside(p));
    const branches = ((u.parentSchema as JsonSchema)[u.keyword] as JsonSchema[]) ?? [];
    const data = u.data;
    const compatible = branches
      .map((b, i) => ({ b, i }))
      .filter(({ b }) => typeMatches(b.type, data) && !('const' in b));
    const scalarUnion = branches.every((b) => b.type !== 'object' && b.type !== 'array');
    let replacement: Pending[] | null = null;
    if (compatible.length === 1) {
      const own = children.filter((c) => c.schemaPath.startsWith(`${prefix}${compatible[0].i}/`));
      const allAtUnion = own.every((c) => c.instancePath === u.instancePath);
      if (own.length > 0 && !(scalarUnion && allAtUnion)) replacement = own;
    }
    if (replacement === null) {
      const pointer = u.instancePath;
      const suggestions = branches.filter((b) => 'const' in b && typeof b.const === 'string').map((b) => b.const as string);
      replacement = [
        {
          pointer,
          message: `expected ${describeUnion(branches)}, got ${show(ctx, pointer, data)}${didYouMean(data, suggestions)}`,
          schemaPath: u.schemaPath,
          instancePath: u.instancePath,
          suppressible: true,
        },
      ];
    }
    pending.push(...replacement);
  }
  for (const p of pending) ctx.errors.push({ pointer: p.pointer, message: p.message, suppressible: p.suppressible });
}

const PLUGIN_KEYS: ReadonlySet<string> = new Set(PLUGIN_NAMES);

function translateOne(e: ErrorObject, ctx: Collector): { pointer: string; message: string; suppressible: boolean } {
  const pointer = e.instancePath;
  const parent = (e.parentSchema ?? {}) as JsonSchema;
  const params = e.params as Record<string, unknown>;
  const got = (): string => show(ctx, pointer, e.data);
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const known = Object.keys((parent.properties as object) ?? {});
      const hint = didYouMean(key, known);
      if (hint === '' && known.includes('plugins') && PLUGIN_KEYS.has(key)) {
        return { pointer, message: `unknown key "${key}"; plugins go inside "plugins": { "${key}": ... }`, suppressible: false };
      }
      return { pointer, message: `unknown key "${key}"${hint}`, suppressible: false };
    }
    case 'required':
      return { pointer, message: `missing required key "${String(params.missingProperty)}"`, suppressible: false };
    case 'type':
      return { pointer, message: `expected ${describeSchema(parent)}, got ${got()}`, suppressible: false };
    case 'const':
      return { pointer, message: `expected ${JSON.stringify(params.allowedValue)}, got ${got()}`, suppressible: true };
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ');
      return { pointer, message: `expected one of ${allowed}, got ${got()}`, suppressible: true };
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { pointer, message: `expected ${describeRange(parent)}, got ${got()}`, suppressible: false };
    case 'minLength':
      return { pointer, message: params.limit === 1 ? 'must not be empty' : `expected at least ${params.limit} characters`, suppressible: true };
    case 'minItems':
      return {
        pointer,
        message: params.limit === 1 ? 'must not be empty (at least one item)' : `expected at least ${params.limit} items`,
        suppressible: false,
      };
    case 'minProperties':
      return { pointer, message: 'must not be empty (at least one entry)', suppressible: false };
    case 'uniqueItems': {
      const i = Number(params.i);
      const j = Number(params.j);
      return {
        pointer: `${pointer}/${Math.max(i, j)}`,
        message: `duplicate of item ${Math.min(i, j)} (${show(ctx, `${pointer}/${Math.max(i, j)}`, (e.data as unknown[])[Math.max(i, j)])})`,
        suppressible: false,
      };
    }
    case 'pattern': {
      const readable = parent.patternErrorMessage as string | undefined;
      return {
        pointer,
        message: `${readable ?? `expected a string matching ${String(params.pattern)}`}, got ${got()}`,
        suppressible: true,
      };
    }
    default:
      return { pointer, message: e.message ?? 'invalid value', suppressible: false };
  }
}
