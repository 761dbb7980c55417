/**
 * The gateway configuration, written once in TypeBox. Everything else derives from this file:
 * - the TypeScript types (`GatewayConfig` and the sub-types below, as the config looks after
 *   defaults are applied; `GatewayConfigInput` as the user writes it),
 * - runtime validation (src/config/load/ajv.ts compiles `gatewaySchemaDocument()` with Ajv),
 * - the published JSON Schema `config/gateway.schema.json` (src/config/write-schema.ts),
 * - what GET /config redacts, what a reload may not change, what this build refuses (the
 *   secret() / restartOnly() / notImplemented() annotations, src/util/schema-kit.ts).
 *
 * The plugins' schemas are not here: each plugin folder has its own (src/plugins/<name>/schema.ts),
 * and `plugins` (global and per route) is assembled from the registry (src/plugins/registry.ts).
 *
 * The user-facing contract is /work/shared/docs/CONFIG.md; the reference is docs/configuration.md.
 *
 * Conventions (src/util/schema-kit.ts):
 * - every object is closed (`additionalProperties: false`): unknown keys are errors (under
 *   `plugins`, other names are plugin modules' plugins: the loader checks them, see
 *   ModulePluginConfigSchema);
 * - `withDefault(schema)` marks an optional field that always has a value after loading;
 *   plain `Type.Optional` fields stay absent when the user leaves them out (a feature whose
 *   object is absent is off);
 * - `computed(schema)` marks an optional field whose default depends on other fields; the
 *   loader's normalization fills it in (documented in its description);
 * - string syntax that JSON Schema cannot express well (paths, hosts, CIDRs, ...) is checked by
 *   the loader's semantic checks (src/config/check/), not here.
 */
import { Type, type Static, type TLiteral, type TOptional, type TSchema, type TUnion } from '@sinclair/typebox';
import {
  closed,
  computed,
  durationMs,
  HeaderValueMap,
  Port,
  restartOnly,
  secret,
  sizeBytes,
  StringList,
  withDefault,
  type Resolved,
} from '../util/schema-kit.js';
import { REGISTRY, type RegisteredPlugin } from '../plugins/registry.js';

export type { Resolved, TDefaulted } from '../util/schema-kit.js';

// ---------------------------------------------------------------------------------------------
// Top-level sections
// ---------------------------------------------------------------------------------------------

export const ListenSchema = Type.Object(
  {
    host: withDefault(Type.String({ minLength: 1, description: 'Address to listen on.', default: '0.0.0.0' })),
    port: withDefault(Port('TCP port to listen on (0 = any free port, for tests).', 8080)),
  },
  { ...closed, description: 'Where the gateway accepts client traffic (required).' },
);

export const TlsSchema = Type.Object(
  {
    certFile: Type.String({ minLength: 1, description: 'PEM certificate chain file.' }),
    keyFile: Type.String({ minLength: 1, description: 'PEM private key file.' }),
  },
  { ...closed, description: 'Serve HTTPS on `listen`. Absent: plain HTTP.' },
);

export const WorkersSchema = Type.Union(
  [
    Type.Literal('auto', { description: 'One worker per CPU core.' }),
    Type.Integer({ minimum: 1, description: 'Number of worker processes.' }),
  ],
  { description: '"auto" (one worker per CPU core) or an integer >= 1.', default: 'auto' },
);

export const AdminSchema = Type.Object(
  {
    host: withDefault(
      Type.String({ minLength: 1, description: 'Address of the admin API (keep it private).', default: '127.0.0.1' }),
    ),
    port: withDefault(Port('Port of the admin API.', 9901)),
    token: secret(
      Type.String({
        minLength: 1,
        description:
          'Bearer token every admin call except GET /healthz needs. Use "env:NAME" to keep it out of the file. Redacted in GET /config.',
      }),
    ),
  },
  { ...closed, description: 'Admin API (health, metrics, config, reload). Absent: no admin listener.' },
);

