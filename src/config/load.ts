/**
 * Loads and validates the gateway config. Nothing here starts anything: the result is either a
 * complete config (defaults applied, names normalized) or the full list of errors.
 *
 * Steps: JSON parse (own parser: exact line/column, duplicate keys are errors) -> `env:NAME`
 * substitution -> Ajv validation of a deep copy (allErrors, useDefaults) against the schema
 * generated from src/config/schema.ts -> defaults Ajv cannot apply (inside unions) and computed
 * defaults -> semantic checks (references, conflicts, syntax of paths/hosts/CIDRs, security
 * rules). Every error is a `{ pointer, message }`; errors are sorted by pointer.
 */
import { readFile } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import {
  PLUGIN_NAMES,
  gatewaySchemaDocument,
  type GatewayConfig,
  type PluginsConfig,
  type RouteConfig,
} from './schema.js';

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

export interface ConfigError {
  /** JSON pointer of the offending value ("" = the whole document). */
  pointer: string;
  message: string;
}

export type LoadResult =
  | { ok: true; config: GatewayConfig; warnings: string[] }
  | { ok: false; errors: ConfigError[] };

export interface LoadOptions {
  /** Where `env:NAME` values come from (default: process.env). */
  env?: Record<string, string | undefined>;
}

/** Reads, parses and validates a config file. Never throws for a bad file. */
export async function loadConfigFile(path: string, options: LoadOptions = {}): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String((err as Error).message);
    return { ok: false, errors: [{ pointer: '', message: `cannot read config file "${path}": ${why}` }] };
  }
  return loadConfigText(text, path, options);
}

