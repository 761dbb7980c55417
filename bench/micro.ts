/**
 * Micro-benchmarks beside the load suite: router lookups/s (native addon vs the TS reference,
 * 1,000 routes; bench/router-bench.ts), token-bucket takes/s (bench/token-bucket-bench.ts),
 * balancer picks/s over 4 members (bench/balancer-bench.ts), the aggregation merge's cost,
 * inline vs on the offload pool (bench/merge-bench.ts), the upstream engines' JS request
 * path (requests/s and heap bytes per request, native vs undici; bench/upstream-engine-bench.ts)
 * the encoding plugin's conversions inline vs on the pool (bench/msgpack-bench.ts) and the
 * per-request cost of plugin modules (bench/plugin-module-bench.ts).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateGateway } from './contenders/gateway.js';
import type { MicroResults } from './report.js';
import { formatBalancerBench, runBalancerBench } from './balancer-bench.js';
import { formatMergeBench, runMergeBench } from './merge-bench.js';
import { formatMsgpackBench, runMsgpackBench } from './msgpack-bench.js';
import { formatRouterBench, runRouterBench } from './router-bench.js';
import { formatTokenBucketBench, runTokenBucketBench } from './token-bucket-bench.js';
import { formatUpstreamEngineBench, runUpstreamEngineBench } from './upstream-engine-bench.js';
import { formatPluginModuleBench, runPluginModuleBench } from './plugin-module-bench.js';

export async function runMicro(workDir: string, workers: number, note: (msg: string) => void): Promise<MicroResults> {
  const micro: MicroResults = {
    router: { status: 'skipped' },
    tokenBucket: { status: 'skipped' },
    balancers: { status: 'skipped' },
    aggregateMerge: { status: 'skipped' },
    upstreamEngine: { status: 'skipped' },
    pluginModules: { status: 'skipped' },
    msgpackConversion: { status: 'skipped' },
  };

  note('micro: upstream engines, JS request path and heap bytes per request, native vs undici ...');
  try {
    const result = await runUpstreamEngineBench();
    micro.upstreamEngine = { status: 'ran', result, table: formatUpstreamEngineBench(result) };
  } catch (e) {
    micro.upstreamEngine = { status: 'failed', reason: (e as Error).message.split('\n')[0] };
  }

  note('micro: router lookups, native vs reference, 1,000 routes ...');
  try {
    let result;
    try {
      result = runRouterBench({ routes: 1000 });
    } catch (e) {
      // no native addon on this machine: the reference alone still says something
      note(`micro: native router unavailable (${(e as Error).message.split('\n')[0]}); reference only`);
      result = runRouterBench({ routes: 1000, engines: ['reference'] });
    }
    micro.router = { status: 'ran', result, table: formatRouterBench(result) };
  } catch (e) {
    micro.router = { status: 'failed', reason: (e as Error).message.split('\n')[0] };
  }

  // The token bucket micro-benchmark needs the rate limiter: ask the gateway whether it has one.
  const cfgPath = join(workDir, 'gateway-micro-ratelimit.json');
  writeFileSync(
    cfgPath,
    JSON.stringify({
      listen: { host: '127.0.0.1', port: 1 },
      upstreams: { app: { targets: [{ url: 'http://127.0.0.1:2' }] } },
      routes: [{ id: 'rl', paths: ['/*'], upstream: 'app', plugins: { rateLimit: { requestsPerSecond: 100, burst: 100, key: 'route', scope: 'local' } } }],
    }),
  );
  const v = await validateGateway(cfgPath);
  if (!v.ok) {
    micro.tokenBucket = { status: 'skipped', reason: v.notImplemented ? v.message : `gateway validate: ${v.message}` };
  } else {
    try {
      note(`micro: token-bucket takes, native vs reference, one process and ${workers} processes on one key ...`);
      const result = await runTokenBucketBench({ processes: workers });
      micro.tokenBucket = { status: 'ran', result, table: formatTokenBucketBench(result) };
    } catch (e) {
      micro.tokenBucket = { status: 'failed', reason: (e as Error).message.split('\n')[0] };
    }
  }
  note('micro: balancer picks, 4 members ...');
  try {
    const result = runBalancerBench();
    micro.balancers = { status: 'ran', result, table: formatBalancerBench(result) };
  } catch (e) {
    micro.balancers = { status: 'failed', reason: (e as Error).message.split('\n')[0] };
  }
  note('micro: aggregation merge, inline vs the offload pool, by size ...');
  try {
    const result = await runMergeBench();
    micro.aggregateMerge = { status: 'ran', result, table: formatMergeBench(result) };
  } catch (e) {
    micro.aggregateMerge = { status: 'failed', reason: (e as Error).message.split('\n')[0] };
  }
  note('micro: MessagePack conversion, inline vs the offload pool, by size ...');
  try {
    const result = await runMsgpackBench();
    micro.msgpackConversion = { status: 'ran', result, table: formatMsgpackBench(result) };
  } catch (e) {
    micro.msgpackConversion = { status: 'failed', reason: (e as Error).message.split('\n')[0] };
  }
  note('micro: plugin modules, per request through the pipeline ...');
  try {
    const result = await runPluginModuleBench();
    micro.pluginModules = { status: 'ran', result, table: formatPluginModuleBench(result) };
  } catch (e) {
    micro.pluginModules = { status: 'failed', reason: (e as Error).message.split('\n')[0] };
  }
  return micro;
}
