/** The `jwt` plugin's config schema (part of the config contract, docs/configuration.md). */
import { Type } from '@sinclair/typebox';
import { closed, durationMs, secret, withDefault, StringMap, type Resolved } from '../../util/schema-kit.js';

export const JWT_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
] as const;

export const JwtPluginSchema = Type.Object(
  {
    secret: Type.Optional(
      secret(
        Type.String({
          minLength: 1,
          description: 'HMAC secret (its UTF-8 bytes), for HS* algorithms. Use "env:NAME". Redacted in GET /config.',
        }),
      ),
    ),
    publicKeyFile: Type.Optional(
      Type.String({ minLength: 1, description: 'PEM public key file, for RS*/PS*/ES*/EdDSA algorithms.' }),
    ),
    jwksUrl: Type.Optional(
      Type.String({
        pattern: '^https?://',
        patternErrorMessage: 'expected an http:// or https:// URL',
        description: 'JWKS URL (http or https), for RS*/PS*/ES*/EdDSA algorithms.',
      }),
    ),
    algorithms: Type.Array(
      Type.Union(
        JWT_ALGORITHMS.map((a) => Type.Literal(a)),
        { description: 'A JWS algorithm ("none" is never accepted).' },
      ),
      {
        minItems: 1,
        uniqueItems: true,
        description: 'Accepted algorithms (required). HS* need `secret`; the others need `publicKeyFile` or `jwksUrl`.',
      },
    ),
    issuer: Type.Optional(Type.String({ minLength: 1, description: 'Required `iss` claim. Absent: not checked.' })),
    audience: Type.Optional(
      Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], {
        description: 'Required `aud` (one of these). Absent: not checked.',
      }),
    ),
    clockToleranceMs: withDefault(durationMs('Leeway for `exp` / `nbf` / `iat`.', 5000)),
    forwardClaims: withDefault(StringMap('Verified claims copied to upstream request headers: { "<claim>": "<header>" }.')),
  },
  {
    ...closed,
    description: 'JWT bearer authentication. Set exactly one of secret | publicKeyFile | jwksUrl.',
  },
);

export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];
export type JwtPluginConfig = Resolved<typeof JwtPluginSchema>;
