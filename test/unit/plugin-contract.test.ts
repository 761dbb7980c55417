/**
 * The plugin contract, run over every descriptor of the registry (as hono runs one router suite
 * over every router): each plugin's schema round-trips through the loader in the global and the
 * route position, its checks report with pointers inside its own config, its files are named
 * with pointers, it compiles with probe services, and its secrets are the ones it declares. A new
 * plugin must add its samples here (the first test fails until it does).
 */
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REGISTRY, PHASE_ORDER } from '../../src/plugins/registry.js';
import type { PluginDescriptor, PluginInstance, Reporter } from '../../src/plugins/api.js';
import { ConfigFault } from '../../src/plugins/api.js';
import { ConsumerDirectory } from '../../src/plugins/consumers.js';
import { compilePipeline } from '../../src/plugins/pipeline.js';
import { validateConfig } from '../../src/config/load.js';
import { PLUGIN_NAMES, PluginsSchema, RoutePluginsSchema } from '../../src/config/schema.js';
import { notImplementedErrors } from '../../src/config/not-implemented.js';
import { secretPointers } from '../../src/config/redact.js';
import { ServiceHost } from '../../src/runtime/services.js';
import { compileCidrs } from '../../src/net/cidr.js';

const dir = mkdtempSync(join(tmpdir(), 'gw-contract-'));
const publicPem = join(dir, 'ed.pem');
const privatePem = join(dir, 'ed-private.pem');
{
  const { generateKeyPairSync } = await import('node:crypto');
  const k = generateKeyPairSync('ed25519');
  writeFileSync(publicPem, k.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(privatePem, k.privateKey.export({ type: 'pkcs8', format: 'pem' }));
}

interface Sample {
  /** A valid config of the plugin. */
  good: Record<string, unknown>;
  /** An invalid one only the plugin's check() can refuse, and the pointer (inside the plugin) it reports. */
  bad?: { conf: Record<string, unknown>; at: string };
  /** Relative pointers of the secrets its schema marks. */
  secrets: string[];
  /** A config compile() refuses with a ConfigFault at this relative pointer. */
  fault?: { conf: Record<string, unknown>; at: string };
  /** Known to the config, refused by this build. */
  notImplemented?: true;
}

const SAMPLES: Record<string, Sample> = {
  requestId: { good: {}, bad: { conf: { header: 'bad header' }, at: '/header' }, secrets: [] },
  cors: { good: { origins: ['https://a.test'] }, bad: { conf: { origins: ['*'], credentials: true }, at: '/origins/0' }, secrets: [] },
  ipRestriction: { good: { allow: ['10.0.0.0/8'] }, bad: { conf: { deny: ['10.0.0.0/33'] }, at: '/deny/0' }, secrets: [] },
  jwt: {
    good: { publicKeyFile: publicPem, algorithms: ['EdDSA'] },
    bad: { conf: { secret: 'a-long-enough-secret-for-hs256-0123', algorithms: ['RS256'] }, at: '/algorithms/0' },
    secrets: ['/secret'],
    fault: { conf: { publicKeyFile: privatePem, algorithms: ['EdDSA'] }, at: '/publicKeyFile' },
  },
  apiKey: { good: { header: 'x-key' }, bad: { conf: { header: 'x key' }, at: '/header' }, secrets: [] },
  basicAuth: { good: { realm: 'r' }, secrets: [] },
  acl: { good: { allowGroups: ['g'] }, bad: { conf: {}, at: '' }, secrets: [] },
  rateLimit: { good: { requestsPerSecond: 5 }, bad: { conf: { requestsPerSecond: 5, scope: 'cluster' }, at: '/scope' }, secrets: [] },
  requestHeaders: { good: { set: { 'x-a': '1' }, remove: ['x-b'] }, bad: { conf: { remove: ['bad name'] }, at: '/remove/0' }, secrets: ['/set/*'] },
  responseHeaders: { good: { set: { 'x-a': '1' } }, bad: { conf: { set: { 'bad name': 'v' } }, at: '/set/bad name' }, secrets: ['/set/*'] },
  cache: { good: { ttlMs: 1000 }, bad: { conf: { methods: ['POST'] }, at: '/methods/0' }, secrets: [] },
  encoding: { good: { msgpack: true }, bad: { conf: { msgpack: 'yes' }, at: '/msgpack' }, secrets: [] },
};

const base = {
  listen: { port: 0 },
  upstreams: { u: { targets: [{ url: 'http://127.0.0.1:1' }] } },
  consumers: [{ id: 'c', groups: ['g'], apiKeys: [`sha256:${'a'.repeat(64)}`] }],
};

function configWith(name: string, conf: unknown, where: 'global' | 'route') {
  const plugins = { [name]: conf, ...(name === 'acl' ? { apiKey: {} } : {}) };
  return where === 'global'
    ? { ...base, plugins, routes: [{ id: 'r', paths: ['/r'], upstream: 'u' }] }
    : { ...base, routes: [{ id: 'r', paths: ['/r'], upstream: 'u', plugins }] };
}

const pointerOf = (name: string, where: 'global' | 'route') => (where === 'global' ? `/plugins/${name}` : `/routes/0/plugins/${name}`);

function compileOne(d: PluginDescriptor, conf: unknown): PluginInstance {
  const host = new ServiceHost('probe');
  const config = validateConfig(configWith(d.name, conf, 'global'), { env: {} });
  if (!config.ok) throw new Error(JSON.stringify(config.errors));
  const scope = host.scope(config.config);
  try {
    const loaded = (config.config.plugins as Record<string, unknown>)[d.name];
    return d.compile(loaded, {
      scope: { kind: 'global' },
      routeId: 'r',
      consumers: new ConsumerDirectory(config.config.consumers),
      isTrustedProxy: compileCidrs([]),
      role: 'probe',
      use: scope.use.bind(scope),
    });
  } finally {
    scope.retire();
  }
}

describe('the registry', () => {
  it('has a sample here for every plugin, and the config schema knows exactly its names', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual(REGISTRY.map((d) => d.name).sort());
    expect([...PLUGIN_NAMES]).toEqual(REGISTRY.map((d) => d.name));
    expect(Object.keys(PluginsSchema.properties)).toEqual(REGISTRY.map((d) => d.name));
    expect(Object.keys(RoutePluginsSchema.properties)).toEqual(REGISTRY.map((d) => d.name));
  });

  it('lists plugins in phase order, each name once', () => {
    const phases = REGISTRY.map((d) => PHASE_ORDER.indexOf(d.phase));
    expect(phases.every((p) => p >= 0)).toBe(true);
    expect([...phases].sort((a, b) => a - b)).toEqual(phases);
    expect(new Set(REGISTRY.map((d) => d.name)).size).toBe(REGISTRY.length);
  });
});

