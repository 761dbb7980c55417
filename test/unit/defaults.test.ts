/**
 * Defaults live only in the schema: a minimal config, loaded and compiled, must carry exactly
 * the schema's defaults into every compiled value (no `?? <default>` in runtime code that could
 * disagree). Each expectation reads the default from the schema, never a literal.
 */
import { describe, expect, it } from 'vitest';
import type { TObject, TSchema } from '@sinclair/typebox';
import { validateConfig } from '../../src/config/load.js';
import {
  GatewayConfigSchema,
  HttpSchema,
  LimitsSchema,
  RouteSchema,
  TargetSchema,
  TimeoutsSchema,
  UpstreamSchema,
} from '../../src/config/schema.js';
import { compileConfig, type RouteAction } from '../../src/runtime/compile.js';
import { ServiceHost } from '../../src/runtime/services.js';
import { EndpointRegistry } from '../../src/upstream/endpoint.js';
import { RequestContext } from '../../src/plugins/context.js';
import { corsPlugin } from '../../src/plugins/cors/index.js';
import { CorsPluginSchema } from '../../src/plugins/cors/schema.js';
import { ApiKeyPluginSchema } from '../../src/plugins/api-key/schema.js';
import { BasicAuthPluginSchema } from '../../src/plugins/basic-auth/schema.js';
import { RequestIdPluginSchema } from '../../src/plugins/request-id/schema.js';
import type { GatewayConfig } from '../../src/config/schema.js';
import type { LocalReply } from '../../src/plugins/api.js';

const def = (schema: TSchema, key: string): unknown => {
  const s = (schema as TObject).properties[key] as TSchema & { default?: unknown };
  expect(s, key).toBeDefined();
  expect(s.default, `${key} has a schema default`).toBeDefined();
  return s.default;
};

const NEVER: RouteAction = { create: () => { throw new Error('not serving'); } };