export const LimitsSchema = Type.Object(
  {
    maxBodyBytes: withDefault(
      sizeBytes('Largest accepted request body; larger: 413 without contacting the upstream.', 10485760),
    ),
    maxHeaderBytes: withDefault(
      restartOnly(sizeBytes('Largest accepted request head (request line + header lines); larger: 431.', 16384)),
    ),
    idleTimeoutMs: withDefault(
      Type.Integer({
        minimum: 1000,
        maximum: 900000,
        description:
          'Client keep-alive idle timeout, and the longest a client may leave written response data unread before the connection is cut. uWS counts in 4 s ticks.',
        default: 10000,
      }),
    ),
    requestTimeoutMs: withDefault(
      Type.Integer({
        minimum: 0,
        maximum: 900000,
        description: 'Time a client has to send its request head and whole body; late: 408 and close (0 = none: then idleTimeoutMs bounds them).',
        default: 30000,
      }),
    ),
    bodyBufferBytes: withDefault(
      sizeBytes('Request bodies read before dispatch are kept in memory up to this size, larger ones in an unlinked temporary file.', 65536),
    ),
    rateLimitBuckets: withDefault(
      // The token-bucket segment is sized once, before the workers map it.
      restartOnly(
        Type.Integer({
          minimum: 16,
          maximum: 268435456,
          description:
            'Token buckets the shared-memory rate-limit table holds (rounded up to a power of two; 16 bytes each, reserved at start). Changing it needs a restart.',
          default: 1048576,
        }),
      ),
    ),
  },
  { ...closed, description: 'Client-side limits. Always in force; every field has a default.', default: {} },
);

export const HttpSchema = Type.Object(
  {
    underscoresInHeaders: withDefault(
      Type.Boolean({
        description:
          'Forward request headers whose names contain "_" (nginx underscores_in_headers). Off by default: CGI-style upstreams read X_User_Id as X-User-Id.',
        default: false,
      }),
    ),
  },
  { ...closed, description: 'How the gateway treats client requests.', default: {} },
);

export const TrustedProxiesSchema = Type.Array(
  Type.String({ description: 'An IPv4/IPv6 CIDR ("10.0.0.0/8", "fd00::/8") or a plain address.' }),
  {
    description:
      'Peers allowed to set X-Forwarded-For / -Proto / -Host. From anyone else those headers are replaced.',
    default: [],
  },
);

export const AccessLogObjectSchema = Type.Object(
  {
    path: withDefault(
      Type.String({ minLength: 1, description: '"stdout", "stderr" or a file path.', default: 'stdout' }),
    ),
    format: withDefault(
      Type.Union([Type.Literal('json'), Type.Literal('combined')], {
        description: '"json" (one JSON object per line) or "combined" (Apache/nginx combined log format).',
        default: 'json',
      }),
    ),
  },
  { ...closed, description: 'Access log destination and format.' },
);

export const AccessLogSchema = Type.Union([AccessLogObjectSchema, Type.Literal(false)], {
  description: 'One line per request. false turns it off. Default: JSON lines on stdout.',
  default: { path: 'stdout', format: 'json' },
});

export const ClusterSchema = Type.Object(
  {
    redis: secret(
      Type.String({
        pattern: '^rediss?://',
        patternErrorMessage: 'expected a redis:// or rediss:// URL',
        description:
          'Redis URL (redis:// or rediss://) for state shared by all gateway nodes (cluster-scoped rate limits). Credentials in it are redacted in GET /config.',
      }),
      'url-credentials',
    ),
    keyPrefix: withDefault(
      Type.String({
        description: 'Prefix of every Redis key the gateway writes (gateways sharing a limit must use the same one).',
        default: 'gateway:',
      }),
    ),
  },
  { ...closed, description: 'State shared across gateway nodes. Absent: every node is on its own.' },
);

