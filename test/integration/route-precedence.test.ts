/**
 * "Which route wins" (docs/configuration.md) end to end: a real gateway (primary + 2 workers)
 * and real echo upstreams. Each upstream tags its answers (x-from), so a test sees which route
 * served a request; rewrites show that the captures come from the route that won.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { echoUpstream, GATEWAY_BIN, ROOT, startGateway, type Gateway, type Upstream } from '../helpers/gateway.js';

const NAMES = ['one', 'two', 'three', 'four'] as const;
type Name = (typeof NAMES)[number];
const ups = {} as Record<Name, Upstream>;
let gw: Gateway;

beforeAll(async () => {
  for (const name of NAMES) ups[name] = await echoUpstream({ 'x-from': name });
  gw = await startGateway({
    upstreams: Object.fromEntries(NAMES.map((n) => [n, { targets: [{ url: ups[n].url }] }])),
    routes: [
      // Rule 1: exact host, then wildcard host, then the route without hosts (the default).
      { id: 'host-wild', hosts: ['*.example.com'], paths: ['/hosts'], upstream: 'two' },
      { id: 'host-any', paths: ['/hosts'], upstream: 'one' },
      { id: 'host-exact', hosts: ['api.example.com'], paths: ['/hosts'], upstream: 'three' },

      // Rule 3: the route listing the method wins for it, whatever the order and priority; the
      // route without methods serves the others.
      { id: 'm-any', paths: ['/m'], priority: 5, upstream: 'one' },
      { id: 'm-get', methods: ['GET'], paths: ['/m'], upstream: 'two' },

      // Rule 4 + fallback to a less specific path.
      { id: 'api-all', paths: ['/api/*'], upstream: 'one', rewrite: '/all/{*}' },
      { id: 'api-users-v2', paths: ['/api/users'], headers: { 'x-api-version': '2' }, upstream: 'two' },

      // Fallback across host trees: exact, wildcard, then any host.
      { id: 't-exact-beta', hosts: ['t.example.net'], paths: ['/t/:id'], headers: { 'x-beta': '1' }, upstream: 'three', rewrite: '/beta/{id}' },
      { id: 't-wild-v2', hosts: ['*.example.net'], paths: ['/t/:id'], headers: { 'x-v': '2' }, upstream: 'two', rewrite: '/v2/{id}' },
      { id: 't-any', paths: ['/t/*'], upstream: 'one', rewrite: '/any/{*}' },

      // 405 only when no route of the winning host matches the method.
      { id: 'w-get-v2', paths: ['/w'], methods: ['GET'], headers: { 'x-api-version': '2' }, upstream: 'two' },
      { id: 'w-post', paths: ['/w'], methods: ['POST'], upstream: 'one' },
      { id: 'y-exact-post', hosts: ['y.example.org'], paths: ['/y'], methods: ['POST'], upstream: 'three' },
      { id: 'y-any-get-v2', paths: ['/y'], methods: ['GET'], headers: { 'x-api-version': '2' }, upstream: 'two' },
      { id: 'z-exact-post', hosts: ['y.example.org'], paths: ['/z'], methods: ['POST'], upstream: 'three' },
      { id: 'z-any-get', paths: ['/z'], methods: ['GET'], upstream: 'four' },
    ],
  });
});

afterAll(async () => {
  await gw?.stop();
  await Promise.all(NAMES.map((n) => ups[n]?.close()));
});

async function send(path: string, opts: { method?: string; host?: string; headers?: Record<string, string> } = {}) {
  const res = await request(gw.url + path, {
    method: (opts.method ?? 'GET') as 'GET',
    headers: { ...(opts.host ? { host: opts.host } : {}), ...opts.headers },
  });
  const text = await res.body.text();
  const from = res.headers['x-from'] as string | undefined;
  return {
    status: res.statusCode,
    from: from ?? null,
    allow: (res.headers.allow as string | undefined) ?? null,
    url: from && text ? (JSON.parse(text) as { url: string }).url : null,
  };
}

describe('hosts', () => {
  it('a route without hosts next to a wildcard-host route on the same path is valid', () => {
    const r = spawnSync(process.execPath, [GATEWAY_BIN, 'validate', '--config', gw.configPath], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stderr + r.stdout).not.toMatch(/conflicts with/);
    expect(r.status).toBe(0);
  });

  it('exact host, then wildcard host, then the route without hosts for every other host', async () => {
    expect((await send('/hosts', { host: 'api.example.com' })).from).toBe('three');
    expect((await send('/hosts', { host: 'a.example.com' })).from).toBe('two');
    expect((await send('/hosts', { host: 'Deep.A.Example.com:8080' })).from).toBe('two');
    expect((await send('/hosts', { host: 'example.com' })).from).toBe('one');
    expect((await send('/hosts', { host: 'other.org' })).from).toBe('one');
  });
});

describe('methods', () => {
  it('the route listing the method wins (also over a higher priority); the one without methods serves the rest', async () => {
    expect((await send('/m')).from).toBe('two');
    expect(await send('/m', { method: 'HEAD' })).toMatchObject({ status: 200, from: 'two' });
    expect((await send('/m', { method: 'POST' })).from).toBe('one');
    expect((await send('/m', { method: 'PUT' })).from).toBe('one');
    expect((await send('/m', { method: 'PURGE' })).from).toBe('one');
  });
});

describe('header matches', () => {
  it('a header-matched route that does not match falls back to the less specific path', async () => {
    expect(await send('/api/users', { headers: { 'x-api-version': '2' } })).toMatchObject({ from: 'two', url: '/api/users' });
    expect(await send('/api/users', { headers: { 'X-API-Version': '2' } })).toMatchObject({ from: 'two' });
    // The captures are those of the route that won (/api/*), not of the first candidate.
    expect(await send('/api/users')).toMatchObject({ status: 200, from: 'one', url: '/all/users' });
    expect(await send('/api/users', { headers: { 'x-api-version': '3' } })).toMatchObject({ from: 'one', url: '/all/users' });
    expect(await send('/api/orders/1')).toMatchObject({ from: 'one', url: '/all/orders/1' });
  });

  it('falls back across hosts: exact host, wildcard host, then any host', async () => {
    const host = 't.example.net';
    expect(await send('/t/5', { host, headers: { 'x-beta': '1' } })).toMatchObject({ from: 'three', url: '/beta/5' });
    expect(await send('/t/5', { host, headers: { 'x-beta': '1', 'x-v': '2' } })).toMatchObject({ from: 'three' });
    expect(await send('/t/5', { host, headers: { 'x-v': '2' } })).toMatchObject({ from: 'two', url: '/v2/5' });
    expect(await send('/t/5', { host })).toMatchObject({ status: 200, from: 'one', url: '/any/5' });
    expect(await send('/t/5', { host: 'u.example.net', headers: { 'x-beta': '1' } })).toMatchObject({ from: 'one', url: '/any/5' });
    expect(await send('/t/5', { host: 'u.example.net', headers: { 'x-v': '2' } })).toMatchObject({ from: 'two', url: '/v2/5' });
  });
});

describe('404 and 405', () => {
  it('404 when the winning host has a route for the method whose header matches fail', async () => {
    expect(await send('/w', { headers: { 'x-api-version': '2' } })).toMatchObject({ status: 200, from: 'two' });
    expect(await send('/w')).toMatchObject({ status: 404, from: null, allow: null });
    expect(await send('/w', { method: 'POST' })).toMatchObject({ status: 200, from: 'one' });
    expect(await send('/w', { method: 'DELETE' })).toMatchObject({ status: 405, allow: 'GET, HEAD, POST' });
  });

  it('405 when no route of the winning host matches the method, also after a failed header match', async () => {
    const host = 'y.example.org';
    expect(await send('/y', { host, method: 'POST' })).toMatchObject({ status: 200, from: 'three' });
    expect(await send('/y', { host, headers: { 'x-api-version': '2' } })).toMatchObject({ status: 200, from: 'two' });
    expect(await send('/y', { host })).toMatchObject({ status: 405, from: null, allow: 'POST' });
    expect(await send('/y', { host, method: 'PUT' })).toMatchObject({ status: 405, allow: 'POST' });
    // Another host: the any-host route is the winning host's, so a failed header match is a 404.
    expect(await send('/y', { host: 'other.org' })).toMatchObject({ status: 404 });
    expect(await send('/y', { host: 'other.org', method: 'PUT' })).toMatchObject({ status: 405, allow: 'GET, HEAD' });
  });

  it('a method the winning host lacks is served by a less specific host that has it (no 405)', async () => {
    expect(await send('/z', { host: 'y.example.org' })).toMatchObject({ status: 200, from: 'four' });
    expect(await send('/z', { host: 'y.example.org', method: 'POST' })).toMatchObject({ status: 200, from: 'three' });
    expect(await send('/z', { host: 'y.example.org', method: 'PUT' })).toMatchObject({ status: 405, allow: 'POST' });
  });
});
