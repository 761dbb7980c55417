/**
 * acl and ipRestriction end to end. ipRestriction with trustedProxies: the test client connects
 * from 127.0.0.1 (not trusted) or from 127.0.0.2 (the trusted proxy), so a spoofed
 * X-Forwarded-For from an untrusted peer is shown not to count, and the real client behind a
 * trusted proxy is shown to count.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request as httpRequest } from 'node:http';
import { echoUpstream, startGateway, type Gateway, type Upstream, gatewayCli } from '../helpers/gateway.js';

const hashKey = (key: string) => gatewayCli('hash-key', key);

let up: Upstream;
let gw: Gateway;

beforeAll(async () => {
  up = await echoUpstream();
  gw = await startGateway({
    trustedProxies: ['127.0.0.2'],
    upstreams: { app: { targets: [{ url: up.url }] } },
    consumers: [
      { id: 'gold-user', groups: ['gold', 'staff'], apiKeys: [hashKey('k-gold')] },
      { id: 'silver-user', groups: ['silver'], apiKeys: [hashKey('k-silver')] },
      { id: 'no-groups', apiKeys: [hashKey('k-none')] },
    ],
    routes: [
      { id: 'acl-gold', paths: ['/acl/gold'], upstream: 'app', plugins: { apiKey: {}, acl: { allowGroups: ['gold'] } } },
      { id: 'acl-multi', paths: ['/acl/multi'], upstream: 'app', plugins: { apiKey: {}, acl: { allowGroups: ['platinum', 'silver'] } } },
      { id: 'acl-no-auth', paths: ['/acl/no-auth'], upstream: 'app', plugins: { acl: { allowGroups: ['gold'] } } },
      { id: 'acl-deny', paths: ['/acl/deny'], upstream: 'app', plugins: { apiKey: {}, acl: { allowGroups: ['gold', 'silver'], denyGroups: ['staff'] } } },
      { id: 'acl-deny-only', paths: ['/acl/deny-only'], upstream: 'app', plugins: { apiKey: {}, acl: { denyGroups: ['silver'] } } },
      { id: 'ip-local', paths: ['/ip/local'], upstream: 'app', plugins: { ipRestriction: { allow: ['127.0.0.0/8'] } } },
      { id: 'ip-deny-local', paths: ['/ip/deny-local'], upstream: 'app', plugins: { ipRestriction: { deny: ['127.0.0.1'] } } },
      { id: 'ip-deny-wins', paths: ['/ip/deny-wins'], upstream: 'app', plugins: { ipRestriction: { allow: ['127.0.0.0/8'], deny: ['127.0.0.1/32'] } } },
      { id: 'ip-nobody', paths: ['/ip/nobody'], upstream: 'app', plugins: { ipRestriction: { allow: [] } } },
      { id: 'ip-v6-only', paths: ['/ip/v6-only'], upstream: 'app', plugins: { ipRestriction: { allow: ['::1/128', '2001:db8::/32'] } } },
      { id: 'ip-office', paths: ['/ip/office'], upstream: 'app', plugins: { ipRestriction: { allow: ['10.1.2.0/24', '2001:db8:abcd::/48'], deny: ['10.1.2.66'] } } },
      { id: 'ip-deny-v6', paths: ['/ip/deny-v6'], upstream: 'app', plugins: { ipRestriction: { deny: ['2001:db8::/32'] } } },
    ],
  });
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** GET from a chosen local address (127.0.0.1: untrusted peer, 127.0.0.2: the trusted proxy). */
function get(path: string, headers: Record<string, string> = {}, from = '127.0.0.1'): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: gw.port, path, headers, localAddress: from, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

function expectError(r: Res, status: number, code: string) {
  expect(r.status).toBe(status);
  expect(JSON.parse(r.text).error).toMatchObject({ status, code });
}

describe('acl', () => {
  it('no authenticated consumer: 401 (bad or missing key), before any group check', async () => {
    const before = up.requests;
    expectError(await get('/acl/gold'), 401, 'unauthorized');
    expectError(await get('/acl/gold', { 'x-api-key': 'nope' }), 401, 'unauthorized');
    expect(up.requests).toBe(before);
  });

  it('authenticated but in none of allowGroups: 403; in one of them: 200', async () => {
    const before = up.requests;
    expectError(await get('/acl/gold', { 'x-api-key': 'k-silver' }), 403, 'forbidden');
    expectError(await get('/acl/gold', { 'x-api-key': 'k-none' }), 403, 'forbidden');
    expectError(await get('/acl/multi', { 'x-api-key': 'k-gold' }), 403, 'forbidden');
    expect(up.requests).toBe(before);
    expect((await get('/acl/gold', { 'x-api-key': 'k-gold' })).status).toBe(200);
    expect((await get('/acl/multi', { 'x-api-key': 'k-silver' })).status).toBe(200);
  });

  it('acl without an auth plugin on the route: always 401 (nobody is authenticated)', async () => {
    expectError(await get('/acl/no-auth', { 'x-api-key': 'k-gold' }), 401, 'unauthorized');
  });

  it('denyGroups: deny wins over allow; deny alone admits everybody else who is authenticated', async () => {
    const before = up.requests;
    // gold-user is in gold and staff: allowed by gold, denied by staff; deny wins.
    expectError(await get('/acl/deny', { 'x-api-key': 'k-gold' }), 403, 'forbidden');
    expectError(await get('/acl/deny-only', { 'x-api-key': 'k-silver' }), 403, 'forbidden');
    expectError(await get('/acl/deny-only'), 401, 'unauthorized');
    expect(up.requests).toBe(before);
    expect((await get('/acl/deny', { 'x-api-key': 'k-silver' })).status).toBe(200);
    expect((await get('/acl/deny-only', { 'x-api-key': 'k-none' })).status).toBe(200);
    expect((await get('/acl/deny-only', { 'x-api-key': 'k-gold' })).status).toBe(200);
  });
});

