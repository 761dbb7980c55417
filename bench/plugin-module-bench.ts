/**
 * Plugin-module micro-benchmark: what a plugin of your own costs per request, through the real
 * pipeline. Modules are written to a temp directory and loaded by the real loader
 * (loadConfigFile: import, descriptor checks, schema); each case's route is compiled by
 * compilePipeline with the config's catalog, and one request is what the worker does for a
 * route with plugins: a RequestContext, the module-only extras (params, header checks), the
 * access phase (runAccess), the response hooks, the completion hooks. The HTTP work around it
 * (uWS, routing, the upstream) is the same whatever the plugins, so it is left out.
 *
 *   npm run build && node dist/bench/plugin-module-bench.js [--json]
 *   import { runPluginModuleBench } from './plugin-module-bench.js'   (the load suite's micro section)
 *
 * Read "added" as the difference to the route without plugins: the price of having any plugin
 * (the per-request context) plus the plugin's own calls; the module rows against the built-in
 * row show what a module pays over a built-in doing the same nothing (the isolation wrapper).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfigFile } from '../src/config/load.js';
import { effectivePluginEntries } from '../src/config/effective.js';
import { compilePipeline, runAccess, runComplete, runResponseHooks, type CompiledPipeline } from '../src/plugins/pipeline.js';
import { RequestContext, openToModules } from '../src/plugins/context.js';
import { ConsumerDirectory } from '../src/plugins/consumers.js';
import { compileCidrs } from '../src/net/cidr.js';
import { ServiceHost } from '../src/runtime/services.js';
import { isPromise } from '../src/util/promise.js';
import type { TxSummary } from '../src/observability/access-log.js';

export interface PluginModuleBenchOptions {
  /** Timed rounds per case; the median is reported (default 7). */
  rounds?: number;
  /** Duration of one round, ms (default 200). */
  roundMs?: number;
}

export interface PluginModuleBenchRow {
  case: string;
  nsPerRequest: number;
  /** Over the route without plugins. */
  addedNs: number;
}

export interface PluginModuleBenchResult {
  node: string;
  rows: PluginModuleBenchRow[];
}

/** The modules: plain descriptors (no imports), as a user might write the smallest plugins. */
const MODULES: Record<string, string> = {
  'empty.mjs': `export default { name: 'empty', phase: 'transform', schema: { type: 'object' }, compile: () => ({}) };`,
  'noop.mjs': `export default { name: 'noop', phase: 'transform', schema: { type: 'object' }, compile: () => ({ onRequest() {} }) };`,
  'noop-all.mjs': `export default { name: 'noopAll', phase: 'transform', schema: { type: 'object' }, compile: () => ({ onRequest() {}, onResponseHeaders() {}, onComplete() {} }) };`,
  'header.mjs': `export default { name: 'header', phase: 'transform', schema: { type: 'object' }, compile: () => ({ onRequest(ctx) { ctx.setHeader('x-tenant', ctx.params.tenant); } }) };`,
  'async.mjs': `export default { name: 'asyncNoop', phase: 'transform', schema: { type: 'object' }, compile: () => ({ async onRequest() {} }) };`,
};

interface Case {
  name: string;
  plugins: Record<string, unknown>;
  async?: boolean;
}

const CASES: Case[] = [
  { name: 'no plugins (the baseline)', plugins: {} },
  { name: 'module whose compile() returns {}', plugins: { empty: {} } },
  { name: 'built-in requestHeaders {} (a no-op onRequest)', plugins: { requestHeaders: {} } },
  { name: 'module: no-op onRequest', plugins: { noop: {} } },
  { name: 'module: no-op onRequest + response + complete', plugins: { noopAll: {} } },
  { name: 'module: sets a header from a param', plugins: { header: {} } },
  { name: 'module: async no-op onRequest (awaited)', plugins: { asyncNoop: {} }, async: true },
];

