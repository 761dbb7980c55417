/**
 * `gateway diff OLD NEW` as CI runs it: the summary of the reload audit line for people or
 * (--json) machines, exit 0 equal / 1 different / 2 invalid input, no secret ever printed, and
 * `env:NAME` references compared without the variables being set.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { GATEWAY_BIN, ROOT, writeConfig } from '../helpers/gateway.js';

function diff(...args: string[]) {
  const env = { ...process.env };
  delete env.DIFF_TEST_TOKEN; // CI has no secrets
  const r = spawnSync(process.execPath, [GATEWAY_BIN, 'diff', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000, env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const KEY_ONE = createHash('sha256').update('first key').digest('hex');
const KEY_TWO = createHash('sha256').update('second key').digest('hex');

function config(over: Record<string, unknown> = {}) {
  return {
    listen: { port: 8080 },
    admin: { port: 9901, token: 'env:DIFF_TEST_TOKEN' },
    upstreams: { users: { targets: [{ url: 'http://127.0.0.1:9001' }] } },
    consumers: [{ id: 'acme', apiKeys: [`sha256:${KEY_ONE}`] }],
    routes: [{ id: 'users', paths: ['/users'], upstream: 'users' }],
    ...over,
  };
}

describe('gateway diff', () => {
  it('equal files (however written): "no changes", exit 0', () => {
    const a = writeConfig(config());
    const b = writeConfig({ ...config(), workers: 'auto', routes: [{ upstream: 'users', id: 'users', paths: ['/users'], priority: 0 }] });
    const r = diff(a, b);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('no changes\n');
    expect(r.code).toBe(0);
  });

  it('different files: the ids by section, exit 1; the changed key is never printed', () => {
    const a = writeConfig(config());
    const b = writeConfig(
      config({
        consumers: [{ id: 'acme', apiKeys: [`sha256:${KEY_TWO}`] }],
        routes: [
          { id: 'users', paths: ['/users'], upstream: 'users' },
          { id: 'status', paths: ['/status'], respond: { status: 200 } },
        ],
      }),
    );
    const r = diff(a, b);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('routes:\n  + "status"\nconsumers:\n  ~ "acme"\n1 added, 0 removed, 1 changed\n');
    expect(r.stdout + r.stderr).not.toContain(KEY_TWO);
  });

  it('--json: the same summary as the audit line\'s "changes"', () => {
    const a = writeConfig(config());
    const b = writeConfig(config({ upstreams: { users: { targets: [{ url: 'http://127.0.0.1:9002' }] } } }));
    const r = diff('--json', a, b);
    expect(r.code).toBe(1);
    const none = { added: [], removed: [], changed: [] };
    expect(JSON.parse(r.stdout)).toEqual({
      differ: true,
      changes: { routes: none, upstreams: { added: [], removed: [], changed: ['users'] }, consumers: none, plugins: none, settings: none },
    });
    const same = diff(a, a, '--json');
    expect(same.code).toBe(0);
    expect(JSON.parse(same.stdout).differ).toBe(false);
  });

  it('an env: reference is compared as written: renaming the variable is a change, its value is never needed', () => {
    const a = writeConfig(config());
    const b = writeConfig(config({ admin: { port: 9901, token: 'env:OTHER_DIFF_TEST_TOKEN' } }));
    const r = diff(a, b);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('settings:\n  ~ "admin"\n');
    expect(r.code).toBe(1);
  });

  it('invalid input: every problem with its pointer and the file it is in, exit 2', () => {
    const a = writeConfig(config());
    const b = writeConfig(config({ routes: [{ id: 'users', paths: ['/users'], upstream: 'userz', upstrem: 1 }] }));
    const r = diff(a, b);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`${b}: 2 problem(s)`);
    expect(r.stderr).toContain('/routes/0/upstream: unknown upstream "userz"');
    expect(r.stderr).toMatch(/\/routes\/0: unknown key "upstrem"/);
  });

  it('a missing file or a missing argument: exit 2', () => {
    const a = writeConfig(config());
    const missing = diff(a, '/nonexistent/gateway.json');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read config file "/nonexistent/gateway.json": no such file');
    const one = diff(a);
    expect(one.code).toBe(2);
    expect(one.stderr).toContain('gateway diff OLD.json NEW.json');
  });
});
