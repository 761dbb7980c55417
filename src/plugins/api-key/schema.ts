/** The `api-key` plugin's config schema (part of the config contract, docs/configuration.md). */
import { Type } from '@sinclair/typebox';
import { closed, withDefault, type Resolved } from '../../util/schema-kit.js';

export const ApiKeyPluginSchema = Type.Object(
  {
    header: withDefault(
      Type.String({ minLength: 1, description: 'Request header carrying the key.', default: 'x-api-key' }),
    ),
    query: withDefault(
      Type.Union([Type.String({ minLength: 1 }), Type.Literal(false)], {
        description: 'Query parameter carrying the key; false = keys in the query string are not accepted.',
        default: 'api_key',
      }),
    ),
  },
  { ...closed, description: "API key authentication against consumers' apiKeys." },
);

export type ApiKeyPluginConfig = Resolved<typeof ApiKeyPluginSchema>;
