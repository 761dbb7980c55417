/**
 * Plugin modules in the real gateway (primary + 2 workers): modules in a temp directory that
 * import `uws-gateway/plugin` as a dependency, a real upstream, real clients. What they do is
 * seen where it lands (headers the upstream received, answers the client got); their place in
 * the fixed phase order against the built-ins; and what happens when they fail: a 500
 * plugin_error, a log line naming the plugin and the route, and the same worker process serving
 * the next request on the same connection.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from 'undici';
import { echoUpstream, rawRequest, startGatewayFile, freePort, sleep, type Gateway, type Upstream } from '../helpers/gateway.js';
import { pluginDir, pluginSource } from '../helpers/plugin-modules.js';

const KEY = 'acme-key-0123456789';

let up: Upstream;
let gw: Gateway;

/** Sets x-tenant from the route param; refuses two tenants its own ways. */
const TENANT = pluginSource(
  `{
  name: 'tenant',
  phase: 'transform',
  schema: Type.Object({ header: Type.String({ default: 'x-tenant' }) }, { additionalProperties: false }),
  compile(conf) {
    return {
      onRequest(ctx) {
        const t = ctx.params.tenant;
        if (t === 'blocked') return errorReply('forbidden', 'tenant blocked');
        if (t === 'law') return { status: 451, headers: ['content-type', 'application/json'], body: JSON.stringify({ reason: 'legal' }) };
        ctx.setHeader(conf.header, t);
        ctx.setHeader('x-rest', ctx.params['*'] ?? '');
      },
    };
  },
}`,
  'definePlugin, Type, errorReply',
);

/** Auth phase, after the built-in auth plugins: sees the consumer apiKey found. */
const WHO = pluginSource(`{
  name: 'who',
  phase: 'auth',
  schema: Type.Object({}),
  compile: () => ({ onRequest(ctx) { ctx.setHeader('x-consumer', ctx.consumer === null ? 'none' : ctx.consumer.id); } }),
}`);

/** ip phase, before every auth plugin: a refusal here comes before apiKey's 401. */
const EARLY = pluginSource(`{
  name: 'early',
  phase: 'ip',
  schema: Type.Object({}),
  compile: () => ({ async onRequest(ctx) { if (ctx.header('x-block') === '1') return errorReply('forbidden', 'blocked early'); } }),
}`, 'definePlugin, Type, errorReply');

/** Fails as the request's x-mode says; says which worker process answered. */
const FAULTY = pluginSource(`{
  name: 'faulty',
  phase: 'transform',
  schema: Type.Object({}),
  compile() {
    return {
      onRequest(ctx) {
        switch (ctx.header('x-mode')) {
          case 'throw': throw new Error('thrown on purpose');
          case 'reject': return Promise.reject(new Error('rejected on purpose'));
          case 'async-throw': return (async () => { throw new TypeError('async on purpose'); })();
          case 'invalid': return { status: 'ok' };
          case 'crlf': ctx.setHeader('x-evil', 'a\\r\\nx-injected: 1'); return;
          case 'null': return null;
          case 'framing-header': ctx.addResponseHeader('content-length', '3'); return;
          case 'framing-reply': return { status: 200, headers: ['transfer-encoding', 'chunked'], body: 'hello' };
          case 'early-headers':
            // Added before the request goes upstream, one of them not ASCII: uWS writes both as
            // they are (the engine would refuse the second in a prepared head's tail).
            ctx.addResponseHeader('x-early', '1');
            ctx.addResponseHeader('x-note', 'caf\u00e9');
            return;
        }
      },
      onResponseHeaders(ctx) {
        ctx.addResponseHeader('x-worker-pid', String(process.pid));
        if (ctx.header('x-mode') === 'headers') throw new Error('response hook on purpose');
      },
      async onComplete(ctx) {
        if (ctx.header('x-mode') === 'complete') throw new Error('completion on purpose');
      },
    };
  },
}`);

