// The glibc compat step for uWebSockets.js (native/compat/README.md), tested for real on this
// machine: the compat script, the shim's C23 strtol/strtoul, loadUws() serving HTTP, and (only
// where the stock binary does not load) the patched copies vs. the untouched node_modules files.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { constants } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain .mjs helper without type declarations
import { parseElf, VER_FLG_WEAK } from '../../scripts/elf.mjs';
import { compatManifestPath, findPackageRoot, loadUws } from '../../src/uws.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCRIPT = join(ROOT, 'scripts', 'uws-compat.mjs');
const SHIM = join(ROOT, 'build', 'Release', 'uws_glibc_compat.node');
const PKG_JSON = join(ROOT, 'package.json');
const ERANGE = constants.errno.ERANGE;

interface ElfInfo {
  verneed: Array<{ file: string; name: string; flags: number; weak: boolean; flagsOffset: number }>;
  undefinedSymbols: Array<{ name: string; version: string | null }>;
  definedSymbols: string[];
}
const elf = (file: string): ElfInfo => parseElf(readFileSync(file), file) as ElfInfo;
const sha256 = (buf: Buffer) => createHash('sha256').update(buf).digest('hex');

/** Does the stock package load on this system as npm installed it? (Detected, not assumed.) */
function stockLoads(): { ok: boolean; stderr: string } {
  const r = spawnSync(
    process.execPath,
    ['-e', `require('node:module').createRequire(${JSON.stringify(PKG_JSON)})('uWebSockets.js')`],
    { encoding: 'utf8', timeout: 60_000 },
  );
  return { ok: r.status === 0, stderr: r.stderr };
}

function runCompat() {
  return spawnSync(process.execPath, [SCRIPT], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (r) => {
        let body = '';
        r.setEncoding('utf8');
        r.on('data', (c: string) => (body += c));
        r.on('end', () => res({ status: r.statusCode ?? 0, body }));
      })
      .on('error', rej);
  });
}

