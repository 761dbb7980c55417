/**
 * TLS towards upstreams (an upstream's `tls`), with certificates made here by openssl: a CA, a
 * server certificate for "localhost", client certificates for mutual TLS, and a second CA nobody
 * trusts. Real node:https upstreams that require a client certificate; the real gateway process.
 * Covers mTLS, the SNI/verification name of a target written as a DNS name, every way a
 * handshake fails (502 with a log line naming TLS), verify false, active health checks over TLS,
 * files re-read on reload, and the config errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { fetchText, freePort, GATEWAY_BIN, ROOT, sleep, startGateway, writeConfig, type Gateway } from '../helpers/gateway.js';

const dir = mkdtempSync(join(tmpdir(), 'gw-uptls-'));
const f = (name: string) => join(dir, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore', cwd: dir });
}

/** A CA, and a certificate signed by it. */
function makeCa(name: string): void {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`);
}
function makeCert(name: string, ca: string, cn: string, ext: string): void {
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  writeFileSync(f(`${name}.ext`), ext);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
}

let mtls: Server;
let mtlsPort: number;
let gw: Gateway;
let adminPort: number;
const TOKEN = 'upstream-tls-admin-token-01234567';

beforeAll(async () => {
  makeCa('ca');
  makeCa('other-ca');
  makeCert('server', 'ca', 'localhost', 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n');
  makeCert('client', 'ca', 'gateway-one', 'extendedKeyUsage=clientAuth\n');
  makeCert('client2', 'ca', 'gateway-two', 'extendedKeyUsage=clientAuth\n');
  copyFileSync(f('client.pem'), f('live-client.pem'));
  copyFileSync(f('client.key'), f('live-client.key'));

  // An upstream that requires a client certificate signed by the CA and says whose it got.
  mtls = createServer(
    { key: readFileSync(f('server.key')), cert: readFileSync(f('server.pem')), ca: readFileSync(f('ca.pem')), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      const body = JSON.stringify({ client: peer.subject?.CN ?? null, path: req.url, sni: (req.socket as TLSSocket & { servername?: string }).servername ?? null });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    },
  );
  await new Promise<void>((r) => mtls.listen(0, '127.0.0.1', () => r()));
  mtlsPort = (mtls.address() as { port: number }).port;

  const url = `https://localhost:${mtlsPort}`; // a DNS name: resolved to 127.0.0.1, verified as "localhost"
  const health = { active: { path: '/health', intervalMs: 200, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 1 } };
  adminPort = await freePort();
  gw = await startGateway({
    admin: { host: '127.0.0.1', port: adminPort, token: TOKEN },
    upstreams: {
      mtls: { targets: [{ url }], tls: { caFile: f('ca.pem'), certFile: f('live-client.pem'), keyFile: f('live-client.key') }, healthCheck: health },
      nocert: { targets: [{ url }], tls: { caFile: f('ca.pem') } },
      wrongca: { targets: [{ url }], tls: { caFile: f('other-ca.pem'), certFile: f('client.pem'), keyFile: f('client.key') } },
      wrongcaprobed: { targets: [{ url }], tls: { caFile: f('other-ca.pem'), certFile: f('client.pem'), keyFile: f('client.key') }, healthCheck: health },
      wrongname: { targets: [{ url }], tls: { caFile: f('ca.pem'), certFile: f('client.pem'), keyFile: f('client.key'), servername: 'other.test' } },
      systemca: { targets: [{ url }], tls: { certFile: f('client.pem'), keyFile: f('client.key') } },
      noverify: { targets: [{ url }], tls: { caFile: f('other-ca.pem'), certFile: f('client.pem'), keyFile: f('client.key'), verify: false } },
    },
    routes: ['mtls', 'nocert', 'wrongca', 'wrongname', 'systemca', 'noverify'].map((u) => ({ id: u, paths: [`/${u}/*`], upstream: u, stripPrefix: `/${u}` })),
  });
});

afterAll(async () => {
  await gw?.stop();
  await new Promise<void>((r) => { mtls?.closeAllConnections(); mtls?.close(() => r()); });
});