export const TracingSchema = Type.Object(
  {
    sampleRatio: withDefault(
      Type.Number({
        minimum: 0,
        maximum: 1,
        description: 'Share of new traces recorded (0..1). A request whose traceparent says sampled is always recorded; one that says not sampled never is.',
        default: 0.01,
      }),
    ),
    otlp: Type.Object(
      {
        url: Type.String({
          pattern: '^https?://',
          patternErrorMessage: 'expected an http:// or https:// URL',
          description: 'OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces (JSON encoding).',
        }),
        headers: withDefault(HeaderValueMap('Headers sent with every export (an API key for a hosted collector). Redacted in GET /config.')),
        timeoutMs: withDefault(durationMs('Longest an export may take; a slower one counts its spans dropped.', 2000, 1)),
      },
      { ...closed, description: 'Where recorded spans are exported.' },
    ),
    serviceName: withDefault(Type.String({ minLength: 1, description: 'The service.name resource attribute of the spans.', default: 'gateway' })),
  },
  {
    ...closed,
    description: 'OpenTelemetry tracing: sampled spans exported over OTLP/HTTP. W3C trace context is propagated with or without it.',
  },
);

// ---------------------------------------------------------------------------------------------
// Upstreams
// ---------------------------------------------------------------------------------------------

export const BALANCERS = ['round-robin', 'least-connections', 'consistent-hash', 'p2c-ewma'] as const;
export const RETRY_CONDITIONS = ['connect-failure', 'reset', 'timeout', '500', '502', '503', '504'] as const;

export const TargetSchema = Type.Object(
  {
    url: Type.String({
      pattern: '^https?://[^/?#]+/?$',
      patternErrorMessage: 'expected "http://host:port" or "https://host:port" (no path, query or credentials)',
      description: 'Base URL of the target: http://host:port or https://host:port, without a path.',
    }),
    weight: withDefault(
      Type.Integer({ minimum: 1, maximum: 65535, description: 'Relative share of the traffic.', default: 1 }),
    ),
  },
  { ...closed, description: 'One server of the upstream.' },
);

export const TimeoutsSchema = Type.Object(
  {
    connectMs: withDefault(durationMs('TCP (+TLS) connect timeout (0 = none).', 2000)),
    responseHeadersMs: withDefault(
      durationMs('Time until the upstream sends the response headers; late: 504 (0 = none).', 15000),
    ),
    idleMs: withDefault(durationMs('Idle keep-alive connections are closed after this (0 = never).', 60000)),
  },
  { ...closed, description: 'Upstream timeouts. Always in force; every field has a default.', default: {} },
);

export const RetriesSchema = Type.Object(
  {
    attempts: withDefault(
      Type.Integer({
        minimum: 0,
        maximum: 10,
        description: 'Retries after the first try (0 = none), each on another target when there is one.',
        default: 1,
      }),
    ),
    on: withDefault(
      Type.Array(
        Type.Union(
          RETRY_CONDITIONS.map((c) => Type.Literal(c)),
          { description: 'A failure that may be retried.' },
        ),
        {
          uniqueItems: true,
          description:
            'Failures that are retried: "connect-failure", "reset" (connection lost before the response headers), "timeout" (responseHeadersMs), or an upstream status "500", "502", "503", "504".',
          default: ['connect-failure', '502', '503', '504'],
        },
      ),
    ),
    idempotentOnly: withDefault(
      Type.Boolean({
        description: 'Only retry idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE); connect failures are always safe.',
        default: true,
      }),
    ),
    budgetPercent: withDefault(
      Type.Number({
        minimum: 0,
        maximum: 100,
        description: 'Retries may add at most this percentage to the upstream traffic (retry budget).',
        default: 20,
      }),
    ),
  },
  { ...closed, description: 'Retry policy. Absent: no retries.' },
);

export const ActiveHealthCheckSchema = Type.Object(
  {
    path: withDefault(
      Type.String({
        pattern: '^/',
        patternErrorMessage: 'expected a path starting with "/"',
        description: 'Path probed with GET on every target; 2xx/3xx = healthy.',
        default: '/health',
      }),
    ),
    intervalMs: withDefault(durationMs('Time between probes of a target.', 2000, 1)),
    timeoutMs: withDefault(durationMs('A probe slower than this fails.', 1000, 1)),
    healthyThreshold: withDefault(
      Type.Integer({ minimum: 1, description: 'Consecutive successes that make a target healthy.', default: 2 }),
    ),
    unhealthyThreshold: withDefault(
      Type.Integer({ minimum: 1, description: 'Consecutive failures that make a target unhealthy.', default: 2 }),
    ),
  },
  { ...closed, description: 'Active probes. Absent: no probes.' },
);

