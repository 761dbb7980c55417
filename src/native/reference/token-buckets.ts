/**
 * Pure-TS oracle of the native token-bucket table (native/token_bucket.{h,cc}): the same hash,
 * the same 16-slot windows, the same insert / reclaim / evict decisions and the same bucket
 * math, in BigInt so every answer is bit-for-bit the native one. Single process: it is the
 * reference for the differential tests and the microbenchmark, never the product (the product
 * must share its table across workers, which only the shared-memory version does).
 *
 * Every number below mirrors a constant in native/token_bucket.h; keep them in sync.
 */
import { randomBytes } from 'node:crypto';

const M64 = (1n << 64n) - 1n;
const K1 = 0x9e3779b97f4a7c15n;
const IDENTITY_SEED = 0x243f6a8885a308d3n;
export const TICKS_PER_NS = 16n;
const MAX_TICKS = 1n << 62n;
const WINDOW = 16n;
const PENDING = 1n << 63n;
const PENDING_EXPIRY_TICKS = 100n * 1000n * 1000n * TICKS_PER_NS;
export const MIN_CAPACITY = 16;
export const MAX_CAPACITY = 2 ** 28;

export const EVENT_FOUND = 0;
export const EVENT_INSERTED = 1;
export const EVENT_RECLAIMED = 2;
export const EVENT_EVICTED = 3;

export function mix64(h: bigint): bigint {
  h ^= h >> 33n;
  h = (h * 0xff51afd7ed558ccdn) & M64;
  h ^= h >> 33n;
  h = (h * 0xc4ceb9fe1a85ec53n) & M64;
  h ^= h >> 33n;
  return h;
}

function rotl27(x: bigint): bigint {
  return ((x << 27n) | (x >> 37n)) & M64;
}

/** The native HashBytes: 8-byte little-endian chunks, the last one zero-padded. */
export function hashBytes(seed: bigint, bytes: Uint8Array): bigint {
  const n = bytes.length;
  let h = seed ^ ((BigInt(n) * K1) & M64);
  let i = 0;
  const step = (c: bigint) => {
    h = (rotl27(h ^ mix64(c)) * K1 + 0x52dce729n) & M64;
  };
  for (; i + 8 <= n; i += 8) {
    let c = 0n;
    for (let b = 7; b >= 0; b--) c = (c << 8n) | BigInt(bytes[i + b]);
    step(c);
  }
  if (i < n) {
    let c = 0n;
    for (let b = n - 1; b >= i; b--) c = (c << 8n) | BigInt(bytes[b]);
    step(c);
  }
  return mix64(h);
}

/** T (ticks per token) and tau (burst * T), both capped at 2^62; null when out of range. */
export function policyTicks(rps: number, burst: number): { interval: bigint; tau: bigint } | null {
  if (!(rps > 0) || !Number.isFinite(rps) || !(burst >= 1) || !Number.isSafeInteger(burst)) return null;
  let t = Math.ceil(16e9 / rps);
  if (!(t < 2 ** 62)) t = 2 ** 62;
  let interval = BigInt(t);
  if (interval === 0n) interval = 1n;
  let tau = interval * BigInt(burst);
  if (tau > MAX_TICKS) tau = MAX_TICKS;
  return { interval, tau };
}

interface Policy {
  seed: bigint;
  interval: bigint;
  tau: bigint;
}

export interface TokenBucketStats {
  capacity: number;
  bytes: number;
  live: number;
  pending: number;
  inserts: number;
  reclaims: number;
  evictions: number;
  creatorPid: number;
}

export class ReferenceTokenBuckets {
  readonly name = '(reference)';
  readonly secret: string;
  readonly capacity: number;
  readonly #secret: bigint;
  readonly #mask: bigint;
  /** [key0, state0, key1, state1, ...] */
  readonly #slots: BigUint64Array;
  readonly #policies: Policy[] = [];
  readonly #policyIds = new Map<string, number>();
  readonly #encoder = new TextEncoder();
  #inserts = 0;
  #reclaims = 0;
  #evictions = 0;
  #event = EVENT_FOUND;

