/**
 * rateLimit scope "cluster": one limit shared by every gateway node that points at the same
 * cluster.redis, with leases so that most requests never wait on Redis.
 *
 * Redis holds the bucket (GCRA, the same math as the shared-memory table, on Redis's own clock
 * via TIME, so node clocks never matter). A worker takes tokens from it in batches: a lease of
 * L tokens, L = clamp(ceil(rps * 50 ms), 1, max(1, floor(burst / 4))). While its lease lasts a
 * worker admits synchronously; when the lease runs low (<= L/2) it tops it up in the
 * background; only a worker with an empty lease waits (one Redis round trip, shared by every
 * request on that key in that worker). When Redis says the bucket is empty, the worker refuses
 * locally until the time Redis named, without asking again.
 *
 * Error bound: every admitted request spent a token that Redis granted, so over any interval
 * [a, b] the nodes together admit at most
 *     burst + rps * (b - a) + (tokens leased before a and still unused at a)
 * and the last term is at most N * W * L (N nodes, W workers each, L the lease size); leases
 * expire LEASE_TTL_MS after the grant, so it is zero for a key idle that long. The price is the
 * other way: tokens leased but not used before they expire are lost (under-admission of at
 * most N * W * L per LEASE_TTL_MS per key).
 *
 * Redis unreachable (down, timing out, not connected yet): `failOpen` true admits (counted in
 * gateway_rate_limit_redis_errors_total, warning logged at most every 10 s), false answers 503.
 * Never hangs: a command is abandoned after REDIS_COMMAND_TIMEOUT_MS, and while the client is
 * known to be disconnected requests do not wait for it at all.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { log } from '../../observability/log.js';
import { counter } from '../../observability/metrics.js';
import { performance } from 'node:perf_hooks';

export const REDIS_COMMAND_TIMEOUT_MS = 250;
export const LEASE_TTL_MS = 1000;
/** Keys with a lease per worker and policy; beyond that the oldest is dropped (its tokens lost). */
const MAX_LEASES = 10_000;

const redisErrors = counter(
  'gateway_rate_limit_redis_errors_total',
  'Cluster-scoped rate-limit checks that could not reach Redis (then failOpen decides).',
  ['route'],
);

// GCRA over Redis TIME in microseconds since 2024-01-01 (keeps doubles exact to ~0.01 us).
// KEYS[1] bucket; ARGV: interval us (T), tau us (burst * T), tokens wanted.
// Returns { granted, wait us until one token (when none granted), debt us after the grant }.
const TAKE_LUA = `
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1704067200) * 1000000 + tonumber(t[2])
local T = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local n = math.floor((now + tau - tat) / T)
if n > want then n = want end
while n > 0 and tat + n * T - now > tau do n = n - 1 end
if n <= 0 then
  return { 0, tostring(tat + T - tau - now), tostring(tat - now) }
end
tat = tat + n * T
redis.call('SET', KEYS[1], tostring(tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
return { n, '0', tostring(tat - now) }
`;

interface GatewayRedis extends Redis {
  gwRateLimitTake(key: string, intervalUs: string, tauUs: string, want: number): Promise<[number, string, string]>;
}

/** The worker's Redis client for cluster.redis: bounded waits everywhere, never an unhandled error. */
export function createRedisClient(url: string): Redis {
  const redis = new Redis(url, {
    lazyConnect: false,
    connectTimeout: 1000,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true, // only used before the first connection: requests on a known-down client fail fast
    retryStrategy: (attempt) => Math.min(100 * attempt, 1000),
    keyPrefix: '',
  });
  let lastLog = 0;
  redis.on('error', (err: Error) => {
    const now = Date.now();
    if (now - lastLog < 10_000) return;
    lastLog = now;
    log('warn', 'redis (cluster.redis) error', { error: err.message });
  });
  redis.defineCommand('gwRateLimitTake', { numberOfKeys: 1, lua: TAKE_LUA });
  return redis;
}

/** True when a command has a chance: connected, or still making its first connection. */
function usable(redis: Redis): boolean {
  const s = redis.status;
  if (s === 'ready') return true;
  return (s === 'wait' || s === 'connecting' || s === 'connect') && !(redis as { everReady?: boolean }).everReady;
}

/** Marks clients that have been ready once (after that, "connecting" means "down"). */
export function trackReadiness(redis: Redis): void {
  redis.on('ready', () => ((redis as { everReady?: boolean }).everReady = true));
}

interface Lease {
  tokens: number;
  expiresAt: number;
  /** Until then Redis has no token for us: refuse without asking (ms, performance.now()). */
  deniedUntil: number;
  /** Seconds until the bucket is full, from Redis's last answer (RateLimit t=). */
  resetSeconds: number;
  refill: Promise<void> | null;
  /** The last refill failed (Redis unreachable). */
  failed: boolean;
}

export type ClusterVerdict =
  | { kind: 'admit'; remaining: number; resetSeconds: number }
  | { kind: 'deny'; retryAfter: number; resetSeconds: number }
  | { kind: 'unavailable' };

