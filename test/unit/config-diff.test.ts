/**
 * configChanges(): what a reload from one loaded config to another adds, removes and changes,
 * by id, the way the audit line and `gateway diff` report it. Both sides go through the real
 * loader, so defaults, key order and formatting are what a user's files give.
 */
import { describe, expect, it } from 'vitest';
import { validateConfig, type LoadResult } from '../../src/config/load.js';
import { canonicalJson, configChanges, formatChanges, hasChanges } from '../../src/config/diff.js';
import type { GatewayConfig } from '../../src/config/schema.js';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

function load(input: Json): GatewayConfig {
  const r: LoadResult = validateConfig(input, { env: { ADMIN: 'a-token-of-sixteen-chars-or-more' } });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

function base(): Json {
  return {
    listen: { port: 8080 },
    upstreams: { users: { targets: [{ url: 'http://127.0.0.1:9001' }] }, orders: { targets: [{ url: 'http://127.0.0.1:9002' }] } },
    consumers: [{ id: 'acme', apiKeys: ['sha256:' + 'a'.repeat(64)] }],
    plugins: { requestId: {} },
    routes: [
      { id: 'users', paths: ['/users'], upstream: 'users' },
      { id: 'orders', paths: ['/orders'], upstream: 'orders' },
    ],
  };
}

const NONE = { added: [], removed: [], changed: [] };

describe('configChanges', () => {
  it('the same config written differently is no change: key order, defaults written out, routes reordered, $schema', () => {
    const b = base();
    const same: Json = {
      $schema: './gateway.schema.json',
      routes: [
        { upstream: 'orders', paths: ['/orders'], id: 'orders', priority: 0, preserveHost: false },
        { id: 'users', paths: ['/users'], upstream: 'users', plugins: {} },
      ],
      plugins: { requestId: { header: 'x-request-id' } },
      consumers: [{ apiKeys: ['sha256:' + 'a'.repeat(64)], id: 'acme' }],
      upstreams: { orders: { balancer: 'round-robin', targets: [{ url: 'http://127.0.0.1:9002', weight: 1 }] }, users: { targets: [{ url: 'http://127.0.0.1:9001' }] } },
      listen: { port: 8080 },
      workers: 'auto',
    };
    const c = configChanges(load(b), load(same));
    expect(c).toEqual({ routes: NONE, upstreams: NONE, consumers: NONE, plugins: NONE, settings: NONE });
    expect(hasChanges(c)).toBe(false);
    expect(formatChanges(c)).toBe('no changes\n');
  });

  it('names each id added, removed or changed, per section; a route\'s own plugins are the route\'s', () => {
    const a = base();
    const b = base();
    b.upstreams.orders.targets[0].url = 'http://127.0.0.1:9003';
    b.upstreams.billing = { targets: [{ url: 'http://127.0.0.1:9004' }] };
    delete b.upstreams.users;
    b.routes = [
      { id: 'orders', paths: ['/orders'], upstream: 'orders', plugins: { rateLimit: { requestsPerSecond: 5 } } },
      { id: 'billing', paths: ['/billing'], upstream: 'billing' },
    ];
    b.consumers[0].apiKeys = ['sha256:' + 'b'.repeat(64)];
    b.plugins = { cors: { origins: ['https://app.example'] } };
    b.limits = { maxBodyBytes: 1024 };
    b.accessLog = false;
    const c = configChanges(load(a), load(b));
    expect(c).toEqual({
      routes: { added: ['billing'], removed: ['users'], changed: ['orders'] },
      upstreams: { added: ['billing'], removed: ['users'], changed: ['orders'] },
      consumers: { added: [], removed: [], changed: ['acme'] },
      plugins: { added: ['cors'], removed: ['requestId'], changed: [] },
      settings: { added: [], removed: [], changed: ['limits', 'accessLog'] },
    });
    expect(formatChanges(c)).toBe(
      [
        'routes:', '  + "billing"', '  - "users"', '  ~ "orders"',
        'upstreams:', '  + "billing"', '  - "users"', '  ~ "orders"',
        'consumers:', '  ~ "acme"',
        'plugins:', '  + "cors"', '  - "requestId"',
        'settings:', '  ~ "limits"', '  ~ "accessLog"',
        '3 added, 3 removed, 5 changed',
      ].join('\n') + '\n',
    );
  });

  it('optional top-level sections appear and disappear as settings; ids are quoted so odd ones stay visible', () => {
    const a = base();
    const b = base();
    b.admin = { port: 9901, token: 'env:ADMIN' };
    b.routes[0].id = 'users\u001b[31m red';
    const c = configChanges(load(a), load(b));
    expect(c.settings).toEqual({ added: ['admin'], removed: [], changed: [] });
    expect(configChanges(load(b), load(a)).settings).toEqual({ added: [], removed: ['admin'], changed: [] });
    expect(formatChanges(c)).toContain('  + "users\\u001b[31m red"');
    expect(formatChanges(c)).not.toContain('\u001b');
  });

  it('canonicalJson ignores key order only: array order and values count', () => {
    expect(canonicalJson({ b: 1, a: [1, { d: 2, c: 3 }] })).toBe(canonicalJson({ a: [1, { c: 3, d: 2 }], b: 1 }));
    expect(canonicalJson({ a: [1, 2] })).not.toBe(canonicalJson({ a: [2, 1] }));
    expect(canonicalJson({ a: 1, b: undefined })).toBe(canonicalJson({ a: 1 }));
  });
});
