/**
 * The gateway as a contender: `node bin/gateway.js start --config <generated>` (primary + workers),
 * ready when its JSON log says "gateway listening"; SIGTERM drains it.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GATEWAY_BIN, ROOT } from '../paths.js';
import { gatewayConfig, type BenchContext, type Scenario } from '../scenarios.js';
import { freePort, start, waitForLine } from '../spawn.js';
import type { RunningContender } from './types.js';

export const NOT_IMPLEMENTED = 'is not implemented in this version of the gateway yet';

export type Validation = { ok: true } | { ok: false; notImplemented: boolean; message: string };

/** Writes the scenario's gateway config to `dir` and returns its path. */
export function writeGatewayConfig(s: Scenario, ctx: BenchContext, dir: string, port: number, engine: 'native' | 'undici' | null = null, tag = 'gateway'): string {
  const path = join(dir, `${tag}-${s.name}.json`);
  writeFileSync(path, `${JSON.stringify(gatewayConfig(s, ctx, port, engine), null, 2)}\n`);
  return path;
}

/** `gateway validate --config FILE`: exit 0, or the refusal (and whether it is "not implemented yet"). */
export function validateGateway(configPath: string, env: Record<string, string> = {}): Promise<Validation> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [GATEWAY_BIN, 'validate', '--config', configPath], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (out += c.toString()));
    p.on('error', (err) => resolve({ ok: false, notImplemented: false, message: String(err) }));
    p.on('exit', (code) => {
      if (code === 0) return resolve({ ok: true });
      const lines = out.split('\n').map((l) => l.trim()).filter(Boolean);
      const missing = lines.filter((l) => l.includes(NOT_IMPLEMENTED));
      if (missing.length > 0) {
        // "/routes/0/plugins/jwt: the "jwt" plugin is not implemented ..." -> 'the "jwt" plugin'
        const what = missing.map((l) => l.replace(/^\S+:\s*/, '').replace(` ${NOT_IMPLEMENTED}`, ''));
        return resolve({ ok: false, notImplemented: true, message: `${[...new Set(what)].join(', ')} ${NOT_IMPLEMENTED}` });
      }
      resolve({ ok: false, notImplemented: false, message: lines.slice(-6).join(' | ') || `validate exited ${code}` });
    });
  });
}

export async function startGateway(
  s: Scenario,
  ctx: BenchContext,
  dir: string,
  opts: { profileDir?: string; root?: string; as?: { name: 'reference'; label: string }; engine?: 'native' | 'undici' | null } = {},
): Promise<RunningContender> {
  const port = await freePort();
  const configPath = writeGatewayConfig(s, ctx, dir, port, opts.engine ?? null, opts.as ? opts.as.name : opts.root !== undefined ? 'baseline' : 'gateway');
  const env: Record<string, string | undefined> = { ...process.env, ...s.env };
  // --cpu-prof is not allowed in NODE_OPTIONS; as an option of the primary it reaches the workers
  // too (node:cluster forks with the primary's execArgv). Profiles are written at a clean exit.
  const nodeArgs = opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : [];
  // Another checkout (the baseline) runs its own launcher from its own root.
  const root = opts.root ?? ROOT;
  const bin = opts.root !== undefined ? join(opts.root, 'bin', 'gateway.js') : GATEWAY_BIN;
  const name = opts.as?.name ?? (opts.root !== undefined ? 'baseline' : 'gateway');
  const m = start(`${name} (${s.name})`, process.execPath, [...nodeArgs, bin, 'start', '--config', configPath], { cwd: root, env });
  await waitForLine(m, (line) => {
    if (!line.startsWith('{')) return false;
    try {
      return (JSON.parse(line) as { msg?: string }).msg === 'gateway listening';
    } catch {
      return false;
    }
  });
  return {
    name,
    label: opts.as
      ? `${opts.as.label} (${ctx.workers} workers${opts.engine ? `, ${opts.engine} engine` : ''})`
      : `${name === 'baseline' ? 'baseline gateway' : 'gateway'} (${ctx.workers} workers${opts.engine ? `, ${opts.engine} engine` : ''})`,
    port,
    pid: m.pid,
    stop: () => m.stop(),
  };
}
