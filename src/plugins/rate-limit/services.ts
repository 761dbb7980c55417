/**
 * rateLimit's services, both lifetime 'process':
 * - TOKEN_TABLE: the shared-memory token-bucket table. The primary creates the segment and
 *   provides the table (src/primary/supervisor.ts); a worker maps it once (its name comes in
 *   SEGMENT_ENV); `gateway validate` gets the pure-TS reference table (a probe: nothing shared).
 * - REDIS: one client per worker for cluster.redis (none in the primary or a probe), remade when
 *   the URL changes; the old one is disconnected (its in-flight commands fail, failOpen decides).
 * CLUSTER (lifetime 'version') is the config's cluster section as this version states it.
 */
import type { Redis } from 'ioredis';
import type { Service, ServiceContext } from '../api.js';
import { SEGMENT_ENV, createTokenBuckets, openTokenBuckets, type TokenBucketTable } from '../../native/token-buckets.js';
import { createRedisClient, trackReadiness } from './cluster.js';

export const TOKEN_TABLE: Service<TokenBucketTable> = {
  name: 'rateLimit.tokenTable',
  lifetime: 'process',
  create(ctx) {
    if (ctx.role === 'probe') return createTokenBuckets('probe', 16, 'reference');
    const name = process.env[SEGMENT_ENV];
    if (ctx.role !== 'worker' || !name) {
      throw new Error('rateLimit: the shared-memory token-bucket table is not available in this process');
    }
    return openTokenBuckets(name);
  },
};

export const REDIS: Service<Redis | null> = {
  name: 'rateLimit.redis',
  lifetime: 'process',
  key: (ctx: ServiceContext) => (ctx.role === 'worker' && ctx.cluster !== null ? ctx.cluster.redis : ''),
  create(ctx) {
    if (ctx.role !== 'worker' || ctx.cluster === null) return null;
    const client = createRedisClient(ctx.cluster.redis);
    trackReadiness(client);
    return client;
  },
  dispose: (client) => client?.disconnect(),
};

export const CLUSTER: Service<ServiceContext['cluster']> = {
  name: 'rateLimit.cluster',
  lifetime: 'version',
  create: (ctx) => ctx.cluster,
};
