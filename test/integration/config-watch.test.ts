/**
 * `gateway start --watch` (file-system events only: polling off) on the real gateway: a reload (audit source "watch") for each real
 * change of the config file, however it is saved (written in place, or a new file renamed over
 * it as editors do, or a Kubernetes ConfigMap's `..data` symlink swap), and of a file the config
 * names (a jwt publicKeyFile, a pluginModules file); none for a touch or another file in the directory; one refused
 * attempt for a broken save, with the old config still serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { exportSPKI } from 'jose';
import { echoUpstream, freePort, logLines, sleep, startGatewayFile, waitForLogLines, type Gateway, type Upstream } from '../helpers/gateway.js';
import { mint, newKey, nowSec, type TestKey } from '../helpers/jwt-jwks.js';

/** Longer than the watch's debounce (200 ms) plus a loaded machine's scheduling. */
const SETTLE_MS = 700;

const cleanup: Array<() => Promise<void>> = [];
let up: Upstream;
/** The jwt publicKeyFile of route /app, and the keys it is switched between. */
let keyFile: string;
let keyA: TestKey;
let keyB: TestKey;

beforeAll(async () => {
  up = await echoUpstream();
  [keyA, keyB] = await Promise.all([newKey('EdDSA', 'a'), newKey('EdDSA', 'b')]);
  keyFile = join(mkdtempSync(join(tmpdir(), 'gw-watch-key-')), 'key.pem');
  writeFileSync(keyFile, await exportSPKI(keyA.publicKey as CryptoKey));
});
afterAll(async () => {
  while (cleanup.length) await cleanup.pop()!();
  await up?.close();
});

function configWith(port: number, body: string) {
  return JSON.stringify({
    workers: 2,
    listen: { host: '127.0.0.1', port },
    upstreams: { app: { targets: [{ url: up.url }] } },
    routes: [
      { id: 'v', paths: ['/v'], respond: { status: 200, body } },
      { id: 'app', paths: ['/app'], upstream: 'app', plugins: { jwt: { publicKeyFile: keyFile, algorithms: ['EdDSA'] } } },
    ],
  });
}

async function body(gw: Gateway, path = '/v', headers: Record<string, string> = {}): Promise<string> {
  // A connection of its own each time: both workers must have the new config.
  const agent = new Agent({ pipelining: 0 });
  try {
    const r = await request(gw.url + path, { headers, dispatcher: agent });
    const text = await r.body.text();
    return r.statusCode === 200 ? text : String(r.statusCode);
  } finally {
    await agent.close();
  }
}

async function watching(path: string, port: number): Promise<Gateway> {
  // No polling: what is seen here is seen by the file-system watch.
  const gw = await startGatewayFile(path, port, { args: ['--watch', '--watch-poll-ms', '0'] });
  cleanup.push(() => gw.stop());
  await gw.waitForLog('"watching the config for changes"');
  return gw;
}

const audits = (gw: Gateway) => logLines(gw, 'config audit');

