/**
 * The balancers behind Cluster's LoadBalancer interface, by config name (CONFIG.md "Upstream":
 * `balancer`, `hashOn`). Each is built once per config version and per worker, precomputing what
 * it can (weights, the Maglev table, typed arrays of per-member state) so that a pick allocates
 * nothing.
 */
import type { Balancer } from '../../config/schema.js';
import { workerSignals, type LoadBalancer, type LoadSignals, type Member } from '../cluster.js';
import { consistentHash } from './consistent-hash.js';
import { leastConnections } from './least-connections.js';
import { p2cEwma, type P2cEwmaOptions } from './p2c-ewma.js';
import { roundRobin } from './round-robin.js';

export interface BalancerOptions {
  /** consistent-hash's key: "ip" (default) | "consumer" | "header:<name>" | "cookie:<name>". */
  hashOn?: string;
  /** In-flight counts and the clock for least-connections and p2c-ewma (default: this worker's). */
  signals?: LoadSignals;
  /** p2c-ewma's tuning and PRNG (tests). */
  p2c?: P2cEwmaOptions;
}

export function createBalancer(kind: Balancer, members: readonly Member[], options: BalancerOptions = {}): LoadBalancer {
  const signals = options.signals ?? workerSignals;
  switch (kind) {
    case 'round-robin':
      return roundRobin(members);
    case 'least-connections':
      return leastConnections(members, signals);
    case 'consistent-hash':
      return consistentHash(members, options.hashOn ?? 'ip');
    case 'p2c-ewma':
      return p2cEwma(members, signals, options.p2c);
    default:
      throw new Error(`unknown balancer ${JSON.stringify(kind satisfies never)}`);
  }
}