describe('mutual TLS to upstreams', () => {
  it('presents the client certificate, sends the target URL\'s host as SNI and verifies the certificate against it', async () => {
    const r = await fetchText(gw.url + '/mtls/hello');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toEqual({ client: 'gateway-one', path: '/hello', sni: 'localhost' });
  });

  it.each([
    ['nocert', 'no client certificate: the upstream refuses the handshake'],
    ['wrongca', 'the target\'s certificate does not chain to caFile'],
    ['wrongname', 'the certificate does not name tls.servername'],
    ['systemca', 'a private CA is not among the system CAs'],
  ])('%s: %s -> 502 JSON and a log line naming the TLS failure', async (name) => {
    const r = await fetchText(gw.url + `/${name}/x`);
    expect(r.status).toBe(502);
    // TLS 1.3: a missing client certificate is refused after the client's side of the handshake
    // completed, so the request was sent: the upstream's alert arrives as a reset.
    expect(JSON.parse(r.text).error.code).toBe(name === 'nocert' ? 'upstream_reset' : 'upstream_unavailable');
    // (The refusal of a missing client certificate reaches undici as the socket closing: no TLS
    // alert code to name, docs/configuration.md "Upstream TLS".)
    await gw.waitForLog(new RegExp(name === 'nocert' ? `"route":"nocert".*"kind":"reset"` : `"route":"${name}".*TLS handshake with the upstream failed`), 5000);
  });

  it('verify false skips the certificate check (and validate warns about it)', async () => {
    const r = await fetchText(gw.url + '/noverify/x');
    expect(r.status).toBe(200);
    const v = spawnSync(process.execPath, [GATEWAY_BIN, 'validate', '-c', gw.configPath], { cwd: ROOT, encoding: 'utf8' });
    expect(v.stdout + v.stderr).toContain('/upstreams/noverify/tls/verify');
  });

  it('active health checks go over the upstream\'s TLS settings', async () => {
    const until = Date.now() + 5000;
    let ups: Record<string, { targets: Array<{ health: string }> }> = {};
    while (Date.now() < until) {
      const res = await request(`http://127.0.0.1:${adminPort}/upstreams`, { headers: { authorization: `Bearer ${TOKEN}` } });
      ups = (await res.body.json()) as typeof ups;
      if (ups.mtls?.targets[0]?.health === 'healthy' && ups.wrongcaprobed?.targets[0]?.health === 'unhealthy') break;
      await sleep(100);
    }
    expect(ups.mtls.targets[0].health).toBe('healthy');
    expect(ups.wrongcaprobed.targets[0].health).toBe('unhealthy');
  });

  it('a reload re-reads the certificate files', async () => {
    copyFileSync(f('client2.pem'), f('live-client.pem'));
    copyFileSync(f('client2.key'), f('live-client.key'));
    gw.proc.kill('SIGHUP');
    await gw.waitForLog('"config reloaded"', 10_000);
    const until = Date.now() + 5000;
    let who = '';
    while (Date.now() < until) {
      who = JSON.parse((await fetchText(gw.url + '/mtls/again')).text).client;
      if (who === 'gateway-two') break;
      await sleep(100);
    }
    expect(who).toBe('gateway-two');
  });
});

describe('config errors', () => {
  const validate = (tls: Record<string, unknown>, url = 'https://127.0.0.1:1') => {
    const path = writeConfig({ listen: { port: 1 }, upstreams: { u: { targets: [{ url }], tls } }, routes: [{ id: 'r', paths: ['/'], upstream: 'u' }] });
    return spawnSync(process.execPath, [GATEWAY_BIN, 'validate', '-c', path], { cwd: ROOT, encoding: 'utf8' });
  };

  it('names each problem with its pointer', () => {
    const half = validate({ certFile: f('client.pem') });
    expect(half.status).toBe(1);
    expect(half.stderr).toContain('/upstreams/u/tls: certFile needs keyFile');
    const plain = validate({ caFile: f('ca.pem') }, 'http://127.0.0.1:1');
    expect(plain.stderr).toContain('/upstreams/u/tls: has no effect: no target of this upstream is https://');
    const missing = validate({ caFile: join(dir, 'nope.pem') });
    expect(missing.stderr).toContain('/upstreams/u/tls/caFile: cannot read');
    const typo = validate({ cafile: 'x' });
    expect(typo.stderr).toMatch(/\/upstreams\/u\/tls.*cafile/);
  });
});
