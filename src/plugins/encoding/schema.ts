/** The `encoding` plugin's config schema (part of the config contract, docs/configuration.md). */
import { Type } from '@sinclair/typebox';
import { closed, withDefault, type Resolved } from '../../util/schema-kit.js';

export const EncodingPluginSchema = Type.Object(
  {
    msgpack: withDefault(
      Type.Boolean({
        description:
          'Accept: application/msgpack turns a JSON answer into MessagePack, and a MessagePack request body into JSON for the upstream.',
        default: true,
      }),
    ),
  },
  { ...closed, description: 'Content encodings.' },
);

export type EncodingPluginConfig = Resolved<typeof EncodingPluginSchema>;
