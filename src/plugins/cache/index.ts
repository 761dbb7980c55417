/**
 * cache: answers GET (and HEAD) from a per-worker store by the HTTP caching rules of CONFIG.md
 * (docs/plugins/cache.md). Runs last in the access phase, so auth, ACLs and rate limits have
 * run on a hit too; the key includes the authenticated consumer, so one consumer's answer is
 * never another's.
 *
 *   hit    the stored answer, `X-Cache: HIT`, `Age`; the upstream pool is never touched. A HEAD
 *          is answered from the stored GET. If-None-Match on a stored ETag: 304.
 *   miss   proxied, `X-Cache: MISS`; the answer is captured as it is relayed (BodyObserver)
 *          and stored if the rules allow. Concurrent misses of one key make one upstream call:
 *          the first request fills, the others wait for its outcome: stored (they are answered
 *          from it), an error (5xx, gateway errors: each waiter gets the same answer, nothing is
 *          stored), or not storable (each waiter then asks the upstream itself).
 *
 * A client's own Cache-Control (no-cache, max-age=0) does not bypass the store, as in nginx and
 * Kong: otherwise any anonymous client could turn every hit into upstream load.
 */
import { definePlugin, type BodyObserver, type LocalReply, type Service } from '../api.js';
import { slot, type RequestContext } from '../context.js';
import { counter } from '../../observability/metrics.js';
import { CachePluginSchema } from './schema.js';
import { etagMatches, storability, varyNames } from './rules.js';
import { CacheStore, CacheStores, FILL_MAX_MS, Fill, answerSize, type CachedAnswer } from './store.js';

const results = counter('gateway_cache_results_total', 'Requests on cache routes by route and result: hit, miss (stored or not), bypass (a method or Range the cache does not serve), coalesced (waited for another request\'s fill).', ['route', 'result']);

/** Error answers captured for waiters up to this size. */
const ERROR_CAPTURE_BYTES = 64 * 1024;
/** A waiter whose answer was not stored may wait for a later fill of the same key this often. */
const MAX_WAITS = 2;

/** This worker's stores ('process': entries survive reloads, up to their TTL, as nginx's do). */
const STORES: Service<CacheStores> = { name: 'cache.stores', lifetime: 'process', create: () => new CacheStores() };

/** The scopes a config version claimed; released when it is retired (a removed route's store goes). */
const CLAIMS: Service<{ scopes: string[]; stores: CacheStores | null }> = {
  name: 'cache.claims',
  lifetime: 'version',
  create: () => ({ scopes: [], stores: null }),
  dispose(c) {
    for (const s of c.scopes) c.stores?.release(s);
  },
};

/** What the cache knows about the request in flight. */
interface Pending {
  readonly key: string;
  /** This request fills the key (the others wait for it), or null. */
  fill: Fill | null;
  /** The capture stored the answer. */
  stored: boolean;
  /** An error answer captured for the waiters. */
  error: LocalReply | null;
}

const PENDING = slot<Pending>('cache.pending');
const HIT = slot<true>('cache.hit');

const X_CACHE_HIT = ['x-cache', 'HIT'];

/** Headers a 304 repeats from the stored answer (RFC 9110 §15.4.5). */
const NOT_MODIFIED_HEADERS = new Set(['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary']);

