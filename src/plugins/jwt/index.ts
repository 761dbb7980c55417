/**
 * jwt: Bearer token authentication (docs/plugins/jwt.md).
 *
 * The token comes from `Authorization: Bearer <token>` (scheme in any letter case). Keys come
 * from exactly one of `secret` (HS*), `publicKeyFile` (PEM / JWK / JWK Set) or `jwksUrl`
 * (fetched and cached per worker, jwt/jwks.ts). Only the configured `algorithms` are accepted.
 *
 * Answers: no Bearer credentials -> 401 with `WWW-Authenticate: Bearer` (RFC 6750: no error
 * code when none were sent); a token that fails any check -> 401 with
 * `WWW-Authenticate: Bearer error="invalid_token"`. Both carry the standard JSON error body
 * with the generic message; the reason is only logged (debug level).
 *
 * On success: the verified payload is in the request's CLAIMS slot (ctx.get(CLAIMS)); a `sub` equal to a consumer's `jwtSubject`
 * makes that the consumer; every `forwardClaims` header is removed from the request and, when
 * the claim is present, set from it.
 *
 * Performance: verification is synchronous when the key is at hand (node:crypto on a cached
 * KeyObject), and verified tokens are kept in a bounded cache, so the common case neither
 * allocates a Promise nor repeats the signature check. Verifiers (key source + token cache) are
 * shared by the routes of one config version that have the same jwt settings (the VERIFIERS
 * service, lifetime 'version': a reload reads the key file again, see services.ts).
 *
 * A key file that cannot be used (unreadable, a private key, no key for the algorithms) is a
 * ConfigFault at `publicKeyFile`: `gateway validate`, start and reload report it there.
 */
import { ConfigFault, definePlugin, type CompileDeps, type LocalReply } from '../api.js';
import { slot, type RequestContext } from '../context.js';
import type { ConsumerDirectory } from '../consumers.js';
import { fileKeySource, secretKeySource, type KeySource } from './keys.js';
import { JwksSource, jwksSource } from './jwks.js';
import { TokenCache, Verifier, type Verdict, type VerifiedToken } from './verify.js';
import { log } from '../../observability/log.js';
import { isPromise } from '../../util/promise.js';
import { JwtPluginSchema, type JwtPluginConfig } from './schema.js';
import { checkJwt } from './check.js';
import { JWKS_SOURCES, VERIFIERS } from './services.js';

/** The verified claims of the request's token. */
export const CLAIMS = slot<Readonly<Record<string, unknown>>>('jwt.claims');

/** Internal switches for measurements (docs/plugins/jwt.md, Performance); not config. */
const VERIFY_MODE: 'sync' | 'jose' = process.env.GATEWAY_JWT_VERIFY === 'jose' ? 'jose' : 'sync';
const TOKEN_CACHE = !['0', 'off', 'false'].includes((process.env.GATEWAY_JWT_TOKEN_CACHE ?? '').toLowerCase());

function reply(challenge: string): LocalReply {
  return Object.freeze({ status: 401, code: 'unauthorized', headers: Object.freeze(['www-authenticate', challenge]) as string[] });
}

/** No Bearer credentials in the request. */
export const JWT_MISSING = reply('Bearer');
/** Bearer credentials that did not verify. */
export const JWT_INVALID = reply('Bearer error="invalid_token"');

/**
 * The token from an Authorization value: null when it is not Bearer credentials (another
 * scheme), "" when the Bearer scheme has no token.
 */
export function bearerToken(auth: string): string | null {
  if (auth.length < 6 || auth.slice(0, 6).toLowerCase() !== 'bearer') return null;
  if (auth.length === 6) return '';
  const c = auth.charCodeAt(6);
  if (c !== 32 && c !== 9) return null;
  return auth.slice(7).trim();
}

