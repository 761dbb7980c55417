/**
 * The reload audit trail on the real gateway: one "config audit" line per reload attempt
 * (SIGHUP, POST /reload with the caller's address), applied or refused, with the ids of the
 * routes, upstreams, consumers, global plugins and settings added, removed or changed, and never
 * a secret; requests that coalesce into one reload share its line. GET /config says which
 * version is in force and when and how it was loaded; the reload counters agree.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { echoUpstream, freePort, logLines, startGateway, waitForLogLines, type Gateway, type Upstream } from '../helpers/gateway.js';

const TOKEN = 'admin-token-for-audit-tests-0123';
const JWT_SECRET = 'jwt-secret-for-audit-tests-0123456789abcdef';
const KEY_A = createHash('sha256').update('key-of-acme-one').digest('hex');
const KEY_B = createHash('sha256').update('key-of-acme-two').digest('hex');
/** Values that must never reach the log. */
const SECRETS = [TOKEN, JWT_SECRET, KEY_A, KEY_B, 'HDR-VALUE-one', 'HDR-VALUE-two'];

let users: Upstream;
let orders: Upstream;
let gw: Gateway;
let adminPort: number;
let port: number;

function base() {
  return {
    workers: 2,
    listen: { host: '127.0.0.1', port },
    admin: { host: '127.0.0.1', port: adminPort, token: 'env:TEST_ADMIN_TOKEN' },
    limits: { maxBodyBytes: 1_000_000 },
    upstreams: { users: { targets: [{ url: users.url }] } } as Record<string, unknown>,
    consumers: [{ id: 'acme', apiKeys: [`sha256:${KEY_A}`] }] as Array<Record<string, unknown>>,
    plugins: { requestHeaders: { set: { 'x-gw': 'HDR-VALUE-one' } } } as Record<string, unknown>,
    routes: [
      { id: 'users', paths: ['/users'], upstream: 'users', plugins: { jwt: { secret: 'env:TEST_JWT_SECRET', algorithms: ['HS256'] } } },
      { id: 'legacy', paths: ['/legacy'], respond: { status: 410 } },
      { id: 'health', paths: ['/health'], respond: { status: 200, body: 'ok' } },
    ] as Array<Record<string, unknown>>,
  };
}

function write(config: unknown): void {
  writeFileSync(gw.configPath, JSON.stringify(config, null, 2));
}

async function admin(method: 'GET' | 'POST', path: string) {
  const res = await request(`http://127.0.0.1:${adminPort}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` }, headersTimeout: 20_000 });
  const text = await res.body.text();
  return { status: res.statusCode, text, json: () => JSON.parse(text) };
}

function auditLines() {
  return logLines(gw, 'config audit');
}

beforeAll(async () => {
  users = await echoUpstream();
  orders = await echoUpstream();
  adminPort = await freePort();
  port = await freePort();
  gw = await startGateway(base() as never, { env: { TEST_ADMIN_TOKEN: TOKEN, TEST_JWT_SECRET: JWT_SECRET } });
  await gw.waitForLog('"admin API listening"');
});

afterAll(async () => {
  await gw?.stop();
  await users?.close();
  await orders?.close();
});