/** One cluster-scoped policy in one worker: its leases, by bucket key. */
export class ClusterLimiter {
  readonly #leases = new Map<string, Lease>();
  readonly #prefix: string;
  readonly #intervalUs: string;
  readonly #tauUs: string;
  readonly leaseSize: number;
  #lastWarn = 0;

  constructor(
    readonly redis: Redis | null,
    keyPrefix: string,
    identity: string,
    rps: number,
    burst: number,
    readonly routeId: string,
  ) {
    // Same identity on every node (route or "global", rps, burst, key kind): same Redis bucket.
    this.#prefix = keyPrefix + 'rl:' + createHash('sha256').update(identity).digest('hex').slice(0, 16) + ':';
    const intervalUs = 1e6 / rps;
    this.#intervalUs = String(intervalUs);
    this.#tauUs = String(intervalUs * burst);
    this.leaseSize = Math.max(1, Math.min(Math.ceil(rps * 0.05), Math.max(1, Math.floor(burst / 4))));
  }

  /** Sync when the lease decides, a Promise when this worker must ask Redis first. */
  take(key: string): ClusterVerdict | Promise<ClusterVerdict> {
    const now = performance.now();
    let lease = this.#leases.get(key);
    if (lease === undefined) {
      if (this.#leases.size >= MAX_LEASES) this.#leases.delete(this.#leases.keys().next().value as string);
      lease = { tokens: 0, expiresAt: 0, deniedUntil: 0, resetSeconds: 0, refill: null, failed: false };
      this.#leases.set(key, lease);
    }
    const v = this.#fromLease(lease, key, now);
    if (v !== null) return v;
    if (now < lease.deniedUntil) {
      return { kind: 'deny', retryAfter: Math.max(1, Math.ceil((lease.deniedUntil - now) / 1000)), resetSeconds: lease.resetSeconds };
    }
    if (this.redis === null || !usable(this.redis)) return this.#unavailable();
    const l = lease;
    return this.#refill(l, key).then(() => {
      const t = performance.now();
      const again = this.#fromLease(l, key, t);
      if (again !== null) return again;
      if (l.failed) return this.#unavailable();
      return { kind: 'deny', retryAfter: Math.max(1, Math.ceil((l.deniedUntil - t) / 1000)), resetSeconds: l.resetSeconds };
    });
  }

  #fromLease(lease: Lease, key: string, now: number): ClusterVerdict | null {
    if (lease.tokens > 0 && now >= lease.expiresAt) lease.tokens = 0; // stale grant: void
    if (lease.tokens <= 0) return null;
    lease.tokens--;
    if (lease.tokens <= this.leaseSize / 2 && lease.refill === null && this.redis !== null && usable(this.redis)) {
      void this.#refill(lease, key); // top up in the background
    }
    return { kind: 'admit', remaining: lease.tokens, resetSeconds: lease.resetSeconds };
  }

  #refill(lease: Lease, key: string): Promise<void> {
    if (lease.refill !== null) return lease.refill;
    const want = Math.max(1, this.leaseSize - lease.tokens);
    const redis = this.redis as GatewayRedis;
    const p = redis
      .gwRateLimitTake(this.#prefix + key, this.#intervalUs, this.#tauUs, want)
      .then(
        ([granted, waitUs, debtUs]) => {
          const now = performance.now();
          lease.failed = false;
          lease.resetSeconds = Math.max(0, Math.ceil(Number(debtUs) / 1e6));
          if (granted > 0) {
            if (now >= lease.expiresAt) lease.tokens = 0;
            lease.tokens += granted;
            lease.expiresAt = now + LEASE_TTL_MS;
            lease.deniedUntil = 0;
          } else {
            lease.deniedUntil = now + Number(waitUs) / 1000;
          }
        },
        (err: Error) => {
          lease.failed = true;
          this.#warn(err.message);
        },
      )
      .finally(() => {
        lease.refill = null;
      });
    lease.refill = p;
    return p;
  }

  #unavailable(): ClusterVerdict {
    this.#warn(this.redis === null ? 'no Redis client' : `client ${this.redis.status}`);
    return { kind: 'unavailable' };
  }

  #warn(reason: string): void {
    redisErrors.inc(this.routeId);
    const now = Date.now();
    if (now - this.#lastWarn < 10_000) return;
    this.#lastWarn = now;
    log('warn', 'rateLimit: Redis unreachable for a cluster-scoped limit', { route: this.routeId, reason });
  }
}

const limiters = new Map<string, ClusterLimiter>();

/**
 * The limiter of a policy in this worker, reused across config reloads while the policy (and
 * the Redis client) stays the same, so its leases survive a reload.
 */
export function clusterLimiter(redis: Redis | null, keyPrefix: string, identity: string, rps: number, burst: number, routeId: string): ClusterLimiter {
  const id = identity + '\u0000' + keyPrefix;
  const known = limiters.get(id);
  if (known !== undefined && known.redis === redis) return known;
  if (limiters.size >= 1000) limiters.delete(limiters.keys().next().value as string);
  const l = new ClusterLimiter(redis, keyPrefix, identity, rps, burst, routeId);
  limiters.set(id, l);
  return l;
}
