/** The --with-peer contender: fastify + @fastify/http-proxy (bench/contenders/peer-server.ts). */
import { createRequire } from 'node:module';
import { benchScript, ROOT } from '../paths.js';
import type { BenchContext } from '../scenarios.js';
import { freePort, start, waitForLine } from '../spawn.js';
import type { RunningContender } from './types.js';

/** "fastify 5.x + @fastify/http-proxy 11.x", or null when they are not installed (devDependencies). */
export function peerVersions(): string | null {
  const require = createRequire(`${ROOT}/package.json`);
  try {
    const f = require('fastify/package.json') as { version: string };
    const p = require('@fastify/http-proxy/package.json') as { version: string };
    return `fastify ${f.version} + @fastify/http-proxy ${p.version}`;
  } catch {
    return null;
  }
}

export async function startPeer(ctx: BenchContext): Promise<RunningContender> {
  const port = await freePort();
  const m = start('peer (fastify + @fastify/http-proxy)', process.execPath, [
    benchScript('contenders/peer-server.js'),
    '--port', String(port),
    '--upstream', `http://127.0.0.1:${ctx.upstreamPort}`,
    '--workers', String(ctx.workers),
    '--pool', String(ctx.upstreamPool),
  ], { cwd: ROOT });
  await waitForLine(m, (l) => l.startsWith('READY'));
  return { name: 'peer', label: `fastify + @fastify/http-proxy (${ctx.workers} workers)`, port, pid: m.pid, stop: () => m.stop() };
}
