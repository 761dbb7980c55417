/**
 * The reverse proxies users pick instead of a Node gateway, measured beside it when installed:
 * nginx, haproxy and Caddy (Debian packages `nginx`, `haproxy`, `caddy`). Each gets the scenario's
 * equivalent config (bench/contenders/<name>.ts) with the same worker/thread count.
 */
import { execFileSync } from 'node:child_process';
import { which } from '../proc.js';
import { SERVER_PEERS, type BenchContext, type Scenario, type ServerPeer } from '../scenarios.js';
import { caddyLabel, caddyVersion, startCaddy } from './caddy.js';
import { haproxyLabel, haproxyVersion, startHaproxy } from './haproxy.js';
import { nginxLabel, nginxVersion, startNginx } from './nginx.js';
import type { RunningContender } from './types.js';

export interface InstalledServer {
  bin: string;
  version: string;
}

export type InstalledServers = Partial<Record<ServerPeer, InstalledServer>>;

/** How the report and --help name each one. */
export const SERVER_TITLES: Record<ServerPeer, string> = { nginx: 'nginx', haproxy: 'haproxy', caddy: 'Caddy' };

const VERSION: Record<ServerPeer, (bin: string) => string> = { nginx: nginxVersion, haproxy: haproxyVersion, caddy: caddyVersion };

/** Debian installs nginx and haproxy in /usr/sbin, which is not on every user's PATH. */
function findBin(name: ServerPeer): string | null {
  const onPath = which(name);
  if (onPath) return onPath;
  for (const dir of ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin']) {
    const p = `${dir}/${name}`;
    try {
      execFileSync(p, name === 'caddy' ? ['version'] : ['-v'], { stdio: 'ignore' });
      return p;
    } catch {
      /* not there */
    }
  }
  return null;
}

/** The installed servers, minus those left out (--no-nginx, --no-haproxy, --no-caddy). */
export function findServers(leftOut: ReadonlySet<ServerPeer>): InstalledServers {
  const out: InstalledServers = {};
  for (const name of SERVER_PEERS) {
    if (leftOut.has(name)) continue;
    const bin = findBin(name);
    if (bin) out[name] = { bin, version: VERSION[name](bin) };
  }
  return out;
}

export function startServer(name: ServerPeer, bin: string, s: Scenario, ctx: BenchContext, dir: string): Promise<RunningContender> {
  switch (name) {
    case 'nginx':
      return startNginx(bin, s, ctx, dir);
    case 'haproxy':
      return startHaproxy(bin, s, ctx, dir);
    case 'caddy':
      return startCaddy(bin, s, ctx, dir);
  }
}

/** "nginx least_conn (2 workers)", "haproxy (2 threads)", "Caddy (GOMAXPROCS 2)". */
export function serverLabel(name: ServerPeer, s: Scenario, workers: number): string {
  return name === 'nginx' ? nginxLabel(s, workers) : name === 'haproxy' ? haproxyLabel(workers) : caddyLabel(workers);
}
