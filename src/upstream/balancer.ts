/**
 * Target selection for one upstream. Round-robin with weights uses nginx's smooth weighted
 * round-robin: targets with weights 5,1,1 are picked a,a,b,a,c,a,a rather than a×5,b,c, so
 * a heavy target never gets a burst. With equal weights it is a plain rotating index.
 */
import type { TargetPool } from './pools.js';

export interface Target {
  readonly url: string;
  readonly origin: string;
  /** Host header value sent upstream unless the route preserves the client's Host. */
  readonly hostHeader: string;
  readonly weight: number;
  readonly pool: TargetPool;
  /** Smooth-WRR running weight. */
  current: number;
}

export interface Balancer {
  pick(): Target;
}

export function createBalancer(targets: Target[]): Balancer {
  if (targets.length === 1) {
    const only = targets[0];
    return { pick: () => only };
  }
  const equal = targets.every((t) => t.weight === targets[0].weight);
  if (equal) {
    let next = 0;
    return {
      pick() {
        const t = targets[next];
        next = next + 1 === targets.length ? 0 : next + 1;
        return t;
      },
    };
  }
  const total = targets.reduce((sum, t) => sum + t.weight, 0);
  return {
    pick() {
      let best = targets[0];
      for (let i = 0; i < targets.length; i++) {
        const t = targets[i];
        t.current += t.weight;
        if (t.current > best.current) best = t;
      }
      best.current -= total;
      return best;
    },
  };
}