/** One verifier per distinct jwt setting per config version. */
function verifierFor(conf: JwtPluginConfig, deps: CompileDeps): Verifier {
  const memo = deps.use(VERIFIERS);
  const key = JSON.stringify([conf.secret, conf.publicKeyFile, conf.jwksUrl, conf.algorithms, conf.issuer, conf.audience, conf.clockToleranceMs]);
  let v = memo.get(key);
  if (v === undefined) {
    let source: KeySource;
    if (conf.secret !== undefined) {
      if (Buffer.byteLength(conf.secret, 'utf8') < 32) {
        log('warn', 'jwt secret is shorter than 32 bytes: RFC 7518 wants at least the hash size (HS256: 32 bytes)', { route: deps.routeId });
      }
      source = secretKeySource(conf.secret);
    } else if (conf.publicKeyFile !== undefined) {
      try {
        source = fileKeySource(conf.publicKeyFile, conf.algorithms);
      } catch (err) {
        throw new ConfigFault('/publicKeyFile', (err as Error).message);
      }
    } else if (conf.jwksUrl !== undefined) {
      // A probe (`gateway validate`) fetches nothing: its source is never asked for keys.
      source = deps.role === 'probe' ? new JwksSource(conf.jwksUrl) : jwksSource(deps.use(JWKS_SOURCES), conf.jwksUrl);
    } else {
      throw new Error('jwt: set exactly one of secret, publicKeyFile or jwksUrl'); // the loader refuses this first
    }
    v = new Verifier(
      source,
      {
        algorithms: conf.algorithms,
        issuer: conf.issuer,
        audience: conf.audience,
        clockToleranceMs: conf.clockToleranceMs,
        mode: VERIFY_MODE,
      },
      TOKEN_CACHE ? new TokenCache() : null,
    );
    memo.set(key, v);
  }
  return v;
}

/** A claim as a header value, or null when it cannot be one (absent, null, control characters). */
export function claimHeaderValue(v: unknown): string | null {
  let s: string;
  if (typeof v === 'string') s = v;
  else if (typeof v === 'number' || typeof v === 'boolean') s = String(v);
  else if (typeof v === 'object' && v !== null) s = JSON.stringify(v);
  else return null;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(s)) return null;
  // Non-ASCII goes out as its UTF-8 bytes (header strings are written as latin1).
  // eslint-disable-next-line no-control-regex
  return /[^\x00-\x7f]/.test(s) ? Buffer.from(s, 'utf8').toString('latin1') : s;
}

export const jwtPlugin = definePlugin({
  name: 'jwt',
  phase: 'auth',
  schema: JwtPluginSchema,
  files: (conf) => (conf.publicKeyFile !== undefined ? [{ at: '/publicKeyFile', path: conf.publicKeyFile }] : []),
  check: checkJwt,
  compile(conf, deps) {
    const verifier = verifierFor(conf, deps);
    const consumers: ConsumerDirectory = deps.consumers;
    const forward = Object.entries(conf.forwardClaims).map(([claim, header]) => [claim, header.toLowerCase()] as const);
    const routeId = deps.routeId;

    const done = (ctx: RequestContext, v: Verdict): LocalReply | undefined => {
      if (typeof v === 'string') {
        log('debug', 'jwt refused', { route: routeId, requestId: ctx.requestId || undefined, reason: v });
        return JWT_INVALID;
      }
      return accept(ctx, v);
    };

    const accept = (ctx: RequestContext, v: VerifiedToken): LocalReply | undefined => {
      const claims = v.claims;
      if (v.sub !== undefined) {
        const consumer = consumers.byJwtSubject.get(v.sub);
        if (consumer !== undefined) {
          // Several auth plugins on a route must all pass, for the same consumer.
          if (ctx.consumer !== null && ctx.consumer !== consumer) return JWT_INVALID;
          ctx.consumer = consumer;
        }
      }
      ctx.set(CLAIMS, claims);
      for (let i = 0; i < forward.length; i++) {
        const [claim, header] = forward[i];
        ctx.removeHeader(header);
        if (!Object.hasOwn(claims, claim)) continue;
        const value = claimHeaderValue(claims[claim]);
        if (value !== null) ctx.appendHeader(header, value);
      }
      return undefined;
    };

    return {
      onRequest(ctx) {
        const auth = ctx.header('authorization');
        if (auth === undefined) return JWT_MISSING;
        if (ctx.headerCount('authorization') > 1) return done(ctx, 'several Authorization headers');
        const token = bearerToken(auth);
        if (token === null) return JWT_MISSING;
        if (token === '') return done(ctx, 'empty Bearer token');
        const v = verifier.verify(token);
        if (isPromise(v)) return v.then((r) => done(ctx, r));
        return done(ctx, v);
      },
    };
  },
});
