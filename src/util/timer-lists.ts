/**
 * Per-request deadlines without a Node timer per request.
 *
 * Every deadline of one duration (a route's timeoutMs, the send timeout, ...) lives in one
 * doubly linked list; since entries are appended at `now + ms` with a monotonic `now`, each list
 * is sorted by expiry and only its head can be due. One Node timer, armed for the earliest head
 * of all lists, serves them all: adding or removing an entry is O(1) and allocates nothing (the
 * node is the caller's object), and a steady stream of requests that finish in time costs one
 * timer wake-up per duration period rather than a setTimeout/clearTimeout pair per request.
 *
 * Precision: a deadline fires at or after its time, within one event-loop turn plus TICK_MS
 * (wake-ups are coalesced so that a busy worker is not woken for every single expiry).
 */
import { performance } from 'node:perf_hooks';

/** The fields a timed object carries (intrusive: no allocation per deadline). */
export interface TimerNode {
  tnAt: number;
  tnPrev: TimerNode | null;
  tnNext: TimerNode | null;
  tnList: TimerList | null;
  onTimer(): void;
}

/** Coalescing window: expiries this close together are handled by one wake-up. */
const TICK_MS = 5;

export class TimerList {
  head: TimerNode | null = null;
  tail: TimerNode | null = null;
  constructor(readonly ms: number) {}
}

const lists = new Map<number, TimerList>();
let timer: NodeJS.Timeout | null = null;
let timerAt = Infinity;

/** The list for deadlines of `ms` milliseconds (created once, kept for the process). */
export function timerList(ms: number): TimerList {
  let l = lists.get(ms);
  if (l === undefined) {
    l = new TimerList(ms);
    lists.set(ms, l);
  }
  return l;
}

/** Starts (or restarts) `node`'s deadline: it fires `list.ms` from now unless cancelled first. */
export function arm(list: TimerList, node: TimerNode, now = performance.now()): void {
  if (node.tnList !== null) cancel(node);
  node.tnAt = now + list.ms;
  node.tnList = list;
  node.tnNext = null;
  node.tnPrev = list.tail;
  if (list.tail !== null) list.tail.tnNext = node;
  else list.head = node;
  list.tail = node;
  if (node.tnAt + TICK_MS < timerAt) schedule(node.tnAt);
}

/** Cancels `node`'s deadline (a no-op when none is armed). */
export function cancel(node: TimerNode): void {
  const list = node.tnList;
  if (list === null) return;
  if (node.tnPrev !== null) node.tnPrev.tnNext = node.tnNext;
  else list.head = node.tnNext;
  if (node.tnNext !== null) node.tnNext.tnPrev = node.tnPrev;
  else list.tail = node.tnPrev;
  node.tnPrev = node.tnNext = null;
  node.tnList = null;
  // The Node timer is left armed: when it fires it just finds nothing due and re-arms.
}

function schedule(at: number): void {
  if (timer !== null) clearTimeout(timer);
  timerAt = at;
  timer = setTimeout(expire, Math.max(0, at - performance.now()) + 1);
  timer.unref();
}

function expire(): void {
  timer = null;
  timerAt = Infinity;
  const now = performance.now() + TICK_MS;
  let next = Infinity;
  for (const list of lists.values()) {
    let n = list.head;
    while (n !== null && n.tnAt <= now) {
      cancel(n);
      try {
        n.onTimer();
      } catch (err) {
        // A timer callback that throws is a bug; keep the other deadlines running.
        queueMicrotask(() => {
          throw err;
        });
      }
      n = list.head;
    }
    if (n !== null && n.tnAt < next) next = n.tnAt;
  }
  if (next !== Infinity) schedule(next);
}

/** A standalone node for objects that need a second deadline besides their own. */
export class Deadline implements TimerNode {
  tnAt = 0;
  tnPrev: TimerNode | null = null;
  tnNext: TimerNode | null = null;
  tnList: TimerList | null = null;
  constructor(readonly onTimer: () => void) {}
}
