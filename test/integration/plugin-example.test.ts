/**
 * The shipped example plugin (config/examples/plugins/tenant-header.js) and its config: the
 * config validates as shipped; the plugin, in place, does in the real gateway what its comment
 * and docs/plugins/writing-plugins.md say; and the example and the guide's TypeScript version
 * type-check against the published `uws-gateway/plugin` types (they are the API users see).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoUpstream, fetchText, freePort, GATEWAY_BIN, ROOT, startGatewayFile, type Gateway, type Upstream } from '../helpers/gateway.js';
import { pluginDir } from '../helpers/plugin-modules.js';

const EXAMPLE_CONFIG = join(ROOT, 'config/examples/tenant-header.json');
const EXAMPLE_PLUGIN = join(ROOT, 'config/examples/plugins/tenant-header.js');

function run(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (out += c.toString()));
    p.on('exit', (code) => resolve({ code, out }));
  });
}

let up: Upstream;
let gw: Gateway;
/** The type check (a few seconds of tsc) runs while the other tests talk to the gateway. */
let typeCheck: Promise<{ code: number | null; out: string }>;

/** tsc over the shipped example and the guide's TypeScript version of it. */
function startTypeCheck(): Promise<{ code: number | null; out: string }> {
  const guide = readFileSync(join(ROOT, 'docs/plugins/writing-plugins.md'), 'utf8');
  const block = /```ts\n(\/\/ tenant-header\.ts\n[\s\S]*?)```/.exec(guide);
  if (block === null) return Promise.resolve({ code: -1, out: 'the guide has no ```ts block that starts with "// tenant-header.ts"' });
  const tsFile = pluginDir().write('tenant-header.ts', block[1]);
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  return run([tsc, '--noEmit', '--strict', '--allowJs', '--checkJs', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', EXAMPLE_PLUGIN, tsFile]);
}

beforeAll(async () => {
  up = await echoUpstream();
  const port = await freePort();
  const d = pluginDir();
  const config = JSON.parse(readFileSync(EXAMPLE_CONFIG, 'utf8')) as Record<string, any>;
  config.listen = { host: '127.0.0.1', port };
  config.pluginModules = [EXAMPLE_PLUGIN]; // the shipped file, in place (it imports the package by its own name)
  config.upstreams.users.targets = [{ url: up.url }];
  delete config.$schema;
  gw = await startGatewayFile(d.config(config), port);
  typeCheck = startTypeCheck(); // after the start, not competing with it for the CPU
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

describe('the example plugin', () => {
  it('its config validates as shipped (the module path is relative to the config file)', async () => {
    const r = await run([GATEWAY_BIN, 'validate', '-c', 'config/examples/tenant-header.json']);
    expect(r.out).toContain('config/examples/tenant-header.json: valid (3 routes, 1 upstreams)');
    expect(r.code).toBe(0);
  });

  it('forwards an allowed tenant to the upstream and names it on the answer', async () => {
    const r = await fetchText(`${gw.url}/t/acme/users`);
    expect(r.status).toBe(200);
    expect(r.headers['x-tenant-id']).toBe('acme');
    expect(r.json()).toMatchObject({ url: '/users', headers: { 'x-tenant-id': 'acme' } });
    const one = await fetchText(`${gw.url}/t/globex/users/7`);
    expect(one.json()).toMatchObject({ url: '/users/7', headers: { 'x-tenant-id': 'globex' } });
  });

  it('refuses a tenant it does not allow, with the standard JSON error, before the upstream', async () => {
    const before = up.requests;
    const r = await fetchText(`${gw.url}/t/initech/users`);
    expect(r.status).toBe(403);
    expect(r.json().error).toMatchObject({ status: 403, code: 'forbidden', message: 'this tenant is not served here' });
    expect(r.json().error.requestId).toBe(r.headers['x-request-id']);
    expect(up.requests).toBe(before);
  });

  it('is off where a route says false', async () => {
    const r = await fetchText(`${gw.url}/health`);
    expect(r.status).toBe(200);
    expect(r.headers['x-tenant-id']).toBeUndefined();
  });

  it('the example and the guide\'s TypeScript version type-check against uws-gateway/plugin', async () => {
    const r = await typeCheck;
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });
});
