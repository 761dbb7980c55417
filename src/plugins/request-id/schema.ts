/** The `request-id` plugin's config schema (part of the config contract, docs/configuration.md). */
import { Type } from '@sinclair/typebox';
import { closed, withDefault, type Resolved } from '../../util/schema-kit.js';

export const RequestIdPluginSchema = Type.Object(
  {
    header: withDefault(
      Type.String({ minLength: 1, description: 'Header carrying the request id.', default: 'x-request-id' }),
    ),
  },
  { ...closed, description: 'Request id: generated when absent, forwarded, echoed on the response.' },
);

export type RequestIdPluginConfig = Resolved<typeof RequestIdPluginSchema>;