export const PassiveHealthCheckSchema = Type.Object(
  {
    consecutiveFailures: withDefault(
      Type.Integer({
        minimum: 1,
        description: 'Consecutive failed exchanges (connect failure, reset, timeout, 5xx) that eject a target.',
        default: 5,
      }),
    ),
    ejectMs: withDefault(durationMs('How long an ejected target gets no traffic.', 10000)),
  },
  { ...closed, description: 'Outlier detection on real traffic. Absent: off.' },
);

export const HealthCheckSchema = Type.Object(
  {
    active: Type.Optional(ActiveHealthCheckSchema),
    passive: Type.Optional(PassiveHealthCheckSchema),
  },
  { ...closed, description: 'Target health. Each part is off unless present.' },
);

export const CircuitBreakerSchema = Type.Object(
  {
    maxPendingPerWorker: withDefault(
      Type.Integer({
        minimum: 1,
        description: 'Requests in flight to this upstream per worker; more: 503 at once.',
        default: 1024,
      }),
    ),
    failureRatio: withDefault(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 1,
        description: 'Share of failed exchanges in the window that opens the breaker.',
        default: 0.5,
      }),
    ),
    minRequests: withDefault(
      Type.Integer({ minimum: 1, description: 'Exchanges needed in the window before the ratio counts.', default: 20 }),
    ),
    windowMs: withDefault(durationMs('Sliding window of the failure ratio.', 10000, 1)),
    openMs: withDefault(durationMs('How long an open breaker answers 503 before letting a probe through.', 5000)),
  },
  { ...closed, description: 'Circuit breaker. Absent: off.' },
);

export const UpstreamTlsSchema = Type.Object(
  {
    caFile: Type.Optional(Type.String({ minLength: 1, description: 'PEM CA bundle the targets\' certificates must chain to (default: the system\'s CAs).' })),
    certFile: Type.Optional(Type.String({ minLength: 1, description: 'PEM client certificate (chain) for mutual TLS; needs keyFile.' })),
    keyFile: Type.Optional(Type.String({ minLength: 1, description: 'PEM private key of certFile.' })),
    servername: Type.Optional(Type.String({ minLength: 1, description: 'Name sent as SNI and checked against the target\'s certificate (default: the host of the target URL).' })),
    verify: withDefault(Type.Boolean({ description: 'Verify the targets\' certificates (chain and name). false is for tests only.', default: true })),
  },
  { ...closed, description: 'TLS towards https:// targets (mutual TLS with certFile/keyFile). The files are re-read on every reload.' },
);

export const UpstreamSchema = Type.Object(
  {
    targets: Type.Array(TargetSchema, { minItems: 1, description: 'The servers (at least one).' }),
    balancer: withDefault(
      Type.Union(
        BALANCERS.map((b) => Type.Literal(b)),
        {
          description: 'Load-balancing algorithm: "round-robin", "least-connections", "consistent-hash" or "p2c-ewma".',
          default: 'round-robin',
        },
      ),
    ),
    hashOn: withDefault(
      Type.String({
        pattern: "^(ip|consumer|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+|cookie:[!#$%&'()*+./0-9:<>?@A-Z\\[\\]^_`a-z{|}~-]+)$",
        patternErrorMessage: 'expected "ip", "consumer", "header:<name>" or "cookie:<name>"',
        description: 'Hash key of the consistent-hash balancer: "ip", "consumer", "header:<name>" or "cookie:<name>".',
        default: 'ip',
      }),
    ),
    connectionsPerWorker: withDefault(
      Type.Integer({ minimum: 1, description: 'Keep-alive pool size per target per worker: idle connections kept open.', default: 64 }),
    ),
    maxConnectionsPerWorker: withDefault(
      Type.Integer({
        minimum: 1,
        description:
          'Connections per target per worker open at once, busy ones included (those beyond connectionsPerWorker close when idle); past it requests wait, within their deadline.',
        default: 512,
      }),
    ),
    engine: Type.Optional(
      Type.Union([Type.Literal('native'), Type.Literal('undici')], {
        description:
          'Upstream HTTP client: "native" (the addon\'s HTTP/1.1 engine, http:// only) or "undici". Absent: "native" for http:// targets, "undici" for https:// ones.',
      }),
    ),
    timeouts: withDefault(TimeoutsSchema),
    tls: Type.Optional(UpstreamTlsSchema),
    retries: Type.Optional(RetriesSchema),
    healthCheck: Type.Optional(HealthCheckSchema),
    circuitBreaker: Type.Optional(CircuitBreakerSchema),
  },
  { ...closed, description: 'A named group of servers that routes forward to.' },
);

