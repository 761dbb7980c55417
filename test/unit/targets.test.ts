/**
 * DNS names in upstream targets (docs/configuration.md "DNS names in targets"), at the level of
 * the primary's TargetResolver with a DNS of the test's own and vitest's fake clock: every
 * address is a target; a changed answer replaces the targets when the records' TTL runs out, but
 * at least every 30 s; a failed lookup keeps the last good addresses; a name that never resolved
 * has no target and is tried again every 5 s; a name only getaddrinfo knows is refreshed every
 * 30 s. The real-DNS path (localhost through getaddrinfo) runs in the integration suites.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { GatewayConfig } from '../../src/config/schema.js';
import { SlotTable, TargetResolver, type DnsApi, type ResolvedUpstreams } from '../../src/primary/targets.js';

interface Answer {
  v4?: Array<{ address: string; ttl: number }>;
  v6?: Array<{ address: string; ttl: number }>;
  /** getaddrinfo's answer, asked when there are no DNS records. */
  hosts?: string[];
}

/** A DNS whose answers the test sets per name; a name without an answer fails like NXDOMAIN. */
class TestDns {
  answers = new Map<string, Answer>();
  queries: string[] = [];
  readonly api = {
    resolve4: async (host: string) => {
      this.queries.push(`A ${host}`);
      const a = this.answers.get(host)?.v4;
      if (a === undefined || a.length === 0) throw Object.assign(new Error(`queryA ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      return a;
    },
    resolve6: async (host: string) => {
      this.queries.push(`AAAA ${host}`);
      const a = this.answers.get(host)?.v6;
      if (a === undefined || a.length === 0) throw Object.assign(new Error(`queryAaaa ENODATA ${host}`), { code: 'ENODATA' });
      return a;
    },
    lookup: async (host: string) => {
      this.queries.push(`lookup ${host}`);
      const a = this.answers.get(host)?.hosts;
      if (a === undefined || a.length === 0) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      return a.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    },
  } as unknown as DnsApi;
}

function config(upstreams: Record<string, string[] | Array<{ url: string; weight: number }>>): GatewayConfig {
  const ups: Record<string, { targets: Array<{ url: string; weight: number }> }> = {};
  for (const [name, targets] of Object.entries(upstreams)) {
    ups[name] = { targets: targets.map((t) => (typeof t === 'string' ? { url: t, weight: 1 } : t)) };
  }
  return { upstreams: ups } as unknown as GatewayConfig;
}

const origins = (t: ResolvedUpstreams, name: string) => t[name].map((x) => x.origin);

let dns: TestDns;
let changes: ResolvedUpstreams[];
let resolver: TargetResolver;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  dns = new TestDns();
  changes = [];
  resolver = new TargetResolver(new SlotTable(64), (t) => changes.push(t), dns.api);
});

afterEach(() => {
  resolver.stop();
  vi.useRealTimers();
});

describe('TargetResolver', () => {
  it('a name with two addresses is two targets, each with the URL weight and the configured host:port as Host', async () => {
    dns.answers.set('users.internal', { v4: [{ address: '10.0.0.1', ttl: 60 }, { address: '10.0.0.2', ttl: 60 }], v6: [{ address: 'fd00::7', ttl: 60 }] });
    const t = await resolver.setConfig(config({ users: [{ url: 'http://users.internal:8080', weight: 3 }], lit: ['http://127.0.0.1:9000', 'https://[::1]:9443'] }));
    expect(t.users.map(({ url, origin, hostHeader, weight }) => ({ url, origin, hostHeader, weight }))).toEqual([
      { url: 'http://users.internal:8080', origin: 'http://10.0.0.1:8080', hostHeader: 'users.internal:8080', weight: 3 },
      { url: 'http://users.internal:8080', origin: 'http://10.0.0.2:8080', hostHeader: 'users.internal:8080', weight: 3 },
      { url: 'http://users.internal:8080', origin: 'http://[fd00::7]:8080', hostHeader: 'users.internal:8080', weight: 3 },
    ]);
    // Every address has a slot of its own in the shared state.
    expect(new Set(t.users.map((x) => x.slot)).size).toBe(3);
    expect(t.users.every((x) => x.slot >= 0)).toBe(true);
    // IP literals are one target each, never looked up; the default port of the scheme.
    expect(origins(t, 'lit')).toEqual(['http://127.0.0.1:9000', 'https://[::1]:9443']);
    expect(dns.queries.filter((q) => !q.endsWith(' users.internal'))).toEqual([]);
    dns.answers.set('web.internal', { v4: [{ address: '10.1.0.1', ttl: 60 }] });
    expect(origins(await resolver.setConfig(config({ web: ['https://web.internal'] })), 'web')).toEqual(['https://10.1.0.1:443']);
    expect(changes).toEqual([]); // setConfig answers; onChange is for background refreshes
  });

  it('a changed answer replaces the targets when the TTL runs out; an address that stays keeps its slot', async () => {
    dns.answers.set('svc', { v4: [{ address: '10.0.0.1', ttl: 10 }, { address: '10.0.0.2', ttl: 10 }] });
    const first = await resolver.setConfig(config({ app: ['http://svc:80'] }));
    const slotOf2 = first.app[1].slot;
    dns.answers.set('svc', { v4: [{ address: '10.0.0.2', ttl: 10 }, { address: '10.0.0.3', ttl: 10 }] });
    await vi.advanceTimersByTimeAsync(9_999);
    expect(changes).toHaveLength(0);
    expect(origins(resolver.current, 'app')).toEqual(['http://10.0.0.1:80', 'http://10.0.0.2:80']);
    await vi.advanceTimersByTimeAsync(1);
    expect(changes).toHaveLength(1);
    expect(origins(changes[0], 'app')).toEqual(['http://10.0.0.2:80', 'http://10.0.0.3:80']);
    expect(resolver.current).toBe(changes[0]);
    expect(changes[0].app[0].slot).toBe(slotOf2);
    expect(changes[0].app[1].slot).not.toBe(first.app[0].slot); // the slot given up is in quarantine
    // The same answer again: no change reported.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(changes).toHaveLength(1);
  });

  it('a long TTL is refreshed at least every 30 s; the smallest TTL of the records counts; a TTL of 0 is 1 s', async () => {
    dns.answers.set('long', { v4: [{ address: '10.0.0.1', ttl: 3600 }] });
    await resolver.setConfig(config({ app: ['http://long:80'] }));
    dns.answers.set('long', { v4: [{ address: '10.0.0.9', ttl: 3600 }] });
    await vi.advanceTimersByTimeAsync(29_999);
    expect(changes).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(changes.map((c) => origins(c, 'app'))).toEqual([['http://10.0.0.9:80']]);

    resolver.stop();
    changes = [];
    resolver = new TargetResolver(null, (t) => changes.push(t), dns.api);
    dns.answers.set('mixed', { v4: [{ address: '10.0.0.1', ttl: 300 }], v6: [{ address: 'fd00::1', ttl: 4 }] });
    await resolver.setConfig(config({ app: ['http://mixed:80'] }));
    dns.answers.set('mixed', { v4: [{ address: '10.0.0.1', ttl: 300 }] });
    await vi.advanceTimersByTimeAsync(3_999);
    expect(changes).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(changes.map((c) => origins(c, 'app'))).toEqual([['http://10.0.0.1:80']]);

    resolver.stop();
    changes = [];
    resolver = new TargetResolver(null, (t) => changes.push(t), dns.api);
    dns.answers.set('zero', { v4: [{ address: '10.0.0.1', ttl: 0 }] });
    await resolver.setConfig(config({ app: ['http://zero:80'] }));
    const asked = dns.queries.length;
    await vi.advanceTimersByTimeAsync(999);
    expect(dns.queries.length).toBe(asked);
    await vi.advanceTimersByTimeAsync(1);
    expect(dns.queries.slice(asked)).toEqual(['A zero', 'AAAA zero']);
  });

  it('a failed lookup keeps the last good addresses, is counted, and is tried again in 5 s', async () => {
    dns.answers.set('svc', { v4: [{ address: '10.0.0.1', ttl: 10 }, { address: '10.0.0.2', ttl: 10 }] });
    await resolver.setConfig(config({ app: ['http://svc:80'] }));
    dns.answers.delete('svc');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(resolver.failures).toBe(1);
    expect(changes).toHaveLength(0);
    expect(origins(resolver.current, 'app')).toEqual(['http://10.0.0.1:80', 'http://10.0.0.2:80']);
    // A config reload meanwhile keeps them too (the name is known).
    const reloaded = await resolver.setConfig(config({ app: ['http://svc:80'], other: ['http://127.0.0.1:1'] }));
    expect(origins(reloaded, 'app')).toEqual(['http://10.0.0.1:80', 'http://10.0.0.2:80']);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(resolver.failures).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(resolver.failures).toBe(2);
    dns.answers.set('svc', { v4: [{ address: '10.0.0.5', ttl: 10 }] });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(changes.map((c) => origins(c, 'app'))).toEqual([['http://10.0.0.5:80']]);
    expect(resolver.failures).toBe(2);
  });

  it('a name that never resolved has no target (not an error), is tried every 5 s, and gets its targets when it resolves', async () => {
    const t = await resolver.setConfig(config({ app: ['http://later:80', 'http://127.0.0.1:81'] }));
    expect(origins(t, 'app')).toEqual(['http://127.0.0.1:81']);
    expect(resolver.failures).toBe(1);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(resolver.failures).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(resolver.failures).toBe(2);
    expect(changes).toHaveLength(0);
    dns.answers.set('later', { v4: [{ address: '10.0.0.1', ttl: 60 }] });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(changes.map((c) => origins(c, 'app'))).toEqual([['http://10.0.0.1:80', 'http://127.0.0.1:81']]);
  });

  it('a name only getaddrinfo knows (/etc/hosts) is refreshed every 30 s', async () => {
    dns.answers.set('localhost', { hosts: ['127.0.0.1', '::1'] });
    const t = await resolver.setConfig(config({ app: ['http://localhost:8080'] }));
    expect(origins(t, 'app')).toEqual(['http://127.0.0.1:8080', 'http://[::1]:8080']);
    expect(t.app.every((x) => x.hostHeader === 'localhost:8080')).toBe(true);
    dns.answers.set('localhost', { hosts: ['127.0.0.1'] });
    await vi.advanceTimersByTimeAsync(29_999);
    expect(changes).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(changes.map((c) => origins(c, 'app'))).toEqual([['http://127.0.0.1:8080']]);
  });

  it('a config without names schedules no lookups; stop() ends the refreshes', async () => {
    await resolver.setConfig(config({ app: ['http://127.0.0.1:80'] }));
    expect(vi.getTimerCount()).toBe(0);
    dns.answers.set('svc', { v4: [{ address: '10.0.0.1', ttl: 1 }] });
    await resolver.setConfig(config({ app: ['http://svc:80'] }));
    expect(vi.getTimerCount()).toBe(1);
    resolver.stop();
    const asked = dns.queries.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(dns.queries.length).toBe(asked);
  });
});
