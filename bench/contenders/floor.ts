/**
 * The --with-floors contenders (bench/contenders/floor-server.ts): the `proxy` scenario's path
 * with nothing of the gateway around the upstream engine. `floor-addon` drives the addon's
 * connections straight from uWS.js's handler; `floor-engine` goes through the native engine's
 * dispatcher. What they cost beside the gateway, in the same rounds, is what the gateway's own
 * layers cost (docs/benchmarking.md, "Floors").
 */
import { benchScript, ROOT } from '../paths.js';
import type { BenchContext } from '../scenarios.js';
import { freePort, start, waitForLine } from '../spawn.js';
import type { RunningContender } from './types.js';

export type FloorName = 'floor-addon' | 'floor-engine';

export function floorLabel(name: FloorName, workers: number): string {
  return name === 'floor-addon'
    ? `floor: uWS.js + the addon's connections, no gateway (${workers} workers)`
    : `floor: uWS.js + the native engine, no gateway (${workers} workers)`;
}

export async function startFloor(name: FloorName, ctx: BenchContext): Promise<RunningContender> {
  const port = await freePort();
  const m = start(name, process.execPath, [
    benchScript('contenders/floor-server.js'),
    '--layer', name === 'floor-addon' ? 'addon' : 'engine',
    '--port', String(port),
    '--upstream-port', String(ctx.upstreamPort),
    '--workers', String(ctx.workers),
    '--pool', String(ctx.upstreamPool),
  ], { cwd: ROOT });
  await waitForLine(m, (l) => l.startsWith('READY'));
  return { name, label: floorLabel(name, ctx.workers), port, pid: m.pid, stop: () => m.stop() };
}