export const UpstreamsSchema = Type.Record(Type.String(), UpstreamSchema, {
  minProperties: 1,
  description: 'Upstreams by name (at least one). Names: letters, digits, "_", "-", "." (required).',
});

// ---------------------------------------------------------------------------------------------
// Consumers
// ---------------------------------------------------------------------------------------------

export const ConsumerSchema = Type.Object(
  {
    id: Type.String({ minLength: 1, description: 'Unique consumer id (used by rate limits and logs).' }),
    groups: withDefault(StringList('Groups, for the acl plugin.', [])),
    apiKeys: withDefault(
      Type.Array(
        secret(
          Type.String({
            pattern: '^sha256:[0-9a-fA-F]{64}$',
            patternErrorMessage: 'expected "sha256:<64 hex digits>" (make one with `gateway hash-key`)',
            description: 'SHA-256 of an API key: "sha256:<64 hex digits>" (`gateway hash-key`).',
          }),
        ),
        { description: 'API keys of this consumer, hashed; keys are never stored in clear.', default: [] },
      ),
    ),
    basicAuth: Type.Optional(
      Type.Object(
        {
          username: Type.String({ minLength: 1, description: 'User name.' }),
          passwordHash: secret(
            Type.String({
              pattern: '^scrypt:N=[0-9]+,r=[0-9]+,p=[0-9]+:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$',
              patternErrorMessage:
                'expected "scrypt:N=<int>,r=<int>,p=<int>:<salt base64url>:<hash base64url>" (make one with `gateway hash-password`)',
              description: 'scrypt:N=<int>,r=<int>,p=<int>:<salt base64url>:<hash base64url> (`gateway hash-password`).',
            }),
          ),
        },
        { ...closed, description: 'HTTP Basic credentials of this consumer.' },
      ),
    ),
    jwtSubject: Type.Optional(
      Type.String({ minLength: 1, description: 'A verified JWT whose `sub` equals this maps to this consumer.' }),
    ),
  },
  { ...closed, description: 'A known API client.' },
);

// ---------------------------------------------------------------------------------------------
// Plugins: assembled from the registry (each plugin's schema lives in its folder)
// ---------------------------------------------------------------------------------------------

/** Plugin names in their fixed execution order (CORS preflight first): the registry's order. */
export const PLUGIN_NAMES: readonly PluginName[] = REGISTRY.map((d) => d.name);
export type PluginName = RegisteredPlugin['name'];

type PluginProps = { [D in RegisteredPlugin as D['name']]: TOptional<D['schema']> };
type RoutePluginProps = { [D in RegisteredPlugin as D['name']]: TOptional<TUnion<[D['schema'], TLiteral<false>]>> };

/**
 * Any other name under `plugins`: a plugin of a module listed in `pluginModules`. This schema
 * cannot know those plugins, so it (and editors using config/gateway.schema.json) takes any
 * object there; the loader validates it against the module's own schema and refuses names that
 * are neither built-in nor loaded (src/config/load/plugin-configs.ts).
 */
export const ModulePluginConfigSchema = Type.Object(
  {},
  {
    additionalProperties: true,
    description: 'A plugin from one of the "pluginModules": its config is validated when the gateway loads the file, against the module\'s own schema.',
  },
);

export const PluginsSchema = Type.Object(
  Object.fromEntries(REGISTRY.map((d) => [d.name, Type.Optional(d.schema)])) as unknown as PluginProps,
  {
    additionalProperties: ModulePluginConfigSchema,
    description: 'Plugins applied to every route (a route may override or turn off each by name): the built-in ones, and those of "pluginModules".',
    default: {},
  },
);

