/** The `basic-auth` plugin's config schema (part of the config contract, docs/configuration.md). */
import { Type } from '@sinclair/typebox';
import { closed, withDefault, type Resolved } from '../../util/schema-kit.js';

export const BasicAuthPluginSchema = Type.Object(
  {
    realm: withDefault(
      Type.String({ minLength: 1, description: 'Realm in the WWW-Authenticate challenge.', default: 'gateway' }),
    ),
  },
  { ...closed, description: "HTTP Basic authentication against consumers' basicAuth." },
);

export type BasicAuthPluginConfig = Resolved<typeof BasicAuthPluginSchema>;