beforeAll(async () => {
  up = await echoUpstream();
  const d = pluginDir();
  d.write('tenant.js', TENANT);
  d.write('who.js', WHO);
  d.write('early.mjs', EARLY);
  d.write('faulty.js', FAULTY);
  const port = await freePort();
  const path = d.config({
    listen: { host: '127.0.0.1', port },
    workers: 2,
    pluginModules: ['./tenant.js', './who.js', './early.mjs', './faulty.js'],
    upstreams: { app: { targets: [{ url: up.url }] } },
    consumers: [{ id: 'acme', apiKeys: [`sha256:${createHash('sha256').update(KEY).digest('hex')}`] }],
    plugins: { tenant: { header: 'x-tenant-id' } },
    routes: [
      { id: 't', paths: ['/t/:tenant/*'], upstream: 'app' },
      { id: 'who', paths: ['/who'], upstream: 'app', plugins: { tenant: false, apiKey: {}, who: {}, early: {} } },
      { id: 'faulty', paths: ['/faulty'], upstream: 'app', plugins: { tenant: false, faulty: {} } },
      { id: 'faulty-stub', paths: ['/faulty-stub'], respond: { status: 200, body: 'stub' }, plugins: { tenant: false, faulty: {} } },
    ],
  });
  gw = await startGatewayFile(path, port);
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

/** One keep-alive connection: every request on it is served by the same worker process (SO_REUSEPORT shards connections). */
async function onOneConnection<T>(fn: (get: (path: string, headers?: Record<string, string>) => Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }>) => Promise<T>): Promise<T> {
  const client = new Client(gw.url, { pipelining: 1 });
  try {
    return await fn(async (path, headers = {}) => {
      const r = await client.request({ method: 'GET', path, headers });
      return { status: r.statusCode, headers: r.headers, text: await r.body.text() };
    });
  } finally {
    await client.close();
  }
}

const seenHeaders = (text: string): Record<string, string> => (JSON.parse(text) as { headers: Record<string, string> }).headers;

type LogLine = Record<string, unknown>;

/** The first line of the gateway's JSON log that matches, waiting for it (workers log asynchronously) up to 5 s. */
async function logged(match: (l: LogLine) => boolean): Promise<LogLine> {
  for (let i = 0; i < 100; i++) {
    for (const text of gw.stderr.split('\n')) {
      if (!text.startsWith('{')) continue;
      const l = JSON.parse(text) as LogLine;
      if (match(l)) return l;
    }
    await sleep(50);
  }
  throw new Error(`no such log line in:\n${gw.stderr}`);
}

describe('what a plugin module does', () => {
  it('adds a request header for the upstream, from a route param, with its config (global plugin)', async () => {
    await onOneConnection(async (get) => {
      const r = await get('/t/acme/orders/7');
      expect(r.status).toBe(200);
      expect(seenHeaders(r.text)).toMatchObject({ 'x-tenant-id': 'acme', 'x-rest': 'orders/7' });
    });
  });

  it('refuses a request with its own status: a standard JSON error, or a body of its own', async () => {
    const before = up.requests;
    await onOneConnection(async (get) => {
      const blocked = await get('/t/blocked/x');
      expect(blocked.status).toBe(403);
      expect(JSON.parse(blocked.text).error).toMatchObject({ status: 403, code: 'forbidden', message: 'tenant blocked' });
      const law = await get('/t/law/x');
      expect(law.status).toBe(451);
      expect(law.headers['content-type']).toBe('application/json');
      expect(JSON.parse(law.text)).toEqual({ reason: 'legal' });
    });
    expect(up.requests).toBe(before);
  });
});

describe('the phase order against the built-ins', () => {
  it('an auth-phase module runs after the built-in auth plugins: it sees the consumer apiKey authenticated', async () => {
    await onOneConnection(async (get) => {
      const r = await get('/who', { 'x-api-key': KEY });
      expect(r.status).toBe(200);
      expect(seenHeaders(r.text)['x-consumer']).toBe('acme');
      // Without a key, apiKey (earlier in the same phase) answers 401 before the module runs.
      expect((await get('/who')).status).toBe(401);
    });
  });

  it('an ip-phase module runs before authentication: its refusal comes first', async () => {
    await onOneConnection(async (get) => {
      const r = await get('/who', { 'x-block': '1' });
      expect(r.status).toBe(403);
      expect(JSON.parse(r.text).error.message).toBe('blocked early');
    });
  });
});

describe('a plugin module that fails', () => {
  const expectPluginError = (r: { status: number; headers: Record<string, unknown>; text: string }) => {
    expect(r.status).toBe(500);
    expect(r.headers['content-type']).toBe('application/json');
    expect(JSON.parse(r.text).error).toMatchObject({ status: 500, code: 'plugin_error', message: 'A plugin failed to handle the request.' });
  };

  it.each([
    ['throw', 'threw in onRequest: answered 500', 'thrown on purpose'],
    ['reject', 'rejected in onRequest: answered 500', 'rejected on purpose'],
    ['async-throw', 'rejected in onRequest: answered 500', 'async on purpose'],
    ['invalid', 'returned an invalid reply in onRequest: answered 500', 'replied with status the string "ok": expected an integer from 200 to 599'],
    ['crlf', 'threw in onRequest: answered 500', 'invalid value for header "x-evil"'],
    // A framing header next to the one uWS writes would give the client two ways to frame the
    // answer (two Content-Lengths, or chunked and a Content-Length): refused like in config.
    ['framing-header', 'threw in onRequest: answered 500', 'header "content-length" cannot be set by a plugin'],
    ['framing-reply', 'returned an invalid reply in onRequest: answered 500', 'replied with the header "transfer-encoding", which a plugin cannot set'],
    ['headers', 'threw in onResponseHeaders: answered 500', 'response hook on purpose'],
  ])('%s: 500 plugin_error, a log line naming it and the route, the same worker serves the next request', async (mode, message, detail) => {
    const before = up.requests;
    await onOneConnection(async (get) => {
      const first = await get('/faulty');
      expect(first.status).toBe(200);
      const pid = first.headers['x-worker-pid'];
      expect(pid).toMatch(/^\d+$/);
      const failed = await get('/faulty', { 'x-mode': mode });
      expectPluginError(failed);
      expect(failed.headers['x-worker-pid']).toBe(pid);
      const after = await get('/faulty');
      expect(after.status).toBe(200);
      expect(after.headers['x-worker-pid']).toBe(pid);
      // The line of this failure: the worker that answered, the message, the error it carries.
      const line = await logged((l) => l.pid === Number(pid) && l.msg === `plugin "faulty" ${message}` && String(l.error).includes(detail));
      expect(line).toMatchObject({ level: 'error', plugin: 'faulty', route: 'faulty', hook: message.includes('onResponseHeaders') ? 'onResponseHeaders' : 'onRequest' });
    });
    // onRequest failures never reach the upstream; the response hook's does (the upstream answered first).
    expect(up.requests - before).toBe(mode === 'headers' ? 3 : 2);
  });

  it('headers: a local answer (a respond route) becomes the 500 too', async () => {
    await onOneConnection(async (get) => {
      expectPluginError(await get('/faulty-stub', { 'x-mode': 'headers' }));
      const ok = await get('/faulty-stub');
      expect(ok.status).toBe(200);
      expect(ok.text).toBe('stub');
    });
  });

  it('onComplete: a rejection is logged only, the answer is the upstream\'s', async () => {
    await onOneConnection(async (get) => {
      const r = await get('/faulty', { 'x-mode': 'complete' });
      expect(r.status).toBe(200);
      const line = await logged((l) => l.pid === Number(r.headers['x-worker-pid']) && l.msg === 'plugin "faulty" rejected in onComplete');
      expect(line).toMatchObject({ level: 'error', plugin: 'faulty', hook: 'onComplete', route: 'faulty' });
      expect(line.error).toContain('completion on purpose');
    });
  });

  it('response headers a module adds in onRequest reach the proxied answer once each, a value that is not ASCII as its UTF-8 bytes', async () => {
    await onOneConnection(async (get) => {
      const r = await get('/faulty', { 'x-mode': 'early-headers' });
      expect(r.status).toBe(200);
      expect(r.headers['x-early']).toBe('1');
    });
    // The bytes on the wire (undici would decode them).
    const raw = await rawRequest(gw.port, 'GET /faulty HTTP/1.1\r\nHost: x\r\nX-Mode: early-headers\r\nConnection: close\r\n\r\n');
    const head = raw.slice(0, raw.indexOf('\r\n\r\n')).split('\r\n');
    expect(head.filter((l) => l.startsWith('x-note:') || l.startsWith('x-early:'))).toEqual(['x-early: 1', 'x-note: caf\xc3\xa9']);
  });

  it('null from onRequest means "go on", like undefined', async () => {
    await onOneConnection(async (get) => expect((await get('/faulty', { 'x-mode': 'null' })).status).toBe(200));
  });

  it('no worker died meanwhile', () => {
    expect(gw.stderr).not.toContain('worker died');
    expect(gw.stderr).not.toContain('"level":"fatal"');
  });
});
