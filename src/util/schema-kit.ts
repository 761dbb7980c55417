/**
 * The TypeBox vocabulary every config schema is written in (the core's in src/config/schema.ts,
 * each plugin's in src/plugins/<name>/schema.ts). A leaf module (it imports only
 * util/json-pointer.ts), so plugins write their schema without importing the config layer above
 * them.
 *
 * - `withDefault(schema)`: optional in the file, always present after loading (the JSON Schema
 *   `default`, applied by the loader); plain `Type.Optional` fields stay absent when left out;
 * - `computed(schema)`: optional in the file, filled in by the loader's normalization from
 *   other fields (src/config/load/normalize.ts);
 * - annotations read by the config layer instead of hand-kept lists:
 *     `secret(schema)`        never shown in messages, "[redacted]" in GET /config (redact.ts);
 *     `restartOnly(schema)`   a reload that changes it is refused (diff.ts);
 *     `notImplemented(schema, what)` accepted by the schema (editors know it) but refused by
 *                             this build with "<what> is not implemented ..." (not-implemented.ts).
 *   They are symbol-keyed, so the published JSON Schema and Ajv never see them.
 */
import {
  Type,
  type Static,
  type TArray,
  type TObject,
  type TOptional,
  type TProperties,
  type TRecord,
  type TSchema,
  type TUnion,
} from '@sinclair/typebox';
import { unescapePointer } from './json-pointer.js';

// ---------------------------------------------------------------------------------------------
// Type-level machinery: the config type after defaults
// ---------------------------------------------------------------------------------------------

declare const DefaultedBrand: unique symbol;
/** An optional property that always holds a value once the config is loaded. */
export type TDefaulted<T extends TSchema> = TOptional<T> & { readonly [DefaultedBrand]: true };

/** Optional in the file, present after loading: `schema` must carry a `default`. */
export function withDefault<T extends TSchema>(schema: T): TDefaulted<T> {
  if (!('default' in schema)) throw new Error('withDefault() needs a schema with a default');
  return Type.Optional(schema) as TDefaulted<T>;
}

/** Optional in the file, filled in by the loader from other fields (no static default). */
export function computed<T extends TSchema>(schema: T): TDefaulted<T> {
  return Type.Optional(schema) as TDefaulted<T>;
}

type Evaluate<T> = { [K in keyof T]: T[K] } & {};
type RequiredKeys<P extends TProperties> = {
  [K in keyof P]: P[K] extends TOptional<TSchema> ? (P[K] extends { readonly [DefaultedBrand]: true } ? K : never) : K;
}[keyof P];
type OptionalKeys<P extends TProperties> = Exclude<keyof P, RequiredKeys<P>>;
type ResolvedProperties<P extends TProperties> = Evaluate<
  { -readonly [K in RequiredKeys<P>]: Resolved<P[K]> } & { -readonly [K in OptionalKeys<P>]?: Resolved<P[K]> }
>;
type ResolvedUnion<U extends TSchema[]> = { [I in keyof U]: Resolved<U[I]> }[number];

/** The static type of a schema after the loader applied defaults (see withDefault/computed). */
export type Resolved<T> = T extends TRecord<TSchema, infer V>
  ? { [key: string]: Resolved<V> }
  : T extends TObject<infer P>
    ? ResolvedProperties<P>
    : T extends TArray<infer I>
      ? Resolved<I>[]
      : T extends TUnion<infer U>
        ? ResolvedUnion<U>
        : T extends TSchema
          ? Static<T>
          : never;

// ---------------------------------------------------------------------------------------------
// Small building blocks
// ---------------------------------------------------------------------------------------------

export const closed = { additionalProperties: false } as const;

/** A duration in milliseconds (`*Ms`): a non-negative integer. */
export function durationMs(description: string, def?: number, minimum = 0) {
  return Type.Integer({ minimum, description, ...(def === undefined ? {} : { default: def }) });
}

/** A size in bytes (`*Bytes`): a positive integer. */
export function sizeBytes(description: string, def: number) {
  return Type.Integer({ minimum: 1, description, default: def });
}

export const Port = (description: string, def: number) =>
  Type.Integer({ minimum: 0, maximum: 65535, description, default: def });