describe.each(REGISTRY.map((d) => [d.name, d as PluginDescriptor] as const))('plugin %s', (name, d) => {
  const sample = SAMPLES[name];

  it.each(['global', 'route'] as const)('its schema round-trips through the loader (%s)', (where) => {
    const r = validateConfig(configWith(name, sample.good, where), { env: {} });
    expect(r.ok ? [] : r.errors).toEqual([]);
    if (!r.ok) return;
    const loaded = where === 'global' ? (r.config.plugins as Record<string, unknown>)[name] : (r.config.routes[0].plugins as Record<string, unknown>)[name];
    expect(loaded).toMatchObject(sample.good);
    const again = validateConfig(JSON.parse(JSON.stringify(r.config)), { env: {} });
    expect(again.ok && JSON.stringify(again.config)).toBe(JSON.stringify(r.config));
    const ni = notImplementedErrors(r.config);
    expect(ni.map((e) => e.pointer)).toEqual(sample.notImplemented ? [pointerOf(name, where)] : []);
  });

  it('a route may turn it off with false', () => {
    const r = validateConfig({ ...configWith(name, sample.good, 'global'), routes: [{ id: 'r', paths: ['/r'], upstream: 'u', plugins: { [name]: false } }] }, { env: {} });
    expect(r.ok ? [] : r.errors).toEqual([]);
  });

  it.skipIf(sample.bad === undefined).each(['global', 'route'] as const)('its check reports inside its own config (%s)', (where) => {
    const r = validateConfig(configWith(name, sample.bad!.conf, where), { env: {} });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.pointer)).toContain(pointerOf(name, where) + sample.bad!.at);
  });

  it('its check is read-only', () => {
    if (d.check === undefined) return;
    const conf = structuredClone(sample.bad?.conf ?? sample.good);
    const before = JSON.stringify(conf);
    const r: Reporter = { error() {}, warn() {}, show: () => 'x', didYouMean: () => '' };
    d.check(Object.freeze(conf) as never, r, { isRoute: false, hasCluster: false });
    expect(JSON.stringify(conf)).toBe(before);
  });

  it('names the files it reads with pointers inside its config', () => {
    const files = d.files?.(sample.good as never) ?? [];
    for (const f of files) {
      expect(f.at.startsWith('/')).toBe(true);
      expect(typeof f.path).toBe('string');
    }
  });

  it('compiles with probe services into hooks only', () => {
    if (sample.notImplemented) return;
    const inst = compileOne(d, sample.good);
    for (const [k, v] of Object.entries(inst)) {
      if (k === 'removeResponseHeaders') {
        for (const h of v as string[]) expect(h).toBe(h.toLowerCase());
      } else if (k === 'fixedResponseHeaders') {
        // Pairs: a lower-case token name, then a value a header line can carry.
        const pairs = v as string[];
        expect(pairs.length % 2).toBe(0);
        for (let i = 0; i < pairs.length; i += 2) {
          expect(pairs[i]).toMatch(/^[!#$%&'*+.^_`|~0-9a-z-]+$/);
          expect(pairs[i + 1]).not.toMatch(/[\r\n\0]/);
        }
      } else {
        expect(['onRequest', 'onUpstream', 'onRequestBody', 'onResponseHeaders', 'onUpstreamAnswer', 'onComplete']).toContain(k);
        if (k === 'onRequestBody') expect(typeof (v as { rewrite: unknown }).rewrite).toBe('function');
        else expect(typeof v).toBe('function');
      }
    }
  });

  it.skipIf(sample.fault === undefined)('a compile fault comes out as a ConfigFault with its absolute pointer', () => {
    const r = validateConfig(configWith(name, sample.fault!.conf, 'route'), { env: {} });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const scope = new ServiceHost('probe').scope(r.config);
    try {
      compilePipeline([{ name, conf: (r.config.routes[0].plugins as Record<string, unknown>)[name], pointer: '/routes/0/plugins/' + name, scope: { kind: 'route', routeId: 'r' } }], {
        routeId: 'r',
        consumers: new ConsumerDirectory([]),
        isTrustedProxy: compileCidrs([]),
        role: 'probe',
        use: scope.use.bind(scope),
      });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigFault);
      expect((err as ConfigFault).pointer).toBe(`/routes/0/plugins/${name}${sample.fault!.at}`);
    } finally {
      scope.retire();
    }
  });

  it('declares its secrets in its schema', () => {
    expect(secretPointers(d.schema)).toEqual(sample.secrets);
  });
});
