/** rateLimit: scope "cluster" needs cluster.redis. */
import type { CheckEnv, Reporter } from '../api.js';
import type { RateLimitPluginConfig } from './schema.js';

export function checkRateLimit(rl: RateLimitPluginConfig, r: Reporter, env: CheckEnv): void {
  if (rl.scope === 'cluster' && !env.hasCluster) r.error('/scope', 'scope "cluster" needs the top-level cluster.redis setting');
}
