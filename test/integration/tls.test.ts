/** HTTPS on listen (config `tls`): a real TLS client through the real gateway. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { echoUpstream, startGateway, type Gateway, type Upstream } from '../helpers/gateway.js';

let up: Upstream;
let gw: Gateway;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  up = await echoUpstream();
  gw = await startGateway({
    tls: { certFile, keyFile },
    upstreams: { app: { targets: [{ url: up.url }] } },
    routes: [{ id: 'app', paths: ['/app/*'], upstream: 'app' }],
  });
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

describe('tls', () => {
  it('serves HTTPS and tells the upstream X-Forwarded-Proto: https', async () => {
    const agent = new Agent({ connect: { rejectUnauthorized: false } });
    const res = await request(`https://127.0.0.1:${gw.port}/app/x`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    const seen = (await res.body.json()) as { headers: Record<string, string> };
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    await agent.close();
  });

  it('does not answer plain HTTP on the TLS port', async () => {
    await expect(request(`http://127.0.0.1:${gw.port}/app/x`, { headersTimeout: 2000, bodyTimeout: 2000 }).then((r) => r.body.text())).rejects.toThrow();
  });
});
