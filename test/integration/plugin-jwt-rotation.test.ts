/**
 * jwt publicKeyFile rotation (docs/plugins/jwt.md): replacing the key file and reloading makes
 * the new key verify and the old one fail, on every worker. (Verifiers used to be memoized per
 * worker process by settings, so a reload with the same path kept the old key: they now live
 * as long as their config version.) Several connections per round, so both workers are asked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { exportSPKI } from 'jose';
import { echoUpstream, startGateway, type Gateway, type Upstream } from '../helpers/gateway.js';
import { mint, newKey, nowSec, type TestKey } from '../helpers/jwt-jwks.js';

let gw: Gateway;
let up: Upstream;
let a: TestKey;
let b: TestKey;
let keyFile: string;

beforeAll(async () => {
  [a, b] = await Promise.all([newKey('EdDSA', 'a'), newKey('EdDSA', 'b')]);
  keyFile = join(mkdtempSync(join(tmpdir(), 'gw-jwt-rot-')), 'key.pem');
  writeFileSync(keyFile, await exportSPKI(a.publicKey as CryptoKey));
  up = await echoUpstream();
  gw = await startGateway({
    upstreams: { app: { targets: [{ url: up.url }] } },
    plugins: { jwt: { publicKeyFile: keyFile, algorithms: ['EdDSA'] } },
    routes: [{ id: 'r', paths: ['/r'], upstream: 'app' }],
  });
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

/** Statuses of `n` requests with this key's token, each on its own connection (spread over the workers). */
async function statuses(key: TestKey, n = 8): Promise<number[]> {
  const token = await mint(key.privateKey, { alg: 'EdDSA' }, { sub: 'x', iat: nowSec(), exp: nowSec() + 600 });
  return Promise.all(
    Array.from({ length: n }, async () => {
      const agent = new Agent({ pipelining: 0 });
      try {
        const r = await request(`${gw.url}/r`, { headers: { authorization: `Bearer ${token}` }, dispatcher: agent });
        await r.body.dump();
        return r.statusCode;
      } finally {
        await agent.close();
      }
    }),
  );
}

describe('jwt publicKeyFile rotation', () => {
  it('a SIGHUP after the key file was replaced accepts the new key and refuses the old one', async () => {
    expect(new Set(await statuses(a))).toEqual(new Set([200]));
    expect(new Set(await statuses(b))).toEqual(new Set([401]));

    writeFileSync(keyFile, await exportSPKI(b.publicKey as CryptoKey));
    gw.proc.kill('SIGHUP');
    await gw.waitForLog(/"config reloaded".*"version":2.*"complete":true/);

    expect(new Set(await statuses(b))).toEqual(new Set([200]));
    expect(new Set(await statuses(a))).toEqual(new Set([401]));
  });
});