describe('gateway start --watch', () => {
  /** A gateway watching a config file in a plain directory (the first two tests). */
  let gw: Gateway;

  it('reloads on a save in place and on a save by rename; not on a touch or another file; one refused attempt for a broken save', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-watch-'));
    const path = join(dir, 'gateway.json');
    const port = await freePort();
    writeFileSync(path, configWith(port, 'one'));
    gw = await watching(path, port);
    expect(await body(gw)).toBe('one');

    writeFileSync(path, configWith(port, 'two')); // in place
    let lines = await waitForLogLines(gw, 'config audit', 1);
    expect(lines[0]).toMatchObject({ source: 'watch', result: 'applied', version: 2, changes: { routes: { changed: ['v'] } } });
    expect(await body(gw)).toBe('two');
    expect(await body(gw)).toBe('two');

    // An editor's save: a new file, renamed over the old one.
    writeFileSync(join(dir, '.gateway.json.swp'), configWith(port, 'three'));
    renameSync(join(dir, '.gateway.json.swp'), path);
    lines = await waitForLogLines(gw, 'config audit', 2);
    expect(lines[1]).toMatchObject({ source: 'watch', result: 'applied', version: 3 });
    expect(await body(gw)).toBe('three');

    // No change: a touch, and another file in the directory.
    utimesSync(path, new Date(), new Date());
    writeFileSync(join(dir, 'notes.txt'), 'unrelated');
    await sleep(SETTLE_MS);
    expect(audits(gw)).toHaveLength(2);

    // A broken save: refused once, the old config serves; the fix is applied.
    writeFileSync(path, configWith(port, 'four').slice(0, -5));
    lines = await waitForLogLines(gw, 'config audit', 3);
    expect(lines[2]).toMatchObject({ source: 'watch', result: 'refused', version: 3, errorCount: 1 });
    expect((lines[2].errors as string[])[0]).toContain('invalid JSON');
    await sleep(SETTLE_MS);
    expect(audits(gw)).toHaveLength(3);
    expect(await body(gw)).toBe('three');
    writeFileSync(path, configWith(port, 'five'));
    lines = await waitForLogLines(gw, 'config audit', 4);
    expect(lines[3]).toMatchObject({ source: 'watch', result: 'applied', version: 4 });
    expect(await body(gw)).toBe('five');
  });

  it('reloads when a file the config names changes (a jwt publicKeyFile), with no change to the config itself', async () => {
    const before = audits(gw).length;
    const tokenB = await mint(keyB.privateKey, { alg: 'EdDSA' }, { sub: 'x', iat: nowSec(), exp: nowSec() + 600 });
    expect(await body(gw, '/app', { authorization: `Bearer ${tokenB}` })).toBe('401');

    writeFileSync(keyFile, await exportSPKI(keyB.publicKey as CryptoKey));
    const line = (await waitForLogLines(gw, 'config audit', before + 1))[before];
    expect(line).toMatchObject({ source: 'watch', result: 'applied', version: 5 });
    expect(Object.values(line.changes as Record<string, { changed: string[] }>).every((s) => s.changed.length === 0)).toBe(true);
    const seen = [await body(gw, '/app', { authorization: `Bearer ${tokenB}` }), await body(gw, '/app', { authorization: `Bearer ${tokenB}` })];
    expect(seen.map((s) => JSON.parse(s).url)).toEqual(['/app', '/app']);
  });

  it('follows a Kubernetes ConfigMap update (the ..data symlink swapped to a new directory)', async () => {
    // The kubelet's layout: gateway.json -> ..data/gateway.json, ..data -> ..<timestamp>/
    const dir = mkdtempSync(join(tmpdir(), 'gw-configmap-'));
    const port = await freePort();
    mkdirSync(join(dir, '..2026_01_01_00_00_00.1'));
    writeFileSync(join(dir, '..2026_01_01_00_00_00.1', 'gateway.json'), configWith(port, 'v1'));
    symlinkSync('..2026_01_01_00_00_00.1', join(dir, '..data'));
    symlinkSync('..data/gateway.json', join(dir, 'gateway.json'));
    const gw = await watching(join(dir, 'gateway.json'), port);
    expect(await body(gw)).toBe('v1');

    // An update, as the kubelet does it: a new directory, a temporary link renamed over ..data, the old directory removed.
    mkdirSync(join(dir, '..2026_01_01_00_01_00.2'));
    writeFileSync(join(dir, '..2026_01_01_00_01_00.2', 'gateway.json'), configWith(port, 'v2'));
    symlinkSync('..2026_01_01_00_01_00.2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    rmSync(join(dir, '..2026_01_01_00_00_00.1'), { recursive: true });
    const [line] = await waitForLogLines(gw, 'config audit', 1);
    expect(line).toMatchObject({ source: 'watch', result: 'applied', version: 2 });
    expect(await body(gw)).toBe('v2');
    await sleep(SETTLE_MS);
    expect(audits(gw)).toHaveLength(1);

    // A file edited in place where the link points (not how the kubelet works, but how a
    // symlinked config is edited): seen in the link target's directory.
    writeFileSync(join(dir, '..2026_01_01_00_01_00.2', 'gateway.json'), configWith(port, 'v3'));
    const lines = await waitForLogLines(gw, 'config audit', 2);
    expect(lines[1]).toMatchObject({ source: 'watch', result: 'applied', version: 3 });
    expect(await body(gw)).toBe('v3');
  });

  it('reloads when a pluginModules file changes: the edited module is the code every worker runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-watch-module-'));
    const modFile = join(dir, 'stamp.mjs');
    const stampModule = (value: string) =>
      `export default { name: 'stamp', phase: 'transform', schema: { type: 'object' }, compile: () => ({ onResponseHeaders(ctx) { ctx.addResponseHeader('x-stamp', '${value}'); } }) };\n`;
    writeFileSync(modFile, stampModule('a'));
    const port = await freePort();
    const path = join(dir, 'gateway.json');
    writeFileSync(
      path,
      JSON.stringify({
        workers: 2,
        listen: { host: '127.0.0.1', port },
        pluginModules: ['./stamp.mjs'],
        upstreams: { app: { targets: [{ url: up.url }] } },
        routes: [{ id: 'app', paths: ['/app'], upstream: 'app', plugins: { stamp: {} } }],
      }),
    );
    const gw = await watching(path, port);
    const stamps = async () => {
      const out: string[] = [];
      for (let i = 0; i < 4; i++) {
        const agent = new Agent({ pipelining: 0 });
        const r = await request(gw.url + '/app', { dispatcher: agent });
        await r.body.text();
        out.push(String(r.headers['x-stamp']));
        await agent.close();
      }
      return out;
    };
    expect(await stamps()).toEqual(['a', 'a', 'a', 'a']);
    writeFileSync(modFile, stampModule('b'));
    const [line] = await waitForLogLines(gw, 'config audit', 1);
    expect(line).toMatchObject({ source: 'watch', result: 'applied', version: 2 });
    expect(await stamps()).toEqual(['b', 'b', 'b', 'b']);
  });
});