const optOut = <T extends TSchema>(schema: T) =>
  Type.Optional(
    Type.Union([schema, Type.Literal(false)], {
      description: `${schema.description ?? ''} false = turn off the global plugin of this name for this route.`.trim(),
    }),
  );

export const RoutePluginsSchema = Type.Object(
  Object.fromEntries(REGISTRY.map((d) => [d.name, optOut(d.schema)])) as unknown as RoutePluginProps,
  {
    additionalProperties: Type.Union([ModulePluginConfigSchema, Type.Literal(false)]),
    description: 'Route plugins: replace the global plugin of the same name; false turns the global one off here.',
    default: {},
  },
);

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

export const RespondSchema = Type.Object(
  {
    status: withDefault(Type.Integer({ minimum: 100, maximum: 599, description: 'HTTP status.', default: 200 })),
    headers: withDefault(HeaderValueMap('Response headers.')),
    body: withDefault(Type.String({ description: 'Response body (UTF-8).', default: '' })),
  },
  { ...closed, description: 'Answer directly, without an upstream (health pages, stubs).' },
);

export const AggregateBackendSchema = Type.Object(
  {
    upstream: Type.String({ minLength: 1, description: 'Upstream name.' }),
    path: Type.String({
      pattern: '^/',
      patternErrorMessage: 'expected a path starting with "/"',
      description:
        'Path (and query) called with GET; {param} is replaced by the route\'s path parameter, percent-encoded. The client\'s query string is not forwarded.',
    }),
    as: Type.String({ minLength: 1, description: 'Key of this backend\'s answer in the combined JSON object.' }),
    optional: withDefault(
      Type.Boolean({
        description: 'A failed or late optional backend is left out (named in X-Gateway-Partial) instead of failing the call.',
        default: false,
      }),
    ),
  },
  { ...closed, description: 'One upstream call of an aggregation.' },
);

/** Answers adding up to more than this are merged on the offload pool (measured: bench/merge-bench.ts, docs/aggregation.md). */
export const AGGREGATE_OFFLOAD_ABOVE_BYTES = 32768;

export const AggregateSchema = Type.Object(
  {
    backends: Type.Array(AggregateBackendSchema, { minItems: 1, description: 'Called in parallel.' }),
    timeoutMs: computed(durationMs('Deadline of the whole aggregation. Default: the route\'s timeoutMs.')),
    maxBackendBytes: withDefault(
      sizeBytes(
        'Largest body accepted from one backend; larger: a required backend makes the answer 502 aggregate_backend_too_large, an optional one is left out.',
        1048576,
      ),
    ),
    offloadAboveBytes: withDefault(
      Type.Integer({
        minimum: 0,
        description:
          'When the backends\' bodies add up to more than this, they are validated and merged on the worker\'s offload thread pool instead of the event loop (0 = always). The default is the measured point where the pool costs the event loop less than merging inline.',
        default: AGGREGATE_OFFLOAD_ABOVE_BYTES,
      }),
    ),
  },
  { ...closed, description: 'One client call, several upstream calls combined into one JSON object.' },
);

export const SplitSchema = Type.Object(
  {
    upstream: Type.String({ minLength: 1, description: 'Upstream name.' }),
    weight: Type.Integer({ minimum: 1, maximum: 100, description: 'Percentage of the route\'s traffic (1..100).' }),
  },
  { ...closed, description: 'Canary share.' },
);

export const MirrorSchema = Type.Object(
  {
    upstream: Type.String({ minLength: 1, description: 'Upstream name.' }),
    percent: withDefault(
      Type.Number({ minimum: 0, maximum: 100, description: 'Share of requests copied (0..100).', default: 100 }),
    ),
  },
  { ...closed, description: 'Fire-and-forget copy of requests; the mirror\'s response is ignored.' },
);

/** The largest `websocket.maxMessageBytes` a route may set (what one message may make the gateway hold). */
export const MAX_WEBSOCKET_MESSAGE_BYTES = 256 * 1024 * 1024;

