/**
 * Weighted least-connections, as nginx's `least_conn`: the usable member with the fewest
 * in-flight requests per unit of weight (inflight / weight, compared by cross-multiplying, so
 * no division and no float rounding), ties broken by smooth weighted round-robin among the tied
 * members only. So idle members (all at 0) share the traffic in proportion to their weights, equal
 * members take turns instead of the first one in the list taking every tie, and under load a
 * member of weight 2 is given twice the in-flight requests of a weight-1 member.
 *
 * The in-flight counts come from LoadSignals: the machine-wide count from shared memory
 * (clusterSignals) where the target has a slot, else this worker's own count (the Endpoint's
 * `inflight`, kept by the proxy: with N workers each balances its own share, which is what nginx
 * does without a shared zone). Nothing here depends on which.
 *
 * Two passes over the members per pick (find the least load and count the ties; SWRR over the
 * tied ones when there are several), no allocation.
 */
import type { LoadBalancer, LoadSignals, Member, PickContext } from '../cluster.js';

export function leastConnections(members: readonly Member[], signals: LoadSignals): LoadBalancer {
  const n = members.length;
  if (n === 0) return { pick: () => null };
  if (n === 1) {
    const only = members[0];
    return { pick: (_ctx, usable) => (usable(only) ? only : null) };
  }
  const weights = Float64Array.from(members, (m) => m.weight);
  /** This pick's load per member; -1 = not usable. */
  const load = new Float64Array(n);
  /** The SWRR state of the tie-break. */
  const current = new Float64Array(n);
  return {
    pick(_ctx: PickContext, usable: (m: Member) => boolean) {
      let best = -1;
      let ties = 0;
      for (let i = 0; i < n; i++) {
        const m = members[i];
        if (!usable(m)) {
          load[i] = -1;
          continue;
        }
        const l = signals.inflight(m);
        load[i] = l;
        if (best === -1) {
          best = i;
          ties = 1;
          continue;
        }
        // l / w[i] against load[best] / w[best]
        const a = l * weights[best];
        const b = load[best] * weights[i];
        if (a < b) {
          best = i;
          ties = 1;
        } else if (a === b) {
          ties++;
        }
      }
      if (best === -1) return null;
      if (ties === 1) return members[best];
      // SWRR among the members as loaded as `best`.
      const lb = load[best];
      const wb = weights[best];
      let pick = -1;
      let total = 0;
      for (let i = best; i < n; i++) {
        const l = load[i];
        if (l < 0 || l * wb !== lb * weights[i]) continue;
        current[i] += weights[i];
        total += weights[i];
        if (pick === -1 || current[i] > current[pick]) pick = i;
      }
      current[pick] -= total;
      return members[pick];
    },
  };
}
