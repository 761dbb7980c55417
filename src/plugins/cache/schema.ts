/** The `cache` plugin's config schema (part of the config contract, docs/configuration.md). */
import { Type } from '@sinclair/typebox';
import { closed, durationMs, sizeBytes, withDefault, type Resolved } from '../../util/schema-kit.js';

export const CachePluginSchema = Type.Object(
  {
    ttlMs: withDefault(durationMs('How long a cached response is served.', 5000)),
    maxBytes: withDefault(sizeBytes('Total size of the cached responses.', 67108864)),
    methods: withDefault(
      Type.Array(Type.Union([Type.Literal('GET'), Type.Literal('HEAD')]), {
        minItems: 1,
        uniqueItems: true,
        description: 'Cached methods: "GET" and/or "HEAD".',
        default: ['GET', 'HEAD'],
      }),
    ),
  },
  { ...closed, description: 'Response cache.' },
);

export type CachePluginConfig = Resolved<typeof CachePluginSchema>;
