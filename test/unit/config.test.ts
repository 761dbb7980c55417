import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  effectivePlugins,
  envPointersOf,
  formatErrors,
  loadConfigFile,
  loadConfigText,
  parsePath,
  redactConfig,
  validateConfig,
  type ConfigError,
  type LoadOptions,
  type LoadResult,
} from '../../src/config/load.js';
import type { GatewayConfig } from '../../src/config/schema.js';
import { renderSchemaFile, schemaFilePath } from '../../src/config/write-schema.js';

const ROOT = resolve(import.meta.dirname, '../..');

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const apiKeyHash = (key: string): string => `sha256:${createHash('sha256').update(key).digest('hex')}`;
const PASSWORD_HASH = 'scrypt:N=16384,r=8,p=1:c2FsdHNhbHRzYWx0:aGFzaGhhc2hoYXNoaGFzaA';

/** The smallest valid config. */
function minimal(): Json {
  return {
    listen: { port: 8080 },
    upstreams: { users: { targets: [{ url: 'http://127.0.0.1:9001' }] } },
    routes: [{ id: 'users', paths: ['/users'], upstream: 'users' }],
  };
}

/** A config that uses every feature. */
function full(): Json {
  return {
    $schema: './gateway.schema.json',
    listen: { host: '0.0.0.0', port: 8443 },
    tls: { certFile: 'cert.pem', keyFile: 'key.pem' },
    workers: 4,
    admin: { host: '127.0.0.1', port: 9901, token: 'env:GATEWAY_ADMIN_TOKEN' },
    limits: { maxBodyBytes: 1048576, maxHeaderBytes: 8192, idleTimeoutMs: 5000, requestTimeoutMs: 20000 },
    trustedProxies: ['10.0.0.0/8', '192.168.1.10', 'fd00::/8', '::1'],
    accessLog: { path: '/var/log/gateway.log', format: 'combined' },
    cluster: { redis: 'redis://gw:hunter2@redis.internal:6379/0' },
    upstreams: {
      users: {
        targets: [
          { url: 'http://127.0.0.1:9001', weight: 3 },
          { url: 'https://users.internal:9443' },
        ],
        balancer: 'consistent-hash',
        hashOn: 'header:x-user',
        connectionsPerWorker: 32,
        timeouts: { connectMs: 1000 },
        retries: { attempts: 2, on: ['connect-failure', '503'] },
        healthCheck: {
          active: { path: '/healthz', intervalMs: 1000 },
          passive: { consecutiveFailures: 3 },
        },
        circuitBreaker: { failureRatio: 0.25 },
      },
      'users-v2': { targets: [{ url: 'http://127.0.0.1:9002' }], balancer: 'p2c-ewma' },
      orders: { targets: [{ url: 'http://127.0.0.1:9003' }], balancer: 'least-connections' },
      shadow: { targets: [{ url: 'http://127.0.0.1:9004' }] },
    },
    consumers: [
      {
        id: 'acme',
        groups: ['gold'],
        apiKeys: [apiKeyHash('acme-key')],
        basicAuth: { username: 'acme', passwordHash: PASSWORD_HASH },
        jwtSubject: 'acme',
      },
      { id: 'globex', apiKeys: [apiKeyHash('globex-key').toUpperCase().replace('SHA256', 'sha256')] },
    ],
    plugins: {
      requestId: {},
      cors: { origins: ['https://app.example', 'https://*.example.com'], credentials: true, headers: ['content-type'] },
      jwt: {
        jwksUrl: 'https://issuer.example/.well-known/jwks.json',
        algorithms: ['RS256', 'ES256'],
        issuer: 'https://issuer.example',
        audience: ['api', 'web'],
        forwardClaims: { sub: 'X-User-Id' },
      },
      rateLimit: { requestsPerSecond: 100, burst: 200, key: 'consumer', scope: 'cluster', failOpen: false },
      requestHeaders: { set: { 'x-gw': '1' }, remove: ['x-internal'] },
      responseHeaders: { remove: ['server'] },
      encoding: { msgpack: true },
    },
    routes: [
      {
        id: 'users-api',
        hosts: ['API.Example.com', '*.example.com'],
        methods: ['get', 'POST'],
        paths: ['/v1/users/:id', '/v1/people/:id'],
        headers: { 'X-Api-Version': '2' },
        priority: 5,
        upstream: 'users',
        rewrite: '/users/{id}',
        preserveHost: true,
        split: [{ upstream: 'users-v2', weight: 10 }],
        mirror: { upstream: 'shadow', percent: 5 },
        timeoutMs: 5000,
        plugins: {
          jwt: false,
          apiKey: {},
          acl: { allowGroups: ['gold'] },
          rateLimit: { requestsPerSecond: 2.5 },
          cache: { ttlMs: 1000 },
          ipRestriction: { allow: ['10.0.0.0/8'], deny: ['10.1.0.0/16'] },
        },
      },
      { id: 'static', paths: ['/static/*'], upstream: 'users', stripPrefix: '/static', plugins: { basicAuth: {} } },
      {
        id: 'profile',
        methods: ['GET'],
        paths: ['/v1/profile/:id'],
        aggregate: {
          backends: [
            { upstream: 'users', path: '/users/{id}', as: 'user' },
            { upstream: 'orders', path: '/orders?user={id}', as: 'orders', optional: true },
          ],
        },
      },
      { id: 'health', paths: ['/health'], respond: { status: 200, body: 'ok' }, plugins: { jwt: false } },
    ],
  };
}

const ENV = { GATEWAY_ADMIN_TOKEN: 'admin-token-0123456789abcdef', JWT_SECRET: 's3cr3t-from-env' };

function check(config: unknown, env: LoadOptions['env'] = ENV): LoadResult {
  return validateConfig(config, { env });
}

function valid(config: unknown, env: LoadOptions['env'] = ENV): { config: GatewayConfig; warnings: string[] } {
  const r = check(config, env);
  if (!r.ok) throw new Error(`expected a valid config, got:\n${formatErrors(r.errors)}`);
  return r;
}

function errorsOf(config: unknown, env: LoadOptions['env'] = ENV): ConfigError[] {
  const r = check(config, env);
  if (r.ok) throw new Error('expected errors, the config is valid');
  return r.errors;
}

/** Asserts exactly one error at `pointer` and returns its message. */
function oneError(config: unknown, pointer: string, env: LoadOptions['env'] = ENV): string {
  const errors = errorsOf(config, env);
  expect(errors.map((e) => e.pointer), formatErrors(errors)).toEqual([pointer]);
  return errors[0].message;
}

function withRoute(route: Json, extra: (c: Json) => void = () => {}): Json {
  const c = minimal();
  c.routes[0] = { id: 'r', paths: ['/r'], upstream: 'users', ...route };
  extra(c);
  return c;
}

