/** The `cors` plugin's config schema (part of the config contract, docs/configuration.md). */
import { Type } from '@sinclair/typebox';
import { closed, durationMs, StringList, withDefault, type Resolved } from '../../util/schema-kit.js';

export const CorsPluginSchema = Type.Object(
  {
    origins: withDefault(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        description: 'Allowed origins: "*", "https://app.example" or "https://*.example.com".',
        default: ['*'],
      }),
    ),
    methods: withDefault(
      StringList('Allowed methods (preflight answer).', ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE']),
    ),
    headers: Type.Optional(
      StringList('Allowed request headers. Absent: the preflight\'s Access-Control-Request-Headers are echoed.'),
    ),
    exposeHeaders: withDefault(StringList('Response headers the browser may read (Access-Control-Expose-Headers).', [])),
    credentials: withDefault(
      Type.Boolean({ description: 'Access-Control-Allow-Credentials; cannot be used with origin "*".', default: false }),
    ),
    maxAgeMs: withDefault(durationMs('How long browsers cache a preflight (sent in seconds).', 600000)),
  },
  { ...closed, description: 'CORS: preflights are answered first; headers go on every answer.' },
);

export type CorsPluginConfig = Resolved<typeof CorsPluginSchema>;