const HEADERS = ['accept', '*/*', 'user-agent', 'bench/1.0', 'accept-encoding', 'gzip', 'x-request-id', 'abc-123'];
const PATH = '/t/acme/orders/7';
const PAIRS = new Int32Array([3, 7, 8, 16]); // ":tenant" = "acme", "*" = "orders/7"
const NAMES = ['tenant', '*'];
const TX = { status: 200 } as unknown as TxSummary;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** One request's plugin work, as front.ts and transaction.ts do it; a promise only on the async path. */
function request(pipeline: CompiledPipeline | null): void | Promise<unknown> {
  if (pipeline === null) return;
  const ctx = new RequestContext('GET', PATH, '', 'bench', HEADERS.slice(), '127.0.0.1', '127.0.0.1', 'r');
  if (pipeline.modules) openToModules(ctx, NAMES, PATH, PAIRS, 0);
  const done = (): void => {
    runResponseHooks(pipeline, ctx, 200);
    if (pipeline.onComplete !== null) runComplete(pipeline.onComplete, ctx, TX);
  };
  const r = pipeline.access === null ? undefined : runAccess(pipeline.access, ctx);
  if (isPromise(r)) return r.then(done);
  done();
}

async function timeCase(pipeline: CompiledPipeline | null, isAsync: boolean, opts: Required<PluginModuleBenchOptions>): Promise<number> {
  const round = async (ms: number): Promise<number> => {
    let n = 0;
    const start = performance.now();
    let now = start;
    do {
      if (isAsync) for (let i = 0; i < 1000; i++) await request(pipeline);
      else for (let i = 0; i < 1000; i++) request(pipeline);
      n += 1000;
      now = performance.now();
    } while (now - start < ms);
    return ((now - start) * 1e6) / n;
  };
  await round(Math.min(300, opts.roundMs)); // warm-up (JIT)
  const ns: number[] = [];
  for (let r = 0; r < opts.rounds; r++) ns.push(await round(opts.roundMs));
  return median(ns);
}

export async function runPluginModuleBench(options: PluginModuleBenchOptions = {}): Promise<PluginModuleBenchResult> {
  const opts: Required<PluginModuleBenchOptions> = { rounds: options.rounds ?? 7, roundMs: options.roundMs ?? 200 };
  const dir = mkdtempSync(join(tmpdir(), 'gw-plugin-bench-'));
  try {
    for (const [name, text] of Object.entries(MODULES)) writeFileSync(join(dir, name), text);
    const configPath = join(dir, 'gateway.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        listen: { port: 0 },
        pluginModules: Object.keys(MODULES).map((m) => `./${m}`),
        upstreams: { u: { targets: [{ url: 'http://127.0.0.1:1' }] } },
        routes: CASES.map((c, i) => ({ id: `r${i}`, paths: [`/r${i}/:tenant/*`], upstream: 'u', plugins: c.plugins })),
      }),
    );
    const loaded = await loadConfigFile(configPath);
    if (!loaded.ok) throw new Error(`bench config: ${loaded.errors.map((e) => `${e.pointer}: ${e.message}`).join('; ')}`);
    const scope = new ServiceHost('worker').scope(loaded.config);
    const deps = { consumers: new ConsumerDirectory([]), isTrustedProxy: compileCidrs([]), role: 'worker' as const, use: scope.use.bind(scope) };
    const rows: PluginModuleBenchRow[] = [];
    let baseline = 0;
    for (let i = 0; i < CASES.length; i++) {
      const pipeline = compilePipeline(effectivePluginEntries(loaded.config, i), { ...deps, routeId: `r${i}` }, loaded.plugins);
      const ns = await timeCase(pipeline, CASES[i].async === true, opts);
      if (i === 0) baseline = ns;
      rows.push({ case: CASES[i].name, nsPerRequest: ns, addedNs: ns - baseline });
    }
    scope.retire();
    return { node: process.version, rows };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatPluginModuleBench(r: PluginModuleBenchResult): string {
  const lines = [
    `plugin-module bench: one request's plugin work through the real pipeline (context, access, response, complete), node ${r.node}`,
    '',
    'case                                              ns/request  added ns',
    '------------------------------------------------  ----------  --------',
  ];
  for (const row of r.rows) lines.push(`${row.case.padEnd(48)}  ${row.nsPerRequest.toFixed(1).padStart(10)}  ${row.addedNs.toFixed(1).padStart(8)}`);
  return lines.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runPluginModuleBench();
  console.log(process.argv.includes('--json') ? JSON.stringify(result, null, 2) : formatPluginModuleBench(result));
}
