/**
 * Round-robin with weights, as nginx's smooth weighted round-robin: members with weights 5,1,1
 * are picked a,a,b,a,c,a,a rather than a×5,b,c, so a heavy member never gets a burst. With equal
 * weights it is a plain rotating index. Members the context says to skip are passed over.
 */
import type { LoadBalancer, Member, PickContext } from '../cluster.js';

export function roundRobin(members: readonly Member[]): LoadBalancer {
  if (members.length === 1) {
    const only = members[0];
    return { pick: (ctx) => (ctx.attempt > 0 && ctx.shouldSkip(only.endpoint) ? null : only) };
  }
  const n = members.length;
  if (members.every((m) => m.weight === members[0].weight)) {
    let next = 0;
    return {
      pick(ctx: PickContext) {
        for (let tries = 0; tries < n; tries++) {
          const m = members[next];
          next = next + 1 === n ? 0 : next + 1;
          if (ctx.attempt === 0 || !ctx.shouldSkip(m.endpoint)) return m;
        }
        return null;
      },
    };
  }
  const current = new Float64Array(n);
  return {
    pick(ctx: PickContext) {
      let best = -1;
      let total = 0;
      for (let i = 0; i < n; i++) {
        const m = members[i];
        if (ctx.attempt > 0 && ctx.shouldSkip(m.endpoint)) continue;
        current[i] += m.weight;
        total += m.weight;
        if (best === -1 || current[i] > current[best]) best = i;
      }
      if (best === -1) return null;
      current[best] -= total;
      return members[best];
    },
  };
}
