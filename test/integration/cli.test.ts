/**
 * The `gateway` command: --version, validate (every problem with its pointer, exit 1),
 * start refusing an invalid config, hash-key / hash-password output formats.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, scryptSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GATEWAY_BIN, ROOT, writeConfig } from '../helpers/gateway.js';

function gateway(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [GATEWAY_BIN, ...args], { cwd: ROOT, input, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const BAD = {
  listen: { port: 8080 },
  upstreams: { users: { targets: [{ url: 'http://127.0.0.1:9001' }] } },
  routes: [
    { id: 'a', paths: ['/a'], upstream: 'userz' },
    { id: 'a', paths: ['/b'], upstream: 'users', upstrem: 'x' },
  ],
};

describe('gateway CLI', () => {
  it('--version prints the package version', () => {
    const pkg = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8'));
    const r = gateway(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('validate accepts the shipped default config', () => {
    const r = gateway(['validate', '--config', 'config/gateway.json']);
    // The default config reads the admin token from the environment.
    expect(r.stderr).toContain('GATEWAY_ADMIN_TOKEN');
    const ok = spawnSync(process.execPath, [GATEWAY_BIN, 'validate', '-c', 'config/gateway.json'], {
      cwd: ROOT, encoding: 'utf8', env: { ...process.env, GATEWAY_ADMIN_TOKEN: 't' },
    });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('valid');
  });

  it('validate lists every problem with its JSON pointer and exits 1', () => {
    const r = gateway(['validate', '-c', writeConfig(BAD)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('/routes/0/upstream: unknown upstream "userz"');
    expect(r.stderr).toMatch(/\/routes\/1: unknown key "upstrem"/);
    expect(r.stderr).toMatch(/\/routes\/1\/id: .*duplicate/i);
  });

  it('validate checks that files the config names can be read (TLS, JWT public key)', () => {
    const r = gateway(['validate', '-c', writeConfig({
      listen: { port: 8080 },
      tls: { certFile: '/nonexistent/cert.pem', keyFile: '/nonexistent/key.pem' },
      upstreams: { users: { targets: [{ url: 'http://127.0.0.1:9001' }] } },
      routes: [{ id: 'a', paths: ['/a'], upstream: 'users', plugins: { jwt: { publicKeyFile: '/nonexistent/jwt.pem', algorithms: ['RS256'] } } }],
    })]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('/tls/certFile: cannot read "/nonexistent/cert.pem": ENOENT');
    expect(r.stderr).toContain('/tls/keyFile: cannot read');
    expect(r.stderr).toContain('/routes/0/plugins/jwt/publicKeyFile: cannot read "/nonexistent/jwt.pem"');
  });

  it('start refuses an invalid config with the same errors', () => {
    const r = gateway(['start', '-c', writeConfig(BAD)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('refusing to start');
    expect(r.stderr).toContain('/routes/0/upstream');
  });

  it('validate and start give the same errors, with pointers, for what only compiling finds (a private key as publicKeyFile)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-cli-'));
    const privatePem = join(dir, 'private.pem');
    writeFileSync(privatePem, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const config = writeConfig({
      listen: { host: '127.0.0.1', port: 0 },
      workers: 1,
      upstreams: { users: { targets: [{ url: 'http://127.0.0.1:9001' }] } },
      plugins: { jwt: { publicKeyFile: privatePem, algorithms: ['EdDSA'] } },
      routes: [
        { id: 'a', paths: ['/a'], upstream: 'users' },
        { id: 'b', paths: ['/b'], upstream: 'users', plugins: { jwt: { publicKeyFile: privatePem, algorithms: ['EdDSA'] } } },
      ],
    });
    // The error lines (the first line names the file and counts them).
    const problems = (stderr: string) => stderr.split('\n').filter((l) => /^(\/|\(root\))/.test(l) && !l.includes(' problem(s)'));
    const validate = gateway(['validate', '-c', config]);
    const start = gateway(['start', '-c', config]);
    expect(validate.code).toBe(1);
    expect(start.code).toBe(1);
    expect(start.stderr).toContain('refusing to start');
    const expected = [
      `/plugins/jwt/publicKeyFile: jwt publicKeyFile "${privatePem}": it holds a private key; give the public key`,
      `/routes/1/plugins/jwt/publicKeyFile: jwt publicKeyFile "${privatePem}": it holds a private key; give the public key`,
    ];
    expect(problems(validate.stderr)).toEqual(expected);
    expect(problems(start.stderr)).toEqual(expected);
  });

  it('hash-key prints sha256:<hex> of the key', () => {
    const r = gateway(['hash-key'], 'my-secret-key\n');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('sha256:' + createHash('sha256').update('my-secret-key').digest('hex'));
  });

  it('hash-password prints a scrypt value that verifies', () => {
    const r = gateway(['hash-password'], 'hunter2\n');
    expect(r.code).toBe(0);
    const m = /^scrypt:N=(\d+),r=(\d+),p=(\d+):([A-Za-z0-9_-]+):([A-Za-z0-9_-]+)$/.exec(r.stdout.trim());
    expect(m).not.toBeNull();
    const [, N, rr, p, salt, hash] = m!;
    const again = scryptSync('hunter2', Buffer.from(salt, 'base64url'), 32, { N: Number(N), r: Number(rr), p: Number(p) });
    expect(again.toString('base64url')).toBe(hash);
  });
});
