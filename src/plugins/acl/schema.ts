/** The `acl` plugin's config schema (part of the config contract, docs/configuration.md). */
import { Type } from '@sinclair/typebox';
import { closed, type Resolved } from '../../util/schema-kit.js';

export const AclPluginSchema = Type.Object(
  {
    allowGroups: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        description: 'The authenticated consumer must be in one of these groups.',
      }),
    ),
    denyGroups: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        description: 'A consumer in any of these groups is refused (deny wins over allow).',
      }),
    ),
  },
  { ...closed, description: 'Group-based access control (at least one of allowGroups / denyGroups); needs an authentication plugin on the route.' },
);

export type AclPluginConfig = Resolved<typeof AclPluginSchema>;
