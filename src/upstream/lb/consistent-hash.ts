/**
 * Consistent hashing with Maglev (Eisenbud et al., "Maglev: A Fast and Reliable Software Network
 * Load Balancer", NSDI 2016; the same table Envoy's `MAGLEV` policy builds).
 *
 * Each member has a pseudo-random permutation of the table's slots (an offset and a skip derived
 * from two hashes of its URL; the table size M is prime, so every skip walks all slots). Members
 * take turns claiming their next free slot until the table is full; a member of weight w takes a
 * turn in w of every max-weight rounds, so it ends up with a share of slots proportional to its
 * weight. A request's key is hashed and `table[hash % M]` is its member.
 *
 * Why Maglev rather than a ring with virtual nodes or rendezvous hashing:
 *   - lookup: one hash of the key and one array read, O(1) whatever the member count
 *     (rendezvous is O(N) hashes per request; a ring is a binary search over N × vnodes points);
 *   - balance: with equal weights every member owns M/N slots give or take one (0.002 % of the
 *     table at M = 65537), with weights a share in proportion (within 0.1 %); keys then spread
 *     as evenly as their hashes do. A ring needs hundreds of virtual nodes per member to get
 *     within a few percent;
 *   - movement: when one of N members is added or removed, the keys of the removed member (or
 *     those the new member takes) move, 1/N of them, plus a small extra share of keys that move
 *     between members that stayed (the permutations' "collisions" resolve differently). The paper
 *     measures a few percent; test/unit/balancers.test.ts measures it for N = 4..10 over 100,000
 *     random keys and holds it to at most 1.1/N in total and 0.1/N among untouched members
 *     (measured: at most 1.03/N, and 0.03-0.43 % of the keys between untouched members;
 *     docs/configuration.md has the numbers). A ring moves exactly 1/N but balances worse;
 *     rendezvous moves exactly 1/N but costs N hashes per request.
 *   - cost: the table is built once per config (per worker): about M × ln(M) steps, 3-8 ms,
 *     128 KiB of Uint16 (M = 65537 up to 655 members, then M = 655373 so M stays >= 100 N).
 *
 * Unusable members (unhealthy, broken, or the one a retry moves away from): a key whose slot
 * names an unusable member goes to its next choice: the key's hash re-mixed with a probe number
 * 1, 2, ... names another slot of the same table, until one names a usable member. Each probe is
 * a uniform slot, so an unusable member's keys spread over the others in proportion to their
 * weights (measured: 33.6 / 33.2 / 33.2 % over three equal members, 100k keys; taking the next
 * slot of the table instead gave 25 / 32 / 44 %, adjacent slots' owners being correlated), the
 * other members' keys do not move at all, and each key comes back when its member is usable
 * again (the table never changes). After 32 probes without a usable member (nearly all members unusable) the members
 * are tried in order after the key's own: still deterministic.
 *
 * Keys (`hashOn`): "ip" the client address (after trustedProxies), "header:<name>" a request
 * header's value (the first one), "cookie:<name>" a cookie's value from the Cookie header (found
 * in place, not parsed into an object), "consumer" the authenticated consumer's id. A request
 * without that key (no such header or cookie, an empty value, no consumer) is hashed on its client
 * address instead, so it still sticks to one member per client rather than all landing on one.
 *
 * The hash is FNV-1a over the key's UTF-16 code units with murmur3's finalizer (./hash.ts):
 * nothing cryptographic per request, no allocation.
 */
import type { LoadBalancer, Member, PickContext } from '../cluster.js';
import { FNV_BASIS, fmix32, hashRange, hashString } from './hash.js';

export type HashOn =
  | { readonly kind: 'ip' }
  | { readonly kind: 'consumer' }
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string };

/** "ip" | "consumer" | "header:<name>" | "cookie:<name>" (validated by the config schema). */
export function parseHashOn(s: string): HashOn {
  if (s === 'ip' || s === 'consumer') return { kind: s };
  if (s.startsWith('header:') && s.length > 7) return { kind: 'header', name: s.slice(7).toLowerCase() };
  if (s.startsWith('cookie:') && s.length > 7) return { kind: 'cookie', name: s.slice(7) };
  throw new Error(`invalid hashOn ${JSON.stringify(s)}`);
}

/** The hash of a request's key under `on`, the client address when it has none. */
export function keyHasher(on: HashOn): (ctx: PickContext) => number {
  switch (on.kind) {
    case 'ip':
      return (ctx) => hashString(ctx.clientIp);
    case 'consumer':
      return (ctx) => {
        const id = ctx.consumerId;
        return id !== null && id !== '' ? hashString(id) : hashString(ctx.clientIp);
      };
    case 'header': {
      const name = on.name;
      return (ctx) => {
        const v = ctx.header(name);
        return v !== undefined && v !== '' ? hashString(v) : hashString(ctx.clientIp);
      };
    }
    case 'cookie': {
      const name = on.name;
      return (ctx) => {
        const cookie = ctx.header('cookie');
        if (cookie !== undefined) {
          const h = cookieValueHash(cookie, name);
          if (h !== -1) return h;
        }
        return hashString(ctx.clientIp);
      };
    }
  }
}

