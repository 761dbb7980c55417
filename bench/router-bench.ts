/**
 * Router microbenchmark: native addon vs TS reference on a 1,000-route table.
 *
 *   npm run build && npm run bench:router          (prints a table)
 *   node dist/bench/router-bench.js --json         (prints the result object as JSON)
 *   import { runRouterBench } from './router-bench.js'  (the load suite)
 *
 * The table is deterministic (seeded): ~60% static paths, ~35% with :params, ~5% ending in *,
 * spread over an any-host tree, two exact hosts and one wildcard host, with method lists.
 * The lookup set is fixed too: ~80% hits (found), the rest misses (404 and 405). Each engine is
 * warmed up, then measured over several timed rounds; the median round is reported.
 */
import { pathToFileURL } from 'node:url';
import { createRouter } from '../src/native/router.js';
import { MATCH_FOUND, newMatchOutput, type RoutePattern, type RouterEngine } from '../src/native/router-types.js';
import { mulberry32 } from '../src/util/prng.js';

export interface RouterBenchOptions {
  /** Routes in the table (default 1000). */
  routes?: number;
  /** Lookups in the fixed lookup set (default 2000). */
  lookups?: number;
  /** Timed rounds per engine and set; the median is reported (default 7). */
  rounds?: number;
  /** Minimum duration of one round (default 200 ms). */
  roundMs?: number;
  /** Warm-up per engine (default 300 ms). */
  warmupMs?: number;
  engines?: Array<'native' | 'reference'>;
  seed?: number;
}

export interface RouterBenchRow {
  engine: 'native' | 'reference';
  set: 'all' | 'hits' | 'misses';
  /** Median lookups per second. */
  lookupsPerSec: number;
  /** Median nanoseconds per lookup. */
  nsPerLookup: number;
  rounds: number[];
}

export interface RouterBenchResult {
  routes: number;
  lookups: { hits: number; misses: number };
  node: string;
  rows: RouterBenchRow[];
  /** native / reference, on the "all" set (when both ran). */
  speedup: number | null;
  /** The native table's sizes (nodes, edges, host trees, bytes...), when native ran. */
  nativeStats: Record<string, number> | null;
}

type Lookup = [method: string, host: string, path: string];

const prng = mulberry32;

const RESOURCES = [
  'users', 'orders', 'products', 'carts', 'payments', 'invoices', 'shipments', 'reviews', 'accounts',
  'sessions', 'tokens', 'teams', 'projects', 'issues', 'comments', 'files', 'events', 'webhooks',
  'reports', 'metrics', 'alerts', 'plans', 'coupons', 'addresses', 'messages',
];
const SUBS = ['items', 'history', 'settings', 'members', 'status', 'refunds', 'attachments', 'tags', 'notes', 'audit'];
const ACTIONS = ['search', 'export', 'import', 'count', 'bulk', 'latest', 'summary', 'stats'];
const HOSTS: Array<string[] | null> = [null, null, null, null, null, null, ['api.example.com'], ['api.example.com'], ['*.example.com'], ['admin.example.com']];
const METHOD_SETS: Array<string[] | null> = [['GET', 'HEAD'], ['GET', 'HEAD'], ['POST'], ['PUT'], ['DELETE'], ['PATCH'], null];

interface Table {
  patterns: RoutePattern[];
  /** A concrete path for each pattern (params filled in), for building hits. */
  samples: string[];
}

