/**
 * packaging/systemd/: the units pass `systemd-analyze verify` without a single warning (an
 * unknown or misspelt directive, a value it cannot parse, a missing binary: verify prints a line
 * for each, so "no output" is the assertion), the check is shown to catch a typo, and the unit
 * says what docs/operations.md#installing-with-systemd promises (reload, restart, stop within
 * the drain deadline, the hardening). Its ExecStartPre/ExecStart lines run with this checkout in
 * place of /opt/uws-gateway/current.
 *
 * verify checks that each Exec*= binary exists, so the copies it checks point /usr/bin/node at
 * the node running this test (a CI machine may have node elsewhere). Skipped, with the reason,
 * where systemd-analyze is not installed (Debian 12 has it with systemd).
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GATEWAY_BIN, ROOT, freePort, startGatewayFile, writeConfig } from '../helpers/gateway.js';

const DIR = join(ROOT, 'packaging/systemd');
const ANALYZE = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).status === 0;
const NO_ANALYZE = 'systemd-analyze is not installed here (apt-get install systemd)';

/** A unit file's [Service] (etc.) directives: name -> every value given, in order. */
function directives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';') || line.startsWith('[')) continue;
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    if (!out.has(key)) out.set(key, []);
    out.get(key)!.push(line.slice(eq + 1));
  }
  return out;
}

/** Runs systemd-analyze verify on a copy of `text` named `name`, with node's path made real; everything it printed. */
function verify(name: string, text: string): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'gw-systemd-'));
  const path = join(dir, name);
  writeFileSync(path, text.replaceAll('/usr/bin/node ', `${process.execPath} `));
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', path], { encoding: 'utf8', env: { ...process.env, SYSTEMD_LOG_COLOR: '0' } });
  return { status: r.status, output: (r.stdout + r.stderr).trim() };
}

const UNITS = [
  { file: 'gateway.service', as: 'gateway.service' },
  { file: 'gateway@.service', as: 'gateway@blue.service' },
];

