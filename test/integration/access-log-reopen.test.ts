/**
 * The access log file and logrotate: SIGUSR1 to the primary makes every worker reopen the file.
 * Under continuous traffic the file is renamed away (what logrotate does), SIGUSR1 is sent, and
 * every request ends up as exactly one line in one of the two files: none lost, none twice, new
 * lines in a new file at the original path. SIGUSR1 sent to the workers as well (a whole
 * systemd unit) is fine too. A reload that keeps the access log keeps the file open once per
 * worker (a reload used to open it again without closing the old one).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { echoUpstream, logLines, sleep, startGateway, waitForLogLines, type Gateway, type Upstream } from '../helpers/gateway.js';
import { childPids, openFilesMatching } from '../helpers/procs.js';

const TOTAL = 300;
const CONCURRENCY = 6;

let up: Upstream;
let gw: Gateway;
let logPath: string;

beforeAll(async () => {
  up = await echoUpstream();
  logPath = join(mkdtempSync(join(tmpdir(), 'gw-accesslog-')), 'access.log');
  gw = await startGateway({
    accessLog: { path: logPath, format: 'json' },
    upstreams: { app: { targets: [{ url: up.url }] } },
    plugins: { requestId: {} },
    routes: [{ id: 'app', paths: ['/app/*'], upstream: 'app' }],
  });
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

function requestIds(path: string): string[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { requestId: string }).requestId);
}

describe('access log reopen (SIGUSR1)', () => {
  it('renamed away under traffic: every request is one line, in the old file or the new one at the original path', async () => {
    const sent: string[] = [];
    let next = 0;
    // Each request on a connection of its own, so the kernel spreads them over both workers.
    const client = async () => {
      while (next < TOTAL) {
        next++;
        const r = await request(`${gw.url}/app/x`, { headers: { connection: 'close' } });
        await r.body.dump();
        expect(r.statusCode).toBe(200);
        sent.push(String(r.headers['x-request-id']));
      }
    };
    const load = Promise.all(Array.from({ length: CONCURRENCY }, client));

    while (sent.length < TOTAL / 3) await sleep(5);
    renameSync(logPath, `${logPath}.1`);
    gw.proc.kill('SIGUSR1');
    const reopened = await waitForLogLines(gw, 'access log reopened', 2);
    expect(reopened.map((l) => l.worker).sort()).toEqual([0, 1]);
    const sentAtReopen = sent.length;
    await load;
    expect(sentAtReopen).toBeLessThan(TOTAL); // the traffic went on across the reopen

    // Lines are batched for up to 100 ms.
    let old: string[] = [];
    let fresh: string[] = [];
    for (let i = 0; i < 100; i++) {
      old = requestIds(`${logPath}.1`);
      fresh = requestIds(logPath);
      if (old.length + fresh.length >= TOTAL) break;
      await sleep(50);
    }
    expect(old.length).toBeGreaterThan(0);
    expect(fresh.length).toBeGreaterThan(0);
    expect([...old, ...fresh].sort()).toEqual([...sent].sort());
    // The primary said what it did.
    expect(gw.stderr).toContain('"msg":"reopening the access log"');
  });

  it('SIGUSR1 to every process of the gateway (systemctl kill): the workers reopen too, and none starts an inspector', async () => {
    const workers = childPids(gw.proc.pid!);
    expect(workers).toHaveLength(2);
    const before = logLines(gw, 'access log reopened').length;
    renameSync(logPath, `${logPath}.2`);
    for (const pid of [gw.proc.pid!, ...workers]) process.kill(pid, 'SIGUSR1');
    await waitForLogLines(gw, 'access log reopened', before + 4);
    for (let i = 0; i < 20; i++) {
      const r = await request(`${gw.url}/app/x`, { headers: { connection: 'close' } });
      await r.body.dump();
    }
    let fresh: string[] = [];
    for (let i = 0; i < 100 && fresh.length < 20; i++) {
      fresh = requestIds(logPath);
      if (fresh.length < 20) await sleep(50);
    }
    expect(fresh).toHaveLength(20);
    expect(gw.stderr).not.toContain('Debugger listening');
    expect(childPids(gw.proc.pid!)).toEqual(workers); // nobody died of it
  });

  it('a reload that keeps the access log keeps one open file per worker', async () => {
    const workers = childPids(gw.proc.pid!);
    expect(workers).toHaveLength(2);
    const config = JSON.parse(readFileSync(gw.configPath, 'utf8'));
    for (let i = 0; i < 3; i++) {
      config.routes[0].timeoutMs = 5000 + i;
      writeFileSync(gw.configPath, JSON.stringify(config));
      gw.proc.kill('SIGHUP');
      await gw.waitForLog(`"msg":"config audit","source":"signal","file":"${gw.configPath}","result":"applied","version":${i + 2}`);
    }
    for (const pid of workers) expect(openFilesMatching(pid, logPath)).toBe(1);
  });
});