/**
 * The hash of cookie `name`'s value in a Cookie header ("a=1; b=2"), or -1 when it is absent or
 * empty. The value is hashed in place (quotes included, trailing blanks not): no substring.
 */
export function cookieValueHash(cookie: string, name: string): number {
  const len = cookie.length;
  const nl = name.length;
  let i = 0;
  while (i < len) {
    let c = cookie.charCodeAt(i);
    while ((c === 32 || c === 9) && i < len) c = cookie.charCodeAt(++i);
    let end = cookie.indexOf(';', i);
    if (end === -1) end = len;
    if (end - i > nl && cookie.charCodeAt(i + nl) === 61 /* = */ && cookie.startsWith(name, i)) {
      const start = i + nl + 1;
      let stop = end;
      while (stop > start && ((c = cookie.charCodeAt(stop - 1)) === 32 || c === 9)) stop--;
      return stop > start ? hashRange(cookie, start, stop) : -1;
    }
    i = end + 1;
  }
  return -1;
}

/** Slots tried for a usable member before trying the members in order. */
const PROBES = 32;
const SEED_OFFSET = FNV_BASIS;
const SEED_SKIP = 0x5bd1e995;

export function tableSize(members: number): number {
  return members * 100 <= 65537 ? 65537 : 655373;
}

/**
 * Maglev's lookup table: slot -> member index. Identities are the members' origins (a second
 * target with the same URL is told apart by its position among the duplicates) and turns go in
 * the identities' order, so the same targets in any order give the same table, in every worker,
 * and across reloads.
 */
export function maglevTable(members: readonly Member[], size = tableSize(members.length)): Uint16Array | Uint32Array {
  const n = members.length;
  const table = new Int32Array(size).fill(-1);
  const seen = new Map<string, number>();
  const ids: Array<{ id: string; j: number }> = [];
  for (let j = 0; j < n; j++) {
    const origin = members[j].endpoint.origin;
    const dup = seen.get(origin) ?? 0;
    seen.set(origin, dup + 1);
    ids.push({ id: dup === 0 ? origin : `${origin}#${dup}`, j });
  }
  // Turns are taken in the order of the identities, not of the config: the same targets listed in
  // another order (or resolved from DNS in another order) build the same table.
  ids.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  const order = Int32Array.from(ids, (x) => x.j);
  const pos = new Float64Array(n);
  const skip = new Float64Array(n);
  const turn = new Float64Array(n);
  let maxW = 0;
  for (const { id, j } of ids) {
    pos[j] = hashString(id, SEED_OFFSET) % size;
    skip[j] = (hashString(id, SEED_SKIP) % (size - 1)) + 1;
    maxW = Math.max(maxW, members[j].weight);
  }
  let filled = 0;
  for (let round = 0; filled < size; round++) {
    for (let o = 0; o < n && filled < size; o++) {
      const j = order[o];
      // A member of weight maxW takes a turn every round, one of maxW / 3 every third round.
      if (round * members[j].weight < turn[j]) continue;
      turn[j] += maxW;
      let c = pos[j];
      while (table[c] !== -1) {
        c += skip[j];
        if (c >= size) c -= size;
      }
      table[c] = j;
      c += skip[j];
      pos[j] = c >= size ? c - size : c;
      filled++;
    }
  }
  return n <= 0xffff ? Uint16Array.from(table) : Uint32Array.from(table);
}

export function consistentHash(members: readonly Member[], hashOn: HashOn | string): LoadBalancer {
  const n = members.length;
  if (n === 0) return { pick: () => null };
  if (n === 1) {
    const only = members[0];
    return { pick: (_ctx, usable) => (usable(only) ? only : null) };
  }
  const keyOf = keyHasher(typeof hashOn === 'string' ? parseHashOn(hashOn) : hashOn);
  const table = maglevTable(members);
  const size = table.length;
  return {
    pick(ctx: PickContext, usable: (m: Member) => boolean) {
      const h = keyOf(ctx);
      const first = table[h % size];
      const own = members[first];
      if (usable(own)) return own;
      // The key's next choices: its hash re-mixed with the probe number, each a uniform slot of
      // the same table, so the keys of an unusable member spread over the others by weight.
      for (let p = 1; p < PROBES; p++) {
        const j = table[fmix32((h + Math.imul(p, 0x9e3779b9)) | 0) % size];
        if (j === first) continue;
        const m = members[j];
        if (usable(m)) return m;
      }
      for (let k = 1; k < n; k++) {
        const j = first + k < n ? first + k : first + k - n;
        const m = members[j];
        if (usable(m)) return m;
      }
      return null;
    },
  };
}