describe('systemd units', () => {
  for (const unit of UNITS) {
    it.skipIf(!ANALYZE)(`${unit.file} passes systemd-analyze verify with no warning`, () => {
      const r = verify(unit.as, readFileSync(join(DIR, unit.file), 'utf8'));
      expect(r.output).toBe('');
      expect(r.status).toBe(0);
    });
  }
  if (!ANALYZE) it.skip(`systemd-analyze verify: ${NO_ANALYZE}`, () => {});

  it.skipIf(!ANALYZE)('verify catches a misspelt directive, a bad value and a missing binary (the check can fail)', () => {
    const text = readFileSync(join(DIR, 'gateway.service'), 'utf8');
    const typo = verify('gateway.service', text.replace('\nRestart=on-failure', '\nRestrat=on-failure'));
    expect(typo.output).toMatch(/Unknown key 'Restrat'/);
    const value = verify('gateway.service', text.replace('\nProtectSystem=strict', '\nProtectSystem=very'));
    expect(value.output).toMatch(/ProtectSystem|protect system/i);
    const group = verify('gateway.service', text.replace('SystemCallFilter=@system-service', 'SystemCallFilter=@system-servce'));
    expect(group.output).toMatch(/system call group/i);
    const binary = verify('gateway.service', text.replace('ExecReload=/bin/kill', 'ExecReload=/bin/kil'));
    expect(binary.output).toMatch(/not executable/);
    expect(binary.status).not.toBe(0);
  });

  for (const unit of UNITS) {
    it(`${unit.file} reloads with SIGHUP, restarts on failure, stops within its drain deadline, is hardened`, () => {
      const d = directives(readFileSync(join(DIR, unit.file), 'utf8'));
      const one = (k: string) => {
        const v = d.get(k);
        expect(v, k).toBeDefined();
        return v![v!.length - 1]!;
      };
      expect(one('Type')).toBe('simple');
      expect(one('ExecStart')).toBe('/usr/bin/node /opt/uws-gateway/current/bin/gateway.js start -c /etc/gateway/gateway.json');
      expect(one('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
      expect(one('Restart')).toBe('on-failure');
      expect(one('User')).toBe('gateway');
      expect(one('Group')).toBe('gateway');
      expect(Number(one('LimitNOFILE'))).toBeGreaterThanOrEqual(65536);
      // SIGTERM to the primary alone (it drains its workers), and time for the drain.
      expect(one('KillSignal')).toBe('SIGTERM');
      expect(one('KillMode')).toBe('mixed');
      const env = Object.fromEntries((d.get('Environment') ?? []).flatMap((e) => e.split(/\s+/)).map((kv) => kv.split('=') as [string, string]));
      const drainS = Number(env.GATEWAY_DRAIN_MS) / 1000;
      expect(drainS).toBeGreaterThan(0);
      expect(Number(one('TimeoutStopSec'))).toBeGreaterThan(drainS + 2);
      for (const [k, v] of Object.entries({
        NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes', PrivateDevices: 'yes',
        ProtectKernelTunables: 'yes', ProtectKernelModules: 'yes', ProtectControlGroups: 'yes', LockPersonality: 'yes',
        RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX', SystemCallFilter: '@system-service', CapabilityBoundingSet: '',
        LogsDirectory: 'gateway',
      })) expect(one(k), k).toBe(v);
      // V8's JIT writes and then runs its code: this one would kill the gateway at start.
      expect(d.has('MemoryDenyWriteExecute')).toBe(false);
    });
  }

  it('the ExecStartPre and ExecStart lines work with this checkout in place of /opt/uws-gateway/current', async () => {
    const d = directives(readFileSync(join(DIR, 'gateway.service'), 'utf8'));
    const port = await freePort();
    const config = writeConfig({ workers: 1, listen: { host: '127.0.0.1', port }, upstreams: { app: { targets: [{ url: 'http://127.0.0.1:9' }] } }, routes: [{ id: 'h', paths: ['/h'], respond: { status: 200, body: 'up' } }, { id: 'app', paths: ['/app'], upstream: 'app' }] });
    const argv = (line: string) =>
      line.replace('/usr/bin/node ', '').replace('/opt/uws-gateway/current/bin/gateway.js', GATEWAY_BIN).replace('/etc/gateway/gateway.json', config).split(' ');
    const pre = spawnSync(process.execPath, argv(d.get('ExecStartPre')![0]!), { cwd: ROOT, encoding: 'utf8' });
    expect(pre.stderr).toBe('');
    expect(pre.status).toBe(0);
    const start = argv(d.get('ExecStart')![0]!);
    expect(start.slice(0, 2)).toEqual([GATEWAY_BIN, 'start']);
    const gw = await startGatewayFile(config, port, { args: start.slice(2) });
    try {
      const res = await fetch(`${gw.url}/h`);
      expect(await res.text()).toBe('up');
      gw.proc.kill('SIGHUP'); // ExecReload
      await gw.waitForLog('"config reloaded"');
    } finally {
      await gw.stop();
    }
    expect((await gw.exited).code).toBe(0);
  });

  it('logrotate: the access log is reopened with SIGUSR1 through systemd, with no copytruncate', () => {
    const text = readFileSync(join(ROOT, 'packaging/logrotate/gateway'), 'utf8');
    expect(text).toMatch(/^\/var\/log\/gateway\/access\.log \{$/m);
    expect(text).toMatch(/postrotate\n\s+systemctl kill -s USR1 'gateway\*\.service'/);
    expect(text).not.toMatch(/^\s*copytruncate/m);
    const lr = spawnSync('logrotate', ['--version'], { encoding: 'utf8' });
    if (lr.status === 0) {
      // Where logrotate is installed: it reads the snippet without an error (debug mode changes
      // nothing; the gateway user, which logrotate looks up, is this test's own here).
      const dir = mkdtempSync(join(tmpdir(), 'gw-logrotate-'));
      const me = spawnSync('id', ['-un'], { encoding: 'utf8' }).stdout.trim();
      const group = spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout.trim();
      const conf = join(dir, 'gateway');
      writeFileSync(conf, text.replace('create 0640 gateway gateway', `create 0640 ${me} ${group}`), { mode: 0o644 });
      const r = spawnSync('logrotate', ['-d', '-s', join(dir, 'state'), conf], { encoding: 'utf8' });
      expect(r.stdout + r.stderr).toContain('reading config file');
      expect((r.stdout + r.stderr).split('\n').filter((l) => /^error:/.test(l))).toEqual([]);
      // A broken copy is caught the same way.
      writeFileSync(conf, text.replace('delaycompress', 'delaycompres'), { mode: 0o644 });
      const bad = spawnSync('logrotate', ['-d', '-s', join(dir, 'state'), conf], { encoding: 'utf8' });
      expect(bad.stdout + bad.stderr).toMatch(/^error:.*unknown option 'delaycompres'/m);
    }
  });
});