export const StringMap = (description: string) =>
  Type.Record(Type.String(), Type.String(), { description, default: {} });

/** A map of header name -> value the operator sets: every value is a secret (it may be a credential). */
export const HeaderValueMap = (description: string) =>
  Type.Record(Type.String(), secret(Type.String()), { description, default: {} });

export const StringList = (description: string, def?: string[]) =>
  Type.Array(Type.String(), { description, ...(def === undefined ? {} : { default: def }) });

// ---------------------------------------------------------------------------------------------
// Annotations
// ---------------------------------------------------------------------------------------------

export const SECRET: unique symbol = Symbol('gateway.secret');
export const RESTART_ONLY: unique symbol = Symbol('gateway.restartOnly');
export const NOT_IMPLEMENTED: unique symbol = Symbol('gateway.notImplemented');

/**
 * How a secret is redacted in GET /config: 'value' replaces the whole value, 'url-credentials'
 * only the user:password part of a URL (cluster.redis). Either way messages never quote it.
 */
export type SecretKind = 'value' | 'url-credentials';

/** What notImplemented() refuses: always (a string), or depending on the value (null = this value works). */
export type NotImplementedWhat = string | ((value: unknown) => string | null);

type Annotated = TSchema & { [SECRET]?: SecretKind; [RESTART_ONLY]?: true; [NOT_IMPLEMENTED]?: NotImplementedWhat };

function annotate<T extends TSchema>(schema: T, key: symbol, value: unknown): T {
  Object.defineProperty(schema, key, { value, enumerable: true, configurable: true });
  return schema;
}

export function secret<T extends TSchema>(schema: T, kind: SecretKind = 'value'): T {
  return annotate(schema, SECRET, kind);
}

export function restartOnly<T extends TSchema>(schema: T): T {
  return annotate(schema, RESTART_ONLY, true);
}

/**
 * `what` completes "<what> is not implemented in this version of the gateway yet"; a function
 * decides by value (a balancer: only "round-robin" works).
 */
export function notImplemented<T extends TSchema>(schema: T, what: NotImplementedWhat): T {
  return annotate(schema, NOT_IMPLEMENTED, what);
}

export function secretKindOf(s: TSchema): SecretKind | undefined {
  return (s as Annotated)[SECRET];
}
export function isRestartOnly(s: TSchema): boolean {
  return (s as Annotated)[RESTART_ONLY] === true;
}
export function notImplementedOf(s: TSchema): NotImplementedWhat | undefined {
  return (s as Annotated)[NOT_IMPLEMENTED];
}

// ---------------------------------------------------------------------------------------------
// Walking a schema along a JSON pointer
// ---------------------------------------------------------------------------------------------

/** The sub-schemas a pointer segment leads to (every union branch, record values, array items). */
export function childSchemas(s: TSchema, segment: string): TSchema[] {
  const out: TSchema[] = [];
  for (const b of branches(s)) {
    const props = (b as TObject).properties as Record<string, TSchema> | undefined;
    if (props !== undefined && Object.prototype.hasOwnProperty.call(props, segment)) out.push(props[segment]);
    const pattern = (b as { patternProperties?: Record<string, TSchema> }).patternProperties;
    if (pattern !== undefined) for (const [re, sub] of Object.entries(pattern)) if (new RegExp(re).test(segment)) out.push(sub);
    const items = (b as { items?: TSchema }).items;
    if (items !== undefined && !Array.isArray(items) && /^\d+$/.test(segment)) out.push(items);
  }
  return out;
}

/** A schema's union branches (nested unions flattened), or the schema itself. */
export function branches(s: TSchema): TSchema[] {
  const any = (s as { anyOf?: TSchema[] }).anyOf;
  return Array.isArray(any) ? any.flatMap(branches) : [s];
}

/** The schemas a JSON pointer (relative to `root`) can land on. */
export function schemasAt(root: TSchema, pointer: string): TSchema[] {
  let current: TSchema[] = [root];
  if (pointer === '') return current;
  for (const seg of pointer.slice(1).split('/').map(unescapePointer)) {
    current = current.flatMap((s) => childSchemas(s, seg));
    if (current.length === 0) break;
  }
  return current;
}