function withPlugins(plugins: Json, extra: (c: Json) => void = () => {}): Json {
  const c = minimal();
  c.plugins = plugins;
  extra(c);
  return c;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    Object.values(v).forEach(deepFreeze);
    Object.freeze(v);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Valid configs and defaults
// ---------------------------------------------------------------------------------------------

describe('valid configs', () => {
  it('accepts a config that uses every feature, with defaults filled in and names normalized', () => {
    const { config, warnings } = valid(full());
    expect(warnings).toEqual([]);

    expect(config.workers).toBe(4);
    expect(config.admin).toEqual({ host: '127.0.0.1', port: 9901, token: ENV.GATEWAY_ADMIN_TOKEN });
    expect(config.accessLog).toEqual({ path: '/var/log/gateway.log', format: 'combined' });

    const users = config.upstreams.users;
    expect(users.targets).toEqual([
      { url: 'http://127.0.0.1:9001', weight: 3 },
      { url: 'https://users.internal:9443', weight: 1 },
    ]);
    expect(users.timeouts).toEqual({ connectMs: 1000, responseHeadersMs: 15000, idleMs: 60000 });
    expect(users.retries).toEqual({ attempts: 2, on: ['connect-failure', '503'], idempotentOnly: true, budgetPercent: 20 });
    expect(users.healthCheck).toEqual({
      active: { path: '/healthz', intervalMs: 1000, timeoutMs: 1000, healthyThreshold: 2, unhealthyThreshold: 2 },
      passive: { consecutiveFailures: 3, ejectMs: 10000 },
    });
    expect(users.circuitBreaker).toEqual({
      maxPendingPerWorker: 1024,
      failureRatio: 0.25,
      minRequests: 20,
      windowMs: 10000,
      openMs: 5000,
    });
    expect(config.upstreams['users-v2'].connectionsPerWorker).toBe(64);

    expect(config.consumers[1].groups).toEqual([]);
    expect(config.consumers[1].apiKeys[0]).toBe(apiKeyHash('globex-key')); // hex lower-cased

    expect(config.plugins.requestId).toEqual({ header: 'x-request-id' });
    expect(config.plugins.jwt?.clockToleranceMs).toBe(5000);
    expect(config.plugins.cors).toEqual({
      origins: ['https://app.example', 'https://*.example.com'],
      methods: ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'],
      headers: ['content-type'],
      exposeHeaders: [],
      credentials: true,
      maxAgeMs: 600000,
    });
    expect(config.plugins.responseHeaders).toEqual({ set: {}, remove: ['server'] });

    const route = config.routes[0];
    expect(route.hosts).toEqual(['api.example.com', '*.example.com']);
    expect(route.methods).toEqual(['GET', 'POST']);
    expect(route.headers).toEqual({ 'x-api-version': '2' });
    expect(route.mirror).toEqual({ upstream: 'shadow', percent: 5 });
    expect(route.plugins.jwt).toBe(false);
    // Defaults inside a route plugin (the schema there is "plugin | false").
    expect(route.plugins.apiKey).toEqual({ header: 'x-api-key', query: 'api_key' });
    expect(route.plugins.rateLimit).toEqual({ requestsPerSecond: 2.5, burst: 3, key: 'ip', scope: 'local', failOpen: true });
    expect(route.plugins.cache).toEqual({ ttlMs: 1000, maxBytes: 67108864, methods: ['GET', 'HEAD'] });
    expect(route.plugins.ipRestriction).toEqual({ allow: ['10.0.0.0/8'], deny: ['10.1.0.0/16'] });
    expect(config.routes[1].plugins.basicAuth).toEqual({ realm: 'gateway' });

    const profile = config.routes[2];
    expect(profile.aggregate?.timeoutMs).toBe(10000); // the route's timeoutMs
    expect(profile.aggregate?.backends[0].optional).toBe(false);
    expect(config.routes[3].respond).toEqual({ status: 200, headers: {}, body: 'ok' });
  });

  it('fills every documented default into a minimal config', () => {
    const { config } = valid(minimal());
    expect(config).toEqual({
      listen: { host: '0.0.0.0', port: 8080 },
      workers: 'auto',
      limits: {
        maxBodyBytes: 10485760, maxHeaderBytes: 16384, idleTimeoutMs: 10000, requestTimeoutMs: 30000,
        bodyBufferBytes: 65536, rateLimitBuckets: 1048576,
      },
      http: { underscoresInHeaders: false },
      trustedProxies: [],
      accessLog: { path: 'stdout', format: 'json' },
      upstreams: {
        users: {
          targets: [{ url: 'http://127.0.0.1:9001', weight: 1 }],
          balancer: 'round-robin',
          hashOn: 'ip',
          connectionsPerWorker: 64,
          maxConnectionsPerWorker: 512,
          timeouts: { connectMs: 2000, responseHeadersMs: 15000, idleMs: 60000 },
        },
      },
      consumers: [],
      pluginModules: [],
      plugins: {},
      routes: [
        {
          id: 'users',
          paths: ['/users'],
          upstream: 'users',
          headers: {},
          priority: 0,
          preserveHost: false,
          timeoutMs: 10000,
          requestBuffering: true,
          websocket: { maxMessageBytes: 16777216, idleTimeoutMs: 120000 },
          plugins: {},
        },
      ],
    });
  });

  it('applies defaults only inside objects that are present: absent features stay off', () => {
    const c = minimal();
    c.upstreams.users.healthCheck = { passive: {} };
    c.listen = {};
    const { config } = valid(c);
    expect(config.listen).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(config.upstreams.users.healthCheck).toEqual({ passive: { consecutiveFailures: 5, ejectMs: 10000 } });
    expect(config.upstreams.users.retries).toBeUndefined();
    expect(config.upstreams.users.circuitBreaker).toBeUndefined();
    expect(config.admin).toBeUndefined();
    expect(config.tls).toBeUndefined();
    expect(config.cluster).toBeUndefined();
    expect(config.routes[0].hosts).toBeUndefined();
    expect(config.routes[0].methods).toBeUndefined();
  });

  it('accepts accessLog false, "$schema", and plugins that only take defaults', () => {
    const c = minimal();
    c.$schema = './gateway.schema.json';
    c.accessLog = false;
    c.plugins = { encoding: {}, requestId: {}, cors: {} };
    const { config } = valid(c);
    expect(config.accessLog).toBe(false);
    expect(config.plugins.encoding).toEqual({ msgpack: true });
    expect(config.plugins.cors?.origins).toEqual(['*']);
  });

  it('computes rateLimit.burst from requestsPerSecond when absent', () => {
    expect(valid(withPlugins({ rateLimit: { requestsPerSecond: 0.5 } })).config.plugins.rateLimit?.burst).toBe(1);
    expect(valid(withPlugins({ rateLimit: { requestsPerSecond: 100 } })).config.plugins.rateLimit?.burst).toBe(100);
  });

  it('lets a route turn a global plugin off with false; effectivePlugins merges by name', () => {
    const c = full();
    const { config } = valid(c);
    const eff = effectivePlugins(config, config.routes[0]);
    expect(eff.jwt).toBeUndefined();
    expect(eff.cors).toEqual(config.plugins.cors);
    expect(eff.rateLimit?.requestsPerSecond).toBe(2.5);
    expect(effectivePlugins(config, config.routes[1]).jwt).toEqual(config.plugins.jwt);
  });

  it('loads a file and reports a missing one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-config-'));
    const file = join(dir, 'gateway.json');
    writeFileSync(file, JSON.stringify(minimal(), null, 2));
    const r = await loadConfigFile(file);
    expect(r.ok).toBe(true);
    const missing = await loadConfigFile(join(dir, 'nope.json'));
    expect(missing).toEqual({
      ok: false,
      errors: [{ pointer: '', message: `cannot read config file "${join(dir, 'nope.json')}": no such file` }],
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Syntax and schema errors
// ---------------------------------------------------------------------------------------------

describe('JSON syntax', () => {
  it('reports one error with line and column', () => {
    const r = loadConfigText('{\n  "listen": { "port": 8080 },\n  "routes": [1, 2,]\n}', 'config/gateway.json');
    expect(r).toEqual({
      ok: false,
      errors: [{ pointer: '', message: 'invalid JSON in config/gateway.json at line 3, column 19: trailing comma before "]"' }],
    });
    const r2 = loadConfigText('{\n  "listen": { "port": 8080 }\n  "routes": []\n}', 'g.json');
    expect(!r2.ok && r2.errors[0].message).toBe(
      'invalid JSON in g.json at line 3, column 3: expected "," or "}" after a property value, found \'"\'',
    );
    const r3 = loadConfigText('{"a": 1', 'g.json');
    expect(!r3.ok && r3.errors[0].message).toMatch(/line 1, column 8/);
    const r4 = loadConfigText('// comment\n{}', 'g.json');
    expect(!r4.ok && r4.errors[0].message).toMatch(/line 1, column 1: comments are not allowed/);
  });

  it('treats duplicate keys as errors (JSON.parse would silently keep the last one)', () => {
    const text = JSON.stringify(minimal()).replace('"listen":{"port":8080}', '"listen":{"port":8080,"port":9090}');
    const r = loadConfigText(text, 'g.json');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors).toEqual([{ pointer: '/listen', message: expect.stringMatching(/^duplicate key "port" \(line 1, column \d+\)/) }]);
  });

  it('accepts a UTF-8 BOM', () => {
    expect(loadConfigText(`\ufeff${JSON.stringify(minimal())}`, 'g.json').ok).toBe(true);
  });
});

describe('schema errors', () => {
  it('names unknown keys at the pointer of their object, with a suggestion when close', () => {
    const c = minimal();
    c.routes[0] = { id: 'r', paths: ['/r'], upstrem: 'users' };
    const errors = errorsOf(c);
    expect(errors).toContainEqual({ pointer: '/routes/0', message: 'unknown key "upstrem"; did you mean "upstream"?' });
    expect(oneError({ ...minimal(), colour: 'red' }, '')).toBe('unknown key "colour"');
    // Under plugins, an unknown key is an unknown plugin: the message lists the known ones.
    expect(oneError(withPlugins({ rateLimits: {} }), '/plugins')).toMatch(/^unknown plugin "rateLimits"; did you mean "rateLimit"\? Known plugins: requestId, cors, .*, encoding \(plugins of your own are loaded with "pluginModules"\)\.$/);
    expect(oneError(withRoute({ jwt: false }), '/routes/0')).toBe('unknown key "jwt"; plugins go inside "plugins": { "jwt": ... }');
  });

  it('names missing required keys', () => {
    const c = minimal();
    delete c.routes[0].paths;
    expect(oneError(c, '/routes/0')).toBe('missing required key "paths"');
    const errors = errorsOf({});
    expect(errors).toEqual([
      { pointer: '', message: 'missing required key "listen"' },
      { pointer: '', message: 'missing required key "upstreams"' },
      { pointer: '', message: 'missing required key "routes"' },
    ]);
    expect(oneError({ ...minimal(), routes: [] }, '/routes')).toBe('must not be empty (at least one item)');
    expect(oneError({ ...minimal(), upstreams: {} }, '/upstreams')).toMatch(/^must not be empty/);
  });

  it('says what was expected for wrong types and enums', () => {
    const c = minimal();
    c.upstreams.users.balancer = 'round_robin';
    expect(oneError(c, '/upstreams/users/balancer')).toBe(
      'expected one of "round-robin", "least-connections", "consistent-hash", "p2c-ewma", got "round_robin"; did you mean "round-robin"?',
    );
    const d = minimal();
    d.listen.port = '8080';
    expect(oneError(d, '/listen/port')).toBe('expected an integer between 0 and 65535, got "8080"');
    expect(oneError({ ...minimal(), listen: { port: 70000 } }, '/listen/port')).toBe(
      'expected an integer between 0 and 65535, got 70000',
    );
    expect(oneError({ ...minimal(), workers: 0 }, '/workers')).toBe('expected "auto" or an integer >= 1, got 0');
    expect(oneError({ ...minimal(), workers: 'many' }, '/workers')).toBe('expected "auto" or an integer >= 1, got "many"');
    expect(oneError({ ...minimal(), accessLog: true }, '/accessLog')).toBe('expected an object or false, got true');
    expect(oneError({ ...minimal(), trustedProxies: '10.0.0.0/8' }, '/trustedProxies')).toBe(
      'expected an array, got "10.0.0.0/8"',
    );
    const e = minimal();
    e.upstreams.users.retries = { on: ['connect-failure', '505'] };
    expect(oneError(e, '/upstreams/users/retries/on/1')).toMatch(/^expected one of "connect-failure", .*"504", got "505"/);
  });

  it('collapses anyOf noise to one useful message per pointer', () => {
    // A route plugin is "plugin object | false": an object gets the object's errors only.
    const c = withRoute({ plugins: { jwt: { secret: 'x' } } });
    expect(errorsOf(c)).toEqual([{ pointer: '/routes/0/plugins/jwt', message: 'missing required key "algorithms"' }]);
    const d = withRoute({ plugins: { cors: { origin: ['*'] } } });
    expect(errorsOf(d)).toEqual([{ pointer: '/routes/0/plugins/cors', message: 'unknown key "origin"; did you mean "origins"?' }]);
    expect(oneError(withRoute({ plugins: { cors: true } }), '/routes/0/plugins/cors')).toBe('expected an object or false, got true');
    expect(oneError(withRoute({ plugins: { apiKey: { query: 5 } } }), '/routes/0/plugins/apiKey/query')).toBe(
      'expected a non-empty string or false, got 5',
    );
    // Global plugins cannot be false.
    expect(oneError(withPlugins({ jwt: false }), '/plugins/jwt')).toBe('expected an object, got false');
  });

  it('checks durations (non-negative integers) and sizes (positive integers)', () => {
    expect(oneError(withRoute({ timeoutMs: -1 }), '/routes/0/timeoutMs')).toBe('expected an integer >= 0, got -1');
    expect(oneError({ ...minimal(), limits: { idleTimeoutMs: 500 } }, '/limits/idleTimeoutMs')).toBe(
      'expected an integer between 1000 and 900000, got 500',
    );
    expect(oneError({ ...minimal(), limits: { requestTimeoutMs: 1.5 } }, '/limits/requestTimeoutMs')).toBe(
      'expected an integer between 0 and 900000, got 1.5',
    );
    expect(oneError({ ...minimal(), limits: { maxBodyBytes: 0 } }, '/limits/maxBodyBytes')).toBe(
      'expected an integer >= 1, got 0',
    );
    expect(oneError(withRoute({ timeoutMs: '10s' }), '/routes/0/timeoutMs')).toBe('expected an integer >= 0, got "10s"');
    expect(oneError(withPlugins({ cache: { maxBytes: -5 } }), '/plugins/cache/maxBytes')).toBe('expected an integer >= 1, got -5');
  });

  it('checks target URLs', () => {
    const c = minimal();
    c.upstreams.users.targets = [{ url: 'ftp://x:1' }, { url: 'http://a:1/base' }, { url: 'http://u:p@a:1' }, { url: 'http://a:99999' }];
    expect(errorsOf(c).map((e) => e.pointer)).toEqual([0, 1, 2, 3].map((i) => `/upstreams/users/targets/${i}/url`));
    expect(errorsOf(c)[0].message).toMatch(/^expected "http:\/\/host:port" or "https:\/\/host:port"/);
    const d = minimal();
    d.upstreams.users.targets = [];
    expect(oneError(d, '/upstreams/users/targets')).toBe('must not be empty (at least one item)');
  });
});

// ---------------------------------------------------------------------------------------------
// Semantic checks
// ---------------------------------------------------------------------------------------------

describe('references to upstreams', () => {
  it('names unknown upstreams in routes, split, mirror and aggregate backends with the known list', () => {
    const c = minimal();
    c.upstreams.orders = { targets: [{ url: 'http://127.0.0.1:9003' }] };
    c.routes = [
      { id: 'a', paths: ['/a'], upstream: 'userz', split: [{ upstream: 'nope', weight: 5 }], mirror: { upstream: 'shadow' } },
      { id: 'b', paths: ['/b/:id'], aggregate: { backends: [{ upstream: 'order', path: '/o/{id}', as: 'o' }] } },
      { id: 'c', paths: ['/c'], upstream: 'users' },
    ];
    expect(errorsOf(c)).toEqual([
      { pointer: '/routes/0/mirror/upstream', message: 'unknown upstream "shadow" (known: orders, users)' },
      { pointer: '/routes/0/split/0/upstream', message: 'unknown upstream "nope" (known: orders, users)' },
      { pointer: '/routes/0/upstream', message: 'unknown upstream "userz" (known: orders, users); did you mean "users"?' },
      {
        pointer: '/routes/1/aggregate/backends/0/upstream',
        message: 'unknown upstream "order" (known: orders, users); did you mean "orders"?',
      },
    ]);
  });

  it('requires exactly one of upstream | aggregate | respond', () => {
    expect(oneError(withRoute({ upstream: undefined }), '/routes/0')).toBe('set exactly one of "upstream", "aggregate" or "respond"');
    expect(oneError(withRoute({ respond: {} }), '/routes/0')).toBe(
      '"upstream" and "respond" are mutually exclusive: set exactly one of "upstream", "aggregate" or "respond"',
    );
  });

  it('needs an upstream for split and mirror, split weights 1..100 summing to <= 100, mirror percent 0..100', () => {
    expect(
      errorsOf(withRoute({ upstream: undefined, respond: {}, split: [{ upstream: 'users', weight: 10 }], mirror: { upstream: 'users' } })),
    ).toEqual([
      { pointer: '/routes/0/mirror', message: 'needs "upstream" on the route' },
      { pointer: '/routes/0/split', message: 'needs "upstream" on the route (the rest of the traffic goes there)' },
    ]);
    expect(oneError(withRoute({ split: [{ upstream: 'users', weight: 0 }] }), '/routes/0/split/0/weight')).toBe(
      'expected an integer between 1 and 100, got 0',
    );
    expect(oneError(withRoute({ split: [{ upstream: 'users', weight: 101 }] }), '/routes/0/split/0/weight')).toBe(
      'expected an integer between 1 and 100, got 101',
    );
    const c = withRoute({ split: [{ upstream: 'a', weight: 60 }, { upstream: 'b', weight: 50 }] }, (cfg) => {
      cfg.upstreams.a = { targets: [{ url: 'http://a:1' }] };
      cfg.upstreams.b = { targets: [{ url: 'http://b:1' }] };
    });
    expect(oneError(c, '/routes/0/split')).toBe('weights add up to 110; at most 100 (the rest goes to "upstream")');
    expect(oneError(withRoute({ mirror: { upstream: 'users', percent: 101 } }), '/routes/0/mirror/percent')).toBe(
      'expected a number between 0 and 100, got 101',
    );
    expect(oneError(withRoute({ mirror: { upstream: 'users', percent: -1 } }), '/routes/0/mirror/percent')).toMatch(/got -1$/);
  });
});

describe('ids and conflicts', () => {
  it('rejects duplicate route ids and consumer ids', () => {
    const c = minimal();
    c.routes.push({ id: 'users', paths: ['/other'], upstream: 'users' });
    expect(oneError(c, '/routes/1/id')).toBe('duplicate route id "users" (also /routes/0/id)');
    const d = minimal();
    d.consumers = [{ id: 'acme' }, { id: 'beta' }, { id: 'acme' }];
    expect(oneError(d, '/consumers/2/id')).toBe('duplicate consumer id "acme" (also /consumers/0/id)');
  });

  const two = (a: Json, b: Json): Json => {
    const c = minimal();
    c.routes = [
      { id: 'first', upstream: 'users', ...a },
      { id: 'second', upstream: 'users', ...b },
    ];
    return c;
  };

  it('names both routes when they match the same requests (param names ignored)', () => {
    const msg = oneError(two({ paths: ['/v1/users/:id'] }, { paths: ['/x', '/v1/users/:userId'] }), '/routes/1/paths/1');
    expect(msg).toMatch(/^route "second" conflicts with route "first" \(\/routes\/0\/paths\/0\)/);
    expect(msg).toContain('"/v1/users/:userId" and "/v1/users/:id"');
  });

  it('flags routes that some request matches with no precedence rule to separate them', () => {
    expect(errorsOf(two({ paths: ['/a'], hosts: ['A.example'], methods: ['get'] }, { paths: ['/a'], hosts: ['a.example'], methods: ['GET', 'PUT'] }))).toHaveLength(1);
    expect(errorsOf(two({ paths: ['/a/*'] }, { paths: ['/a/*'] }))).toHaveLength(1);
    // Overlapping lists: a request for b.example (or a GET) is matched by both.
    expect(errorsOf(two({ paths: ['/a'], hosts: ['a.example', '*.example'] }, { paths: ['/a'], hosts: ['*.example'] }))).toHaveLength(1);
    expect(errorsOf(two({ paths: ['/a'], methods: ['GET', 'POST'] }, { paths: ['/a'], methods: ['GET'] }))).toHaveLength(1);
    expect(errorsOf(two({ paths: ['/a'], hosts: ['*.example'] }, { paths: ['/a'], hosts: ['*.Example'] }))).toHaveLength(1);
  });

  it('does not flag a route without hosts next to one with hosts: it is the default for other hosts', () => {
    const c = minimal();
    c.routes = [
      { id: 'host-wild', hosts: ['*.example.com'], paths: ['/x'], upstream: 'users' },
      { id: 'host-any', paths: ['/x'], upstream: 'users' },
      { id: 'host-exact', hosts: ['a.example.com'], paths: ['/x'], upstream: 'users' },
    ];
    valid(c);
    valid(two({ paths: ['/a'], hosts: ['a.example'] }, { paths: ['/a'] }));
  });

  it('does not flag a route without methods next to one with methods: it is the fallback for other methods', () => {
    valid(two({ paths: ['/a'], methods: ['GET'] }, { paths: ['/a'] }));
    valid(two({ paths: ['/a/:id'] }, { paths: ['/a/:x'], methods: ['GET', 'POST'] }));
    valid(two({ paths: ['/a'], methods: ['GET'], hosts: ['a.example'] }, { paths: ['/a'], hosts: ['a.example'] }));
  });

  it('flags header matches that can all hold at once, in equal number', () => {
    const msg = oneError(two({ paths: ['/a'], headers: { 'x-a': '1' } }, { paths: ['/a'], headers: { 'x-b': '1' } }), '/routes/1/paths/0');
    expect(msg).toMatch(/^route "second" conflicts with route "first" \(\/routes\/0\/paths\/0\)/);
    expect(msg).toContain('(hosts: any; methods: any; 1 header matches each, which can all hold at once)');
    expect(errorsOf(two({ paths: ['/a'], headers: { 'x-a': 'ON', 'x-b': '1' } }, { paths: ['/a'], headers: { 'X-A': 'on', 'x-c': '2' } }))).toHaveLength(1);
    // More matches win; different values cannot hold together.
    valid(two({ paths: ['/a'], headers: { 'x-a': '1' } }, { paths: ['/a'], headers: { 'x-a': '1', 'x-b': '1' } }));
    valid(two({ paths: ['/a'], headers: { 'x-a': '1', 'x-b': '1' } }, { paths: ['/a'], headers: { 'x-a': '2', 'x-c': '1' } }));
  });

  it('does not flag routes that differ in host, method, shape, header matches or priority', () => {
    valid(two({ paths: ['/a'], methods: ['GET'] }, { paths: ['/a'], methods: ['POST'] }));
    valid(two({ paths: ['/a'], hosts: ['a.example'] }, { paths: ['/a'], hosts: ['b.example'] }));
    valid(two({ paths: ['/a/:id'] }, { paths: ['/a/me'] }));
    valid(two({ paths: ['/a/:id'] }, { paths: ['/a/*'] }));
    valid(two({ paths: ['/a'] }, { paths: ['/a'], headers: { 'x-api-version': '2' } }));
    valid(two({ paths: ['/a'], headers: { 'x-api-version': '1' } }, { paths: ['/a'], headers: { 'X-API-Version': '2' } }));
    valid(two({ paths: ['/a'], methods: ['GET'], priority: 1 }, { paths: ['/a'] }));
  });

  it('flags same header matches regardless of header name case', () => {
    expect(errorsOf(two({ paths: ['/a'], headers: { 'x-v': '2' } }, { paths: ['/a'], headers: { 'X-V': '2' } }))).toHaveLength(1);
  });
});

describe('paths, hosts, methods, headers', () => {
  const pathCases: Array<[string, string]> = [
    ['users', 'must start with "/"'],
    ['', 'must start with "/"'],
    ['/a//b', 'empty segment ("//")'],
    ['/a/./b', '"." segment'],
    ['/a/..', '".." segment'],
    ['/a/:', '":" without a parameter name'],
    ['/a/:id/b/:id', 'duplicate parameter ":id"'],
    ['/a/*/b', '"*" is only allowed as the last segment'],
    ['/a/b*', '"*" must be a whole segment'],
    ['/a?x=1', '"?" and "#" are not allowed (the query string is not matched)'],
    ['/a%2Fb', 'write paths decoded, without "%" escapes (matching is on the decoded path)'],
  ];
  it.each(pathCases)('rejects path %j', (path, reason) => {
    expect(oneError(withRoute({ paths: [path] }), '/routes/0/paths/0')).toBe(`invalid path ${JSON.stringify(path)}: ${reason}`);
  });

  it('accepts valid paths', () => {
    for (const path of ['/', '/a/', '/a/:id', '/a/:id/b/:other_1', '/static/*', '/*', '/v1/things:batchGet']) {
      expect(parsePath(path)).not.toHaveProperty('error');
    }
    expect(parsePath('/a/:id/*')).toEqual({ shape: '/a/:/*', params: ['id', '*'] });
  });

  it('lower-cases hosts and checks their syntax', () => {
    const errors = errorsOf(withRoute({ hosts: ['ok.example', 'a.*.example', '*', 'api.example.com:8080', 'http://x.example', 'bad host'] }));
    expect(errors.map((e) => e.pointer)).toEqual([1, 2, 3, 4, 5].map((i) => `/routes/0/hosts/${i}`));
    expect(errors[0].message).toBe('"*." is only allowed as a prefix ("*.example.com"), got "a.*.example"');
    expect(errors[2].message).toMatch(/without ":port"/);
    expect(valid(withRoute({ hosts: ['*.Example.COM', '127.0.0.1', '[::1]'] })).config.routes[0].hosts).toEqual([
      '*.example.com',
      '127.0.0.1',
      '[::1]',
    ]);
  });

  it('upper-cases methods and checks they are tokens', () => {
    expect(valid(withRoute({ methods: ['get', 'Purge'] })).config.routes[0].methods).toEqual(['GET', 'PURGE']);
    expect(oneError(withRoute({ methods: ['GET', 'GE T'] }), '/routes/0/methods/1')).toBe('invalid HTTP method "GE T"');
    expect(oneError(withRoute({ methods: [] }), '/routes/0/methods')).toBe('must not be empty (at least one item)');
  });

  it('checks header names', () => {
    expect(oneError(withRoute({ headers: { 'x y': '1' } }), '/routes/0/headers/x y')).toBe('invalid header name "x y"');
    expect(oneError(withPlugins({ requestHeaders: { remove: ['bad:name'] } }), '/plugins/requestHeaders/remove/0')).toBe(
      'invalid header name "bad:name"',
    );
  });

  it('refuses header transforms that set a framing or connection header (each error at its own key), not their removal', () => {
    for (const plugin of ['requestHeaders', 'responseHeaders']) {
      const set = { 'Content-Length': '5', 'transfer-encoding': 'chunked', connection: 'close', 'x-fine': '1' };
      const errors = errorsOf(withPlugins({ [plugin]: { set } }));
      expect(errors.map((e) => [e.pointer, e.message]).sort()).toEqual(
        ['Content-Length', 'connection', 'transfer-encoding'].map((name) => [
          `/plugins/${plugin}/set/${name}`,
          `"${name}" cannot be set: the gateway frames each message and its connection itself`,
        ]),
      );
      valid(withPlugins({ [plugin]: { set: { 'x-fine': '1', 'cache-control': 'no-store' }, remove: ['connection', 'content-length'] } }));
    }
    expect(oneError(withRoute({ plugins: { responseHeaders: { set: { upgrade: 'h2c' } } } }), '/routes/0/plugins/responseHeaders/set/upgrade')).toMatch(/cannot be set/);
  });

  it('refuses a header value with CR, LF or NUL in a header transform (it would start another line)', () => {
    for (const plugin of ['requestHeaders', 'responseHeaders']) {
      for (const v of ['a\r\nx-b: 1', 'a\nb', 'a\u0000b']) {
        expect(oneError(withPlugins({ [plugin]: { set: { 'x-a': v } } }), `/plugins/${plugin}/set/x-a`)).toMatch(/cannot hold CR, LF or NUL/);
      }
      valid(withPlugins({ [plugin]: { set: { 'x-a': 'a\tb c', 'x-b': 'café' } } }));
    }
  });
});

describe('rewrite and stripPrefix', () => {
  it('requires rewrite placeholders to be params of every path of the route', () => {
    valid(withRoute({ paths: ['/a/:id', '/b/:id/*'], rewrite: '/x/{id}' }));
    valid(withRoute({ paths: ['/static/*'], rewrite: '/assets/{*}' }));
    expect(oneError(withRoute({ paths: ['/a/:id', '/b'], rewrite: '/x/{id}' }), '/routes/0/rewrite')).toBe(
      '"{id}" is not a parameter of every path of the route (missing in "/b")',
    );
    expect(oneError(withRoute({ paths: ['/a/:uid'], rewrite: '/x/{id}' }), '/routes/0/rewrite')).toBe(
      '"{id}" is not a parameter of every path of the route (missing in "/a/:uid"); did you mean "uid"?',
    );
    expect(oneError(withRoute({ paths: ['/a/:id'], rewrite: '/x/{id' }), '/routes/0/rewrite')).toBe('unclosed "{" in template');
    expect(oneError(withRoute({ rewrite: 'x' }), '/routes/0/rewrite')).toBe('must start with "/", got "x"');
  });

  it('checks aggregate backend placeholders and names', () => {
    const c = withRoute({
      upstream: undefined,
      paths: ['/p/:id'],
      aggregate: {
        backends: [
          { upstream: 'users', path: '/u/{uid}', as: 'user' },
          { upstream: 'users', path: '/v/{id}', as: 'user' },
        ],
        timeoutMs: 500,
      },
    });
    expect(errorsOf(c)).toEqual([
      { pointer: '/routes/0/aggregate/backends/0/path', message: expect.stringMatching(/^"\{uid\}" is not a parameter/) },
      { pointer: '/routes/0/aggregate/backends/1/as', message: 'duplicate name "user" (also /routes/0/aggregate/backends/0/as)' },
    ]);
  });

  it('requires stripPrefix to start with "/"', () => {
    expect(oneError(withRoute({ stripPrefix: 'v1' }), '/routes/0/stripPrefix')).toBe('must start with "/", got "v1"');
    const { warnings } = valid(withRoute({ paths: ['/other'], stripPrefix: '/v1' }));
    expect(warnings).toEqual(['/routes/0/stripPrefix: is not a prefix of path "/other" (nothing is stripped there)']);
  });
});

describe('plugins', () => {
  const jwt = (j: Json): Json => withPlugins({ jwt: j });

  it('jwt: algorithms are required, non-empty and never "none"', () => {
    expect(oneError(jwt({ secret: 'x' }), '/plugins/jwt')).toBe('missing required key "algorithms"');
    expect(oneError(jwt({ secret: 'x', algorithms: [] }), '/plugins/jwt/algorithms')).toBe('must not be empty (at least one item)');
    expect(oneError(jwt({ secret: 'x', algorithms: ['HS256', 'none'] }), '/plugins/jwt/algorithms/1')).toBe(
      '"none" is never accepted: tokens must be signed',
    );
    expect(oneError(jwt({ secret: 'x', algorithms: ['NONE'] }), '/plugins/jwt/algorithms/0')).toMatch(/never accepted/);
  });

  it('jwt: exactly one of secret | publicKeyFile | jwksUrl', () => {
    expect(oneError(jwt({ algorithms: ['RS256'] }), '/plugins/jwt')).toBe(
      'set exactly one of "secret", "publicKeyFile" or "jwksUrl"',
    );
    expect(oneError(jwt({ algorithms: ['RS256'], publicKeyFile: 'k.pem', jwksUrl: 'https://x/jwks' }), '/plugins/jwt')).toBe(
      '"publicKeyFile" and "jwksUrl" are mutually exclusive: set exactly one of "secret", "publicKeyFile" or "jwksUrl"',
    );
    expect(oneError(jwt({ algorithms: ['RS256'], jwksUrl: 'ftp://x' }), '/plugins/jwt/jwksUrl')).toBe(
      'expected an http:// or https:// URL, got "ftp://x"',
    );
  });

  it('jwt: no algorithm confusion between HMAC secrets and public keys', () => {
    expect(oneError(jwt({ secret: 'x', algorithms: ['HS256', 'RS256'] }), '/plugins/jwt/algorithms/1')).toBe(
      '"RS256" needs "publicKeyFile" or "jwksUrl"; with "secret" only HS256, HS384 and HS512 are allowed',
    );
    expect(oneError(jwt({ publicKeyFile: 'k.pem', algorithms: ['ES256', 'HS256'] }), '/plugins/jwt/algorithms/1')).toMatch(
      /^"HS256" needs "secret": with "publicKeyFile" only RS\*, PS\*, ES\* and EdDSA are allowed/,
    );
    expect(oneError(jwt({ jwksUrl: 'https://x/jwks', algorithms: ['HS512'] }), '/plugins/jwt/algorithms/0')).toMatch(/needs "secret"/);
    valid(jwt({ publicKeyFile: 'k.pem', algorithms: ['RS256', 'PS384', 'ES512', 'EdDSA'] }));
    expect(oneError(jwt({ secret: 'x', algorithms: ['HS257'] }), '/plugins/jwt/algorithms/0')).toMatch(
      /^expected one of "HS256", .*got "HS257"; did you mean "HS256"\?$/,
    );
  });

  it('rateLimit: requestsPerSecond > 0, burst >= 1, key syntax, cluster scope needs cluster.redis', () => {
    expect(oneError(withPlugins({ rateLimit: { requestsPerSecond: 0 } }), '/plugins/rateLimit/requestsPerSecond')).toBe(
      'expected a number > 0, got 0',
    );
    expect(oneError(withPlugins({ rateLimit: {} }), '/plugins/rateLimit')).toBe('missing required key "requestsPerSecond"');
    expect(oneError(withPlugins({ rateLimit: { requestsPerSecond: 1, burst: 0 } }), '/plugins/rateLimit/burst')).toBe(
      'expected an integer >= 1, got 0',
    );
    expect(oneError(withPlugins({ rateLimit: { requestsPerSecond: 1, key: 'cookie:x' } }), '/plugins/rateLimit/key')).toBe(
      'expected "ip", "consumer", "route" or "header:<name>", got "cookie:x"',
    );
    valid(withPlugins({ rateLimit: { requestsPerSecond: 1, key: 'header:x-tenant' } }));
    expect(oneError(withPlugins({ rateLimit: { requestsPerSecond: 1, scope: 'cluster' } }), '/plugins/rateLimit/scope')).toBe(
      'scope "cluster" needs the top-level cluster.redis setting',
    );
    valid(withPlugins({ rateLimit: { requestsPerSecond: 1, scope: 'cluster' } }, (c) => (c.cluster = { redis: 'redis://r:6379' })));
    expect(oneError({ ...minimal(), cluster: { redis: 'http://r' } }, '/cluster/redis')).toMatch(/^expected a redis:\/\/ or rediss:\/\/ URL/);
  });

  it('cors: credentials cannot be combined with origin "*"; origins are checked', () => {
    expect(oneError(withPlugins({ cors: { credentials: true } }), '/plugins/cors/origins/0')).toBe(
      'origin "*" cannot be used with credentials: true; list the allowed origins',
    );
    expect(oneError(withPlugins({ cors: { origins: ['app.example'] } }), '/plugins/cors/origins/0')).toMatch(/^expected "\*"/);
    valid(withPlugins({ cors: { origins: ['https://app.example', 'http://localhost:3000'], credentials: true } }));
  });

  it('acl, ipRestriction and requestId shapes', () => {
    expect(oneError(withPlugins({ acl: {} }), '/plugins/acl')).toBe('set "allowGroups", "denyGroups" or both');
    expect(oneError(withPlugins({ ipRestriction: { allow: ['10.0.0.300/8'] } }), '/plugins/ipRestriction/allow/0')).toMatch(
      /^expected an IPv4\/IPv6 address or CIDR/,
    );
    expect(oneError(withPlugins({ requestId: { header: 'x id' } }), '/plugins/requestId/header')).toBe('invalid header name "x id"');
    // A header the gateway writes, removes or frames itself cannot carry the id (the upstream
    // engine would refuse the request head, or the answer would carry two of it).
    for (const header of ['Connection', 'content-length', 'transfer-encoding', 'host', 'via', 'traceparent', 'x-forwarded-for', 'proxy-authorization', 'te']) {
      expect(oneError(withPlugins({ requestId: { header } }), '/plugins/requestId/header')).toBe(
        `the request id cannot travel in "${header}": the gateway writes, removes or frames that header itself`,
      );
    }
    for (const header of ['x-request-id', 'x-correlation-id', 'request-id', 'x-trace']) valid(withPlugins({ requestId: { header } }));
  });

  it('warns about opt-outs with nothing to opt out of, and acl without authentication', () => {
    const { warnings } = valid(withRoute({ plugins: { jwt: false, acl: { allowGroups: ['a'] } } }));
    expect(warnings).toEqual([
      '/routes/0/plugins: acl is in force but no authentication plugin (jwt, apiKey, basicAuth) is: every request gets 401/403',
      '/routes/0/plugins/jwt: false has no effect: there is no global "jwt" plugin',
    ]);
  });
});

describe('upstream and consumer rules', () => {
  it('takes "engine": "native" or "undici"; "native" on an https:// target is an error with a pointer', () => {
    const c = minimal();
    for (const engine of ['native', 'undici']) {
      c.upstreams.users.engine = engine;
      expect(valid(c).config.upstreams.users.engine).toBe(engine);
    }
    delete c.upstreams.users.engine;
    expect(valid(c).config.upstreams.users.engine).toBeUndefined(); // per target: native for http, undici for https
    c.upstreams.users.targets = [{ url: 'https://127.0.0.1:9443' }];
    valid(c);
    c.upstreams.users.engine = 'undici';
    valid(c);
    c.upstreams.users.engine = 'native';
    expect(oneError(c, '/upstreams/users/engine')).toMatch(/native engine speaks http:\/\/ only.*\/upstreams\/users\/targets\/0 is https.*"engine": "undici"/);
    c.upstreams.users.engine = 'curl';
    expect(errorsOf(c).map((e) => e.pointer)).toEqual(['/upstreams/users/engine']);
  });

  it('checks the consistent-hash hashOn syntax', () => {
    const c = minimal();
    c.upstreams.users.balancer = 'consistent-hash';
    for (const ok of ['ip', 'consumer', 'header:x-user', 'cookie:session']) {
      c.upstreams.users.hashOn = ok;
      valid(c);
    }
    c.upstreams.users.hashOn = 'header:';
    expect(oneError(c, '/upstreams/users/hashOn')).toBe(
      'expected "ip", "consumer", "header:<name>" or "cookie:<name>", got "header:"',
    );
  });

  it('warns when hashOn is set without the consistent-hash balancer', () => {
    const c = minimal();
    c.upstreams.users.hashOn = 'consumer';
    expect(valid(c).warnings).toEqual([
      '/upstreams/users/hashOn: ignored: hashOn only applies to the "consistent-hash" balancer (balancer is "round-robin")',
    ]);
  });

  it('checks apiKeys and passwordHash formats', () => {
    const c = minimal();
    c.consumers = [{ id: 'a', apiKeys: ['plain-key', 'sha256:abc'] }];
    const errors = errorsOf(c);
    expect(errors.map((e) => e.pointer)).toEqual(['/consumers/0/apiKeys/0', '/consumers/0/apiKeys/1']);
    expect(errors[0].message).toBe('expected "sha256:<64 hex digits>" (make one with `gateway hash-key`), got a secret value (not shown)');
    expect(errors[0].message).not.toContain('plain-key');

    const d = minimal();
    d.consumers = [{ id: 'a', basicAuth: { username: 'a', passwordHash: 'hunter2' } }];
    expect(oneError(d, '/consumers/0/basicAuth/passwordHash')).toBe(
      'expected "scrypt:N=<int>,r=<int>,p=<int>:<salt base64url>:<hash base64url>" (make one with `gateway hash-password`), got a secret value (not shown)',
    );
    d.consumers[0].basicAuth.passwordHash = 'scrypt:N=1000,r=8,p=1:c2FsdA:aGFzaA';
    expect(oneError(d, '/consumers/0/basicAuth/passwordHash')).toBe('scrypt N must be a power of two greater than 1');
  });

  it('rejects the same credential on two consumers', () => {
    const c = minimal();
    c.consumers = [
      { id: 'a', apiKeys: [apiKeyHash('k')], basicAuth: { username: 'u', passwordHash: PASSWORD_HASH }, jwtSubject: 's' },
      { id: 'b', apiKeys: [apiKeyHash('k')], basicAuth: { username: 'u', passwordHash: PASSWORD_HASH }, jwtSubject: 's' },
    ];
    expect(errorsOf(c).map((e) => e.pointer)).toEqual([
      '/consumers/1/apiKeys/0',
      '/consumers/1/basicAuth/username',
      '/consumers/1/jwtSubject',
    ]);
  });

  it('checks CIDRs and addresses (IPv4 and IPv6)', () => {
    valid({ ...minimal(), trustedProxies: ['10.0.0.0/8', '0.0.0.0/0', '127.0.0.1', '::/0', '2001:db8::/32', 'fe80::1', '::ffff:10.0.0.0/104'] });
    const errors = errorsOf({ ...minimal(), trustedProxies: ['10.0.0.0/33', '2001:db8::/129', 'localhost', '10.0.0/8', '10.0.0.0/', 'fe80::1%eth0'] });
    expect(errors.map((e) => e.pointer)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `/trustedProxies/${i}`));
    expect(errors[0].message).toBe(
      'expected an IPv4/IPv6 address or CIDR ("10.0.0.0/8", "fd00::/8"); the prefix length must be 0..32, got "10.0.0.0/33"',
    );
    expect(valid({ ...minimal(), trustedProxies: ['10.0.0.1/8'] }).warnings).toEqual([
      '/trustedProxies/0: "10.0.0.1/8" has host bits set; it means the whole /8 network',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// All errors at once
// ---------------------------------------------------------------------------------------------

describe('several errors', () => {
  it('lists every error, sorted by pointer (array indexes numerically)', () => {
    const c = full();
    c.upstreams.users.balancer = 'random';
    c.routes[3].upstream = 'users'; // respond + upstream
    c.routes[0].paths.push('no-slash');
    c.limits.maxBodyBytes = 0;
    c.routes.push(...Array.from({ length: 8 }, (_, i) => ({ id: `extra${i}`, paths: [`/extra/${i}`], upstream: 'users' })));
    c.routes[10].upstream = 'missing';
    const errors = errorsOf(c);
    expect(errors.map((e) => e.pointer)).toEqual([
      '/limits/maxBodyBytes',
      '/routes/0/paths/2',
      '/routes/3',
      '/routes/10/upstream',
      '/upstreams/users/balancer',
    ]);
    expect(formatErrors(errors).split('\n')).toHaveLength(5);
  });
});

// ---------------------------------------------------------------------------------------------
// env: substitution
// ---------------------------------------------------------------------------------------------

describe('env: substitution', () => {
  it('substitutes any string value, and numbers/booleans where the schema wants them', () => {
    const c = minimal();
    c.listen = { host: 'env:HOST', port: 'env:PORT' };
    c.routes[0].preserveHost = 'env:PRESERVE';
    c.routes[0].respond = undefined;
    c.upstreams.users.targets[0].url = 'env:USERS_URL';
    const { config } = valid(c, { HOST: '127.0.0.1', PORT: '9000', PRESERVE: 'true', USERS_URL: 'http://10.1.1.1:80' });
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(config.routes[0].preserveHost).toBe(true);
    expect(config.upstreams.users.targets[0].url).toBe('http://10.1.1.1:80');
    expect(envPointersOf(config).sort()).toEqual(['/listen/host', '/listen/port', '/routes/0/preserveHost', '/upstreams/users/targets/0/url']);
  });

  it('reports a missing variable at its pointer, naming it', () => {
    const c = withPlugins({ jwt: { secret: 'env:JWT_SECRET', algorithms: ['HS256'] } });
    expect(oneError(c, '/plugins/jwt/secret', {})).toBe('environment variable JWT_SECRET is not set (referenced as "env:JWT_SECRET")');
    expect(oneError({ ...minimal(), admin: { token: 'env:bad-name' } }, '/admin/token', {})).toMatch(/^invalid environment variable name/);
  });

  it('never shows a substituted value in an error', () => {
    const c = minimal();
    c.upstreams.users.balancer = 'env:SECRET_BALANCER';
    c.listen.port = 'env:SECRET_PORT';
    c.routes[0].upstream = 'env:SECRET_UPSTREAM';
    const errors = errorsOf(c, { SECRET_BALANCER: 'TOPSECRET1', SECRET_PORT: 'TOPSECRET2', SECRET_UPSTREAM: 'TOPSECRET3' });
    expect(errors).toEqual([
      { pointer: '/listen/port', message: 'expected an integer between 0 and 65535, got the value of env:SECRET_PORT' },
      { pointer: '/routes/0/upstream', message: 'unknown upstream the value of env:SECRET_UPSTREAM (known: users)' },
      {
        pointer: '/upstreams/users/balancer',
        message:
          'expected one of "round-robin", "least-connections", "consistent-hash", "p2c-ewma", got the value of env:SECRET_BALANCER',
      },
    ]);
    expect(formatErrors(errors)).not.toMatch(/TOPSECRET/);
  });

  it('does not quote fragments of substituted paths, templates or ids either', () => {
    const c = minimal();
    c.routes = [
      { id: 'env:ID_A', paths: ['env:PATH_A'], upstream: 'users', rewrite: 'env:REWRITE' },
      { id: 'b', paths: ['env:PATH_B'], upstream: 'users' },
      { id: 'c', paths: ['env:PATH_C'], upstream: 'users' },
    ];
    const env = {
      ID_A: 'hidden-route-id',
      PATH_A: '/hidden/:secretparam',
      REWRITE: '/x/{secretname}',
      PATH_B: '/hidden/:otherparam',
      PATH_C: '/hidden/:dup/:dup',
    };
    const errors = errorsOf(c, env);
    expect(errors).toEqual([
      { pointer: '/routes/0/rewrite', message: 'the value of env:REWRITE has a placeholder that is not a parameter of every path of the route' },
      { pointer: '/routes/1/paths/0', message: expect.stringContaining('route "b" conflicts with route the value of env:ID_A') },
      { pointer: '/routes/2/paths/0', message: 'the value of env:PATH_C is not a valid path' },
    ]);
    expect(formatErrors(errors)).not.toMatch(/hidden|secret|dup/);
  });
});

// ---------------------------------------------------------------------------------------------
// Immutability and redaction
// ---------------------------------------------------------------------------------------------

describe('input handling', () => {
  it('never mutates the caller\'s object', () => {
    const input = full();
    const before = JSON.stringify(input);
    deepFreeze(input);
    const r = check(input);
    expect(r.ok).toBe(true);
    expect(JSON.stringify(input)).toBe(before);
    if (r.ok) expect(r.config).not.toBe(input);
    const bad = deepFreeze({ ...minimal(), workers: 0 });
    expect(check(bad).ok).toBe(false);
  });

  it('treats "__proto__" as an ordinary (unknown) key', () => {
    const r = loadConfigText(JSON.stringify(minimal()).replace('{"listen"', '{"__proto__":{"x":1},"listen"'), 'g.json');
    expect(!r.ok && r.errors).toEqual([{ pointer: '', message: 'unknown key "__proto__"' }]);
    expect(({} as Json).x).toBeUndefined();
  });
});

describe('redactConfig', () => {
  it('hides every secret and leaves the loaded config alone', () => {
    const c = full();
    c.plugins.jwt = { secret: 'env:JWT_SECRET', algorithms: ['HS256'] };
    c.routes[0].plugins.jwt = { secret: 'literal-route-secret', algorithms: ['HS384'] };
    c.plugins.requestHeaders.set.authorization = 'Bearer upstream-token-literal';
    c.upstreams.shadow.targets[0].url = 'env:SHADOW_URL';
    const env = { ...ENV, SHADOW_URL: 'http://10.9.9.9:8080' };
    const { config } = valid(c, env);
    const snapshot = JSON.stringify(config);
    const redacted = redactConfig(config);
    expect(JSON.stringify(config)).toBe(snapshot);

    const text = JSON.stringify(redacted);
    for (const secret of [
      ENV.GATEWAY_ADMIN_TOKEN,
      ENV.JWT_SECRET,
      'literal-route-secret',
      'upstream-token-literal',
      'hunter2',
      apiKeyHash('acme-key'),
      PASSWORD_HASH,
      '10.9.9.9',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(redacted.admin?.token).toBe('[redacted]');
    expect(redacted.plugins.jwt?.secret).toBe('[redacted]');
    expect((redacted.routes[0].plugins.jwt as Json).secret).toBe('[redacted]');
    expect(redacted.consumers[0].apiKeys).toEqual(['[redacted]']);
    expect(redacted.consumers[0].basicAuth?.passwordHash).toBe('[redacted]');
    expect(redacted.cluster?.redis).toBe('redis://[redacted]@redis.internal:6379/0');
    expect(redacted.upstreams.shadow.targets[0].url).toBe('[redacted]');
    // Non-secrets are untouched.
    expect(redacted.routes[0].paths).toEqual(config.routes[0].paths);
    expect(redacted.upstreams.users.targets[0].url).toBe('http://127.0.0.1:9001');
  });

  it('redacts env-derived values of a copy when given the pointers', () => {
    const c = minimal();
    c.listen.host = 'env:HOST';
    const { config } = valid(c, { HOST: '10.2.3.4' });
    const copy = structuredClone(config);
    expect(redactConfig(copy).listen.host).toBe('10.2.3.4');
    expect(redactConfig(copy, envPointersOf(config)).listen.host).toBe('[redacted]');
  });
});

describe('formatErrors', () => {
  it('prints one "pointer: message" line per error', () => {
    expect(
      formatErrors([
        { pointer: '', message: 'invalid JSON in g.json at line 1, column 1: unexpected end of file' },
        { pointer: '/routes/3/upstream', message: 'unknown upstream "userz" (known: orders, users)' },
      ]),
    ).toBe(
      '(root): invalid JSON in g.json at line 1, column 1: unexpected end of file\n/routes/3/upstream: unknown upstream "userz" (known: orders, users)',
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Published schema and shipped config
// ---------------------------------------------------------------------------------------------

describe('published files', () => {
  it('config/gateway.schema.json is what write-schema generates now', () => {
    expect(schemaFilePath()).toBe(join(ROOT, 'config/gateway.schema.json'));
    const committed = readFileSync(join(ROOT, 'config/gateway.schema.json'), 'utf8');
    expect(committed, 'stale schema: run `npm run build && npm run schema`').toBe(renderSchemaFile());
    const doc = JSON.parse(committed);
    expect(doc.$id).toBeTypeOf('string');
    expect(doc.title).toBeTypeOf('string');
    expect(doc.additionalProperties).toBe(false);
    expect(doc.properties.routes.items.properties.upstream.description).toBeTypeOf('string');
  });

  it('docs/configuration.md mentions every field of the schema', () => {
    const doc = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8');
    const names = new Set<string>();
    const visit = (s: Json): void => {
      if (typeof s !== 'object' || s === null) return;
      if (s.properties) for (const k of Object.keys(s.properties)) names.add(k);
      for (const v of Object.values(s)) visit(v);
    };
    visit(JSON.parse(renderSchemaFile()));
    const code = [...doc.replace(/```/g, '').matchAll(/`([^`]+)`/g)].map((m) => m[1]);
    const missing = [...names].filter((n) => !code.some((c) => c.split(/[^$\w]+/).includes(n)));
    expect(missing).toEqual([]);
  });

  const shipped = join(ROOT, 'config/gateway.json');
  it.skipIf(!existsSync(shipped))('config/gateway.json validates', async () => {
    const r = await loadConfigFile(shipped, { env: new Proxy({}, { get: (_t, name) => process.env[String(name)] ?? `dummy-${String(name)}-0123456789` }) });
    expect(r.ok ? [] : formatErrors(r.errors)).toEqual([]);
  });
});
