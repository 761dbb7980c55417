/**
 * Every plugin the gateway knows, in the order they run (CONFIG.md: requestId, then CORS
 * preflight, then ipRestriction -> jwt / apiKey / basicAuth -> acl -> rateLimit -> header
 * transforms; cache and encoding are known to the config but not implemented yet).
 *
 * This list is the single source: the config schema's global and route `plugins`
 * (src/config/schema.ts), the plugin names, the redaction of plugin secrets, the "not
 * implemented" refusals and the pipeline order all derive from it. A new plugin is one folder
 * (docs/plugins/README.md) plus one line here.
 */
import type { Phase } from './api.js';
import { requestIdPlugin } from './request-id/index.js';
import { corsPlugin } from './cors/index.js';
import { ipRestrictionPlugin } from './ip-restriction/index.js';
import { jwtPlugin } from './jwt/index.js';
import { apiKeyPlugin } from './api-key/index.js';
import { basicAuthPlugin } from './basic-auth/index.js';
import { aclPlugin } from './acl/index.js';
import { rateLimitPlugin } from './rate-limit/index.js';
import { requestHeadersPlugin } from './request-headers/index.js';
import { responseHeadersPlugin } from './response-headers/index.js';
import { cachePlugin } from './cache/index.js';
import { encodingPlugin } from './encoding/index.js';

export const PHASE_ORDER: readonly Phase[] = ['requestId', 'cors', 'ip', 'auth', 'acl', 'rateLimit', 'transform'];

/** THE ordered list: phases in PHASE_ORDER, plugins of one phase in the order they run. */
export const REGISTRY = [
  requestIdPlugin,
  corsPlugin,
  ipRestrictionPlugin,
  jwtPlugin,
  apiKeyPlugin,
  basicAuthPlugin,
  aclPlugin,
  rateLimitPlugin,
  requestHeadersPlugin,
  responseHeadersPlugin,
  cachePlugin,
  encodingPlugin,
] as const;

export type RegisteredPlugin = (typeof REGISTRY)[number];

for (let i = 1; i < REGISTRY.length; i++) {
  if (PHASE_ORDER.indexOf(REGISTRY[i].phase) < PHASE_ORDER.indexOf(REGISTRY[i - 1].phase)) {
    throw new Error(`plugin registry: "${REGISTRY[i].name}" (phase ${REGISTRY[i].phase}) is listed after a later phase`);
  }
}

/** The descriptor of a config name, or undefined. */
export function descriptorOf(name: string): RegisteredPlugin | undefined {
  return REGISTRY.find((d) => d.name === name);
}