/** Parses and validates config text; `sourceName` is used in syntax error messages. */
export function loadConfigText(text: string, sourceName: string, options: LoadOptions = {}): LoadResult {
  const parsed = parseJson(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  if ('syntax' in parsed) {
    const { line, column } = lineColumn(text, parsed.syntax.pos);
    return {
      ok: false,
      errors: [{ pointer: '', message: `invalid JSON in ${sourceName} at line ${line}, column ${column}: ${parsed.syntax.message}` }],
    };
  }
  return validate(parsed.value, options, parsed.duplicates);
}

/** Validates an already parsed config object. The argument is never modified. */
export function validateConfig(input: unknown, options: LoadOptions = {}): LoadResult {
  return validate(input, options, []);
}

/** One `pointer: message` line per error ("(root)" for the whole document). */
export function formatErrors(errors: readonly ConfigError[]): string {
  return errors.map((e) => `${e.pointer === '' ? '(root)' : e.pointer}: ${e.message}`).join('\n');
}

export const REDACTED = '[redacted]';

/**
 * A deep copy of a loaded config with every secret replaced by "[redacted]": jwt secrets,
 * the admin token, consumers' apiKeys and passwordHash, credentials in URLs (cluster.redis,
 * ...), values of credential-like headers set by header plugins or matched by routes, and every
 * value that came from `env:NAME`. Env-derived values are known for configs returned by this
 * module (remembered per config object); pass `envPointers` for other copies.
 */
export function redactConfig(config: GatewayConfig, envPointers?: Iterable<string>): GatewayConfig {
  const copy = cloneJson(config) as Record<string, unknown>;
  const pointers = new Set<string>(envPointers ?? envPointersByConfig.get(config as object) ?? []);
  for (const p of pointers) setAt(copy, p, REDACTED);

  const admin = copy.admin;
  if (isObject(admin) && admin.token !== undefined) admin.token = REDACTED;
  const redactPlugins = (plugins: unknown): void => {
    if (!isObject(plugins)) return;
    const jwt = plugins.jwt;
    if (isObject(jwt) && jwt.secret !== undefined) jwt.secret = REDACTED;
    for (const name of ['requestHeaders', 'responseHeaders']) {
      const p = plugins[name];
      if (isObject(p)) redactHeaderMap(p.set);
    }
  };
  redactPlugins(copy.plugins);
  if (Array.isArray(copy.routes)) {
    for (const route of copy.routes) {
      if (!isObject(route)) continue;
      redactPlugins(route.plugins);
      redactHeaderMap(route.headers);
      if (isObject(route.respond)) redactHeaderMap(route.respond.headers);
    }
  }
  if (Array.isArray(copy.consumers)) {
    for (const consumer of copy.consumers) {
      if (!isObject(consumer)) continue;
      if (Array.isArray(consumer.apiKeys)) consumer.apiKeys = consumer.apiKeys.map(() => REDACTED);
      if (isObject(consumer.basicAuth) && consumer.basicAuth.passwordHash !== undefined) {
        consumer.basicAuth.passwordHash = REDACTED;
      }
    }
  }
  // Credentials inside any URL (cluster.redis above all).
  walk(copy, (value, set) => {
    if (typeof value === 'string' && value !== REDACTED) {
      const m = /^([a-z][a-z0-9+.-]*:\/\/)([^@/?#]*)@/i.exec(value);
      if (m) set(`${m[1]}${REDACTED}@${value.slice(m[0].length)}`);
    }
  });
  return copy as unknown as GatewayConfig;
}

/** JSON pointers of the values of `config` that came from `env:NAME` (configs loaded here). */
export function envPointersOf(config: GatewayConfig): string[] {
  return [...(envPointersByConfig.get(config as object) ?? [])];
}

/**
 * The plugins in force on a route: the global plugins, each replaced by the route's plugin of
 * the same name, minus the ones the route turns off with `false`.
 */
export function effectivePlugins(config: GatewayConfig, route: RouteConfig): PluginsConfig {
  const out: Record<string, unknown> = { ...config.plugins };
  for (const [name, value] of Object.entries(route.plugins ?? {})) {
    if (value === false) delete out[name];
    else if (value !== undefined) out[name] = value;
  }
  return out as PluginsConfig;
}

// ---------------------------------------------------------------------------------------------
// Pipeline
// ---------------------------------------------------------------------------------------------

const envPointersByConfig = new WeakMap<object, string[]>();

interface Ctx {
  errors: Array<ConfigError & { semantic?: boolean; suppressible?: boolean }>;
  warnings: ConfigError[];
  /** pointer -> NAME for values substituted from the environment. */
  env: Map<string, string>;
  /** NAME -> value, to scrub messages (safety net behind show()). */
  envValues: Map<string, string>;
}

function validate(input: unknown, options: LoadOptions, duplicates: ConfigError[]): LoadResult {
  const env = options.env ?? process.env;
  const ctx: Ctx = { errors: duplicates.map((d) => ({ ...d })), warnings: [], env: new Map(), envValues: new Map() };

  // 1. A deep copy, env substitution on it.
  const data = cloneJson(input);
  const substituted = substituteEnv(data, env, ctx);

  // 2. Schema validation (fills defaults).
  const validateFn = compiledValidator();
  const root = { value: substituted };
  validateFn(root.value);
  translateAjvErrors(validateFn.errors ?? [], ctx);

  // 3. Defaults Ajv leaves out (inside anyOf branches) and computed defaults.
  applyDefaults(schemaDocument(), root.value);

  // 4. Semantic checks and normalization.
  if (isObject(root.value)) semanticChecks(root.value, ctx, isObject(input) ? input : {});

  scrubEnvValues(ctx);
  const errors = finalizeErrors(ctx);
  if (errors.length > 0) return { ok: false, errors };
  const config = root.value as unknown as GatewayConfig;
  envPointersByConfig.set(config as object, [...ctx.env.keys()]);
  const warnings = sortErrors(ctx.warnings).map((w) => `${w.pointer === '' ? '(root)' : w.pointer}: ${w.message}`);
  return { ok: true, config, warnings };
}

/** Last line of defence: no message may contain a (non-trivial) value read from the environment. */
function scrubEnvValues(ctx: Ctx): void {
  const values = [...ctx.envValues].filter(([, v]) => v.length >= 6).sort((a, b) => b[1].length - a[1].length);
  if (values.length === 0) return;
  const scrub = (message: string): string =>
    values.reduce((m, [name, v]) => m.split(v).join(`[value of env:${name}]`), message);
  for (const e of ctx.errors) e.message = scrub(e.message);
  for (const w of ctx.warnings) w.message = scrub(w.message);
}

function finalizeErrors(ctx: Ctx): ConfigError[] {
  // A semantic error at a pointer is more specific than a schema pattern/enum error there.
  const semanticAt = new Set(ctx.errors.filter((e) => e.semantic).map((e) => e.pointer));
  const seen = new Set<string>();
  const out: ConfigError[] = [];
  for (const e of ctx.errors) {
    if (e.suppressible && semanticAt.has(e.pointer)) continue;
    const key = `${e.pointer}\u0000${e.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ pointer: e.pointer, message: e.message });
  }
  return sortErrors(out);
}

function sortErrors<T extends ConfigError>(errors: T[]): T[] {
  return errors
    .map((e, i) => ({ e, i }))
    .sort((a, b) => comparePointers(a.e.pointer, b.e.pointer) || a.i - b.i)
    .map((x) => x.e);
}

function comparePointers(a: string, b: string): number {
  if (a === b) return 0;
  const as = a === '' ? [] : a.slice(1).split('/');
  const bs = b === '' ? [] : b.slice(1).split('/');
  for (let i = 0; i < Math.min(as.length, bs.length); i++) {
    const x = as[i];
    const y = bs[i];
    if (x === y) continue;
    const nx = /^\d+$/.test(x) ? Number(x) : NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : NaN;
    if (!Number.isNaN(nx) && !Number.isNaN(ny)) return nx - ny;
    return x < y ? -1 : 1;
  }
  return as.length - bs.length;
}

// ---------------------------------------------------------------------------------------------
// JSON parsing with positions and duplicate-key detection
// ---------------------------------------------------------------------------------------------

type ParseOutcome = { value: unknown; duplicates: ConfigError[] } | { syntax: { pos: number; message: string } };

class SyntaxFailure {
  constructor(
    readonly pos: number,
    readonly message: string,
  ) {}
}

function parseJson(text: string): ParseOutcome {
  let pos = 0;
  const duplicates: ConfigError[] = [];
  const fail = (message: string, at = pos): never => {
    throw new SyntaxFailure(at, message);
  };
  const describe = (at: number): string => {
    if (at >= text.length) return 'end of file';
    const c = text[at];
    return c === '"' ? "'\"'" : `"${c}"`;
  };
  const skipWs = (): void => {
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else if (c === 0x2f && (text[pos + 1] === '/' || text[pos + 1] === '*')) fail('comments are not allowed in JSON');
      else return;
    }
  };
  const parseString = (): string => {
    const start = pos;
    pos++; // opening quote
    let out = '';
    let chunk = pos;
    for (;;) {
      if (pos >= text.length) fail('unterminated string', start);
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(chunk, pos);
        pos++;
        return out;
      }
      if (c < 0x20) fail('control character in string (escape it)');
      if (c === 0x5c) {
        out += text.slice(chunk, pos);
        const e = text[pos + 1];
        const map: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e !== undefined && e in map) {
          out += map[e];
          pos += 2;
        } else if (e === 'u') {
          const hex = text.slice(pos + 2, pos + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('invalid \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          pos += 6;
        } else {
          fail('invalid escape sequence');
        }
        chunk = pos;
        continue;
      }
      pos++;
    }
  };
  const parseValue = (pointer: string): unknown => {
    skipWs();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const obj: Record<string, unknown> = {};
      const keyPos = new Map<string, number>();
      skipWs();
      if (text[pos] === '}') {
        pos++;
        return obj;
      }
      for (;;) {
        skipWs();
        if (text[pos] === '}') fail('trailing comma before "}"');
        if (text[pos] !== '"') fail(`expected a string key, found ${describe(pos)}`);
        const at = pos;
        const key = parseString();
        skipWs();
        if (text[pos] !== ':') fail(`expected ":" after key "${key}", found ${describe(pos)}`);
        pos++;
        const value = parseValue(`${pointer}/${escapePointer(key)}`);
        if (keyPos.has(key)) {
          const { line, column } = lineColumn(text, at);
          duplicates.push({ pointer, message: `duplicate key "${key}" (line ${line}, column ${column}); each key may appear once` });
        }
        keyPos.set(key, at);
        defineProp(obj, key, value);
        skipWs();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === '}') {
          pos++;
          return obj;
        }
        fail(`expected "," or "}" after a property value, found ${describe(pos)}`);
      }
    }
    if (c === '[') {
      pos++;
      const arr: unknown[] = [];
      skipWs();
      if (text[pos] === ']') {
        pos++;
        return arr;
      }
      for (;;) {
        skipWs();
        if (text[pos] === ']') fail('trailing comma before "]"');
        arr.push(parseValue(`${pointer}/${arr.length}`));
        skipWs();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === ']') {
          pos++;
          return arr;
        }
        fail(`expected "," or "]" after an array item, found ${describe(pos)}`);
      }
    }
    if (c === '"') return parseString();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) {
      const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(pos, pos + 400));
      if (!m) fail('invalid number');
      pos += m![0].length;
      if (/^[0-9.eE+-]/.test(text[pos] ?? '')) fail('invalid number');
      return Number(m![0]);
    }
    for (const [word, value] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, pos)) {
        pos += word.length;
        return value;
      }
    }
    if (c === undefined) fail('unexpected end of file');
    if (c === "'") fail('strings must use double quotes');
    return fail(`unexpected ${describe(pos)}`);
  };
  try {
    const value = parseValue('');
    skipWs();
    if (pos < text.length) fail(`unexpected ${describe(pos)} after the end of the JSON document`);
    return { value, duplicates };
  } catch (err) {
    if (err instanceof SyntaxFailure) return { syntax: { pos: err.pos, message: err.message } };
    throw err;
  }
}

function lineColumn(text: string, pos: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: pos - lineStart + 1 };
}

// ---------------------------------------------------------------------------------------------
// Generic helpers
// ---------------------------------------------------------------------------------------------

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function defineProp(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Deep copy of plain JSON-like data (arrays, plain objects, primitives); never shares objects. */
function cloneJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(cloneJson);
  if (isObject(v)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(v)) {
      const value = v[key];
      if (value !== undefined) defineProp(out, key, cloneJson(value));
    }
    return out;
  }
  return v;
}

export function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

function unescapePointer(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

function setAt(root: unknown, pointer: string, value: unknown): void {
  if (pointer === '') return;
  const segs = pointer.slice(1).split('/').map(unescapePointer);
  let cur: unknown = root;
  for (let i = 0; i < segs.length - 1; i++) {
    if (Array.isArray(cur)) cur = cur[Number(segs[i])];
    else if (isObject(cur)) cur = Object.prototype.hasOwnProperty.call(cur, segs[i]) ? cur[segs[i]] : undefined;
    else return;
  }
  const last = segs[segs.length - 1];
  if (Array.isArray(cur) && /^\d+$/.test(last) && Number(last) < cur.length) cur[Number(last)] = value;
  else if (isObject(cur) && Object.prototype.hasOwnProperty.call(cur, last)) cur[last] = value;
}

function walk(root: unknown, visit: (value: unknown, set: (v: unknown) => void, pointer: string) => void): void {
  const go = (value: unknown, set: (v: unknown) => void, pointer: string): void => {
    visit(value, set, pointer);
    if (Array.isArray(value)) value.forEach((item, i) => go(item, (v) => (value[i] = v), `${pointer}/${i}`));
    else if (isObject(value)) {
      for (const key of Object.keys(value)) go(value[key], (v) => (value[key] = v), `${pointer}/${escapePointer(key)}`);
    }
  };
  go(root, () => {}, '');
}

const SENSITIVE_HEADER = /^(authorization|proxy-authorization|cookie|set-cookie)$|token|secret|api[-_]?key|password|credential|session/i;

function redactHeaderMap(map: unknown): void {
  if (!isObject(map)) return;
  for (const key of Object.keys(map)) if (SENSITIVE_HEADER.test(key)) map[key] = REDACTED;
}

function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/** The closest candidate, if it is close enough to be a likely typo. */
function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const lower = word.toLowerCase();
  for (const c of candidates) {
    const d = c.toLowerCase() === lower ? 0 : levenshtein(lower, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  if (best === undefined) return undefined;
  const limit = Math.max(1, Math.min(3, Math.floor(Math.max(word.length, best.length) / 3)));
  return bestDistance <= limit ? best : undefined;
}

function didYouMean(word: unknown, candidates: Iterable<string>): string {
  if (typeof word !== 'string') return '';
  const c = closest(word, candidates);
  return c !== undefined && c !== word ? `; did you mean "${c}"?` : '';
}

// ---------------------------------------------------------------------------------------------
// Showing values in messages without leaking secrets
// ---------------------------------------------------------------------------------------------

const SECRET_POINTER = [
  /^\/admin\/token$/,
  /^(\/routes\/\d+)?\/plugins\/jwt\/secret$/,
  /^\/consumers\/\d+\/apiKeys\/\d+$/,
  /^\/consumers\/\d+\/basicAuth\/passwordHash$/,
  /^\/cluster\/redis$/,
];

function isSecretPointer(pointer: string): boolean {
  return SECRET_POINTER.some((re) => re.test(pointer));
}

/** The value at `pointer` for a message: quoted and shortened, or hidden when secret. */
function show(ctx: Ctx, pointer: string, value: unknown): string {
  const envName = ctx.env.get(pointer);
  if (envName !== undefined) return `the value of env:${envName}`;
  if (typeof value === 'string' && isSecretPointer(pointer)) return 'a secret value (not shown)';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') {
    const s = JSON.stringify(value);
    return s.length > 80 ? `${s.slice(0, 76)}..."` : s;
  }
  return String(value);
}

// ---------------------------------------------------------------------------------------------
// env:NAME substitution
// ---------------------------------------------------------------------------------------------

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function substituteEnv(data: unknown, env: Record<string, string | undefined>, ctx: Ctx): unknown {
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
    set(coerceEnvValue(pointer, v));
  });
  return box.value;
}

/** "8080" from the environment becomes 8080 where the schema takes no string (ports, ...). */
function coerceEnvValue(pointer: string, value: string): unknown {
  const types = schemaTypesAt(pointer);
  if (types.size === 0 || types.has('string')) return value;
  if ((types.has('integer') || types.has('number')) && /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(value.trim())) {
    return Number(value.trim());
  }
  if (types.has('boolean') && (value.trim() === 'true' || value.trim() === 'false')) return value.trim() === 'true';
  return value;
}

type JsonSchema = Record<string, unknown>;

/** JSON types the schema accepts at a pointer (empty set: unknown location). */
function schemaTypesAt(pointer: string): Set<string> {
  const segs = pointer === '' ? [] : pointer.slice(1).split('/').map(unescapePointer);
  let current: JsonSchema[] = [schemaDocument()];
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

// ---------------------------------------------------------------------------------------------
// Schema validation with Ajv, and readable errors
// ---------------------------------------------------------------------------------------------

let documentCache: JsonSchema | undefined;
let validatorCache: ValidateFunction | undefined;

function schemaDocument(): JsonSchema {
  documentCache ??= gatewaySchemaDocument();
  return documentCache;
}

function compiledValidator(): ValidateFunction {
  if (validatorCache) return validatorCache;
  // strict: false because Ajv (rightly) notes that it ignores defaults inside anyOf branches;
  // applyDefaults() below fills those in.
  const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: false });
  // VS Code's readable pattern error; an annotation for Ajv (the loader reads it, see below).
  ajv.addKeyword({ keyword: 'patternErrorMessage', schemaType: 'string' });
  validatorCache = ajv.compile(schemaDocument());
  return validatorCache;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(schemaType: unknown, value: unknown): boolean {
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

function describeUnion(branches: JsonSchema[]): string {
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

function translateAjvErrors(raw: ErrorObject[], ctx: Ctx): void {
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

function translateOne(e: ErrorObject, ctx: Ctx): { pointer: string; message: string; suppressible: boolean } {
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

// ---------------------------------------------------------------------------------------------
// Defaults Ajv does not apply (inside anyOf: route plugins `X | false`, accessLog)
// ---------------------------------------------------------------------------------------------

function applyDefaults(schema: JsonSchema, value: unknown): void {
  if (Array.isArray(schema.anyOf)) {
    const branch = (schema.anyOf as JsonSchema[]).find((b) => typeMatches(b.type, value) && !('const' in b));
    if (branch) applyDefaults(branch, value);
    return;
  }
  if (isObject(value)) {
    const props = schema.properties as Record<string, JsonSchema> | undefined;
    if (props) {
      for (const [key, sub] of Object.entries(props)) {
        if (value[key] === undefined && 'default' in sub) defineProp(value, key, cloneJson(sub.default));
        if (value[key] !== undefined) applyDefaults(sub, value[key]);
      }
    }
    const patterns = schema.patternProperties as Record<string, JsonSchema> | undefined;
    if (patterns) {
      for (const [re, sub] of Object.entries(patterns)) {
        const regex = new RegExp(re);
        for (const key of Object.keys(value)) if (regex.test(key)) applyDefaults(sub, value[key]);
      }
    }
  } else if (Array.isArray(value) && isObject(schema.items)) {
    for (const item of value) applyDefaults(schema.items as JsonSchema, item);
  }
}

// ---------------------------------------------------------------------------------------------
// Semantic checks
// ---------------------------------------------------------------------------------------------

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const UPSTREAM_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const PARAM_NAME = /^[A-Za-z0-9_]+$/;
const HMAC_ALGS = new Set(['HS256', 'HS384', 'HS512']);

type Obj = Record<string, unknown>;

function semanticChecks(c: Obj, ctx: Ctx, original: Obj): void {
  const err = (pointer: string, message: string): void => {
    ctx.errors.push({ pointer, message, semantic: true });
  };
  const warn = (pointer: string, message: string): void => {
    ctx.warnings.push({ pointer, message });
  };
  const str = (v: unknown): v is string => typeof v === 'string';
  const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

  // --- upstreams -------------------------------------------------------------------------
  const upstreams = isObject(c.upstreams) ? c.upstreams : {};
  const upstreamNames = Object.keys(upstreams);
  const knownList = upstreamNames.length ? [...upstreamNames].sort().join(', ') : 'none defined';
  const usedUpstreams = new Set<string>();
  const checkUpstreamRef = (pointer: string, name: unknown): void => {
    if (!str(name)) return;
    usedUpstreams.add(name);
    if (upstreamNames.length === 0) return; // "/upstreams: must not be empty" says it all
    if (!Object.prototype.hasOwnProperty.call(upstreams, name)) {
      err(pointer, `unknown upstream ${show(ctx, pointer, name)} (known: ${knownList})${didYouMean(name, upstreamNames)}`);
    }
  };
  const originalUpstreams = isObject(original.upstreams) ? original.upstreams : {};
  for (const name of upstreamNames) {
    const p = `/upstreams/${escapePointer(name)}`;
    if (!UPSTREAM_NAME.test(name)) {
      err(p, `invalid upstream name ${JSON.stringify(name)}: use letters, digits, "_", "-" and "." (not starting with "-" or ".")`);
    }
    const up = upstreams[name];
    if (!isObject(up)) continue;
    const seenTargets = new Map<string, number>();
    arr(up.targets).forEach((t, i) => {
      if (!isObject(t) || !str(t.url) || !/^https?:\/\/[^/?#]+\/?$/.test(t.url)) return;
      const tp = `${p}/targets/${i}/url`;
      let url: URL | null = null;
      try {
        url = new URL(t.url);
      } catch {
        err(tp, `invalid URL ${show(ctx, tp, t.url)}`);
        return;
      }
      if (url.protocol === 'https:' && up.engine === 'native') {
        err(`${p}/engine`, `the native engine speaks http:// only, and ${p}/targets/${i} is https://: use "engine": "undici" for TLS upstreams (docs/upstream-engine.md)`);
      }
      if (url.username || url.password || t.url.includes('@')) err(tp, 'credentials in target URLs are not supported');
      else if (url.hostname === '') err(tp, 'the URL has no host');
      const key = url.origin;
      if (seenTargets.has(key)) warn(tp, `same target as ${p}/targets/${seenTargets.get(key)}`);
      seenTargets.set(key, i);
    });
    const orig = originalUpstreams[name];
    if (isObject(orig) && orig.hashOn !== undefined && up.balancer !== 'consistent-hash') {
      warn(`${p}/hashOn`, `ignored: hashOn only applies to the "consistent-hash" balancer (balancer is ${show(ctx, `${p}/balancer`, up.balancer)})`);
    }
    const active = isObject(up.healthCheck) ? up.healthCheck.active : undefined;
    if (isObject(active) && typeof active.timeoutMs === 'number' && typeof active.intervalMs === 'number' && active.timeoutMs > active.intervalMs) {
      warn(`${p}/healthCheck/active/timeoutMs`, 'is longer than intervalMs: probes will overlap');
    }
  }

  // --- top level -------------------------------------------------------------------------
  arr(c.trustedProxies).forEach((v, i) => checkCidr(`/trustedProxies/${i}`, v));
  if (isObject(c.admin) && str(c.admin.token) && c.admin.token.length < 16) {
    warn('/admin/token', 'is shorter than 16 characters; use a long random token');
  }
  const hasCluster = isObject(c.cluster);

  // --- consumers -------------------------------------------------------------------------
  const consumerIds = new Map<string, number>();
  const apiKeyOwner = new Map<string, string>();
  const usernames = new Map<string, string>();
  const subjects = new Map<string, string>();
  arr(c.consumers).forEach((consumer, i) => {
    if (!isObject(consumer)) return;
    const p = `/consumers/${i}`;
    if (str(consumer.id)) {
      const first = consumerIds.get(consumer.id);
      if (first !== undefined) err(`${p}/id`, `duplicate consumer id ${show(ctx, `${p}/id`, consumer.id)} (also /consumers/${first}/id)`);
      else consumerIds.set(consumer.id, i);
    }
    if (Array.isArray(consumer.apiKeys)) {
      consumer.apiKeys = consumer.apiKeys.map((k, j) => {
        if (!str(k) || !/^sha256:[0-9a-fA-F]{64}$/.test(k)) return k;
        const normalized = k.toLowerCase();
        const owner = apiKeyOwner.get(normalized);
        if (owner !== undefined) err(`${p}/apiKeys/${j}`, `the same API key is already listed at ${owner}`);
        else apiKeyOwner.set(normalized, `${p}/apiKeys/${j}`);
        return normalized;
      });
    }
    const basic = consumer.basicAuth;
    if (isObject(basic)) {
      if (str(basic.username)) {
        const owner = usernames.get(basic.username);
        if (owner !== undefined) err(`${p}/basicAuth/username`, `the same username is already used at ${owner}`);
        else usernames.set(basic.username, `${p}/basicAuth/username`);
      }
      if (str(basic.passwordHash)) {
        const m = /^scrypt:N=([0-9]+),r=([0-9]+),p=([0-9]+):([A-Za-z0-9_-]+):([A-Za-z0-9_-]+)$/.exec(basic.passwordHash);
        if (m) {
          const n = Number(m[1]);
          const hp = `${p}/basicAuth/passwordHash`;
          if (!(n > 1 && Number.isSafeInteger(n) && (n & (n - 1)) === 0)) err(hp, 'scrypt N must be a power of two greater than 1');
          else if (Number(m[2]) < 1 || Number(m[3]) < 1) err(hp, 'scrypt r and p must be at least 1');
        }
      }
    }
    if (str(consumer.jwtSubject)) {
      const owner = subjects.get(consumer.jwtSubject);
      if (owner !== undefined) err(`${p}/jwtSubject`, `the same jwtSubject is already used at ${owner}`);
      else subjects.set(consumer.jwtSubject, `${p}/jwtSubject`);
    }
  });

  // --- plugins ---------------------------------------------------------------------------
  const globalPlugins = isObject(c.plugins) ? c.plugins : {};
  const checkHeaderName = (pointer: string, name: unknown, what = 'header name'): void => {
    if (str(name) && !TOKEN.test(name)) err(pointer, `invalid ${what} ${show(ctx, pointer, name)}`);
  };
  function checkCidr(pointer: string, v: unknown): void {
    if (!str(v)) return;
    const problem = cidrProblem(v);
    if (problem === null) return;
    if (problem.startsWith('warning:')) warn(pointer, problem.slice(9));
    else err(pointer, `${problem}, got ${show(ctx, pointer, v)}`);
  }
  const checkPlugins = (plugins: Obj, p: string, isRoute: boolean): void => {
    for (const [name, value] of Object.entries(plugins)) {
      if (value === false && isRoute && globalPlugins[name] === undefined) {
        warn(`${p}/${name}`, `false has no effect: there is no global "${name}" plugin`);
      }
    }
    const acl = plugins.acl;
    if (isObject(acl) && acl.allowGroups === undefined && acl.denyGroups === undefined) {
      err(`${p}/acl`, 'set "allowGroups", "denyGroups" or both');
    }
    const jwt = plugins.jwt;
    if (isObject(jwt)) {
      const jp = `${p}/jwt`;
      const sources = (['secret', 'publicKeyFile', 'jwksUrl'] as const).filter((k) => jwt[k] !== undefined);
      if (sources.length === 0) err(jp, 'set exactly one of "secret", "publicKeyFile" or "jwksUrl"');
      else if (sources.length > 1) {
        err(jp, `${sources.map((s) => `"${s}"`).join(' and ')} are mutually exclusive: set exactly one of "secret", "publicKeyFile" or "jwksUrl"`);
      }
      arr(jwt.algorithms).forEach((alg, i) => {
        const ap = `${jp}/algorithms/${i}`;
        if (!str(alg)) return;
        if (alg.toLowerCase() === 'none') {
          err(ap, '"none" is never accepted: tokens must be signed');
          return;
        }
        if (sources.length !== 1) return;
        const hmac = HMAC_ALGS.has(alg);
        if (sources[0] === 'secret' && !hmac && /^(RS|PS|ES)(256|384|512)$|^EdDSA$/.test(alg)) {
          err(ap, `"${alg}" needs "publicKeyFile" or "jwksUrl"; with "secret" only HS256, HS384 and HS512 are allowed`);
        } else if (sources[0] !== 'secret' && hmac) {
          err(
            ap,
            `"${alg}" needs "secret": with "${sources[0]}" only RS*, PS*, ES* and EdDSA are allowed (HMAC with a public key would let anyone forge tokens)`,
          );
        }
      });
      if (isObject(jwt.forwardClaims)) {
        for (const [claim, header] of Object.entries(jwt.forwardClaims)) {
          checkHeaderName(`${jp}/forwardClaims/${escapePointer(claim)}`, header);
        }
      }
    }
    const apiKey = plugins.apiKey;
    if (isObject(apiKey)) checkHeaderName(`${p}/apiKey/header`, apiKey.header);
    const ipr = plugins.ipRestriction;
    if (isObject(ipr)) {
      arr(ipr.allow).forEach((v, i) => checkCidr(`${p}/ipRestriction/allow/${i}`, v));
      arr(ipr.deny).forEach((v, i) => checkCidr(`${p}/ipRestriction/deny/${i}`, v));
      if (ipr.allow === undefined && arr(ipr.deny).length === 0) warn(`${p}/ipRestriction`, 'restricts nothing: set allow and/or deny');
    }
    const rl = plugins.rateLimit;
    if (isObject(rl)) {
      if (rl.scope === 'cluster' && !hasCluster) {
        err(`${p}/rateLimit/scope`, 'scope "cluster" needs the top-level cluster.redis setting');
      }
      if (rl.burst === undefined && typeof rl.requestsPerSecond === 'number' && rl.requestsPerSecond > 0) {
        rl.burst = Math.max(1, Math.ceil(rl.requestsPerSecond));
      }
    }
    const cors = plugins.cors;
    if (isObject(cors)) {
      const cp = `${p}/cors`;
      arr(cors.origins).forEach((o, i) => {
        const op = `${cp}/origins/${i}`;
        if (!str(o)) return;
        if (o === '*') {
          if (cors.credentials === true) {
            err(op, 'origin "*" cannot be used with credentials: true; list the allowed origins');
          }
        } else if (!/^https?:\/\/(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(:\d{1,5})?$/.test(o)) {
          err(op, `expected "*", "https://host[:port]" or "https://*.domain", got ${show(ctx, op, o)}`);
        }
      });
      if (Array.isArray(cors.methods)) {
        cors.methods = cors.methods.map((m, i) => {
          if (!str(m)) return m;
          if (!TOKEN.test(m)) err(`${cp}/methods/${i}`, `invalid method ${show(ctx, `${cp}/methods/${i}`, m)}`);
          return m.toUpperCase();
        });
      }
      arr(cors.headers).forEach((h, i) => checkHeaderName(`${cp}/headers/${i}`, h));
      arr(cors.exposeHeaders).forEach((h, i) => checkHeaderName(`${cp}/exposeHeaders/${i}`, h));
    }
    for (const name of ['requestHeaders', 'responseHeaders']) {
      const hp = plugins[name];
      if (!isObject(hp)) continue;
      if (isObject(hp.set)) for (const key of Object.keys(hp.set)) checkHeaderName(`${p}/${name}/set/${escapePointer(key)}`, key);
      arr(hp.remove).forEach((h, i) => checkHeaderName(`${p}/${name}/remove/${i}`, h));
    }
    const rid = plugins.requestId;
    if (isObject(rid)) checkHeaderName(`${p}/requestId/header`, rid.header);
  };
  checkPlugins(globalPlugins, '/plugins', false);

  // --- routes ----------------------------------------------------------------------------
  interface PathInfo {
    route: number;
    index: number;
    path: string;
    shape: string;
    params: string[];
  }
  const routeIds = new Map<string, number>();
  const routes = arr(c.routes);
  const pathInfos: PathInfo[][] = [];
  routes.forEach((route, i) => {
    pathInfos[i] = [];
    if (!isObject(route)) return;
    const p = `/routes/${i}`;
    if (str(route.id)) {
      const first = routeIds.get(route.id);
      if (first !== undefined) err(`${p}/id`, `duplicate route id ${show(ctx, `${p}/id`, route.id)} (also /routes/${first}/id)`);
      else routeIds.set(route.id, i);
    }

    // Exactly one action.
    const actions = (['upstream', 'aggregate', 'respond'] as const).filter((k) => route[k] !== undefined);
    if (actions.length === 0) err(p, 'set exactly one of "upstream", "aggregate" or "respond"');
    else if (actions.length > 1) {
      err(p, `${actions.map((a) => `"${a}"`).join(' and ')} are mutually exclusive: set exactly one of "upstream", "aggregate" or "respond"`);
    }
    checkUpstreamRef(`${p}/upstream`, route.upstream);

    // Paths.
    arr(route.paths).forEach((path, j) => {
      if (!str(path)) return;
      const pp = `${p}/paths/${j}`;
      const parsed = parsePath(path);
      if ('error' in parsed) {
        const envName = ctx.env.get(pp);
        err(pp, envName === undefined ? `invalid path ${show(ctx, pp, path)}: ${parsed.error}` : `the value of env:${envName} is not a valid path`);
        return;
      }
      const dup = pathInfos[i].find((o) => o.shape === parsed.shape);
      if (dup) warn(pp, `same path shape as ${p}/paths/${dup.index}`);
      else pathInfos[i].push({ route: i, index: j, path, shape: parsed.shape, params: parsed.params });
    });
    const pathsValid = arr(route.paths).length > 0 && pathInfos[i].length > 0 && ctx.errors.every((e) => !e.pointer.startsWith(`${p}/paths/`));

    // Hosts: lower-case, syntax.
    if (Array.isArray(route.hosts)) {
      const seen = new Set<string>();
      route.hosts = route.hosts
        .map((h, j) => {
          if (!str(h)) return h;
          const hp = `${p}/hosts/${j}`;
          const lower = h.toLowerCase();
          const problem = hostProblem(lower);
          if (problem) err(hp, `${problem}, got ${show(ctx, hp, h)}`);
          return lower;
        })
        .filter((h) => !(str(h) && seen.has(h)) && (str(h) ? (seen.add(h), true) : true));
    }

    // Methods: upper-case, tokens.
    if (Array.isArray(route.methods)) {
      const seen = new Set<string>();
      route.methods = route.methods
        .map((m, j) => {
          if (!str(m)) return m;
          const mp = `${p}/methods/${j}`;
          if (!TOKEN.test(m)) err(mp, `invalid HTTP method ${show(ctx, mp, m)}`);
          return m.toUpperCase();
        })
        .filter((m) => !(str(m) && seen.has(m)) && (str(m) ? (seen.add(m), true) : true));
    }

    // Header matches: names lower-cased, valid, no duplicates after lower-casing.
    if (isObject(route.headers)) {
      const out: Obj = {};
      for (const [name, value] of Object.entries(route.headers)) {
        const hp = `${p}/headers/${escapePointer(name)}`;
        if (!TOKEN.test(name)) err(hp, `invalid header name ${JSON.stringify(name)}`);
        const lower = name.toLowerCase();
        if (Object.prototype.hasOwnProperty.call(out, lower)) {
          err(hp, `header "${lower}" is matched twice (header names are case-insensitive)`);
          continue;
        }
        defineProp(out, lower, value);
        if (lower !== name) renameEnvPointers(ctx, hp, `${p}/headers/${escapePointer(lower)}`);
      }
      route.headers = out;
    }

    // Forwarding options.
    const paramsOfAll = (): Set<string> | null => {
      if (!pathsValid) return null;
      const sets = pathInfos[i].map((info) => new Set(info.params));
      return new Set([...sets[0]].filter((n) => sets.every((s) => s.has(n))));
    };
    const checkPlaceholders = (pointer: string, template: string): void => {
      const envName = ctx.env.get(pointer);
      const problem = templateProblem(template);
      if (envName !== undefined) {
        // Names of placeholders are part of the value: say what is wrong without quoting it.
        const common = paramsOfAll();
        const names = [...template.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1]);
        if (problem || (common !== null && names.some((n) => !common.has(n)))) {
          err(pointer, `the value of env:${envName} has a placeholder that is not a parameter of every path of the route`);
        }
        return;
      }
      if (problem) {
        err(pointer, problem);
        return;
      }
      const common = paramsOfAll();
      if (common === null) return;
      for (const m of template.matchAll(/\{([^{}]*)\}/g)) {
        const name = m[1];
        if (common.has(name)) continue;
        const missing = pathInfos[i]
          .filter((info) => !info.params.includes(name))
          .map((info) => show(ctx, `${p}/paths/${info.index}`, info.path));
        err(
          pointer,
          `"{${name}}" is not a parameter of every path of the route (missing in ${missing.join(', ')})${didYouMean(name, common)}`,
        );
      }
    };
    if (str(route.stripPrefix)) {
      const sp = `${p}/stripPrefix`;
      if (!route.stripPrefix.startsWith('/')) err(sp, `must start with "/", got ${show(ctx, sp, route.stripPrefix)}`);
      else if (pathsValid) {
        const prefix = route.stripPrefix.replace(/\/$/, '');
        for (const info of pathInfos[i]) {
          if (prefix !== '' && info.path !== prefix && !info.path.startsWith(`${prefix}/`)) {
            warn(sp, `is not a prefix of path ${show(ctx, `${p}/paths/${info.index}`, info.path)} (nothing is stripped there)`);
          }
        }
      }
      if (route.rewrite !== undefined) warn(sp, 'has no effect: rewrite replaces the whole path');
    }
    if (str(route.rewrite)) {
      const rp = `${p}/rewrite`;
      if (!route.rewrite.startsWith('/')) err(rp, `must start with "/", got ${show(ctx, rp, route.rewrite)}`);
      else checkPlaceholders(rp, route.rewrite);
    }
    if (route.upstream === undefined && route.respond !== undefined && route.aggregate === undefined) {
      const orig = arr(original.routes)[i];
      for (const key of ['stripPrefix', 'rewrite', 'preserveHost'] as const) {
        if (isObject(orig) && orig[key] !== undefined) warn(`${p}/${key}`, 'has no effect on a "respond" route');
      }
    }

    // Split and mirror.
    if (Array.isArray(route.split)) {
      if (route.upstream === undefined) err(`${p}/split`, 'needs "upstream" on the route (the rest of the traffic goes there)');
      let sum = 0;
      route.split.forEach((s, j) => {
        if (!isObject(s)) return;
        checkUpstreamRef(`${p}/split/${j}/upstream`, s.upstream);
        // Out-of-range weights have their own error; the sum only counts valid ones.
        if (typeof s.weight === 'number' && Number.isInteger(s.weight) && s.weight >= 1 && s.weight <= 100) sum += s.weight;
        if (str(s.upstream) && s.upstream === route.upstream) warn(`${p}/split/${j}/upstream`, 'is the route\'s own upstream');
      });
      if (sum > 100) err(`${p}/split`, `weights add up to ${sum}; at most 100 (the rest goes to "upstream")`);
    }
    if (isObject(route.mirror)) {
      if (route.upstream === undefined) err(`${p}/mirror`, 'needs "upstream" on the route');
      checkUpstreamRef(`${p}/mirror/upstream`, route.mirror.upstream);
    }

    // Aggregation.
    if (isObject(route.aggregate)) {
      const ap = `${p}/aggregate`;
      const names = new Map<string, number>();
      arr(route.aggregate.backends).forEach((b, j) => {
        if (!isObject(b)) return;
        const bp = `${ap}/backends/${j}`;
        checkUpstreamRef(`${bp}/upstream`, b.upstream);
        if (str(b.path) && b.path.startsWith('/')) checkPlaceholders(`${bp}/path`, b.path);
        if (str(b.as)) {
          const first = names.get(b.as);
          if (first !== undefined) err(`${bp}/as`, `duplicate name ${show(ctx, `${bp}/as`, b.as)} (also ${ap}/backends/${first}/as)`);
          else names.set(b.as, j);
        }
      });
      if (route.aggregate.timeoutMs === undefined && typeof route.timeoutMs === 'number') {
        route.aggregate.timeoutMs = route.timeoutMs;
      }
    }

    if (isObject(route.respond) && isObject(route.respond.headers)) {
      for (const key of Object.keys(route.respond.headers)) {
        checkHeaderName(`${p}/respond/headers/${escapePointer(key)}`, key);
      }
    }

    // Plugins.
    if (isObject(route.plugins)) {
      checkPlugins(route.plugins, `${p}/plugins`, true);
      const effective = { ...globalPlugins } as Obj;
      for (const [k, v] of Object.entries(route.plugins)) {
        if (v === false) delete effective[k];
        else effective[k] = v;
      }
      if (effective.acl !== undefined && !['jwt', 'apiKey', 'basicAuth'].some((k) => effective[k] !== undefined)) {
        warn(`${p}/plugins`, 'acl is in force but no authentication plugin (jwt, apiKey, basicAuth) is: every request gets 401/403');
      }
    }
  });

  // Conflicting routes: some request both match that no precedence rule separates (same path
  // shape, see routesOverlap). Grouped by shape so large tables stay cheap.
  const byShape = new Map<string, PathInfo[]>();
  for (const infos of pathInfos) for (const info of infos ?? []) byShape.set(info.shape, [...(byShape.get(info.shape) ?? []), info]);
  const reported = new Set<string>();
  for (const group of byShape.values()) {
    for (let a = 0; a < group.length; a++) {
      for (let b = a + 1; b < group.length; b++) {
        const x = group[a];
        const y = group[b];
        if (x.route === y.route) continue;
        const rx = routes[x.route] as Obj;
        const ry = routes[y.route] as Obj;
        if (!routesOverlap(rx, ry)) continue;
        const key = `${x.route}/${y.route}`;
        if (reported.has(key)) continue;
        reported.add(key);
        const pointer = `/routes/${y.route}/paths/${y.index}`;
        const scope = describeOverlap(rx, ry, (r, key, j, v) => show(ctx, `/routes/${r === rx ? x.route : y.route}/${key}/${j}`, v));
        err(
          pointer,
          `route ${show(ctx, `/routes/${y.route}/id`, ry.id)} conflicts with route ${show(ctx, `/routes/${x.route}/id`, rx.id)} ` +
            `(/routes/${x.route}/paths/${x.index}): ${show(ctx, pointer, y.path)} and ` +
            `${show(ctx, `/routes/${x.route}/paths/${x.index}`, x.path)} match the same requests (${scope}); ` +
            'make hosts, methods, paths or headers differ, or set different priorities',
        );
      }
    }
  }

  for (const name of upstreamNames) {
    if (!usedUpstreams.has(name)) warn(`/upstreams/${escapePointer(name)}`, 'is not used by any route');
  }
}

function renameEnvPointers(ctx: Ctx, from: string, to: string): void {
  for (const [pointer, name] of [...ctx.env]) {
    if (pointer === from || pointer.startsWith(`${from}/`)) {
      ctx.env.delete(pointer);
      ctx.env.set(to + pointer.slice(from.length), name);
    }
  }
}

/**
 * Two routes with a path of the same shape conflict when some request matches both and no rule
 * of "Which route wins" separates them (docs/configuration.md):
 *   - hosts: both without `hosts`, or both lists share a host (exact or wildcard: a request for
 *     it consults one host tree holding both). A route without `hosts` next to one with hosts
 *     is the default for the other hosts, and different hosts are different host trees.
 *   - methods: both without `methods`, or both lists share a method (a route without
 *     `methods` next to one with methods is the fallback for the other methods).
 *   - headers: as many matches on both, and none that cannot hold together (the same name
 *     with different values; names case-insensitive, values compared lower-cased as the
 *     worker does), so a request can satisfy both.
 *   - the same priority.
 */
function routesOverlap(a: Obj, b: Obj): boolean {
  if ((a.priority ?? 0) !== (b.priority ?? 0)) return false;
  const sameClass = (x: unknown, y: unknown): boolean =>
    Array.isArray(x) && Array.isArray(y) ? x.some((v) => y.includes(v)) : !Array.isArray(x) && !Array.isArray(y);
  if (!sameClass(a.hosts, b.hosts) || !sameClass(a.methods, b.methods)) return false;
  const ha = headerMatches(a.headers);
  const hb = headerMatches(b.headers);
  if (ha.size !== hb.size) return false;
  for (const [name, value] of ha) {
    const other = hb.get(name);
    if (other !== undefined && other !== value) return false;
  }
  return true;
}

/** A route's header matches as the worker checks them: lower-case name -> lower-cased value. */
function headerMatches(h: unknown): Map<string, string> {
  return new Map(Object.entries(isObject(h) ? h : {}).map(([k, v]) => [k.toLowerCase(), String(v).toLowerCase()]));
}

function describeOverlap(a: Obj, b: Obj, shown: (route: Obj, key: string, index: number, value: unknown) => string): string {
  const common = (key: 'hosts' | 'methods'): string => {
    const x = a[key];
    const y = b[key];
    if (!Array.isArray(x) && !Array.isArray(y)) return 'any';
    const [owner, list, other] = Array.isArray(x) ? [a, x, y] : [b, y as unknown[], x];
    return list
      .map((v, j) => ({ v, j }))
      .filter(({ v }) => !Array.isArray(other) || other.includes(v))
      .map(({ v, j }) => (key === 'hosts' ? shown(owner, key, j, v) : String(v)))
      .join(', ');
  };
  const ha = headerMatches(a.headers);
  const hb = headerMatches(b.headers);
  const headers =
    ha.size === 0
      ? 'no header matches'
      : [...ha].every(([k, v]) => hb.get(k) === v)
        ? 'same header matches'
        : `${ha.size} header matches each, which can all hold at once`;
  return `hosts: ${common('hosts')}; methods: ${common('methods')}; ${headers}`;
}

/** Parses a route path pattern: its shape (params as ":" / "*") and param names, or an error. */
export function parsePath(path: string): { shape: string; params: string[] } | { error: string } {
  if (!path.startsWith('/')) return { error: 'must start with "/"' };
  if (/[?#]/.test(path)) return { error: '"?" and "#" are not allowed (the query string is not matched)' };
  if (/[\s\u0000-\u001f\u007f]/.test(path)) return { error: 'whitespace and control characters are not allowed' };
  if (path.includes('%')) return { error: 'write paths decoded, without "%" escapes (matching is on the decoded path)' };
  const segments = path.slice(1).split('/');
  const params: string[] = [];
  const shape: string[] = [];
  for (let k = 0; k < segments.length; k++) {
    const seg = segments[k];
    const last = k === segments.length - 1;
    if (seg === '') {
      if (last) {
        shape.push('');
        continue;
      }
      return { error: 'empty segment ("//")' };
    }
    if (seg === '.' || seg === '..') return { error: `"${seg}" segment` };
    if (seg.startsWith(':')) {
      const name = seg.slice(1);
      if (name === '') return { error: '":" without a parameter name' };
      if (!PARAM_NAME.test(name)) return { error: `invalid parameter name "${name}" (use letters, digits and "_")` };
      if (params.includes(name)) return { error: `duplicate parameter ":${name}"` };
      params.push(name);
      shape.push(':');
      continue;
    }
    if (seg.includes('*')) {
      if (seg !== '*') return { error: '"*" must be a whole segment' };
      if (!last) return { error: '"*" is only allowed as the last segment' };
      params.push('*');
      shape.push('*');
      continue;
    }
    shape.push(seg);
  }
  return { shape: `/${shape.join('/')}`, params };
}

/** Problem with a {param} template (rewrite, aggregate backend path), or null. */
function templateProblem(template: string): string | null {
  let depth = 0;
  for (const ch of template) {
    if (ch === '{') {
      if (depth > 0) return 'nested "{" in template';
      depth++;
    } else if (ch === '}') {
      if (depth === 0) return 'unmatched "}" in template';
      depth--;
    }
  }
  if (depth !== 0) return 'unclosed "{" in template';
  for (const m of template.matchAll(/\{([^{}]*)\}/g)) {
    if (m[1] === '') return 'empty "{}" placeholder';
    if (m[1] !== '*' && !PARAM_NAME.test(m[1])) return `invalid placeholder "{${m[1]}}"`;
  }
  return null;
}

const LABEL = '[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?';
const HOSTNAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);

/** Problem with a (lower-cased) route host, or null. */
function hostProblem(host: string): string | null {
  if (host === '') return 'must not be empty';
  if (host.includes('://') || host.includes('/')) return 'expected a host name without scheme or path';
  if (host.startsWith('[') && host.endsWith(']')) return isIPv6(host.slice(1, -1)) ? null : 'invalid IPv6 literal';
  if (host.includes(':')) return 'expected a host name without ":port" (the port is ignored when matching)';
  if (host.includes('*')) {
    if (!host.startsWith('*.') || host.slice(2).includes('*')) return '"*." is only allowed as a prefix ("*.example.com")';
    return HOSTNAME.test(host.slice(2)) ? null : 'invalid host name after "*."';
  }
  if (host.endsWith('.')) return 'expected a host name without a trailing "."';
  return HOSTNAME.test(host) ? null : 'invalid host name';
}

/** Problem with a CIDR / address, null when fine; "warning: ..." when only suspicious. */
function cidrProblem(text: string): string | null {
  const expected = 'expected an IPv4/IPv6 address or CIDR ("10.0.0.0/8", "fd00::/8")';
  const slash = text.indexOf('/');
  const addr = slash === -1 ? text : text.slice(0, slash);
  const v4 = isIPv4(addr);
  if (addr.includes('%') || (!v4 && !isIPv6(addr))) return expected;
  if (slash === -1) return null;
  const prefixText = text.slice(slash + 1);
  const max = v4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) return `${expected}; the prefix length must be 0..${max}`;
  const bytes = addressBytes(addr, v4);
  const prefix = Number(prefixText);
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    if (bytes[bit >> 3] & (0x80 >> (bit & 7))) return `warning: "${text}" has host bits set; it means the whole /${prefix} network`;
  }
  return null;
}

function addressBytes(addr: string, v4: boolean): number[] {
  if (v4) return addr.split('.').map(Number);
  let text = addr;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const b = tail.split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const r = rest ? rest.split(':') : [];
  const groups = [...h, ...Array(rest === undefined ? 0 : 8 - h.length - r.length).fill('0'), ...r].map((g) => parseInt(g, 16));
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

