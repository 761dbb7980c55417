/**
 * How the config layer reports: every problem as `{ pointer, message }`, collected in one pass
 * (a Collector), sorted by pointer, deduplicated, with values shown in messages only when they
 * are not secret (schema annotations, src/util/schema-kit.ts) and not from the environment.
 */
import type { Reporter } from '../plugins/api.js';
import { isSecretPointer } from './redact.js';

export interface ConfigError {
  /** JSON pointer of the offending value ("" = the whole document). */
  pointer: string;
  message: string;
}

/** One `pointer: message` line per error ("(root)" for the whole document). */
export function formatErrors(errors: readonly ConfigError[]): string {
  return errors.map((e) => `${e.pointer === '' ? '(root)' : e.pointer}: ${e.message}`).join('\n');
}

/** Everything one load collects. */
export interface Collector {
  errors: Array<ConfigError & { semantic?: boolean; suppressible?: boolean }>;
  warnings: ConfigError[];
  /** pointer -> NAME for values substituted from the environment. */
  env: Map<string, string>;
  /** NAME -> value, to scrub messages (safety net behind show()). */
  envValues: Map<string, string>;
}

export function newCollector(duplicates: readonly ConfigError[]): Collector {
  return { errors: duplicates.map((d) => ({ ...d })), warnings: [], env: new Map(), envValues: new Map() };
}

/** A semantic error at a pointer (it wins over a schema pattern/enum error there). */
export function semanticError(ctx: Collector, pointer: string, message: string): void {
  ctx.errors.push({ pointer, message, semantic: true });
}

export function warning(ctx: Collector, pointer: string, message: string): void {
  ctx.warnings.push({ pointer, message });
}

/** The value at `pointer` for a message: quoted and shortened, or hidden when secret. */
export function show(ctx: Collector, pointer: string, value: unknown): string {
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

/** A plugin's Reporter: pointers relative to `base` (the plugin's config). */
export function reporterAt(ctx: Collector, base: string): Reporter {
  return {
    error: (rel, message) => semanticError(ctx, base + rel, message),
    warn: (rel, message) => warning(ctx, base + rel, message),
    show: (rel, value) => show(ctx, base + rel, value),
    didYouMean,
  };
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

export function didYouMean(word: unknown, candidates: Iterable<string>): string {
  if (typeof word !== 'string') return '';
  const c = closest(word, candidates);
  return c !== undefined && c !== word ? `; did you mean "${c}"?` : '';
}

export function finalizeErrors(ctx: Collector): ConfigError[] {
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

export function sortErrors<T extends ConfigError>(errors: T[]): T[] {
  return errors
    .map((e, i) => ({ e, i }))
    .sort((a, b) => comparePointers(a.e.pointer, b.e.pointer) || a.i - b.i)
    .map((x) => x.e);
}

export function comparePointers(a: string, b: string): number {
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
