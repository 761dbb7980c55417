/**
 * Plugin modules across reloads, in the real gateway: a module changed on disk is the new code
 * after SIGHUP (ESM caches by URL; the gateway imports by content hash); a change that breaks it
 * is refused and the old version keeps serving; and `gateway validate`, `gateway start` and a
 * reload report the same errors, with the same pointers, for a module plugin's config and for
 * what its compile() refuses.
 */
import { spawn } from 'node:child_process';
import { get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { echoUpstream, freePort, GATEWAY_BIN, ROOT, startGatewayFile, type Gateway, type Upstream } from '../helpers/gateway.js';
import { pluginDir, pluginSource, type PluginDir } from '../helpers/plugin-modules.js';

const TOKEN = 'admin-token-for-plugin-reloads-0123';

/** Version `v` of the module: stamps the request for the upstream and the answer for the client. */
const stamp = (v: string) =>
  pluginSource(`{
  name: 'stamp',
  phase: 'transform',
  schema: Type.Object({ label: Type.String({ default: 'plain' }), max: Type.Optional(Type.Integer()) }, { additionalProperties: false }),
  compile(conf) {
    if (conf.max !== undefined && conf.max > 10) throw new ConfigFault('/max', 'at most 10');
    const value = '${v}-' + conf.label;
    return {
      onRequest(ctx) { ctx.setHeader('x-stamp', value); },
      onResponseHeaders(ctx) { ctx.addResponseHeader('x-stamp', value); ctx.addResponseHeader('x-worker-pid', String(process.pid)); },
    };
  },
}`, 'definePlugin, Type, ConfigFault');

let up: Upstream;
let gw: Gateway;
let d: PluginDir;
let port: number;
let adminPort: number;
let configPath: string;

function config(stampConf: Record<string, unknown> = { label: 'a' }) {
  return {
    listen: { host: '127.0.0.1', port },
    workers: 2,
    admin: { host: '127.0.0.1', port: adminPort, token: 'env:TEST_ADMIN_TOKEN' },
    pluginModules: ['./stamp.js'],
    upstreams: { app: { targets: [{ url: up.url }] } },
    plugins: { stamp: stampConf },
    routes: [{ id: 'app', paths: ['/app/*'], upstream: 'app' }],
  };
}

beforeAll(async () => {
  up = await echoUpstream();
  d = pluginDir();
  port = await freePort();
  adminPort = await freePort();
  d.write('stamp.js', stamp('v1'));
  configPath = d.config(config());
  gw = await startGatewayFile(configPath, port, { env: { TEST_ADMIN_TOKEN: TOKEN } });
  await gw.waitForLog('"admin API listening"');
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

/** GET over a new TCP connection (the kernel picks the worker per connection): what the client and the upstream saw. */
function freshGet(path = '/app/x'): Promise<{ status: number; stamp: string; upstreamStamp: string; pid: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        const seen = res.statusCode === 200 ? (JSON.parse(body) as { headers: Record<string, string> }).headers['x-stamp'] : '';
        resolve({ status: res.statusCode ?? 0, stamp: String(res.headers['x-stamp']), upstreamStamp: seen, pid: String(res.headers['x-worker-pid']) });
      });
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}

/** Ten requests on ten connections: the stamps they carried (both ways). */
async function stampsSeen(): Promise<Set<string>> {
  const out = new Set<string>();
  for (let i = 0; i < 10; i++) {
    const r = await freshGet();
    expect(r.status).toBe(200);
    out.add(`${r.stamp}/${r.upstreamStamp}`);
  }
  return out;
}

async function reloadViaAdmin(): Promise<{ status: number; body: { version: number; errors?: Array<{ pointer: string; message: string }>; complete?: boolean } }> {
  const res = await request(`http://127.0.0.1:${adminPort}/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, headersTimeout: 20_000 });
  return { status: res.statusCode, body: (await res.body.json()) as never };
}

/** SIGHUP, then the primary's log line that ends this reload ("config reloaded" or "reload refused"). */
async function reloadViaSignal(): Promise<string> {
  const mark = gw.stderr.length;
  gw.proc.kill('SIGHUP');
  const ended = /"msg":"(config reloaded|reload refused[^"]*)"[^\n]*/;
  for (let i = 0; i < 200; i++) {
    const m = ended.exec(gw.stderr.slice(mark));
    if (m !== null) return m[0];
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no reload result in the log:\n${gw.stderr.slice(mark)}`);
}

describe('a changed plugin module on reload', () => {
  it('serves the first version', async () => {
    expect(await stampsSeen()).toEqual(new Set(['v1-a/v1-a']));
  });

  it('SIGHUP after the file changed: every worker runs the new code', async () => {
    d.write('stamp.js', stamp('v2'));
    const line = await reloadViaSignal();
    expect(line).toContain('"msg":"config reloaded","version":2,"complete":true');
    expect(await stampsSeen()).toEqual(new Set(['v2-a/v2-a']));
  });

  it('a change that breaks the module is refused; the old version keeps serving', async () => {
    d.write('stamp.js', `${stamp('v3')}\nexport const broken = ;\n`);
    const line = await reloadViaSignal();
    expect(line).toContain('reload refused');
    expect(line).toContain('/pluginModules/0: cannot import plugin module \\"./stamp.js\\": SyntaxError: Unexpected token');
    expect(await stampsSeen()).toEqual(new Set(['v2-a/v2-a']));

    // A module that imports but returns hooks modules cannot use: refused by the dry run, at the plugin.
    d.write('stamp.js', pluginSource(`{ name: 'stamp', phase: 'transform', schema: Type.Object({ label: Type.String() }), compile: () => ({ onUpstream() {} }) }`));
    const r = await reloadViaAdmin();
    expect(r.status).toBe(400);
    expect(r.body.version).toBe(2);
    expect(r.body.errors).toEqual([
      { pointer: '/plugins/stamp', message: 'plugin "stamp": compile() returned "onUpstream", which plugin modules cannot use (they have onRequest, onResponseHeaders, onComplete, removeResponseHeaders)' },
    ]);
    expect(await stampsSeen()).toEqual(new Set(['v2-a/v2-a']));
  });

  it('fixed again: the next reload runs it', async () => {
    d.write('stamp.js', stamp('v4'));
    const r = await reloadViaAdmin();
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ version: 3, complete: true });
    expect(await stampsSeen()).toEqual(new Set(['v4-a/v4-a']));
  });
});

