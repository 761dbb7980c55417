/**
 * Round-robin with weights, as nginx's smooth weighted round-robin (ngx_http_upstream_get_peer):
 * members with weights 5,1,1 are picked a,a,b,a,c,a,a rather than a×5,b,c, so a heavy member
 * never gets a burst. Each pick adds every usable member's weight to its `current`, picks the
 * largest `current` and takes the usable members' total weight off it.
 *
 * A member `usable` says no to is left out of that pick entirely, as nginx leaves out a down
 * peer: it gains nothing and the total is that of the usable members, so the others go on in
 * the smooth weighted order among themselves (5,1 with c out: a,a,a,b,a,a, ...) and the skipped
 * member resumes from where it was when it is usable again.
 *
 * Equal weights: a plain rotating index (the same sequence, cheaper). Nothing is allocated per
 * pick.
 */
import type { LoadBalancer, Member, PickContext } from '../cluster.js';

export function roundRobin(members: readonly Member[]): LoadBalancer {
  const n = members.length;
  if (n === 0) return { pick: () => null };
  if (n === 1) {
    const only = members[0];
    return { pick: (_ctx, usable) => (usable(only) ? only : null) };
  }
  if (members.every((m) => m.weight === members[0].weight)) {
    let next = 0;
    return {
      pick(_ctx: PickContext, usable: (m: Member) => boolean) {
        for (let tries = 0; tries < n; tries++) {
          const m = members[next];
          next = next + 1 === n ? 0 : next + 1;
          if (usable(m)) return m;
        }
        return null;
      },
    };
  }
  const current = new Float64Array(n);
  const weights = Float64Array.from(members, (m) => m.weight);
  return {
    pick(_ctx: PickContext, usable: (m: Member) => boolean) {
      let best = -1;
      let total = 0;
      for (let i = 0; i < n; i++) {
        if (!usable(members[i])) continue;
        const w = weights[i];
        current[i] += w;
        total += w;
        if (best === -1 || current[i] > current[best]) best = i;
      }
      if (best === -1) return null;
      current[best] -= total;
      return members[best];
    },
  };
}
