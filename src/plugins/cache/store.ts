/**
 * The response store of the `cache` plugin: one per worker per cache config (the global
 * `plugins.cache` is one store shared by the routes that inherit it; a route's own `cache` is a
 * store of its own), bounded by that config's maxBytes, least recently used out first.
 *
 * Per worker, not shared across the machine's workers: a hit is then one Map lookup and one
 * write from the worker's own heap, no lock, no copy out of shared memory, no IPC. The price:
 * each worker fills a key once per TTL (up to `workers` upstream calls per key per TTL), and the
 * machine holds up to workers x maxBytes (docs/plugins/cache.md).
 *
 * Keys: the primary key (route, host, path, query, consumer, Authorization present), then the
 * variant of the Vary headers the stored answer named. Concurrent misses of one primary key
 * coalesce: the first is the fill, the others wait for its outcome (Fill).
 */
import type { LocalReply } from '../api.js';
import { variantOf } from './rules.js';

export interface CachedAnswer {
  readonly status: number;
  /** As relayed, without Age (computed per hit), flat, lower-case names. */
  readonly headers: readonly string[];
  readonly body: Buffer;
  /** Date.now() when stored, minus the upstream's Age. */
  readonly bornAt: number;
  readonly expiresAt: number;
  readonly etag: string | undefined;
  readonly size: number;
}

/** How a fill ended, as its waiters learn it. */
export type FillOutcome =
  | { readonly kind: 'stored' }
  /** An error answer (5xx or a gateway error): not stored, every waiter gets it. */
  | { readonly kind: 'error'; readonly reply: LocalReply }
  /** Not storable (private, Set-Cookie...), or the fill was abandoned: each waiter asks the upstream itself. */
  | { readonly kind: 'uncacheable' };

export class Fill {
  /** Date.now() when the fill began (a fill older than the store's FILL_MAX_MS is not waited for). */
  readonly startedAt = Date.now();
  private waiters: Array<(o: FillOutcome) => void> | null = null;

  wait(): Promise<FillOutcome> {
    return new Promise((resolve) => (this.waiters ??= []).push(resolve));
  }

  get waiting(): number {
    return this.waiters === null ? 0 : this.waiters.length;
  }

  settle(o: FillOutcome): void {
    const w = this.waiters;
    this.waiters = null;
    if (w !== null) for (const resolve of w) resolve(o);
  }
}

/**
 * A fill older than this is not waited for (new misses go to the upstream on their own): a
 * guard, since every fill settles when its request finishes.
 */
export const FILL_MAX_MS = 60_000;

/** Bytes counted per entry besides its body and header text (Map slot, object, key). */
const ENTRY_OVERHEAD = 256;

interface VaryRecord {
  names: readonly string[];
  /** Stored variants under this primary key. */
  live: number;
}

export class CacheStore {
  /** Full key -> answer; Map order is recency (oldest first). */
  private readonly entries = new Map<string, CachedAnswer>();
  /** Full key -> its primary key (to keep VaryRecord counts). */
  private readonly primaryOf = new Map<string, string>();
  private readonly vary = new Map<string, VaryRecord>();
  readonly fills = new Map<string, Fill>();
  bytes = 0;

  constructor(public maxBytes: number) {}

  /** Answers larger than this are not stored (one answer must not flush the store). */
  get maxEntryBytes(): number {
    return Math.floor(this.maxBytes / 4);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The fresh answer for this request, or null (an expired one is dropped). */
  lookup(primary: string, header: (name: string) => string | undefined, now: number): CachedAnswer | null {
    const v = this.vary.get(primary);
    const key = v === undefined || v.names.length === 0 ? primary : primary + variantOf(v.names, header);
    const e = this.entries.get(key);
    if (e === undefined) return null;
    if (now >= e.expiresAt) {
      this.remove(key, e);
      return null;
    }
    // Most recently used goes last.
    this.entries.delete(key);
    this.entries.set(key, e);
    return e;
  }

  store(primary: string, names: readonly string[], header: (name: string) => string | undefined, answer: CachedAnswer): boolean {
    if (answer.size > this.maxEntryBytes) return false;
    const prev = this.vary.get(primary);
    if (prev !== undefined && !sameNames(prev.names, names)) {
      // The upstream changed what it varies on: the old variants are unreachable, drop them.
      this.dropPrimary(primary);
    }
    let rec = this.vary.get(primary);
    if (rec === undefined) {
      rec = { names, live: 0 };
      this.vary.set(primary, rec);
    }
    const key = names.length === 0 ? primary : primary + variantOf(names, header);
    const old = this.entries.get(key);
    if (old !== undefined) this.remove(key, old);
    this.entries.set(key, answer);
    this.primaryOf.set(key, primary);
    rec.live++;
    this.bytes += answer.size + key.length;
    this.evict();
    return true;
  }

  /** Least recently used out until the store fits. */
  evict(): void {
    if (this.bytes <= this.maxBytes) return;
    for (const [key, e] of this.entries) {
      this.remove(key, e);
      if (this.bytes <= this.maxBytes) return;
    }
  }

  clear(): void {
    this.entries.clear();
    this.primaryOf.clear();
    this.vary.clear();
    this.bytes = 0;
    for (const f of this.fills.values()) f.settle({ kind: 'uncacheable' });
    this.fills.clear();
  }

  private remove(key: string, e: CachedAnswer): void {
    this.entries.delete(key);
    this.bytes -= e.size + key.length;
    const primary = this.primaryOf.get(key)!;
    this.primaryOf.delete(key);
    const rec = this.vary.get(primary);
    if (rec !== undefined && --rec.live <= 0) this.vary.delete(primary);
  }

  private dropPrimary(primary: string): void {
    for (const [key, p] of this.primaryOf) {
      if (p === primary) this.remove(key, this.entries.get(key)!);
    }
    this.vary.delete(primary);
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

/** The size an answer is counted with. */
export function answerSize(headers: readonly string[], body: Buffer): number {
  let n = ENTRY_OVERHEAD + body.length;
  for (const h of headers) n += h.length;
  return n;
}

/** The stores of one worker, by cache config scope; a store lives while some config version uses it. */
export class CacheStores {
  private readonly stores = new Map<string, { store: CacheStore; refs: number }>();

  /** The store of a scope, made or resized (a reload may change maxBytes). */
  claim(scope: string, maxBytes: number): CacheStore {
    let s = this.stores.get(scope);
    if (s === undefined) {
      s = { store: new CacheStore(maxBytes), refs: 0 };
      this.stores.set(scope, s);
    } else if (s.store.maxBytes !== maxBytes) {
      s.store.maxBytes = maxBytes;
      s.store.evict();
    }
    s.refs++;
    return s.store;
  }

  release(scope: string): void {
    const s = this.stores.get(scope);
    if (s === undefined || --s.refs > 0) return;
    s.store.clear();
    this.stores.delete(scope);
  }

  get count(): number {
    return this.stores.size;
  }
}
