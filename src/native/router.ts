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
import type { MatchOutput, RoutePattern, RouterEngine } from './router-types.js';

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

// The addon's output buffer (native/router.h): counts and capacities, then the arrays.
const OUT_CANDIDATE_CAPACITY = 3;
const OUT_PAIR_CAPACITY = 4;
const OUT_DATA = 8;

/** RouterEngine over the addon: the addon writes into its own buffer, copied into `out` here. */
class NativeRouterEngine implements RouterEngine {
  readonly #router: NativeRouter;
  readonly #out: Int32Array;
  readonly #methods: string[];
  /** Most candidates / capture pairs one lookup can report (computed by the addon per table). */
  readonly #candidateCapacity: number;
  readonly #pairCapacity: number;
  readonly #candidateParamsAt: number;
  readonly #paramsAt: number;
  readonly #allowAt: number;

  constructor(patterns: readonly RoutePattern[]) {
    const { Router } = loadAddon();
    this.#router = new Router(patterns);
    this.#out = new Int32Array(this.#router.output);
    this.#methods = this.#router.methods();
    this.#candidateCapacity = this.#out[OUT_CANDIDATE_CAPACITY];
    this.#pairCapacity = this.#out[OUT_PAIR_CAPACITY];
    this.#candidateParamsAt = OUT_DATA + this.#candidateCapacity;
    this.#paramsAt = this.#candidateParamsAt + this.#candidateCapacity;
    this.#allowAt = this.#paramsAt + 2 * this.#pairCapacity;
  }

  // hot path: no allocation on a hit (once `out` is large enough for this table).
  match(method: string, host: string, path: string, out: MatchOutput): number {
    const code = this.#router.match(method, host, path);
    const buf = this.#out;
    const candidateCount = buf[0];
    const paramCount = buf[1];
    if (candidateCount > out.candidates.length) {
      out.candidates = new Int32Array(this.#candidateCapacity);
      out.candidateParams = new Int32Array(this.#candidateCapacity);
    }
    if (2 * paramCount > out.params.length) out.params = new Int32Array(2 * this.#pairCapacity);
    const candidates = out.candidates;
    const candidateParams = out.candidateParams;
    for (let i = 0, c = this.#candidateParamsAt; i < candidateCount; i++) {
      candidates[i] = buf[OUT_DATA + i];
      candidateParams[i] = buf[c + i];
    }
    const params = out.params;
    for (let i = 0, p = this.#paramsAt, n = 2 * paramCount; i < n; i++) params[i] = buf[p + i];
    out.candidateCount = candidateCount;
    out.paramCount = paramCount;
    const allowCount = buf[2];
    if (allowCount !== 0) {
      // 405, or the 405 of a MATCH_FOUND whose candidates are all conditional.
      const allow = new Array<string>(allowCount);
      for (let i = 0; i < allowCount; i++) allow[i] = this.#methods[buf[this.#allowAt + i]];
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
