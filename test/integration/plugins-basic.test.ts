/**
 * The plugin pipeline end to end with the plugins that need no credentials: requestId,
 * requestHeaders, responseHeaders; global vs route plugins, opt-out with false, and plugins
 * this build does not implement being refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { request } from 'undici';
import { echoUpstream, freePort, GATEWAY_BIN, ROOT, rawRequest, sleep, startGateway, writeConfig, type Gateway, type Upstream, fetchText } from '../helpers/gateway.js';

let up: Upstream;
let gw: Gateway;

beforeAll(async () => {
  up = await echoUpstream({ server: 'upstream-server/1.0', 'x-upstream-only': 'keep', 'x-override': 'from-upstream' });
  const dead = await freePort();
  gw = await startGateway({
    upstreams: { app: { targets: [{ url: up.url }] }, dead: { targets: [{ url: `http://127.0.0.1:${dead}` }] } },
    plugins: {
      requestId: { header: 'x-request-id' },
      responseHeaders: { set: { 'x-gateway': 'yes' }, remove: ['server'] },
    },
    routes: [
      {
        id: 'app', paths: ['/app/*'], upstream: 'app',
        plugins: {
          requestHeaders: { set: { 'x-added': 'by-gateway' }, remove: ['x-internal'] },
          responseHeaders: { set: { 'x-override': 'from-gateway' }, remove: ['server'] },
        },
      },
      { id: 'no-id', paths: ['/no-id'], upstream: 'app', plugins: { requestId: false } },
      { id: 'ctl', paths: ['/ctl'], upstream: 'app', plugins: { responseHeaders: { set: { 'x-ctl': 'a\u0001b' } } } },
      { id: 'utf8', paths: ['/utf8'], upstream: 'app', plugins: { responseHeaders: { set: { 'x-note': 'café', 'x-plain': 'tea' } } } },
      { id: 'dead', paths: ['/dead'], upstream: 'dead' },
      { id: 'stub', paths: ['/stub'], respond: { status: 200, body: 'stub' } },
    ],
  });
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

const get = (path: string, headers: Record<string, string> = {}) => fetchText(gw.url + path, headers);

describe('requestId', () => {
  it('generates an id, forwards it, and echoes it; ids are unique', async () => {
    const a = await get('/app/x');
    const b = await get('/app/x');
    const idA = a.headers['x-request-id'] as string;
    expect(idA).toMatch(/^[A-Za-z0-9._:-]+$/);
    expect(JSON.parse(a.text).headers['x-request-id']).toBe(idA);
    expect(b.headers['x-request-id']).not.toBe(idA);
  });

  it('keeps a well-formed client id and replaces a malformed one', async () => {
    const kept = await get('/app/x', { 'x-request-id': 'client-abc.123' });
    expect(kept.headers['x-request-id']).toBe('client-abc.123');
    const replaced = await get('/app/x', { 'x-request-id': 'bad id with spaces' });
    expect(replaced.headers['x-request-id']).not.toBe('bad id with spaces');
    expect(JSON.parse(replaced.text).headers['x-request-id']).toBe(replaced.headers['x-request-id']);
  });

  it('is on gateway errors, in the body too: 404 before routing and 502 after', async () => {
    const nf = await get('/nowhere');
    expect(nf.status).toBe(404);
    expect(JSON.parse(nf.text).error.requestId).toBe(nf.headers['x-request-id']);
    const bad = await get('/dead', { 'x-request-id': 'trace-502' });
    expect(bad.status).toBe(502);
    expect(bad.headers['x-request-id']).toBe('trace-502');
    expect(JSON.parse(bad.text).error.requestId).toBe('trace-502');
  });

  it('is on respond answers, and in the access log', async () => {
    const r = await get('/stub', { 'x-request-id': 'stub-id-1' });
    expect(r.headers['x-request-id']).toBe('stub-id-1');
    await get('/app/logged', { 'x-request-id': 'logged-id-1' });
    await sleep(300); // the access log is flushed every 100 ms
    const line = gw.stdout.split('\n').find((l) => l.includes('logged-id-1'));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ requestId: 'logged-id-1', route: 'app', status: 200 });
  });

  it('a route can turn a global plugin off with false', async () => {
    const r = await get('/no-id');
    expect(r.headers['x-request-id']).toBeUndefined();
    expect(r.headers['x-gateway']).toBe('yes'); // the other global plugin still applies
  });
});

describe('header transforms', () => {
  it('requestHeaders sets and removes upstream request headers', async () => {
    const r = await get('/app/x', { 'x-internal': 'secret', 'x-added': 'client-value' });
    const seen = JSON.parse(r.text).headers;
    expect(seen['x-internal']).toBeUndefined();
    expect(seen['x-added']).toBe('by-gateway');
  });

  it('responseHeaders sets and removes response headers; a route plugin replaces the global one', async () => {
    const r = await get('/app/x');
    expect(r.headers.server).toBeUndefined();
    expect(r.headers['x-override']).toBe('from-gateway');
    expect(r.headers['x-upstream-only']).toBe('keep');
    // The route's responseHeaders replaced the global one, so its x-gateway is not set here.
    expect(r.headers['x-gateway']).toBeUndefined();
    const other = await get('/no-id');
    expect(other.headers['x-gateway']).toBe('yes');
    expect(other.headers.server).toBeUndefined();
  });

  it('a set value beyond ASCII goes out as UTF-8, as every other header the gateway writes; an ASCII one beside it too', async () => {
    // Bytes as latin1: é is C3 A9 in UTF-8.
    const raw = await rawRequest(gw.port, 'GET /utf8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const head = raw.slice(0, raw.indexOf('\r\n\r\n')).split('\r\n');
    expect(raw.startsWith('HTTP/1.1 200 ')).toBe(true);
    expect(head.filter((l) => l.toLowerCase().startsWith('x-note:'))).toEqual(['x-note: caf\xc3\xa9']);
    expect(head.filter((l) => l.toLowerCase().startsWith('x-plain:'))).toEqual(['x-plain: tea']);
    // A control byte the config lets through is written as it is, as before (not a refused tail).
    const ctl = await rawRequest(gw.port, 'GET /ctl HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(ctl.startsWith('HTTP/1.1 200 ')).toBe(true);
    expect(ctl.slice(0, ctl.indexOf('\r\n\r\n')).split('\r\n').filter((l) => l.startsWith('x-ctl:'))).toEqual(['x-ctl: a\x01b']);
  });

  it('the gateway\'s own lines (plugins\' headers, request id, Via) come once each, whole, after the answer\'s, on proxied, local and error answers', async () => {
    /** The head's lines as [name, value], read off the raw bytes (a mangled line would not split). */
    const lines = async (path: string): Promise<Array<[string, string]>> => {
      const raw = await rawRequest(gw.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const head = raw.slice(0, raw.indexOf('\r\n\r\n')).split('\r\n').slice(1);
      return head.map((l) => {
        const m = /^([a-zA-Z0-9-]+): (.*)$/.exec(l);
        expect(m, `a whole header line: ${JSON.stringify(l)}`).not.toBeNull();
        return [m![1].toLowerCase(), m![2]];
      });
    };
    const names = (ls: Array<[string, string]>) => ls.map(([n]) => n);
    const proxied = await lines('/app/x');
    // On a prepared head (the native engine) responseHeaders' lines, the request id and Via end the
    // relayed lines (Transaction.responseTail); the undici path writes the plugins' first and then
    // the id and Via: once each either way.
    const tail = names(proxied).filter((n) => n === 'x-override' || n === 'x-request-id' || n === 'via');
    expect([...tail].sort()).toEqual(['via', 'x-override', 'x-request-id']);
    expect(proxied.find(([n]) => n === 'via')![1]).toBe('1.1 gateway');
    for (const n of tail) expect(names(proxied).indexOf('x-upstream-only')).toBeLessThan(names(proxied).indexOf(n));
    for (const path of ['/stub', '/dead', '/no-id']) {
      const ls = names(await lines(path));
      expect(ls.filter((n) => n === 'x-gateway')).toEqual(['x-gateway']);
      expect(ls.filter((n) => n === 'via')).toEqual(['via']);
      expect(ls.filter((n) => n === 'x-request-id').length).toBe(path === '/no-id' ? 0 : 1);
      // A local or error answer writes the plugins' lines first (/no-id is proxied: see above).
      if (path !== '/no-id') expect(ls.indexOf('x-gateway')).toBeLessThan(ls.indexOf('via'));
    }
  });
});
