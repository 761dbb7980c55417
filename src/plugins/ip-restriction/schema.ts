/** The `ip-restriction` plugin's config schema (part of the config contract, docs/configuration.md). */
import { Type } from '@sinclair/typebox';
import { closed, withDefault, type Resolved } from '../../util/schema-kit.js';

export const IpRestrictionPluginSchema = Type.Object(
  {
    allow: Type.Optional(
      Type.Array(Type.String(), {
        description: 'Only these CIDRs / addresses may call. Absent: everybody not denied.',
      }),
    ),
    deny: withDefault(
      Type.Array(Type.String(), { description: 'These CIDRs / addresses are refused (deny wins over allow).', default: [] }),
    ),
  },
  { ...closed, description: 'Client IP allow/deny lists (403), on the client address after trustedProxies.' },
);

export type IpRestrictionPluginConfig = Resolved<typeof IpRestrictionPluginSchema>;
