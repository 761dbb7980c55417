/**
 * rateLimit: token buckets, `requestsPerSecond` refill and `burst` size, per `key` (ip,
 * consumer, route, header:<name>; see rate-limit/keys.ts).
 *
 * scope "local" (default): the shared-memory table every worker of this machine maps
 * (src/native/token-buckets.ts), so the limit is exact across workers; the check is one
 * synchronous native call, no Promise. scope "cluster": Redis-backed with local leases
 * (rate-limit/cluster.ts).
 *
 * A global rateLimit is one policy for the whole gateway (a client's requests to every route
 * count against the same bucket); a route's own rateLimit is that route's policy. A policy's
 * buckets are named by (route id or "global", rps, burst, key kind): a reload that leaves a
 * policy unchanged keeps its buckets; any change starts the policy with full buckets.
 *
 * Answers: admitted requests carry `RateLimit-Policy` and `RateLimit`; refused ones get 429
 * `rate_limited` JSON with `Retry-After` (seconds, rounded up) and both headers. The upstream
 * never sees a refused request (this runs in the access phase, before the proxy).
 */
import type { RateLimitPluginConfig } from '../config/schema.js';
import type { GatewayConfig } from '../config/schema.js';
import type { LocalReply, PluginDefinition, PluginDeps, PluginInstance } from './types.js';
import type { RequestContext } from './context.js';
import {
  EVENT_EVICTED,
  TOKEN_BUCKETS_SERVICE,
  policyNumbers,
  remainingAfter,
  retryAfterSeconds,
  secondsUntilFull,
  type TokenBucketTable,
} from '../native/token-buckets.js';
import { compileKey } from './rate-limit/keys.js';
import { policyHeaderValue, rateLimitHeaderValue, sfString } from './rate-limit/headers.js';
import { clusterLimiter, REDIS_SERVICE, type ClusterVerdict } from './rate-limit/cluster.js';
import { counter } from '../observability/metrics.js';
import type { Redis } from 'ioredis';

/** services key of the config being compiled (to tell a global rateLimit from a route's). */
export const CONFIG_SERVICE = 'gatewayConfig';

const rejected = counter('gateway_rate_limit_rejected_total', 'Requests refused with 429 by rateLimit.', ['route']);
const evictions = counter(
  'gateway_rate_limit_bucket_evictions_total',
  'Buckets evicted from the full shared-memory table (docs/plugins/rate-limit.md, "Full table").',
);

const UNAVAILABLE: LocalReply = { status: 503, code: 'rate_limit_unavailable', headers: ['retry-after', '1'] };

/** The table, or a clear error: a local rateLimit without its table would limit nothing. */
function tableOf(deps: PluginDeps): TokenBucketTable {
  const table = deps.services.get(TOKEN_BUCKETS_SERVICE) as TokenBucketTable | undefined;
  if (table === undefined) {
    throw new Error('rateLimit: the shared-memory token-bucket table is not available in this process');
  }
  return table;
}

export const rateLimitPlugin: PluginDefinition<RateLimitPluginConfig> = {
  name: 'rateLimit',
  phase: 'rateLimit',
  compile(conf, deps): PluginInstance {
    const rps = conf.requestsPerSecond;
    const burst = conf.burst ?? Math.max(1, Math.ceil(rps));
    const keySpec = conf.key ?? 'ip';
    const routeId = deps.routeId ?? '';
    const config = deps.services.get(CONFIG_SERVICE) as GatewayConfig | undefined;
    const isGlobal = config !== undefined && config.plugins?.rateLimit === conf;
    const owner = isGlobal ? 'global' : 'route:' + routeId;
    const identity = `${owner}|${rps}|${burst}|${keySpec}`;
    const keyOf = compileKey(keySpec, routeId);

    const policyName = isGlobal ? 'global' : routeId;
    const quotedName = sfString(policyName);
    const policyHeader = policyHeaderValue(policyName, rps, burst);
    const numbers = policyNumbers(rps, burst);

    const refuse = (ctx: RequestContext, retryAfter: number, resetSeconds: number): LocalReply => {
      rejected.inc(routeId);
      const ra = String(retryAfter);
      return {
        status: 429,
        code: 'rate_limited',
        headers: ['retry-after', ra, 'ratelimit-policy', policyHeader, 'ratelimit', rateLimitHeaderValue(quotedName, 0, resetSeconds)],
      };
    };
    const removeResponseHeaders = ['ratelimit', 'ratelimit-policy'];

    if ((conf.scope ?? 'local') === 'cluster') {
      const redis = (deps.services.get(REDIS_SERVICE) as Redis | undefined) ?? null;
      const prefix = config?.cluster?.keyPrefix ?? 'gateway:';
      const limiter = clusterLimiter(redis, prefix, identity, rps, burst, routeId);
      const failOpen = conf.failOpen ?? true;
      const decide = (ctx: RequestContext, v: ClusterVerdict): LocalReply | undefined => {
        if (v.kind === 'admit') {
          ctx.responseHeaders.push('ratelimit-policy', policyHeader, 'ratelimit', rateLimitHeaderValue(quotedName, v.remaining, v.resetSeconds));
          return undefined;
        }
        if (v.kind === 'deny') return refuse(ctx, v.retryAfter, v.resetSeconds);
        return failOpen ? undefined : UNAVAILABLE;
      };
      return {
        access(ctx) {
          const v = limiter.take(keyOf(ctx));
          if (v instanceof Promise) return v.then((r) => decide(ctx, r));
          return decide(ctx, v);
        },
        removeResponseHeaders,
      };
    }

    const table = tableOf(deps);
    const policyId = table.policy(identity, rps, burst);
    const take = table.take;
    return {
      // hot path: one native call, no Promise.
      access(ctx) {
        const r = take(policyId, keyOf(ctx));
        if (r >= 0 || r !== r) {
          // (NaN cannot come from the real clock; admitting is the answer that cannot wedge a client.)
          if (table.lastEvent() === EVENT_EVICTED) evictions.inc();
          ctx.responseHeaders.push(
            'ratelimit-policy', policyHeader,
            'ratelimit', rateLimitHeaderValue(quotedName, remainingAfter(r, numbers), secondsUntilFull(r, numbers)),
          );
          return undefined;
        }
        return refuse(ctx, retryAfterSeconds(r), secondsUntilFull(r, numbers));
      },
      removeResponseHeaders,
    };
  },
};
