/**
 * Every plugin the gateway knows, in the order they run (CONFIG.md: requestId, then CORS
 * preflight, then ipRestriction -> jwt / apiKey / basicAuth -> acl -> rateLimit -> header
 * transforms). A new plugin is one file plus one line here.
 */
import type { PluginDefinition, Phase } from './types.js';
import { jwtPlugin } from './jwt.js';
import { requestHeadersPlugin } from './request-headers.js';
import { responseHeadersPlugin } from './response-headers.js';
import { apiKeyPlugin } from './api-key.js';
import { basicAuthPlugin } from './basic-auth.js';
import { corsPlugin } from './cors.js';
import { ipRestrictionPlugin } from './ip-restriction.js';
import { aclPlugin } from './acl.js';
import { rateLimitPlugin } from './rate-limit.js';

export const PHASE_ORDER: readonly Phase[] = ['requestId', 'cors', 'ip', 'auth', 'acl', 'rateLimit', 'transform'];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const ALL: PluginDefinition<any>[] = [
  jwtPlugin,
  apiKeyPlugin,
  basicAuthPlugin,
  corsPlugin,
  ipRestrictionPlugin,
  aclPlugin,
  rateLimitPlugin,
  requestHeadersPlugin,
  responseHeadersPlugin,
];

/** Sorted by phase; within a phase, by position in ALL. */
export const PLUGINS: readonly PluginDefinition<unknown>[] = [...ALL].sort(
  (a, b) => PHASE_ORDER.indexOf(a.phase) - PHASE_ORDER.indexOf(b.phase) || ALL.indexOf(a) - ALL.indexOf(b),
);

/** Config names under `plugins` this build serves: the plugins, and requestId (a core feature, src/worker/request-id.ts). */
export const IMPLEMENTED_PLUGINS: ReadonlySet<string> = new Set([...ALL.map((p) => p.name), 'requestId']);
