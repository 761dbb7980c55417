/**
 * acl: group-based access control on the consumer an auth plugin (jwt, apiKey, basicAuth)
 * authenticated earlier in the pipeline (phase 'acl' runs after 'auth').
 *
 *   - no authenticated consumer: 401 `unauthorized`;
 *   - consumer in one of `denyGroups`: 403 `forbidden` (deny wins);
 *   - `allowGroups` set and the consumer in none of them: 403 `forbidden`.
 */
import { definePlugin, type LocalReply } from '../api.js';
import { isObject } from '../check-kit.js';
import { AclPluginSchema } from './schema.js';

const UNAUTHORIZED: LocalReply = { status: 401, code: 'unauthorized' };
const FORBIDDEN: LocalReply = { status: 403, code: 'forbidden' };

export const aclPlugin = definePlugin({
  name: 'acl',
  phase: 'acl',
  schema: AclPluginSchema,
  check(conf, r) {
    if (isObject(conf) && conf.allowGroups === undefined && conf.denyGroups === undefined) {
      r.error('', 'set "allowGroups", "denyGroups" or both');
    }
  },
  compile(conf) {
    const allow = conf.allowGroups !== undefined ? new Set(conf.allowGroups) : null;
    const deny = conf.denyGroups !== undefined && conf.denyGroups.length > 0 ? new Set(conf.denyGroups) : null;
    return {
      onRequest(ctx) {
        const consumer = ctx.consumer;
        if (consumer === null) return UNAUTHORIZED;
        const groups = consumer.groups;
        if (deny !== null) {
          for (let i = 0; i < groups.length; i++) if (deny.has(groups[i])) return FORBIDDEN;
        }
        if (allow === null) return undefined;
        for (let i = 0; i < groups.length; i++) if (allow.has(groups[i])) return undefined;
        return FORBIDDEN;
      },
    };
  },
});
