/** The config schema of the header transforms `requestHeaders` and `responseHeaders` (part of the config contract, docs/configuration.md). */
import { Type } from '@sinclair/typebox';
import { closed, HeaderValueMap, StringList, withDefault, type Resolved } from '../../util/schema-kit.js';

export const HeadersPluginSchema = Type.Object(
  {
    set: withDefault(HeaderValueMap('Headers set (replacing any value): { "<name>": "<value>" }.')),
    remove: withDefault(StringList('Header names removed.', [])),
  },
  { ...closed, description: 'Header transform.' },
);

export type HeadersPluginConfig = Resolved<typeof HeadersPluginSchema>;
