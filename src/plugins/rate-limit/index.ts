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
import { definePlugin, type LocalReply, type PluginInstance } from '../api.js';
import type { RequestContext } from '../context.js';
import { EVENT_EVICTED, policyNumbers, remainingAfter, retryAfterSeconds, secondsUntilFull } from '../../native/token-buckets.js';
import { compileKey } from './keys.js';
import { policyHeaderValue, rateLimitHeaderValue, sfString } from './headers.js';
import { clusterLimiter, type ClusterVerdict } from './cluster.js';
import { counter } from '../../observability/metrics.js';
import { RateLimitPluginSchema } from './schema.js';
import { checkRateLimit } from './check.js';
import { CLUSTER, REDIS, TOKEN_TABLE } from './services.js';

const rejected = counter('gateway_rate_limit_rejected_total', 'Requests refused with 429 by rateLimit.', ['route']);
const evictions = counter(
  'gateway_rate_limit_bucket_evictions_total',
  'Buckets evicted from the full shared-memory table (docs/plugins/rate-limit.md, "Full table").',
);

const UNAVAILABLE: LocalReply = { status: 503, code: 'rate_limit_unavailable', headers: ['retry-after', '1'] };

/** The default burst: requestsPerSecond rounded up (the schema's `computed` burst). */
export function defaultBurst(rps: number): number {
  return Math.max(1, Math.ceil(rps));
}

export const rateLimitPlugin = definePlugin({
  name: 'rateLimit',
  phase: 'rateLimit',
  schema: RateLimitPluginSchema,
  check: checkRateLimit,
  normalize(conf) {
    return conf.burst !== undefined ? conf : { ...conf, burst: defaultBurst(conf.requestsPerSecond) };
  },
  compile(conf, deps): PluginInstance {
    const rps = conf.requestsPerSecond;
    const burst = conf.burst;
    const keySpec = conf.key;
    const routeId = deps.routeId;
    const isGlobal = deps.scope.kind === 'global';
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

    if (conf.scope === 'cluster') {
      const redis = deps.use(REDIS);
      const cluster = deps.use(CLUSTER);
      // The check refuses scope "cluster" without cluster.redis.
      const limiter = clusterLimiter(redis, cluster !== null ? cluster.keyPrefix : '', identity, rps, burst, routeId);
      const failOpen = conf.failOpen;
      const decide = (ctx: RequestContext, v: ClusterVerdict): LocalReply | undefined => {
        if (v.kind === 'admit') {
          ctx.responseHeaders.push('ratelimit-policy', policyHeader, 'ratelimit', rateLimitHeaderValue(quotedName, v.remaining, v.resetSeconds));
          return undefined;
        }
        if (v.kind === 'deny') return refuse(ctx, v.retryAfter, v.resetSeconds);
        return failOpen ? undefined : UNAVAILABLE;
      };
      return {
        onRequest(ctx) {
          const v = limiter.take(keyOf(ctx));
          if (v instanceof Promise) return v.then((r) => decide(ctx, r));
          return decide(ctx, v);
        },
        removeResponseHeaders,
      };
    }

    // A local rateLimit without its table would limit nothing: TOKEN_TABLE throws instead.
    const table = deps.use(TOKEN_TABLE);
    const policyId = table.policy(identity, rps, burst);
    const take = table.take;
    return {
      // hot path: one native call, no Promise.
      onRequest(ctx) {
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
});
