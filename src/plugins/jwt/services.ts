/**
 * jwt's services. VERIFIERS has lifetime 'version': each config version gets its own map, so
 * the routes of one version that have the same jwt settings share one verifier (key source +
 * token cache), and a reload builds new ones: a `publicKeyFile` is read again (a rotated key
 * is picked up, the old one no longer verifies), a JWKS is fetched again, and the retired
 * version's verifiers and their caches are dropped. (Key sets fetched from a jwksUrl are
 * kept per process: JWKS_SOURCES.)
 */
import type { Service } from '../api.js';
import type { Verifier } from './verify.js';
import type { JwksSource } from './jwks.js';

/**
 * Key sets by jwksUrl, lifetime 'process': shared by every route and config version that uses
 * the URL (a reload does not refetch; docs/plugins/jwt.md, "JWKS").
 */
export const JWKS_SOURCES: Service<Map<string, JwksSource>> = {
  name: 'jwt.jwksSources',
  lifetime: 'process',
  create: () => new Map(),
};

export const VERIFIERS: Service<Map<string, Verifier>> = {
  name: 'jwt.verifiers',
  lifetime: 'version',
  create: () => new Map(),
  dispose: (verifiers) => {
    for (const v of verifiers.values()) v.dispose();
    verifiers.clear();
  },
};
