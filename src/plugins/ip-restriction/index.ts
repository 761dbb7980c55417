/**
 * ipRestriction: IPv4 / IPv6 CIDR allow and deny lists on the client address, 403 `forbidden`.
 *
 * The client address is ctx.clientIp: the TCP peer, or, when the peer is in `trustedProxies`,
 * the nearest X-Forwarded-For hop that is not itself a trusted proxy (src/worker/head.ts).
 * A client that is not behind a trusted proxy cannot choose its address with X-Forwarded-For.
 *
 * deny wins over allow; `allow` absent = everybody not denied, `allow: []` = nobody.
 * IPv4-mapped IPv6 peers (::ffff:10.0.0.1) match IPv4 ranges (src/net/cidr.ts).
 */
import { compileCidrs } from '../../net/cidr.js';
import { definePlugin, type LocalReply } from '../api.js';
import { checkCidr, list } from '../check-kit.js';
import { IpRestrictionPluginSchema } from './schema.js';

const FORBIDDEN: LocalReply = { status: 403, code: 'forbidden' };

export const ipRestrictionPlugin = definePlugin({
  name: 'ipRestriction',
  phase: 'ip',
  schema: IpRestrictionPluginSchema,
  check(conf, r) {
    list(conf.allow).forEach((v, i) => checkCidr(r, `/allow/${i}`, v));
    list(conf.deny).forEach((v, i) => checkCidr(r, `/deny/${i}`, v));
    if (conf.allow === undefined && list(conf.deny).length === 0) r.warn('', 'restricts nothing: set allow and/or deny');
  },
  compile(conf) {
    const denied = compileCidrs(conf.deny);
    const allowed = conf.allow !== undefined ? compileCidrs(conf.allow) : null;
    return {
      onRequest(ctx) {
        const ip = ctx.clientIp;
        if (denied(ip)) return FORBIDDEN;
        if (allowed !== null && !allowed(ip)) return FORBIDDEN;
        return undefined;
      },
    };
  },
});