export const WebSocketObjectSchema = Type.Object(
  {
    maxMessageBytes: withDefault(
      Type.Integer({
        minimum: 1,
        maximum: MAX_WEBSOCKET_MESSAGE_BYTES,
        description: 'Largest message relayed either way (a fragmented one counts whole); a larger one closes both sides with 1009.',
        default: 16 * 1024 * 1024,
      }),
    ),
    idleTimeoutMs: withDefault(
      durationMs('A relayed connection with no frame either way (messages, pings, pongs) for this long is closed with 1001 (0 = never).', 120000),
    ),
  },
  { ...closed, description: 'WebSocket relay settings (docs/websocket.md).' },
);

export const WebSocketSchema = Type.Union([WebSocketObjectSchema, Type.Literal(false)], {
  description: 'A client upgrade to WebSocket is relayed to the upstream; false answers an upgrade with 400.',
  default: { maxMessageBytes: 16 * 1024 * 1024, idleTimeoutMs: 120000 },
});

export const RouteSchema = Type.Object(
  {
    id: Type.String({ minLength: 1, description: 'Unique route id (metrics, logs, errors).' }),
    hosts: Type.Optional(
      Type.Array(Type.String(), {
        minItems: 1,
        description: 'Host names ("api.example.com") or wildcards ("*.example.com"), case-insensitive. Absent: any host.',
      }),
    ),
    methods: Type.Optional(
      Type.Array(Type.String(), { minItems: 1, description: 'HTTP methods (upper-cased). Absent: any method.' }),
    ),
    paths: Type.Array(Type.String(), {
      minItems: 1,
      description: 'Path patterns (required): "/static", ":name" = one segment, a final "*" = the rest.',
    }),
    headers: withDefault(
      HeaderValueMap('Exact header matches (names case-insensitive), all must hold; checked after the path lookup.'),
    ),
    priority: withDefault(
      Type.Integer({ description: 'Tie-breaker between routes with the same path shape; higher wins.', default: 0 }),
    ),
    upstream: Type.Optional(Type.String({ minLength: 1, description: 'Upstream name (one of upstream | aggregate | respond).' })),
    aggregate: Type.Optional(AggregateSchema),
    respond: Type.Optional(RespondSchema),
    stripPrefix: Type.Optional(
      Type.String({ description: 'Removed from the start of the path before forwarding (starts with "/").' }),
    ),
    rewrite: Type.Optional(
      Type.String({ description: 'New upstream path; {param} is replaced by the captured path parameter ({*} = the wildcard).' }),
    ),
    preserveHost: withDefault(
      Type.Boolean({ description: "Forward the client's Host instead of the target's.", default: false }),
    ),
    split: Type.Optional(
      Type.Array(SplitSchema, {
        minItems: 1,
        description: 'Canary: each entry takes weight% of the traffic; the rest goes to `upstream`. Sum <= 100.',
      }),
    ),
    mirror: Type.Optional(MirrorSchema),
    timeoutMs: withDefault(durationMs('Whole upstream exchange for this route, retries included (0 = none).', 10000)),
    requestBuffering: withDefault(
      Type.Boolean({
        description:
          'Read the whole request body before contacting the upstream (as nginx proxy_request_buffering), so slow uploads hold no upstream connection; false streams it through (long uploads).',
        default: true,
      }),
    ),
    websocket: withDefault(WebSocketSchema),
    plugins: withDefault(RoutePluginsSchema),
  },
  { ...closed, description: 'Matches requests and says what answers them.' },
);

// ---------------------------------------------------------------------------------------------
// The whole file
// ---------------------------------------------------------------------------------------------

