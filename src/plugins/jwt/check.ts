/** jwt: exactly one key source, algorithms that fit it ("none" never), forwardClaims header names. */
import type { Reporter } from '../api.js';
import { checkHeaderName, escapePointer, isObject, isString, list } from '../check-kit.js';
import type { JwtPluginConfig } from './schema.js';

const HMAC_ALGS = new Set(['HS256', 'HS384', 'HS512']);

export function checkJwt(jwt: JwtPluginConfig, r: Reporter): void {
  const sources = (['secret', 'publicKeyFile', 'jwksUrl'] as const).filter((k) => jwt[k] !== undefined);
  if (sources.length === 0) r.error('', 'set exactly one of "secret", "publicKeyFile" or "jwksUrl"');
  else if (sources.length > 1) {
    r.error('', `${sources.map((s) => `"${s}"`).join(' and ')} are mutually exclusive: set exactly one of "secret", "publicKeyFile" or "jwksUrl"`);
  }
  list(jwt.algorithms).forEach((alg, i) => {
    const ap = `/algorithms/${i}`;
    if (!isString(alg)) return;
    if (alg.toLowerCase() === 'none') {
      r.error(ap, '"none" is never accepted: tokens must be signed');
      return;
    }
    if (sources.length !== 1) return;
    const hmac = HMAC_ALGS.has(alg);
    if (sources[0] === 'secret' && !hmac && /^(RS|PS|ES)(256|384|512)$|^EdDSA$/.test(alg)) {
      r.error(ap, `"${alg}" needs "publicKeyFile" or "jwksUrl"; with "secret" only HS256, HS384 and HS512 are allowed`);
    } else if (sources[0] !== 'secret' && hmac) {
      r.error(
        ap,
        `"${alg}" needs "secret": with "${sources[0]}" only RS*, PS*, ES* and EdDSA are allowed (HMAC with a public key would let anyone forge tokens)`,
      );
    }
  });
  if (isObject(jwt.forwardClaims)) {
    for (const [claim, header] of Object.entries(jwt.forwardClaims)) {
      checkHeaderName(r, `/forwardClaims/${escapePointer(claim)}`, header);
    }
  }
}