describe.skipIf(process.platform !== 'linux')('uWebSockets.js glibc compat (linux)', () => {
  const stock = stockLoads();

  it('the compat script exits 0 and is idempotent', () => {
    const first = runCompat();
    expect(first.stderr, first.stdout).toBe('');
    expect(first.status).toBe(0);
    const t0 = Date.now();
    const second = runCompat();
    const secondMs = Date.now() - t0;
    expect(second.stderr, second.stdout).toBe('');
    expect(second.status).toBe(0);
    for (const line of second.stdout.trim().split('\n')) expect(line).toMatch(/^uws-compat: /);
    if (stock.ok) {
      expect(second.stdout).toMatch(/no compat needed/);
      expect(existsSync(join(ROOT, 'build', 'uws-compat'))).toBe(false);
    } else {
      expect(second.stdout).toMatch(/is up to date/);
      expect(second.stdout).toMatch(/proof ok: .* served HTTP 200/);
    }
    expect(secondMs).toBeLessThan(20_000);
  });

  describe('the shim (build/Release/uws_glibc_compat.node)', () => {
    type R = [bigint, number, number];
    const shim = { exports: {} as Record<string, (s: string, b?: number) => R> };
    process.dlopen(shim, SHIM, constants.dlopen.RTLD_NOW | constants.dlopen.RTLD_GLOBAL);
    const { strtol, strtoul } = shim.exports;
    const sscanfLong = shim.exports.sscanfLong as unknown as (s: string, f: string) => [number, bigint];

    it('exports the three C23 functions with default visibility', () => {
      const defined = elf(SHIM).definedSymbols;
      for (const s of ['__isoc23_strtol', '__isoc23_strtoul', '__isoc23_sscanf']) expect(defined).toContain(s);
    });

    it('parses decimal, hex and octal like C99 strtol', () => {
      expect(strtol('123', 10)).toEqual([123n, 3, 0]);
      expect(strtol('  +42xyz', 10)).toEqual([42n, 5, 0]);
      expect(strtol('-17', 0)).toEqual([-17n, 3, 0]);
      expect(strtol('0x1f', 0)).toEqual([31n, 4, 0]);
      expect(strtol('0X1F', 16)).toEqual([31n, 4, 0]);
      expect(strtol('017', 0)).toEqual([15n, 3, 0]);
      expect(strtol('z', 36)).toEqual([35n, 1, 0]);
      expect(strtol('abc', 0)).toEqual([0n, 0, 0]);
      expect(strtol('   ', 0)).toEqual([0n, 0, 0]);
      expect(strtoul('4294967296', 10)).toEqual([4294967296n, 10, 0]);
    });

    it('accepts 0b/0B binary literals for base 0 and 2 only', () => {
      expect(strtol('0b101', 0)).toEqual([5n, 5, 0]);
      expect(strtol('0B101', 0)).toEqual([5n, 5, 0]);
      expect(strtol('0b101', 2)).toEqual([5n, 5, 0]);
      expect(strtol('101', 2)).toEqual([5n, 3, 0]);
      expect(strtol('0b1012', 0)).toEqual([5n, 5, 0]);
      expect(strtol('  -0b101', 0)).toEqual([-5n, 8, 0]);
      expect(strtol('+0b1', 2)).toEqual([1n, 4, 0]);
      expect(strtoul('0b11111111', 0)).toEqual([255n, 10, 0]);
      // other bases: no binary prefix (base 16 reads "0b101" as hex 0xb101)
      expect(strtol('0b101', 10)).toEqual([0n, 1, 0]);
      expect(strtol('0b101', 16)).toEqual([0xb101n, 5, 0]);
    });

    it('"0b" not followed by a binary digit consumes only the "0"', () => {
      expect(strtol('0b', 0)).toEqual([0n, 1, 0]);
      expect(strtol('0b', 2)).toEqual([0n, 1, 0]);
      expect(strtol('0b2', 0)).toEqual([0n, 1, 0]);
      expect(strtol(' -0bx', 0)).toEqual([0n, 3, 0]); // ' ', '-', '0'
      expect(strtoul('0B', 0)).toEqual([0n, 1, 0]);
    });

    it('clamps on overflow with ERANGE, and consumes all digits', () => {
      const max = 2n ** 63n - 1n;
      const ones64 = '1'.repeat(64);
      expect(strtol('9223372036854775807', 10)).toEqual([max, 19, 0]);
      expect(strtol('9223372036854775808', 10)).toEqual([max, 19, ERANGE]);
      expect(strtol('0b' + '1'.repeat(63), 0)).toEqual([max, 65, 0]);
      expect(strtol('0b' + ones64, 0)).toEqual([max, 66, ERANGE]);
      expect(strtol('-0b1' + '0'.repeat(63), 0)).toEqual([-(2n ** 63n), 67, 0]);
      expect(strtol('-0b1' + '0'.repeat(62) + '1', 0)).toEqual([-(2n ** 63n), 67, ERANGE]);
      expect(strtoul('0b' + ones64, 0)).toEqual([2n ** 64n - 1n, 66, 0]);
      expect(strtoul('0b1' + '0'.repeat(64), 2)).toEqual([2n ** 64n - 1n, 67, ERANGE]);
      expect(strtoul('-0b1', 0)).toEqual([2n ** 64n - 1n, 4, 0]); // strtoul negates in unsigned
    });

    it('sscanf delegates to the C99 vsscanf (%i has no 0b there: documented limitation)', () => {
      expect(sscanfLong('42', '%ld')).toEqual([1, 42n]);
      expect(sscanfLong('0x10', '%li')).toEqual([1, 16n]);
      expect(sscanfLong('ff', '%lx')).toEqual([1, 255n]);
      expect(sscanfLong('0b11', '%li')).toEqual([1, 0n]);
      expect(sscanfLong('nope', '%ld')).toEqual([0, 0n]);
    });
  });

  it('loadUws() returns a uWS whose App() serves a real HTTP request', async () => {
    expect(findPackageRoot()).toBe(ROOT);
    const uws = loadUws();
    expect(loadUws()).toBe(uws); // cached
    expect(typeof uws.App).toBe('function');
    // the package's uws.js wrapper ran (it adds DeclarativeResponse, which index.d.ts does not declare)
    expect(typeof (uws as unknown as Record<string, unknown>).DeclarativeResponse).toBe('function');

    const app = uws.App();
    app.get('/hello/:name', (res, req) => {
      res.writeHeader('content-type', 'text/plain').end(`hello ${req.getParameter(0)}`);
    });
    const token = await new Promise<UWS_ListenSocket>((res, rej) =>
      app.listen('127.0.0.1', 0, (t) => (t ? res(t) : rej(new Error('listen failed')))),
    );
    try {
      const port = uws.us_socket_local_port(token);
      expect(port).toBeGreaterThan(0);
      expect(await get(port, '/hello/compat')).toEqual({ status: 200, body: 'hello compat' });
    } finally {
      uws.us_listen_socket_close(token);
    }

    const maps = readFileSync('/proc/self/maps', 'utf8');
    if (!stock.ok) {
      expect(maps).toContain(join(ROOT, 'build', 'uws-compat', `uws_linux_${process.arch}_${process.versions.modules}.node`));
      expect(maps).not.toContain(join('node_modules', 'uWebSockets.js', 'uws_linux_'));
    }
  });

  it('the stock binary loads, or the manifest and weak-flagged copies exist while node_modules is untouched', () => {
    const manifestPath = compatManifestPath(ROOT);
    if (stock.ok) {
      expect(existsSync(manifestPath)).toBe(false);
      return;
    }
    expect(stock.stderr).toMatch(/GLIBC_2\.38' not found/);
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
      shim: string;
      binaries: Record<string, { file: string; source: string; sourceSha256: string; sha256: string }>;
    };
    expect(resolve(ROOT, manifest.shim)).toBe(SHIM);
    const pkgDir = join(ROOT, 'node_modules', 'uWebSockets.js');
    const expected = readdirSync(pkgDir)
      .filter((f) => f.startsWith(`uws_linux_${process.arch}_`) && f.endsWith('.node'))
      .map((f) => /_(\d+)\.node$/.exec(f)![1])
      .sort();
    expect(Object.keys(manifest.binaries).sort()).toEqual(expected);
    expect(manifest.binaries).toHaveProperty(process.versions.modules);

    for (const entry of Object.values(manifest.binaries)) {
      const srcFile = resolve(ROOT, entry.source);
      const outFile = resolve(ROOT, entry.file);
      const src = readFileSync(srcFile);
      const out = readFileSync(outFile);
      // node_modules as npm wrote it: no weak version need at all, same bytes as when patched
      const srcElf = parseElf(src, srcFile) as ElfInfo;
      expect(srcElf.verneed.filter((n) => n.weak)).toEqual([]);
      expect(sha256(src)).toBe(entry.sourceSha256);
      // the copy: GLIBC_2.38 need weak, and that flag is the only difference
      const outElf = parseElf(out, outFile) as ElfInfo;
      const need238 = outElf.verneed.filter((n) => n.name === 'GLIBC_2.38');
      expect(need238.length).toBe(1);
      expect(need238[0].flags & VER_FLG_WEAK).toBe(VER_FLG_WEAK);
      expect(outElf.verneed.filter((n) => n.weak).map((n) => n.name)).toEqual(['GLIBC_2.38']);
      expect(sha256(out)).toBe(entry.sha256);
      expect(out.length).toBe(src.length);
      const diff: number[] = [];
      for (let i = 0; i < src.length; i++) if (src[i] !== out[i]) diff.push(i);
      expect(diff.length).toBeGreaterThan(0);
      for (const i of diff) expect([need238[0].flagsOffset, need238[0].flagsOffset + 1]).toContain(i);
      // and the only GLIBC_2.38 imports are the ones the shim provides
      const imports238 = outElf.undefinedSymbols.filter((s) => s.version === 'GLIBC_2.38').map((s) => s.name);
      expect(imports238.length).toBeGreaterThan(0);
      for (const s of imports238) expect(['__isoc23_strtol', '__isoc23_strtoul', '__isoc23_sscanf']).toContain(s);
    }
  });
});

type UWS_ListenSocket = import('uWebSockets.js').us_listen_socket;
