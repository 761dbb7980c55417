/**
 * Token-bucket table facade: createTokenBuckets(name, capacity) makes the shared-memory table
 * (the primary does this once, before forking), openTokenBuckets(name) maps it (every worker),
 * createTokenBuckets(..., 'reference') gives the pure-TS oracle (tests, benchmarks).
 *
 * take(policyId, key) is the whole hot path: one N-API call, one 16-byte CAS on a hit, no
 * allocation, no Promise. Its result is a number (see TakeResult helpers below): > 0 admitted
 * (the bucket's debt in ticks), < 0 refused (minus the ticks until a token is back).
 *
 * Segments are named /gateway-<primary pid>-<random>: removeStaleSegments() unlinks those whose
 * primary is gone (a gateway killed with SIGKILL cannot clean up after itself).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { nativeExport } from './addon.js';
import {
  EVENT_EVICTED,
  EVENT_FOUND,
  EVENT_INSERTED,
  EVENT_RECLAIMED,
  MAX_CAPACITY,
  ReferenceTokenBuckets,
  policyTicks,
  type TokenBucketStats,
} from './reference/token-buckets.js';

export { EVENT_EVICTED, EVENT_FOUND, EVENT_INSERTED, EVENT_RECLAIMED, MAX_CAPACITY, policyTicks, type TokenBucketStats };

/** Environment variable through which the primary hands the segment name to its workers. */
export const SEGMENT_ENV = 'GATEWAY_SHM_NAME';
/** Ticks (the table's time unit) per second: 1 tick = 1/16 ns. */
export const TICKS_PER_SECOND = 16e9;

export type TokenBucketEngine = 'native' | 'reference';

export interface TokenBucketTable {
  readonly engine: TokenBucketEngine;
  readonly name: string;
  /** The segment's hash secret (hex): a reference table given it hashes identically. */
  readonly secret: string;
  /**
   * Registers a policy (idempotent per identity) and returns its id. The identity must change
   * whenever rps or burst does (the plugin uses "<route or global>|<rps>|<burst>|<key kind>"), so
   * an unchanged policy keeps its buckets across config reloads.
   */
  policy(identity: string, requestsPerSecond: number, burst: number): number;
  /** Takes one token now (CLOCK_MONOTONIC). hot path. */
  take(policyId: number, key: string): number;
  /** take() at an injected time (ns): NaN when it would have to wait for another process. */
  takeAtForTest(policyId: number, key: string, nowNs: number): number;
  /** Leaves a half-done insertion of the key, as a process killed at that instant would. */
  claimPendingForTest(policyId: number, key: string, nowNs: number): boolean;
  /** What the last take did: EVENT_FOUND, EVENT_INSERTED, EVENT_RECLAIMED or EVENT_EVICTED. */
  lastEvent(): number;
  stats(): TokenBucketStats;
  /** Unmaps (native); the segment itself stays until unlinked. */
  close(): void;
}

interface NativeTokenBuckets {
  readonly output: ArrayBuffer;
  readonly secret: string;
  readonly name: string;
  take(policyId: number, key: string): number;
  takeAtForTest(policyId: number, key: string, nowNs: number): number;
  claimPendingForTest(policyId: number, key: string, nowNs: number): boolean;
  policy(identity: string, rps: number, burst: number): number;
  stats(): TokenBucketStats;
  close(): void;
}
interface NativeTokenBucketsClass {
  new (name: string, capacity?: number): NativeTokenBuckets;
  unlink(name: string): boolean;
}

let nativeCtor: NativeTokenBucketsClass | null = null;

function nativeClass(): NativeTokenBucketsClass {
  if (nativeCtor === null) nativeCtor = nativeExport<NativeTokenBucketsClass>('TokenBuckets');
  return nativeCtor;
}

class NativeTable implements TokenBucketTable {
  readonly engine = 'native' as const;
  readonly name: string;
  readonly secret: string;
  /** The addon's own-property function: callable detached, no napi_unwrap. */
  readonly take: (policyId: number, key: string) => number;
  readonly #t: NativeTokenBuckets;
  readonly #out: Int32Array;