function load(config: unknown): GatewayConfig {
  const r = validateConfig(config, { env: {} });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

function compile(config: GatewayConfig) {
  const endpoints = new EndpointRegistry();
  const scope = new ServiceHost('probe').scope(config);
  try {
    return compileConfig(config, 1, { endpoints, actions: { proxy: NEVER, respond: NEVER, aggregate: NEVER }, services: scope });
  } finally {
    scope.retire();
    void endpoints.closeAll();
  }
}

const minimal = {
  listen: { port: 0 },
  upstreams: { u: { targets: [{ url: 'http://127.0.0.1:1' }] } },
  plugins: { requestId: {}, cors: {}, apiKey: {}, basicAuth: {} },
  routes: [{ id: 'r', paths: ['/r'], methods: ['GET'], upstream: 'u' }],
};

function ctx(method: string, headers: string[]): RequestContext {
  return new RequestContext(method, '/r', '', 'h', headers, '127.0.0.1', '127.0.0.1', 'r');
}

describe('defaults come from the schema only', () => {
  const config = load(minimal);
  const compiled = compile(config);
  const route = compiled.routes[0];

  it('limits, http and listen', () => {
    expect(compiled.maxBodyBytes).toBe(def(LimitsSchema, 'maxBodyBytes'));
    expect(compiled.maxHeaderBytes).toBe(def(LimitsSchema, 'maxHeaderBytes'));
    expect(compiled.bodyBufferBytes).toBe(def(LimitsSchema, 'bodyBufferBytes'));
    expect(compiled.requestTimeoutMs).toBe(def(LimitsSchema, 'requestTimeoutMs'));
    expect(config.limits.idleTimeoutMs).toBe(def(LimitsSchema, 'idleTimeoutMs'));
    expect(config.limits.rateLimitBuckets).toBe(def(LimitsSchema, 'rateLimitBuckets'));
    expect(compiled.allowUnderscores).toBe(def(HttpSchema, 'underscoresInHeaders'));
    expect(compiled.trustsAnyProxy).toBe((def(GatewayConfigSchema, 'trustedProxies') as unknown[]).length > 0);
    expect(config.workers).toBe(def(GatewayConfigSchema, 'workers'));
    expect(config.accessLog).toEqual(def(GatewayConfigSchema, 'accessLog'));
  });

  it('upstream timeouts and pool sizes', () => {
    const proxy = route.proxy!;
    expect(proxy.main.responseHeadersMs).toBe(def(TimeoutsSchema, 'responseHeadersMs'));
    expect(proxy.main.idleMs).toBe(def(TimeoutsSchema, 'idleMs'));
    expect(proxy.timeoutMs).toBe(def(RouteSchema, 'timeoutMs'));
    const member = proxy.main.cluster.members[0];
    expect(member.weight).toBe(def(TargetSchema, 'weight'));
    // [upstream, origin, slot, keepAlive, maxConnections, connectMs, idleMs]
    const [, , , keepAlive, maxConnections, connectMs, idleMs] = JSON.parse(member.endpoint.key) as unknown[];
    expect(keepAlive).toBe(def(UpstreamSchema, 'connectionsPerWorker'));
    expect(maxConnections).toBe(def(UpstreamSchema, 'maxConnectionsPerWorker'));
    expect(connectMs).toBe(def(TimeoutsSchema, 'connectMs'));
    expect(idleMs).toBe(def(TimeoutsSchema, 'idleMs'));
  });

  it('route options', () => {
    expect(route.preserveHost).toBe(def(RouteSchema, 'preserveHost'));
    expect(route.bodyMode).toBe(def(RouteSchema, 'requestBuffering') ? 'buffer' : 'stream');
    expect(route.headerMatch).toBeNull();
    expect(route.requestIdHeader).toBe(def(RequestIdPluginSchema, 'header'));
    expect(compiled.unroutedRequestIdHeader).toBe(def(RequestIdPluginSchema, 'header'));
  });

  it('plugins compile with their schema defaults (cors, apiKey, basicAuth)', async () => {
    const access = route.pipeline!.access!;
    // cors answers first: default methods and max-age.
    const preflight = access[0](ctx('OPTIONS', ['origin', 'https://a.test', 'access-control-request-method', 'GET'])) as LocalReply;
    const h = Object.fromEntries(
      (preflight.headers ?? []).reduce<string[][]>((out, v, i, a) => (i % 2 === 0 ? [...out, [v, a[i + 1]]] : out), []),
    );
    expect(h['access-control-allow-methods']).toBe((def(CorsPluginSchema, 'methods') as string[]).join(', '));
    expect(h['access-control-max-age']).toBe(String(Math.floor((def(CorsPluginSchema, 'maxAgeMs') as number) / 1000)));
    expect(h['access-control-allow-origin']).toBe('*');
    expect(def(CorsPluginSchema, 'origins')).toEqual(['*']);
    // apiKey: refuses without the default header; the challenge of basicAuth names the default realm.
    const apiKeyRefusal = access[1](ctx('GET', [])) as LocalReply;
    expect(apiKeyRefusal.status).toBe(401);
    const withHeader = ctx('GET', [def(ApiKeyPluginSchema, 'header') as string, 'k']);
    expect(access[1](withHeader)).toMatchObject({ status: 401 });
    expect(withHeader.header(def(ApiKeyPluginSchema, 'header') as string)).toBeUndefined(); // removed before forwarding
    const basic = (await access[2](ctx('GET', []))) as LocalReply;
    expect(basic.headers).toEqual(['www-authenticate', `Basic realm="${def(BasicAuthPluginSchema, 'realm') as string}", charset="UTF-8"`]);
    expect(corsPlugin.answersPreflight).toBe(true);
  });

  it('computed defaults: rateLimit burst and aggregate timeoutMs come from normalization', () => {
    const c = load({ ...minimal, plugins: { rateLimit: { requestsPerSecond: 2.5 } } });
    expect(c.plugins.rateLimit!.burst).toBe(3);
    expect(c.plugins.rateLimit!.key).toBe('ip');
  });
});