export const GatewayConfigSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String({ description: 'Path or URL of this JSON Schema, for editors.' })),
    listen: restartOnly(ListenSchema),
    tls: Type.Optional(restartOnly(TlsSchema)),
    workers: withDefault(restartOnly(WorkersSchema)),
    admin: Type.Optional(restartOnly(AdminSchema)),
    limits: withDefault(LimitsSchema),
    http: withDefault(HttpSchema),
    trustedProxies: withDefault(TrustedProxiesSchema),
    accessLog: withDefault(AccessLogSchema),
    cluster: Type.Optional(ClusterSchema),
    tracing: Type.Optional(TracingSchema),
    upstreams: UpstreamsSchema,
    consumers: withDefault(Type.Array(ConsumerSchema, { description: 'Known API clients.', default: [] })),
    pluginModules: withDefault(
      Type.Array(
        Type.String({
          minLength: 1,
          description: 'Path of an ES module (or CommonJS) file, relative to this file\'s directory, whose default export is a plugin descriptor.',
        }),
        {
          description:
            'Plugins of your own (docs/plugins/writing-plugins.md): each module exports a plugin descriptor; its name is then used under "plugins" like a built-in one. Re-imported on reload when the file changed.',
          default: [],
        },
      ),
    ),
    plugins: withDefault(PluginsSchema),
    routes: Type.Array(RouteSchema, { minItems: 1, description: 'The routes (at least one, required).' }),
  },
  { ...closed, description: 'uws-gateway configuration.' },
);

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/** The config as the user writes it (defaults not applied). */
export type GatewayConfigInput = Static<typeof GatewayConfigSchema>;
/** The config as loaded: defaults applied, hosts lower-cased, methods upper-cased. */
export type GatewayConfig = Resolved<typeof GatewayConfigSchema>;

export type ListenConfig = Resolved<typeof ListenSchema>;
export type TlsConfig = Resolved<typeof TlsSchema>;
export type WorkersConfig = Resolved<typeof WorkersSchema>;
export type AdminConfig = Resolved<typeof AdminSchema>;
export type LimitsConfig = Resolved<typeof LimitsSchema>;
export type AccessLogConfig = Resolved<typeof AccessLogObjectSchema>;
export type ClusterConfig = Resolved<typeof ClusterSchema>;
export type TracingConfig = Resolved<typeof TracingSchema>;

export type UpstreamConfig = Resolved<typeof UpstreamSchema>;
export type TargetConfig = Resolved<typeof TargetSchema>;
export type Balancer = (typeof BALANCERS)[number];
export type TimeoutsConfig = Resolved<typeof TimeoutsSchema>;
export type RetriesConfig = Resolved<typeof RetriesSchema>;
export type RetryCondition = (typeof RETRY_CONDITIONS)[number];
export type HealthCheckConfig = Resolved<typeof HealthCheckSchema>;
export type ActiveHealthCheckConfig = Resolved<typeof ActiveHealthCheckSchema>;
export type PassiveHealthCheckConfig = Resolved<typeof PassiveHealthCheckSchema>;
export type CircuitBreakerConfig = Resolved<typeof CircuitBreakerSchema>;

export type ConsumerConfig = Resolved<typeof ConsumerSchema>;
// Each plugin's config type is in its folder (src/plugins/<name>/schema.ts).

/** Global plugins (and the effective plugins of a route after merging). */
export type PluginsConfig = Resolved<typeof PluginsSchema>;
/** A route's plugins: a plugin config, or false to turn the global one off. */
export type RoutePluginsConfig = Resolved<typeof RoutePluginsSchema>;

export type RouteConfig = Resolved<typeof RouteSchema>;
export type RespondConfig = Resolved<typeof RespondSchema>;
export type AggregateConfig = Resolved<typeof AggregateSchema>;
export type AggregateBackendConfig = Resolved<typeof AggregateBackendSchema>;
export type SplitConfig = Resolved<typeof SplitSchema>;
export type MirrorConfig = Resolved<typeof MirrorSchema>;
export type WebSocketConfig = Resolved<typeof WebSocketObjectSchema>;

// ---------------------------------------------------------------------------------------------
// The published document
// ---------------------------------------------------------------------------------------------

export const SCHEMA_ID = 'urn:uws-gateway:config:gateway.schema.json';
export const SCHEMA_TITLE = 'uws-gateway configuration';

/**
 * The JSON Schema document published as config/gateway.schema.json and compiled by the loader:
 * a plain JSON copy of GatewayConfigSchema with `$schema`, `$id` and `title`.
 * `patternErrorMessage` is the VS Code extension keyword for a readable pattern error; the
 * loader uses it too.
 */
export function gatewaySchemaDocument(): Record<string, unknown> {
  const plain = JSON.parse(JSON.stringify(GatewayConfigSchema)) as Record<string, unknown>;
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: SCHEMA_ID,
    title: SCHEMA_TITLE,
    ...plain,
  };
}