function buildTable(n: number, rnd: () => number): Table {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const id = () => String(Math.floor(rnd() * 100000));
  const patterns: RoutePattern[] = [];
  const samples: string[] = [];
  const seen = new Set<string>();
  while (patterns.length < n) {
    const version = `v${1 + Math.floor(rnd() * 4)}`;
    const svc = `svc${Math.floor(rnd() * 10)}`;
    const res = pick(RESOURCES);
    const r = rnd();
    let path: string;
    let sample: string;
    if (r < 0.6) {
      // static
      const tail = rnd() < 0.5 ? `/${pick(ACTIONS)}` : rnd() < 0.5 ? `/${pick(SUBS)}` : '';
      path = `/${svc}/${version}/${res}${tail}`;
      sample = path;
    } else if (r < 0.95) {
      // with params
      const a = id();
      const b = id();
      const shape = Math.floor(rnd() * 3);
      if (shape === 0) {
        path = `/${svc}/${version}/${res}/:id`;
        sample = `/${svc}/${version}/${res}/${a}`;
      } else if (shape === 1) {
        const sub = pick(SUBS);
        path = `/${svc}/${version}/${res}/:id/${sub}`;
        sample = `/${svc}/${version}/${res}/${a}/${sub}`;
      } else {
        const sub = pick(SUBS);
        path = `/${svc}/${version}/${res}/:id/${sub}/:subId`;
        sample = `/${svc}/${version}/${res}/${a}/${sub}/${b}`;
      }
    } else {
      // wildcard
      path = `/${svc}/${version}/${res}/static/*`;
      sample = `/${svc}/${version}/${res}/static/css/app.${id()}.css`;
    }
    const hosts = pick(HOSTS);
    const methods = pick(METHOD_SETS);
    const key = `${JSON.stringify(hosts)} ${JSON.stringify(methods)} ${path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    patterns.push({ hosts, methods, path, priority: 0, headerMatches: 0 });
    samples.push(sample);
  }
  return { patterns, samples };
}

function requestHost(hosts: string[] | null, rnd: () => number): string {
  if (hosts === null) return rnd() < 0.5 ? 'api.example.com' : 'www.other.org';
  const h = hosts[0];
  return h.startsWith('*.') ? `tenant${Math.floor(rnd() * 50)}${h.slice(1)}` : h;
}

function buildLookups(t: Table, n: number, rnd: () => number): { hits: Lookup[]; misses: Lookup[] } {
  const hits: Lookup[] = [];
  const misses: Lookup[] = [];
  const probe = createRouter(t.patterns, 'reference');
  const out = newMatchOutput();
  for (let guard = 0; hits.length + misses.length < n && guard < 100 * n; guard++) {
    const i = Math.floor(rnd() * t.patterns.length);
    const p = t.patterns[i];
    const host = requestHost(p.hosts, rnd);
    let method = p.methods ? p.methods[0] : 'GET';
    let path = t.samples[i];
    const miss = rnd() < 0.2;
    if (miss) {
      const r = rnd();
      if (r < 0.4) method = 'OPTIONS'; // mostly 405
      else if (r < 0.7) path = path + '/nope';
      else path = `/unknown/${Math.floor(rnd() * 1000)}/path`;
    }
    const found = probe.match(method, host, path, out) === MATCH_FOUND;
    if (found && hits.length < n * 0.8) hits.push([method, host, path]);
    else if (!found && misses.length < n * 0.2) misses.push([method, host, path]);
  }
  return { hits, misses };
}

function timeRounds(r: RouterEngine, set: Lookup[], rounds: number, roundMs: number, warmupMs: number): number[] {
  const out = newMatchOutput();
  let sink = 0;
  const pass = () => {
    for (let i = 0; i < set.length; i++) {
      const l = set[i];
      sink += r.match(l[0], l[1], l[2], out);
    }
  };
  const warmEnd = performance.now() + warmupMs;
  while (performance.now() < warmEnd) pass();
  const result: number[] = [];
  for (let k = 0; k < rounds; k++) {
    let ops = 0;
    const start = performance.now();
    let now = start;
    do {
      pass();
      ops += set.length;
      now = performance.now();
    } while (now - start < roundMs);
    result.push((ops * 1000) / (now - start));
  }
  if (sink === 0.5) console.log(sink); // keep the loop observable
  return result;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function runRouterBench(opts: RouterBenchOptions = {}): RouterBenchResult {
  const routes = opts.routes ?? 1000;
  const rounds = opts.rounds ?? 7;
  const roundMs = opts.roundMs ?? 200;
  const warmupMs = opts.warmupMs ?? 300;
  const engines = opts.engines ?? ['native', 'reference'];
  const rnd = prng(opts.seed ?? 0xbe0c4);
  const table = buildTable(routes, rnd);
  const { hits, misses } = buildLookups(table, opts.lookups ?? 2000, rnd);
  const all = [...hits, ...misses];
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  const sets = { all, hits, misses } as const;

  const rows: RouterBenchRow[] = [];
  let nativeStats: Record<string, number> | null = null;
  for (const engine of engines) {
    const router = createRouter(table.patterns, engine);
    if (engine === 'native') nativeStats = (router as { stats?: () => Record<string, number> }).stats?.() ?? null;
    for (const set of ['all', 'hits', 'misses'] as const) {
      const rs = timeRounds(router, sets[set], rounds, roundMs, warmupMs);
      const lps = median(rs);
      rows.push({ engine, set, lookupsPerSec: lps, nsPerLookup: 1e9 / lps, rounds: rs });
    }
  }
  const get = (e: string) => rows.find((r) => r.engine === e && r.set === 'all')?.lookupsPerSec;
  const n = get('native');
  const ref = get('reference');
  return {
    routes: table.patterns.length,
    lookups: { hits: hits.length, misses: misses.length },
    node: process.version,
    rows,
    speedup: n !== undefined && ref !== undefined ? n / ref : null,
    nativeStats,
  };
}

function fmt(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(0);
}

export function formatRouterBench(r: RouterBenchResult): string {
  const lines = [
    `router bench: ${r.routes} routes, ${r.lookups.hits} hits + ${r.lookups.misses} misses, node ${r.node}`,
    '',
    'engine     set     lookups/s    ns/lookup',
    '---------  ------  -----------  ---------',
  ];
  for (const row of r.rows) {
    lines.push(
      `${row.engine.padEnd(9)}  ${row.set.padEnd(6)}  ${fmt(row.lookupsPerSec).padStart(11)}  ${row.nsPerLookup.toFixed(0).padStart(9)}`,
    );
  }
  if (r.speedup !== null) lines.push('', `native is ${r.speedup.toFixed(1)}x the reference (all lookups)`);
  if (r.nativeStats) {
    const s = r.nativeStats;
    lines.push(`native table: ${s.hostTrees} host trees, ${s.methods} methods, ${s.nodes} nodes, ${(s.bytes / 1024).toFixed(0)} KiB`);
  }
  return lines.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = runRouterBench();
  console.log(process.argv.includes('--json') ? JSON.stringify(result, null, 2) : formatRouterBench(result));
}
