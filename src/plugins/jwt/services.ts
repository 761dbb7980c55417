/**
 * jwt's services. VERIFIERS has lifetime 'version': each config version gets its own map, so
 * the routes of one version that have the same jwt settings share one verifier (key source +
 * token cache), and a reload builds new ones: a `publicKeyFile` is read again (a rotated key
 * is picked up, the old one no longer verifies), a JWKS is fetched again, and the retired
 * version's verifiers and their caches are dropped.
 */
import type { Service } from '../api.js';
import type { Verifier } from './verify.js';

export const VERIFIERS: Service<Map<string, Verifier>> = {
  name: 'jwt.verifiers',
  lifetime: 'version',
  create: () => new Map(),
  dispose: (verifiers) => {
    for (const v of verifiers.values()) v.dispose();
    verifiers.clear();
  },
};