export const cachePlugin = definePlugin({
  name: 'cache',
  phase: 'transform',
  schema: CachePluginSchema,
  compile(conf, deps) {
    const scope = deps.scope.kind === 'global' ? 'global' : 'route:' + deps.scope.routeId;
    const stores = deps.use(STORES);
    const claims = deps.use(CLAIMS);
    claims.stores = stores;
    claims.scopes.push(scope);
    const store = stores.claim(scope, conf.maxBytes);
    const routeId = deps.routeId;
    const getOn = conf.methods.includes('GET');
    const headOn = conf.methods.includes('HEAD');
    const ttlMs = conf.ttlMs;

    const primaryKey = (ctx: RequestContext): string =>
      routeId + '\u0000' + ctx.hostHeader.toLowerCase() + '\u0000' + ctx.path + '?' + ctx.query + '\u0000' +
      (ctx.consumer !== null ? ctx.consumer.id : '') + '\u0000' + (ctx.header('authorization') !== undefined ? 'a' : '');

    const lookup = (ctx: RequestContext, waits: number): LocalReply | undefined | Promise<LocalReply | undefined> => {
      const key = primaryKey(ctx);
      const header = (n: string) => ctx.header(n);
      const e = store.lookup(key, header, Date.now());
      if (e !== null) {
        results.inc(routeId, waits > 0 ? 'coalesced' : 'hit');
        ctx.set(HIT, true);
        return hitReply(e, ctx);
      }
      // A HEAD neither fills nor waits: its answer has no body to store.
      if (ctx.method !== 'GET') {
        results.inc(routeId, 'miss');
        return undefined;
      }
      let running = store.fills.get(key);
      if (running !== undefined && Date.now() - running.startedAt > FILL_MAX_MS) running = undefined;
      if (running !== undefined && waits < MAX_WAITS) {
        return running.wait().then((o) => {
          if (o.kind === 'stored') return lookup(ctx, waits + 1);
          if (o.kind === 'error') {
            results.inc(routeId, 'coalesced');
            return o.reply;
          }
          return store.fills.has(key) ? lookup(ctx, waits + 1) : miss(ctx, key, null);
        });
      }
      let fill: Fill | null = null;
      if (running === undefined) {
        fill = new Fill();
        store.fills.set(key, fill);
      }
      return miss(ctx, key, fill);
    };

    const miss = (ctx: RequestContext, key: string, fill: Fill | null): undefined => {
      results.inc(routeId, 'miss');
      ctx.set(PENDING, { key, fill, stored: false, error: null });
      return undefined;
    };

    return {
      onRequest(ctx) {
        const m = ctx.method;
        if (!((m === 'GET' && getOn) || (m === 'HEAD' && headOn)) || ctx.header('range') !== undefined) {
          results.inc(routeId, 'bypass');
          return undefined;
        }
        return lookup(ctx, 0);
      },

      onUpstreamAnswer(ctx) {
        const p = ctx.get(PENDING);
        return p === undefined ? undefined : capture(store, p, ctx, ttlMs);
      },

      onResponseHeaders(ctx) {
        if (ctx.get(HIT) === undefined) ctx.addResponseHeader('x-cache', 'MISS');
      },

      onComplete(ctx, tx) {
        const p = ctx.get(PENDING);
        if (p === undefined || p.fill === null) return;
        if (store.fills.get(p.key) === p.fill) store.fills.delete(p.key);
        const fill = p.fill;
        p.fill = null;
        if (p.stored) return fill.settle({ kind: 'stored' });
        if (!tx.aborted && tx.status >= 500) {
          if (tx.errorCode !== null) return fill.settle({ kind: 'error', reply: { status: tx.status, code: tx.errorCode as LocalReply['code'] } });
          if (p.error !== null) return fill.settle({ kind: 'error', reply: p.error });
        }
        fill.settle({ kind: 'uncacheable' });
      },

      // Ours is the only X-Cache; Age is ours on a hit, the upstream's passes on a miss.
      removeResponseHeaders: ['x-cache'],
    };
  },
});

/** The stored answer for this request: X-Cache HIT, its Age; a 304 when If-None-Match holds. */
function hitReply(e: CachedAnswer, ctx: RequestContext): LocalReply {
  const age = String(Math.max(0, Math.floor((Date.now() - e.bornAt) / 1000)));
  const inm = ctx.header('if-none-match');
  if (inm !== undefined && e.status === 200 && etagMatches(inm, e.etag)) {
    const headers: string[] = [];
    for (let i = 0; i < e.headers.length; i += 2) if (NOT_MODIFIED_HEADERS.has(e.headers[i])) headers.push(e.headers[i], e.headers[i + 1]);
    headers.push('age', age, ...X_CACHE_HIT);
    return { status: 304, headers };
  }
  return { status: e.status, headers: [...e.headers, 'age', age, ...X_CACHE_HIT], body: e.body };
}

/** Captures a miss's answer as it is relayed, and stores it (or keeps an error for the waiters). */
function capture(store: CacheStore, p: Pending, ctx: RequestContext, ttlMs: number): BodyObserver {
  let chunks: Buffer[] | null = null;
  let bytes = 0;
  let limit = 0;
  let status = 0;
  let headers: string[] = [];
  let ttl = 0;
  let asError = false;
  let upstreamAge = 0;
  return {
    begin(s, relayed) {
      status = s;
      // Age is computed per hit from the upstream's Age at storage time plus the time since.
      headers = [];
      for (let i = 0; i < relayed.length; i += 2) {
        if (relayed[i] !== 'age') headers.push(relayed[i], relayed[i + 1]);
        else if (/^\d+$/.test(relayed[i + 1].trim())) upstreamAge = Math.min(Number(relayed[i + 1].trim()), 2147483648);
      }
      if (ctx.method !== 'GET') return;
      const verdict = storability(s, headers, ctx.header('authorization') !== undefined, ttlMs);
      if (typeof verdict !== 'string') {
        ttl = verdict.ttlMs;
        limit = store.maxEntryBytes;
        chunks = [];
      } else if (s >= 500 && p.fill !== null && p.fill.waiting > 0) {
        asError = true;
        limit = ERROR_CAPTURE_BYTES;
        chunks = [];
      }
    },
    data(chunk) {
      if (chunks === null) return;
      bytes += chunk.length;
      if (bytes > limit) chunks = null;
      else chunks.push(chunk);
    },
    end() {
      if (chunks === null) return;
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      chunks = null;
      if (asError) {
        p.error = { status, headers, body };
        return;
      }
      const now = Date.now();
      const answer: CachedAnswer = {
        status,
        headers,
        body,
        bornAt: now - upstreamAge * 1000,
        expiresAt: now + ttl,
        etag: valueOf(headers, 'etag'),
        size: answerSize(headers, body),
      };
      p.stored = store.store(p.key, varyNames(headers), (n) => ctx.header(n), answer);
    },
    abort() {
      chunks = null;
    },
  };
}

function valueOf(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}