  /** `secretHex`: 16 hex digits (a native table's `secret`, to mirror it); random when absent. */
  constructor(capacity: number, secretHex?: string) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
      throw new TypeError('capacity must be an integer from 1 to 268435456');
    }
    let cap = MIN_CAPACITY;
    while (cap < capacity) cap *= 2;
    this.capacity = cap;
    this.#mask = BigInt(cap - 1);
    this.#slots = new BigUint64Array(cap * 2);
    this.secret = secretHex ?? randomBytes(8).toString('hex');
    if (!/^[0-9a-f]{16}$/.test(this.secret)) throw new TypeError('secret must be 16 lower-case hex digits');
    this.#secret = BigInt('0x' + this.secret);
  }

  policy(identity: string, rps: number, burst: number): number {
    const ticks = policyTicks(rps, burst);
    if (ticks === null) throw new TypeError('requestsPerSecond must be a finite number > 0 and burst an integer >= 1');
    const known = this.#policyIds.get(identity);
    if (known !== undefined) {
      const p = this.#policies[known];
      if (p.interval !== ticks.interval || p.tau !== ticks.tau) throw new TypeError('policy identity reused with another rate or burst');
      return known;
    }
    const seed = mix64(this.#secret ^ hashBytes(IDENTITY_SEED, this.#encoder.encode(identity)));
    this.#policies.push({ seed, ...ticks });
    this.#policyIds.set(identity, this.#policies.length - 1);
    return this.#policies.length - 1;
  }

  take(policyId: number, key: string): number {
    return this.#take(policyId, key, process.hrtime.bigint() * TICKS_PER_NS);
  }

  takeAtForTest(policyId: number, key: string, nowNs: number): number {
    return this.#take(policyId, key, BigInt(nowNs) * TICKS_PER_NS);
  }

  claimPendingForTest(policyId: number, key: string, nowNs: number): boolean {
    const { h } = this.#keyHash(policyId, key);
    const now = BigInt(nowNs) * TICKS_PER_NS;
    const base = h & this.#mask & ~(WINDOW - 1n);
    const start = h & (WINDOW - 1n);
    for (let j = 0n; j < WINDOW; j++) {
      const i = Number(base + ((start + j) & (WINDOW - 1n))) * 2;
      if (this.#slots[i] === 0n) {
        this.#slots[i] = h;
        this.#slots[i + 1] = PENDING | now;
        return true;
      }
    }
    return false;
  }

  /** Event of the last take: EVENT_FOUND / INSERTED / RECLAIMED / EVICTED. */
  lastEvent(): number {
    return this.#event;
  }

  stats(): TokenBucketStats {
    let live = 0;
    let pending = 0;
    for (let i = 0; i < this.#slots.length; i += 2) {
      if (this.#slots[i] === 0n) continue;
      if (this.#slots[i + 1] & PENDING) pending++;
      else live++;
    }
    return {
      capacity: this.capacity, bytes: 128 + this.capacity * 16, live, pending,
      inserts: this.#inserts, reclaims: this.#reclaims, evictions: this.#evictions, creatorPid: process.pid,
    };
  }

  close(): void {}

  #keyHash(policyId: number, key: string): { p: Policy; h: bigint } {
    const p = this.#policies[policyId];
    if (p === undefined) throw new TypeError('unknown policy id');
    if (typeof key !== 'string') throw new TypeError('key must be a string');
    const h = hashBytes(p.seed, this.#encoder.encode(key));
    return { p, h: h === 0n ? 1n : h };
  }

  // The native Table::Take, one process: a pending copy can only be one that
  // claimPendingForTest left behind, so "wait" means NaN, as with the native injected clock.
  #take(policyId: number, key: string, now: bigint): number {
    const { p, h } = this.#keyHash(policyId, key);
    const s = this.#slots;
    const base = h & this.#mask & ~(WINDOW - 1n);
    const start = h & (WINDOW - 1n);
    const expired = (st: bigint) => {
      const claimed = st & ~PENDING;
      return now > claimed && now - claimed > PENDING_EXPIRY_TICKS;
    };
    let how = EVENT_INSERTED;
    for (;;) {
      let empty = -1;
      let idle = -1;
      let oldest = -1;
      let oldestState = M64;
      let again = false;
      for (let j = 0n; j < WINDOW; j++) {
        const i = Number(base + ((start + j) & (WINDOW - 1n))) * 2;
        const k = s[i];
        const st = s[i + 1];
        if (k === h) {
          if (st & PENDING) {
            if (!expired(st)) return NaN;
            s[i] = 0n;
            s[i + 1] = 0n;
            again = true;
            break;
          }
          const full = st > now ? st : now;
          const next = full + p.interval;
          this.#event = EVENT_FOUND;
          if (next - now > p.tau) return -Number(next - now - p.tau);
          s[i + 1] = next;
          return Number(next - now);
        }
        if (k === 0n) {
          if (empty < 0) empty = i;
        } else if (st & PENDING) {
          if (idle < 0 && expired(st)) idle = i;
        } else if (st <= now) {
          if (idle < 0) idle = i;
        } else if (st < oldestState) {
          oldest = i;
          oldestState = st;
        }
      }
      if (again) continue;
      if (empty >= 0) {
        const next = now + p.interval;
        s[empty] = h;
        s[empty + 1] = next;
        this.#inserts++;
        this.#event = how;
        return Number(next - now);
      }
      if (idle >= 0) {
        s[idle] = 0n;
        s[idle + 1] = 0n;
        this.#reclaims++;
        if (how === EVENT_INSERTED) how = EVENT_RECLAIMED;
        continue;
      }
      if (oldest >= 0) {
        s[oldest] = 0n;
        s[oldest + 1] = 0n;
        this.#evictions++;
        how = EVENT_EVICTED;
        continue;
      }
      return NaN; // every slot is another key's insertion in progress
    }
  }
}
