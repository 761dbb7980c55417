/**
 * The plugin contract (docs/plugins/README.md). A plugin is one folder, src/plugins/<name>/,
 * whose index.ts exports one PluginDescriptor: its config name, its phase, its config schema
 * (TypeBox; secrets marked with secret() from src/util/schema-kit.ts), the files it reads, its
 * checks the schema cannot express, and `compile(conf, deps)`, which returns its per-request
 * hooks. src/plugins/registry.ts is the one ordered list of descriptors; the config schema (global
 * and route `plugins`), the plugin names and the redaction rules are derived from it.
 *
 * compile runs once per config version per route (global plugins are compiled per route too,
 * so a route-level override is just another compile), in every worker, in the primary's dry run
 * and in `gateway validate`; the request path only calls the returned hooks. A problem compile
 * finds in the config (a key file that holds a private key) is a ConfigFault with the JSON
 * pointer of the field, relative to the plugin's config: validate, start and reload then report
 * the same error at the same pointer.
 *
 * Control flow on the request path uses return values, not exceptions: onRequest returns
 * `undefined` to continue or a LocalReply to answer the client now. A hook that throws is a bug;
 * the pipeline turns it into a 500 `internal_error` and logs it.
 *
 * Plugin modules (the config's pluginModules, docs/plugins/writing-plugins.md) export this same
 * descriptor, typed by the public subset in public.ts; catalog.ts orders them among the
 * built-ins and modules/guard.ts isolates their hooks.
 */
import type { TSchema } from '@sinclair/typebox';
import type { GatewayErrorCode } from '../errors.js';
import type { Resolved } from '../util/schema-kit.js';
import type { AddressMatcher } from '../net/cidr.js';
import type { TxSummary } from '../observability/access-log.js';
import type { RequestContext } from './context.js';
import type { ConsumerDirectory } from './consumers.js';

/**
 * Phases run in this fixed order (registry.ts PHASE_ORDER); plugins within one phase run in the
 * order of the registry.
 *   requestId -> cors (preflight answered here) -> ip -> auth -> acl -> rateLimit -> transform
 * (requestId is a core feature configured under `plugins`: its descriptor has no hooks.)
 */
export type Phase = 'requestId' | 'cors' | 'ip' | 'auth' | 'acl' | 'rateLimit' | 'transform';

/** An answer the gateway gives instead of proxying. */
export interface LocalReply {
  status: number;
  /** Set for errors: the body is the standard JSON error with this code. */
  code?: GatewayErrorCode;
  /** Overrides the code's default message (keep it free of details that help an attacker). */
  message?: string;
  /** Extra headers, flat [name, value, ...], lower-case names. */
  headers?: string[];
  /** Raw body for non-error replies (e.g. an empty CORS preflight answer, a respond route's body). */
  body?: string | Buffer;
}

export type AccessResult = LocalReply | undefined;
export type AccessHandler = (ctx: RequestContext) => AccessResult | Promise<AccessResult>;

/**
 * Runs on every answer the client gets once the route is known (the upstream's, a plugin's
 * LocalReply, or a gateway error), before headers are written: adds to ctx.responseHeaders.
 */
export type ResponseHook = (ctx: RequestContext, status: number) => void;

/**
 * Rewrites a request body before it goes upstream (format conversion: MessagePack to JSON).
 * A route with one buffers its request bodies (CompiledPipeline.rewritesBodies).
 */
export interface RequestBodyRewriter {
  /** Whether this request's body is rewritten (from its headers: cheap, synchronous). */
  wants(ctx: RequestContext): boolean;
  /**
   * The whole body (never empty): the new body and its Content-Type, or a LocalReply to refuse
   * the request (it then never reaches the upstream). May be async (work on a thread pool).
   */
  rewrite(ctx: RequestContext, body: Buffer): RequestBodyRewrite | LocalReply | Promise<RequestBodyRewrite | LocalReply>;
}

export interface RequestBodyRewrite {
  readonly body: Buffer;
  readonly contentType: string;
}

/** The upstream's answer head as a plugin sees it, before anything of it reaches the client. */
export interface UpstreamAnswer {
  readonly status: number;
  /** The request's method (HEAD answers have no body). */
  readonly method: string;
  /** First value of an upstream response header (lower-case name), or undefined. */
  header(name: string): string | undefined;
  /** Adds a header to the answer as if the upstream had sent it (a cache stores it with the answer). */
  addHeader(name: string, value: string): void;
}

/**
 * Sees the answer as it is relayed (a cache capturing it). begin, then data for each chunk,
 * then end or abort: exactly one of them.
 */
export interface BodyObserver {
  /** The head as relayed: status, and the headers (upstream's after filtering, added, replaced), flat [name, value, ...], lower-case names. */
  begin(status: number, headers: readonly string[]): void;
  data(chunk: Buffer): void;
  /** The whole body was relayed. */
  end(): void;
  /** The answer failed or was cut: what was seen is incomplete. */
  abort(): void;
}

/**
 * Replaces a whole answer body (format conversion). The body is held until it is complete; one
 * over maxBytes is relayed unchanged instead.
 */
export interface BodyReplacer {
  readonly maxBytes: number;
  /** The new body and the headers that replace the upstream's of the same names; null: relay the original. May be async. */
  replace(body: Buffer): BodyReplacement | null | Promise<BodyReplacement | null>;
}

export interface BodyReplacement {
  readonly body: Buffer;
  /** Flat [name, value, ...], lower-case names: each replaces the upstream's header of that name. */
  readonly headers: readonly string[];
}

/**
 * Called with the head of every upstream answer of the route (not for gateway errors or local
 * answers): return an observer or a replacer for its body, or undefined. Replacers run first;
 * observers see what the client gets.
 */