describe('validate, start and reload report the same errors', () => {
  const lines = (text: string) => text.trim().split('\n').slice(1); // after "<file>: N problem(s)"

  /** `gateway <command> -c path`, which must exit 1: the problems it printed. */
  async function cli(command: 'validate' | 'start', path: string): Promise<string[]> {
    const proc = spawn(process.execPath, [GATEWAY_BIN, command, '-c', path], { cwd: ROOT, env: { ...process.env, TEST_ADMIN_TOKEN: TOKEN }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
    expect(code).toBe(1);
    const header = command === 'validate' ? `${path}: ` : `${path}: refusing to start`;
    expect(stderr).toContain(header);
    return lines(stderr.slice(stderr.indexOf(header)));
  }

  async function reload(): Promise<string[]> {
    const r = await reloadViaAdmin();
    expect(r.status).toBe(400);
    return (r.body.errors ?? []).map((e) => `${e.pointer}: ${e.message}`);
  }

  it.each([
    ['the module plugin\'s config against its schema', { label: 5, colour: 'red' }, ['/plugins/stamp: unknown key "colour"', '/plugins/stamp/label: expected a string, got 5']],
    ['a ConfigFault its compile() throws', { label: 'a', max: 11 }, ['/plugins/stamp/max: at most 10']],
  ])('%s', async (_what, stampConf, expected) => {
    d.config(config(stampConf));
    try {
      // The three at once (each reads the same file).
      const [validated, started, reloaded] = await Promise.all([cli('validate', configPath), cli('start', configPath), reload()]);
      expect(validated).toEqual(expected);
      expect(started).toEqual(expected);
      expect(reloaded).toEqual(expected);
    } finally {
      d.config(config());
    }
    // Nothing was applied: the gateway still serves the version it ran.
    expect(await stampsSeen()).toEqual(new Set(['v4-a/v4-a']));
  });
});

describe('a worker that starts after the file changed on disk', () => {
  it('does not run the unvalidated version: it waits for the next reload, which brings everyone to it', async () => {
    d.write('stamp.js', stamp('v5')); // edited, not reloaded
    const victim = Number((await freshGet()).pid);
    const mark = gw.stderr.length;
    process.kill(victim, 'SIGKILL'); // a worker of the gateway this test started; the primary restarts it
    await gw.waitForLog('"msg":"a worker failed to apply a validated config"');
    expect(gw.stderr.slice(mark)).toContain('plugin module \\"./stamp.js\\" changed on disk after the config was validated; reload again to use the new version');
    // The other worker serves on with the version in force; the replacement does not listen.
    expect(await stampsSeen()).toEqual(new Set(['v4-a/v4-a']));

    const r = await reloadViaAdmin();
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ complete: true });
    expect(await stampsSeen()).toEqual(new Set(['v5-a/v5-a']));
  });
});
