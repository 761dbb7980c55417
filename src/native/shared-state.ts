/**
 * Machine-wide state of upstream targets, in one shared-memory segment every worker maps
 * (native/shared_state.cc hands it over as a SharedArrayBuffer; all access is Atomics, so the
 * request path never crosses into C++ or waits for IPC):
 *
 *   per slot (one per target, assigned by the primary; 64 bytes, a cache line):
 *     i32 [0]  in flight, machine-wide (least-connections)
 *     i32 [1]  active health: 0 healthy (or not probed), 1 unhealthy: written by the primary's prober
 *     i32 [2]  generation: bumped whenever the slot is given to another target
 *     f64 @16  ejected until (shared monotonic ms): written by any worker's outlier detection
 *   per worker index and slot: i32 in flight of that worker, so that when a worker dies with
 *   requests in flight the primary can take exactly its share back out of the machine-wide count.
 *
 * Times use CLOCK_MONOTONIC in milliseconds, the same in every process (performance.now() has a
 * per-process origin; nowMs() adds the offset measured once).
 *
 * Float64 slots are written with plain stores: aligned 8-byte stores and loads are single-copy
 * atomic on x86-64 and AArch64, and the value is a deadline where a stale read only moves the
 * moment of a decision by one request.
 */
import { nativeExport } from './addon.js';
import { performance } from 'node:perf_hooks';

export const SLOT_BYTES = 64;
const SLOT_I32 = SLOT_BYTES / 4;
const SLOT_F64 = SLOT_BYTES / 8;
const HEADER_BYTES = 64;
const MAGIC = 0x47575353; // "GWSS"
const LAYOUT_VERSION = 1;

export const DEFAULT_SLOTS = 4096;
export const DEFAULT_MAX_WORKERS = 256;

export const HEALTHY = 0;
export const UNHEALTHY = 1;

type Create = (name: string, bytes: number) => SharedArrayBuffer;
type Open = (name: string) => SharedArrayBuffer;

function bytesFor(slots: number, maxWorkers: number): number {
  return HEADER_BYTES + slots * SLOT_BYTES + slots * maxWorkers * 4;
}

let clockOffset: number | null = null;

/** The machine's monotonic clock in ms (CLOCK_MONOTONIC), cheap: performance.now() plus an offset. */
export function sharedNowMs(): number {
  if (clockOffset === null) clockOffset = nativeExport<() => number>('monotonicMs')() - performance.now();
  return performance.now() + clockOffset;
}

/** The shared clock's time of a performance.now() reading the caller already has (no clock read). */
export function sharedTimeOf(perfMs: number): number {
  if (clockOffset === null) clockOffset = nativeExport<() => number>('monotonicMs')() - performance.now();
  return perfMs + clockOffset;
}

export class SharedEndpointState {
  readonly slots: number;
  readonly maxWorkers: number;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  /** Per-worker columns: worker w's count for slot s at [w * slots + s]. */
  private readonly perWorker: Int32Array;

  private constructor(readonly name: string, readonly buffer: SharedArrayBuffer) {
    const head = new Int32Array(buffer, 0, 4);
    if (head[0] !== MAGIC || head[1] !== LAYOUT_VERSION) throw new Error(`shared state ${name}: not a gateway state segment of layout ${LAYOUT_VERSION}`);
    this.slots = head[2];
    this.maxWorkers = head[3];
    if (buffer.byteLength < bytesFor(this.slots, this.maxWorkers)) throw new Error(`shared state ${name}: segment too small`);
    this.i32 = new Int32Array(buffer, HEADER_BYTES, this.slots * SLOT_I32);
    this.f64 = new Float64Array(buffer, HEADER_BYTES, this.slots * SLOT_F64);
    this.perWorker = new Int32Array(buffer, HEADER_BYTES + this.slots * SLOT_BYTES, this.slots * this.maxWorkers);
  }

  /** Creates the segment (the primary). The name follows token-buckets.ts's pattern, so stale ones are cleaned up alike. */
  static create(name: string, slots = DEFAULT_SLOTS, maxWorkers = DEFAULT_MAX_WORKERS): SharedEndpointState {
    const buf = nativeExport<Create>('createSharedState')(name, bytesFor(slots, maxWorkers));
    const head = new Int32Array(buf, 0, 4);
    head[2] = slots;
    head[3] = maxWorkers;
    head[1] = LAYOUT_VERSION;
    Atomics.store(head, 0, MAGIC);
    return new SharedEndpointState(name, buf);
  }

  /** Maps the primary's segment (a worker). */
  static open(name: string): SharedEndpointState {
    return new SharedEndpointState(name, nativeExport<Open>('openSharedState')(name));
  }

  /** Over a plain in-process SharedArrayBuffer: the same logic without shm (tests). */
  static inProcess(slots = 64, maxWorkers = 4): SharedEndpointState {
    const buf = new SharedArrayBuffer(bytesFor(slots, maxWorkers));
    const head = new Int32Array(buf, 0, 4);
    head[0] = MAGIC;
    head[1] = LAYOUT_VERSION;
    head[2] = slots;
    head[3] = maxWorkers;
    return new SharedEndpointState('(in-process)', buf);
  }

  static unlink(name: string): boolean {
    return nativeExport<(n: string) => boolean>('unlinkSharedState')(name);
  }

  // ------------------------------------------------------------------ in flight

  /**
   * One more request of worker `w` in flight to the target of `slot`. The machine-wide count is
   * shared by every worker (atomic); worker `w`'s own count is written by that worker alone and
   * read by the primary only once the worker is dead (forgetWorker), so a plain write suffices.
   */
  acquire(slot: number, w: number): void {
    Atomics.add(this.i32, slot * SLOT_I32, 1);
    this.perWorker[w * this.slots + slot]++;
  }

  release(slot: number, w: number): void {
    Atomics.sub(this.i32, slot * SLOT_I32, 1);
    this.perWorker[w * this.slots + slot]--;
  }

  /** Requests in flight to the target of `slot` from every worker of the machine. */
  inflight(slot: number): number {
    return Atomics.load(this.i32, slot * SLOT_I32);
  }

  /** A worker died: take what it had in flight back out of every machine-wide count (the primary). */
  forgetWorker(w: number): number {
    let n = 0;
    const base = w * this.slots;
    for (let s = 0; s < this.slots; s++) {
      const c = Atomics.exchange(this.perWorker, base + s, 0);
      if (c !== 0) {
        Atomics.sub(this.i32, s * SLOT_I32, c);
        n += c;
      }
    }
    return n;
  }

  // ------------------------------------------------------------------ health

  /** Active health as the primary's probes last found it. */
  health(slot: number): number {
    return Atomics.load(this.i32, slot * SLOT_I32 + 1);
  }

  setHealth(slot: number, h: number): void {
    Atomics.store(this.i32, slot * SLOT_I32 + 1, h);
  }

  /** Until when outlier detection ejected the target (shared monotonic ms; 0 = never). */
  ejectedUntil(slot: number): number {
    return this.f64[slot * SLOT_F64 + 2];
  }

  eject(slot: number, untilMs: number): void {
    this.f64[slot * SLOT_F64 + 2] = untilMs;
  }

  // ------------------------------------------------------------------ slot assignment (the primary)

  generation(slot: number): number {
    return Atomics.load(this.i32, slot * SLOT_I32 + 2);
  }

  /** Gives `slot` to a new target: health and ejection start clean (in-flight counts are left to drain). */
  reassign(slot: number): void {
    this.setHealth(slot, HEALTHY);
    this.eject(slot, 0);
    Atomics.add(this.i32, slot * SLOT_I32 + 2, 1);
  }
}