  constructor(t: NativeTokenBuckets) {
    this.#t = t;
    this.name = t.name;
    this.secret = t.secret;
    this.take = t.take;
    this.#out = new Int32Array(t.output);
  }

  policy(identity: string, rps: number, burst: number): number {
    return this.#t.policy(identity, rps, burst);
  }
  takeAtForTest(policyId: number, key: string, nowNs: number): number {
    return this.#t.takeAtForTest(policyId, key, nowNs);
  }
  claimPendingForTest(policyId: number, key: string, nowNs: number): boolean {
    return this.#t.claimPendingForTest(policyId, key, nowNs);
  }
  lastEvent(): number {
    return this.#out[0];
  }
  stats(): TokenBucketStats {
    return this.#t.stats();
  }
  close(): void {
    this.#t.close();
  }
}

class ReferenceTable extends ReferenceTokenBuckets implements TokenBucketTable {
  readonly engine = 'reference' as const;
}

/**
 * Creates a table: 'native' makes the shared-memory segment `name` (it must not exist yet;
 * capacity is rounded up to a power of two >= 16); 'reference' an in-process oracle (name
 * ignored; `secretHex` mirrors a native table's hashing).
 */
export function createTokenBuckets(
  name: string,
  capacity: number,
  engine: TokenBucketEngine = 'native',
  secretHex?: string,
): TokenBucketTable {
  if (engine === 'reference') return new ReferenceTable(capacity, secretHex);
  if (engine !== 'native') throw new TypeError(`unknown token-bucket engine "${String(engine)}"`);
  const Native = nativeClass();
  return new NativeTable(new Native(name, capacity));
}

/** Maps an existing segment (workers). */
export function openTokenBuckets(name: string): TokenBucketTable {
  const Native = nativeClass();
  return new NativeTable(new Native(name));
}

/** Removes a segment's name (mappings stay valid until closed). Absent is not an error. */
export function unlinkTokenBuckets(name: string): void {
  nativeClass().unlink(name);
}

/** A fresh segment name for this primary: /gateway-<pid>-<random>. */
export function newSegmentName(pid = process.pid): string {
  return `/gateway-${pid}-${randomBytes(6).toString('hex')}`;
}

const SEGMENT_FILE = /^gateway-(\d+)-[0-9a-f]+$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, not ours
  }
}

/**
 * Unlinks segments left by gateways whose primary no longer runs (killed with SIGKILL, or a
 * crash the exit hook did not see). Returns the names removed. Linux keeps POSIX shm in
 * /dev/shm; elsewhere there is nothing to scan and nothing is removed.
 */
export function removeStaleSegments(dir = '/dev/shm'): string[] {
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const f of files) {
    const m = SEGMENT_FILE.exec(f);
    if (m === null) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || alive(pid)) continue;
    try {
      unlinkSync(`${dir}/${f}`);
      removed.push(`/${f}`);
    } catch {
      // removed by someone else meanwhile, or not ours to remove
    }
  }
  return removed;
}

// ------------------------------------------------------------------------------ take results

/** A policy's numbers as the header math needs them (doubles; exact enough for seconds). */
export interface PolicyNumbers {
  readonly interval: number;
  readonly tau: number;
}

export function policyNumbers(rps: number, burst: number): PolicyNumbers {
  const t = policyTicks(rps, burst);
  if (t === null) throw new TypeError('requestsPerSecond must be a finite number > 0 and burst an integer >= 1');
  return { interval: Number(t.interval), tau: Number(t.tau) };
}

/** Whole tokens left after an admitted take (result > 0). */
export function remainingAfter(result: number, p: PolicyNumbers): number {
  return Math.max(0, Math.floor((p.tau - result) / p.interval));
}

/** Seconds (rounded up) until the bucket is full again, for any result. */
export function secondsUntilFull(result: number, p: PolicyNumbers): number {
  const debt = result > 0 ? result : -result + p.tau - p.interval;
  return Math.max(0, Math.ceil(debt / TICKS_PER_SECOND));
}

/** Seconds (rounded up, at least 1) until a refused request could be admitted (result < 0). */
export function retryAfterSeconds(result: number): number {
  return Math.max(1, Math.ceil(-result / TICKS_PER_SECOND));
}
