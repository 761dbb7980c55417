/**
 * ipRestriction: IPv4 / IPv6 CIDR allow and deny lists on the client address, 403 `forbidden`.
 *
 * The client address is ctx.clientIp: the TCP peer, or, when the peer is in `trustedProxies`,
 * the nearest X-Forwarded-For hop that is not itself a trusted proxy (src/worker/http-server.ts).
 * A client that is not behind a trusted proxy cannot choose its address with X-Forwarded-For.
 *
 * deny wins over allow; `allow` absent = everybody not denied, `allow: []` = nobody.
 * IPv4-mapped IPv6 peers (::ffff:10.0.0.1) match IPv4 ranges (src/net/cidr.ts).
 */
import type { IpRestrictionPluginConfig } from '../config/schema.js';
import { compileCidrs } from '../net/cidr.js';
import type { LocalReply, PluginDefinition } from './types.js';

const FORBIDDEN: LocalReply = { status: 403, code: 'forbidden' };

export const ipRestrictionPlugin: PluginDefinition<IpRestrictionPluginConfig> = {
  name: 'ipRestriction',
  phase: 'ip',
  compile(conf) {
    const denied = compileCidrs(conf.deny ?? []);
    const allowed = conf.allow !== undefined ? compileCidrs(conf.allow) : null;
    return {
      access(ctx) {
        const ip = ctx.clientIp;
        if (denied(ip)) return FORBIDDEN;
        if (allowed !== null && !allowed(ip)) return FORBIDDEN;
        return undefined;
      },
    };
  },
};