export type UpstreamAnswerHook = (ctx: RequestContext, answer: UpstreamAnswer) => BodyObserver | BodyReplacer | undefined;

/** The upstream a proxied request is about to go to; onUpstream may choose another one. */
export interface UpstreamChoice {
  /** The route's upstream name. */
  readonly upstream: string;
  /** Set to the name of another upstream of the config to send the request there. */
  override: string | null;
}

export type UpstreamHook = (ctx: RequestContext, choice: UpstreamChoice) => void;
export type CompleteHook = (ctx: RequestContext, tx: TxSummary) => void;

/**
 * What a compiled plugin does per request. Every hook is optional; a route whose plugins have
 * none of a kind has that phase null (one `=== null` on the request path).
 *
 * Declared for the roadmap and collected by the pipeline, not yet called by the worker:
 * onUpstream (split by header, hash keys). Everything else is called.
 */
export interface PluginInstance {
  /** The access phase: continue (undefined) or answer now (a LocalReply), possibly async. */
  onRequest?: AccessHandler;
  onUpstream?: UpstreamHook;
  /** Rewrites request bodies (the route then buffers them). */
  onRequestBody?: RequestBodyRewriter;
  onResponseHeaders?: ResponseHook;
  /** Sees each upstream answer's head; may observe or replace its body. */
  onUpstreamAnswer?: UpstreamAnswerHook;
  /** After the answer ended (or the client went away): tracing spans, cache stores. */
  onComplete?: CompleteHook;
  /** Upstream response header names (lower-case) this plugin owns: the upstream's copies are dropped. */
  readonly removeResponseHeaders?: readonly string[];
  /**
   * Headers added to every answer of the route whatever its status, flat [name, value, ...]
   * (lower-case names, values checked at load): known when the config compiles, so they cost no
   * hook call, and a proxied answer carries them in its prepared head (Transaction.responseTail).
   */
  readonly fixedResponseHeaders?: readonly string[];
}

/** A problem in the config that only compile can see. `pointer` is relative to the plugin's config ('' = the plugin itself). */
export class ConfigFault extends Error {
  constructor(
    readonly pointer: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConfigFault';
  }
}

/** Where checks report; pointers are relative to the plugin's config ('' = the plugin itself). */
export interface Reporter {
  error(rel: string, message: string): void;
  warn(rel: string, message: string): void;
  /** The value at `rel` for a message: quoted and shortened, or hidden (secrets, env values). */
  show(rel: string, value: unknown): string;
  /** "; did you mean "x"?" or "". */
  didYouMean(word: unknown, candidates: Iterable<string>): string;
}

/** What a plugin's check may know besides its own config. */
export interface CheckEnv {
  /** True for a route's `plugins`, false for the global ones. */
  readonly isRoute: boolean;
  /** The top-level `cluster` section is set. */
  readonly hasCluster: boolean;
}

/** Who compiles: a worker, the primary's dry run, or `gateway validate` (probe services only). */
export type ServiceRole = 'primary' | 'worker' | 'probe';

export interface ServiceContext {
  readonly role: ServiceRole;
  /** The config's `cluster` section, or null. */
  readonly cluster: { readonly redis: string; readonly keyPrefix: string } | null;
}

/**
 * A typed dependency of plugins. Lifetime 'process': made once per process (again when its
 * `key` changes, the old one disposed). Lifetime 'version': made fresh for each config version
 * that uses it and disposed when that version is retired (a reload re-reads what it holds: a
 * rotated key file is picked up).
 */
export interface Service<T> {
  readonly name: string;
  readonly lifetime: 'process' | 'version';
  create(ctx: ServiceContext): T;
  /** 'process' services: a value that must be remade when it changes (the Redis URL). */
  key?(ctx: ServiceContext): string;
  dispose?(value: T): void;
}

export type PluginScope = { readonly kind: 'global' } | { readonly kind: 'route'; readonly routeId: string };

/** What a plugin may use besides its own config. */
export interface CompileDeps {
  /** Global plugins are compiled per route too: then scope says 'global' and routeId the route. */
  readonly scope: PluginScope;
  /** The route being compiled. */
  readonly routeId: string;
  readonly consumers: ConsumerDirectory;
  readonly isTrustedProxy: AddressMatcher;
  readonly role: ServiceRole;
  use<T>(service: Service<T>): T;
}

/** A file the plugin reads, checked readable by the loader. `at` is relative to the plugin's config. */
export interface PluginFile {
  readonly at: string;
  readonly path: string;
}

export interface PluginDescriptor<N extends string = string, S extends TSchema = TSchema> {
  /** The key in `plugins`. */
  readonly name: N;
  readonly phase: Phase;
  readonly schema: S;
  /** Accepted by the schema, refused by this build ("the \"<name>\" plugin is not implemented ..."). */
  readonly notImplemented?: boolean;
  /** The route's pipeline answers CORS preflights: the router gets OPTIONS patterns for its paths. */
  readonly answersPreflight?: boolean;
  files?(conf: Resolved<S>): readonly PluginFile[];
  /** Rules the schema cannot express; read-only. */
  check?(conf: Resolved<S>, r: Reporter, env: CheckEnv): void;
  /** Normalization after checks passed (lower-casing...): returns the normalized config. */
  normalize?(conf: Resolved<S>): Resolved<S>;
  /** May throw ConfigFault. */
  compile(conf: Resolved<S>, deps: CompileDeps): PluginInstance;
}

/** Keeps the literal name and the schema type of a descriptor (the config types derive from them). */
export function definePlugin<const N extends string, S extends TSchema>(d: PluginDescriptor<N, S>): PluginDescriptor<N, S> {
  return d;
}
