/**
 * Router facade: createRouter(table) gives the native radix-tree router (the product);
 * createRouter(table, 'reference') the pure-TS oracle. Both implement RouterEngine
 * (./router-types.ts) with identical answers.
 *
 * The native addon is build/Release/gateway_native.node under the package root, built by
 * `npm install` (node-gyp). There is deliberately no silent fallback to the reference engine.
 */
import { nativeExport } from './addon.js';
import { ReferenceRouter } from './reference/router.js';
import {
  MATCH_METHOD_NOT_ALLOWED,
  MAX_CANDIDATES,
  MAX_PARAMS,
  type MatchOutput,
  type RoutePattern,
  type RouterEngine,
} from './router-types.js';

export type RouterEngineKind = 'native' | 'reference';

/** The JS surface of the native Router class (native/router.h). */
interface NativeRouter {
  readonly output: ArrayBuffer;
  match(method: string, host: string, path: string): number;
  methods(): string[];
  stats(): Record<string, number>;
}
interface NativeAddon {
  Router: new (patterns: readonly RoutePattern[]) => NativeRouter;
}

function loadAddon(): NativeAddon {
  return { Router: nativeExport<NativeAddon['Router']>('Router') };
}

/** True when build/Release/gateway_native.node loads and exports the router. */
export function nativeAvailable(): boolean {
  try {
    loadAddon();
    return true;
  } catch {
    return false;
  }
}

const OUT_PARAMS = MAX_CANDIDATES;
const OUT_COUNTS = OUT_PARAMS + 2 * MAX_PARAMS; // candidateCount, paramCount, allowCount
const OUT_ALLOW = OUT_COUNTS + 3; // allowCount indexes into the table's sorted method names

/** RouterEngine over the addon: the addon writes into its own buffer, copied into `out` here. */
class NativeRouterEngine implements RouterEngine {
  readonly #router: NativeRouter;
  readonly #out: Int32Array;
  readonly #methods: string[];

  constructor(patterns: readonly RoutePattern[]) {
    const { Router } = loadAddon();
    this.#router = new Router(patterns);
    this.#out = new Int32Array(this.#router.output);
    this.#methods = this.#router.methods();
  }

  // hot path: no allocation on a hit.
  match(method: string, host: string, path: string, out: MatchOutput): number {
    const code = this.#router.match(method, host, path);
    const buf = this.#out;
    const candidateCount = buf[OUT_COUNTS];
    const paramCount = buf[OUT_COUNTS + 1];
    const candidates = out.candidates;
    for (let i = 0; i < candidateCount; i++) candidates[i] = buf[i];
    const params = out.params;
    for (let i = 0, n = 2 * paramCount; i < n; i++) params[i] = buf[OUT_PARAMS + i];
    out.candidateCount = candidateCount;
    out.paramCount = paramCount;
    if (code === MATCH_METHOD_NOT_ALLOWED) {
      const n = buf[OUT_COUNTS + 2];
      const allow = new Array<string>(n);
      for (let i = 0; i < n; i++) allow[i] = this.#methods[buf[OUT_ALLOW + i]];
      out.allow = allow;
    } else if (out.allow.length !== 0) {
      out.allow = [];
    }
    return code;
  }

  /** Table sizes (nodes, edges, host trees, bytes...), for diagnostics. */
  stats(): Record<string, number> {
    return this.#router.stats();
  }
}

/**
 * Builds a router over `patterns` (indexes into this array are what match() reports).
 * Throws TypeError on a malformed table, RangeError on a table over the limits
 * (router-types.ts), and an Error asking for `npm install` when the native addon is missing.
 */
export function createRouter(patterns: RoutePattern[], engine: RouterEngineKind = 'native'): RouterEngine {
  if (engine === 'native') return new NativeRouterEngine(patterns);
  if (engine === 'reference') return new ReferenceRouter(patterns);
  throw new TypeError(`unknown router engine "${String(engine)}"`);
}
