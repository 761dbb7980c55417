/** The `rate-limit` plugin's config schema (part of the config contract, docs/configuration.md). */
import { Type } from '@sinclair/typebox';
import { closed, computed, withDefault, type Resolved } from '../../util/schema-kit.js';

export const RateLimitPluginSchema = Type.Object(
  {
    requestsPerSecond: Type.Number({
      exclusiveMinimum: 0,
      description: 'Token refill rate (required, > 0; fractions allowed: 0.5 = one request every 2 s).',
    }),
    burst: computed(
      Type.Integer({
        minimum: 1,
        description: 'Bucket size. Default: requestsPerSecond rounded up.',
      }),
    ),
    key: withDefault(
      Type.String({
        pattern: "^(ip|consumer|route|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+)$",
        patternErrorMessage: 'expected "ip", "consumer", "route" or "header:<name>"',
        description: 'What a bucket is per: "ip", "consumer", "route" or "header:<name>".',
        default: 'ip',
      }),
    ),
    scope: withDefault(
      Type.Union([Type.Literal('local'), Type.Literal('cluster')], {
        description: '"local": this machine, exact across all workers; "cluster": all gateway nodes via cluster.redis.',
        default: 'local',
      }),
    ),
    failOpen: withDefault(
      Type.Boolean({
        description: 'Cluster scope with Redis unreachable: admit (true, with a metric and a warning) or 503 (false).',
        default: true,
      }),
    ),
  },
  { ...closed, description: 'Token-bucket rate limit (429 with Retry-After and RateLimit headers).' },
);

export type RateLimitPluginConfig = Resolved<typeof RateLimitPluginSchema>;