describe('config audit trail', () => {
  it('GET /config at start: version 1, loaded by the start, with a hash', async () => {
    const r = (await admin('GET', '/config')).json();
    expect(r).toMatchObject({ version: 1, source: 'start', file: gw.configPath });
    expect(r.hash).toMatch(/^[0-9a-f]{16}$/);
    expect(Math.abs(Date.parse(r.loadedAt) - Date.now())).toBeLessThan(120_000);
    expect(r.address).toBeUndefined();
  });

  it('SIGHUP: one applied line with every id added, removed or changed, and no secret', async () => {
    const next = base();
    next.limits = { maxBodyBytes: 2_000_000 };
    next.upstreams = { users: { targets: [{ url: users.url, weight: 2 }] }, orders: { targets: [{ url: orders.url }] } };
    next.consumers = [{ id: 'acme', apiKeys: [`sha256:${KEY_B}`] }, { id: 'globex', groups: ['gold'] }];
    next.plugins = { requestHeaders: { set: { 'x-gw': 'HDR-VALUE-two' } }, requestId: {} };
    next.routes = [
      // Moved to the end and written with an explicit default: the same route.
      { id: 'health', paths: ['/health'], respond: { status: 200, body: 'ok' }, priority: 0 },
      { id: 'users', paths: ['/users', '/users/:id'], upstream: 'users', plugins: { jwt: { secret: 'env:TEST_JWT_SECRET', algorithms: ['HS256'] } } },
      { id: 'orders', paths: ['/orders'], upstream: 'orders' },
    ];
    write(next);
    gw.proc.kill('SIGHUP');
    const [line] = await waitForLogLines(gw, 'config audit', 1);
    expect(line).toMatchObject({ level: 'info', source: 'signal', result: 'applied', version: 2, previousVersion: 1, complete: true, file: gw.configPath });
    expect(line.address).toBeUndefined();
    expect(line.changes).toEqual({
      routes: { added: ['orders'], removed: ['legacy'], changed: ['users'] },
      upstreams: { added: ['orders'], removed: [], changed: ['users'] },
      consumers: { added: ['globex'], removed: [], changed: ['acme'] },
      plugins: { added: ['requestId'], removed: [], changed: ['requestHeaders'] },
      settings: { added: [], removed: [], changed: ['limits'] },
    });
    for (const s of SECRETS) expect(gw.stderr).not.toContain(s);
    // It is in force.
    const o = await request(`${gw.url}/orders`);
    expect(o.statusCode).toBe(200);
    await o.body.dump();
    expect((await admin('GET', '/config')).json()).toMatchObject({ version: 2, source: 'signal' });
  });

  it('POST /reload of an invalid file: a refused line with the caller\'s address, the error count, the first errors, the old version', async () => {
    const bad = base();
    bad.routes = [
      { id: 'users', paths: ['/users'], upstream: 'userz' },
      { id: 'x', paths: ['/x'], upstream: 'nope', upstrem: 1 },
    ];
    write(bad);
    const r = await admin('POST', '/reload');
    expect(r.status).toBe(400);
    const lines = auditLines();
    expect(lines).toHaveLength(2);
    const line = lines[1];
    expect(line).toMatchObject({ level: 'warn', source: 'admin', address: '127.0.0.1', result: 'refused', version: 2, errorCount: r.json().errors.length });
    expect(line.errorCount).toBeGreaterThanOrEqual(3);
    expect(line.errors).toEqual(expect.arrayContaining([expect.stringContaining('/routes/0/upstream: unknown upstream "userz"')]));
    expect(line.changes).toBeUndefined(); // an invalid file has no changes to name
    expect((await admin('GET', '/config')).json()).toMatchObject({ version: 2, source: 'signal' });
  });

  it('a valid file that changes a restart-only field: refused, naming what it would have changed', async () => {
    const moved = base();
    moved.listen = { host: '127.0.0.1', port: port + 1 };
    write(moved);
    const r = await admin('POST', '/reload');
    expect(r.status).toBe(400);
    const line = auditLines()[2];
    expect(line).toMatchObject({ source: 'admin', result: 'refused', version: 2, errorCount: 1, errors: ['/listen: changing this needs a restart, not a reload'] });
    const settings = (line.changes as { settings: { added: string[]; removed: string[]; changed: string[] } }).settings;
    expect(settings).toMatchObject({ added: [], removed: [] });
    expect([...settings.changed].sort()).toEqual(['limits', 'listen']);
  });

  it('POST /reload applied: GET /config names the admin caller; concurrent requests share the lines of the reloads they joined', async () => {
    write(base());
    const before = auditLines().length;
    const answers = await Promise.all(Array.from({ length: 5 }, () => admin('POST', '/reload')));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    const lines = auditLines().slice(before);
    // Coalesced: fewer attempts than requests, and every request is in exactly one line.
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeLessThan(5);
    const requests = lines.flatMap((l) => (l.requests as unknown[] | undefined) ?? [{ source: l.source, address: l.address }]);
    expect(requests).toEqual(Array.from({ length: 5 }, () => ({ source: 'admin', address: '127.0.0.1' })));
    const versions = lines.map((l) => l.version);
    expect(versions).toEqual([...new Set(answers.map((a) => a.json().version))].sort((a, b) => a - b));
    const cfg = (await admin('GET', '/config')).json();
    expect(cfg).toMatchObject({ version: Math.max(...(versions as number[])), source: 'admin', address: '127.0.0.1' });
    // The first of them changed it back from version 2's file.
    expect(lines[0].changes).toMatchObject({ routes: { added: ['legacy'], removed: ['orders'], changed: ['users'] } });
  });

  it('a reload that changes only a secret: the consumer is changed, the config hash (secrets redacted) is not', async () => {
    const before = (await admin('GET', '/config')).json();
    const next = base();
    next.consumers = [{ id: 'acme', apiKeys: [`sha256:${KEY_B}`] }];
    write(next);
    expect((await admin('POST', '/reload')).status).toBe(200);
    const line = auditLines().at(-1)!;
    expect(line).toMatchObject({ result: 'applied', changes: { consumers: { added: [], removed: [], changed: ['acme'] } } });
    const after = (await admin('GET', '/config')).json();
    expect(after.version).toBe(before.version + 1);
    expect(after.hash).toBe(before.hash);
    for (const s of SECRETS) expect(gw.stderr).not.toContain(s);
  });

  it('the reload counters count the attempts of the audit trail, by source and result', async () => {
    const text = (await admin('GET', '/metrics')).text;
    const value = (source: string, result: string) => Number(new RegExp(`gateway_config_reloads_total\\{source="${source}",result="${result}"\\} (\\d+)`).exec(text)?.[1]);
    const lines = auditLines();
    for (const source of ['signal', 'admin', 'watch']) {
      for (const result of ['applied', 'refused']) {
        expect(value(source, result), `${source} ${result}`).toBe(lines.filter((l) => l.source === source && l.result === result).length);
      }
    }
    expect(value('signal', 'applied')).toBe(1);
    expect(value('admin', 'refused')).toBe(2);
    expect(text).toContain('gateway_config_last_reload_successful 1');
    const cfg = (await admin('GET', '/config')).json();
    expect(text).toContain(`gateway_config_info{version="${cfg.version}",hash="${cfg.hash}"} 1`);
    const at = Number(/^gateway_config_last_reload_success_timestamp_seconds (\S+)$/m.exec(text)?.[1]);
    expect(at * 1000).toBe(Date.parse(cfg.loadedAt));
  });
});
