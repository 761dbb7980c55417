/**
 * Secrets, as the schema's secret() annotations say (src/util/schema-kit.ts): the admin token,
 * jwt secrets, consumers' apiKeys and passwordHash, every header value the operator sets or
 * matches (requestHeaders.set, responseHeaders.set, routes[].respond.headers, routes[].headers:
 * any of them may carry a credential), credentials in cluster.redis. Plus every value that came
 * from `env:NAME`, and credentials inside any URL.
 *
 * isSecretPointer() keeps them out of messages; redactConfig() out of GET /config.
 */
import type { TSchema } from '@sinclair/typebox';
import { GatewayConfigSchema, type GatewayConfig } from './schema.js';
import { childSchemas, secretKindOf, schemasAt, type SecretKind } from '../util/schema-kit.js';
import { cloneJson, escapePointer, isObject, setAt, walk } from './util.js';

export const REDACTED = '[redacted]';

const secretCache = new Map<string, boolean>();

/** True when the schema marks the value at `pointer` secret. */
export function isSecretPointer(pointer: string): boolean {
  let v = secretCache.get(pointer);
  if (v === undefined) {
    v = schemasAt(GatewayConfigSchema, pointer).some((s) => secretKindOf(s) !== undefined);
    if (secretCache.size < 10_000) secretCache.set(pointer, v);
  }
  return v;
}

/** JSON pointers of the values of `config` that came from `env:NAME` (configs loaded here). */
export function envPointersOf(config: GatewayConfig): string[] {
  return [...(envPointersByConfig.get(config as object) ?? [])];
}

const envPointersByConfig = new WeakMap<object, string[]>();

/** Remembers which values of a loaded config came from the environment. */
export function rememberEnvPointers(config: GatewayConfig, pointers: Iterable<string>): void {
  envPointersByConfig.set(config as object, [...pointers]);
}

const URL_CREDENTIALS = /^([a-z][a-z0-9+.-]*:\/\/)([^@/?#]*)@/i;

function redactValue(value: unknown, kind: SecretKind): unknown {
  if (typeof value !== 'string') return value === undefined ? value : REDACTED;
  if (kind === 'value') return REDACTED;
  const m = URL_CREDENTIALS.exec(value);
  return m ? `${m[1]}${REDACTED}@${value.slice(m[0].length)}` : value;
}

/** Replaces, in place, every value whose schema is marked secret. */
function redactBySchema(value: unknown, schemas: readonly TSchema[]): unknown {
  for (const s of schemas) {
    const kind = secretKindOf(s);
    if (kind !== undefined) return redactValue(value, kind);
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = redactBySchema(value[i], schemas.flatMap((s) => childSchemas(s, String(i))));
  } else if (isObject(value)) {
    for (const key of Object.keys(value)) value[key] = redactBySchema(value[key], schemas.flatMap((s) => childSchemas(s, key)));
  }
  return value;
}

/**
 * A deep copy of a loaded config with every secret replaced by "[redacted]" (see the file
 * comment). Env-derived values are known for configs returned by the loader (remembered per
 * config object); pass `envPointers` for other copies.
 */
export function redactConfig(config: GatewayConfig, envPointers?: Iterable<string>): GatewayConfig {
  const copy = cloneJson(config) as Record<string, unknown>;
  const pointers = new Set<string>(envPointers ?? envPointersByConfig.get(config as object) ?? []);
  for (const p of pointers) setAt(copy, p, REDACTED);
  redactBySchema(copy, [GatewayConfigSchema]);
  // Credentials inside any URL.
  walk(copy, (value, set) => {
    if (typeof value === 'string' && value !== REDACTED) {
      const m = URL_CREDENTIALS.exec(value);
      if (m) set(`${m[1]}${REDACTED}@${value.slice(m[0].length)}`);
    }
  });
  return copy as unknown as GatewayConfig;
}

/** Pointers of the secrets a schema marks, relative to it ("*" for any key or index): for docs and tests. */
export function secretPointers(schema: TSchema, base = ''): string[] {
  const out: string[] = [];
  const seen = new Set<TSchema>();
  const visit = (s: TSchema, at: string): void => {
    if (seen.has(s)) return;
    seen.add(s);
    if (secretKindOf(s) !== undefined) {
      out.push(at);
      return;
    }
    const any = (s as { anyOf?: TSchema[] }).anyOf;
    if (Array.isArray(any)) any.forEach((b) => visit(b, at));
    const props = (s as { properties?: Record<string, TSchema> }).properties;
    if (props) for (const [k, sub] of Object.entries(props)) visit(sub, `${at}/${escapePointer(k)}`);
    const pattern = (s as { patternProperties?: Record<string, TSchema> }).patternProperties;
    if (pattern) for (const sub of Object.values(pattern)) visit(sub, `${at}/*`);
    const items = (s as { items?: TSchema }).items;
    if (items && !Array.isArray(items)) visit(items, `${at}/*`);
  };
  visit(schema, base);
  return out;
}