describe('ipRestriction on the socket address', () => {
  it('allow list: a listed peer passes', async () => {
    expect((await get('/ip/local')).status).toBe(200);
  });

  it('deny list, deny winning over allow, an empty allow list, an IPv6-only allow list: 403', async () => {
    const before = up.requests;
    expectError(await get('/ip/deny-local'), 403, 'forbidden');
    expectError(await get('/ip/deny-wins'), 403, 'forbidden');
    expectError(await get('/ip/nobody'), 403, 'forbidden');
    expectError(await get('/ip/v6-only'), 403, 'forbidden');
    expectError(await get('/ip/office'), 403, 'forbidden');
    expect(up.requests).toBe(before);
    // Another loopback address is not denied by a /32 deny.
    expect((await get('/ip/deny-wins', {}, '127.0.0.3')).status).toBe(200);
  });

  it('a spoofed X-Forwarded-For from an untrusted peer does not count', async () => {
    const before = up.requests;
    expectError(await get('/ip/office', { 'x-forwarded-for': '10.1.2.3' }), 403, 'forbidden');
    expectError(await get('/ip/office', { 'x-forwarded-for': '10.1.2.3, 10.1.2.4' }), 403, 'forbidden');
    expectError(await get('/ip/v6-only', { 'x-forwarded-for': '2001:db8::1' }), 403, 'forbidden');
    // ...nor does it get the peer denied: the deny list sees 127.0.0.1, which is not denied here.
    expect((await get('/ip/deny-v6', { 'x-forwarded-for': '2001:db8::1' })).status).toBe(200);
    expect(up.requests).toBe(before + 1);
  });
});

describe('ipRestriction behind a trusted proxy (peer 127.0.0.2)', () => {
  const PROXY = '127.0.0.2';

  it('the client named by the trusted proxy counts: allowed IPv4 and IPv6 clients pass', async () => {
    const r = await get('/ip/office', { 'x-forwarded-for': '10.1.2.3' }, PROXY);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text).headers['x-forwarded-for']).toBe('10.1.2.3, 127.0.0.2');
    expect((await get('/ip/office', { 'x-forwarded-for': '2001:db8:abcd:12::7' }, PROXY)).status).toBe(200);
    expect((await get('/ip/v6-only', { 'x-forwarded-for': '2001:db8::1' }, PROXY)).status).toBe(200);
  });

  it('disallowed and denied clients behind the proxy get 403 (IPv4 and IPv6)', async () => {
    expectError(await get('/ip/office', { 'x-forwarded-for': '10.1.3.3' }, PROXY), 403, 'forbidden');
    expectError(await get('/ip/office', { 'x-forwarded-for': '10.1.2.66' }, PROXY), 403, 'forbidden');
    expectError(await get('/ip/office', { 'x-forwarded-for': '2001:db8:abce::1' }, PROXY), 403, 'forbidden');
    expectError(await get('/ip/deny-v6', { 'x-forwarded-for': '2001:db8::1' }, PROXY), 403, 'forbidden');
  });

  it('a client cannot hide behind a forged hop: the nearest untrusted hop is the client', async () => {
    // The client 192.0.2.9 sent "X-Forwarded-For: 10.1.2.3"; the proxy appended 192.0.2.9.
    expectError(await get('/ip/office', { 'x-forwarded-for': '10.1.2.3, 192.0.2.9' }, PROXY), 403, 'forbidden');
    // A denied client cannot escape the deny list by prepending an allowed address.
    expectError(await get('/ip/office', { 'x-forwarded-for': '10.1.2.3, 10.1.2.66' }, PROXY), 403, 'forbidden');
  });

  it('without X-Forwarded-For the proxy itself is the client', async () => {
    expect((await get('/ip/local', {}, PROXY)).status).toBe(200);
    expectError(await get('/ip/office', {}, PROXY), 403, 'forbidden');
  });
});
