#!/usr/bin/env node
// glibc compat step for the prebuilt uWebSockets.js binaries (run at postinstall; safe to re-run).
// See native/compat/README.md. Plain Node ESM, no dependencies.
//
//  1. Not Linux: nothing to do.
//  2. The stock binary for this Node ABI loads: nothing to do (removes a stale build/uws-compat/).
//  3. It does not: read its ELF version needs. If the only symbols bound to glibc versions newer
//     than the running glibc are the three known C23 functions, copy every uws_linux_<arch>_*.node
//     into build/uws-compat/, mark the too-new version need weak in the copies, write
//     build/uws-compat/manifest.json, and prove in a child process that the shim + patched binary
//     serve a real HTTP request. Anything else fails loudly (exit 1).

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareVersions, glibcVersionOf, parseElf, parseRuntimeGlibc, setWeakVersionNeeds } from './elf.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'build', 'uws-compat');
const MANIFEST = join(OUT_DIR, 'manifest.json');
const SHIM = join(ROOT, 'build', 'Release', 'uws_glibc_compat.node');
/** The only too-new imports the shim provides (native/compat/isoc23_shim.c). */
const KNOWN = new Map([
  ['__isoc23_strtol', 'GLIBC_2.38'],
  ['__isoc23_strtoul', 'GLIBC_2.38'],
  ['__isoc23_sscanf', 'GLIBC_2.38'],
]);

const log = (msg) => console.log(`uws-compat: ${msg}`);
/** Set once we know the stock binary does not load: then a failure also removes old copies. */
let removeOutputOnFailure = false;
function die(msg) {
  for (const line of String(msg).split('\n')) console.error(`uws-compat: ${line}`);
  if (removeOutputOnFailure && existsSync(OUT_DIR)) {
    // Never leave copies behind that were made for other inputs: loadUws() would use them.
    rmSync(OUT_DIR, { recursive: true, force: true });
    console.error(`uws-compat: removed ${rel(OUT_DIR)}/`);
  }
  console.error('uws-compat: FAILED (see native/compat/README.md)');
  process.exit(1);
}
const rel = (p) => relative(ROOT, p) || '.';
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const lastLines = (s, n = 8) => String(s).trim().split('\n').slice(-n).join('\n');

function writeAtomic(file, data) {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

if (process.platform !== 'linux') {
  log(`not needed on ${process.platform} (the glibc compat step is for Linux only)`);
  process.exit(0);
}

const abi = process.versions.modules;
const arch = process.arch;
const rootRequire = createRequire(join(ROOT, 'package.json'));
let pkgDir;
try {
  pkgDir = dirname(rootRequire.resolve('uWebSockets.js'));
} catch (e) {
  die(`cannot resolve the uWebSockets.js package from ${ROOT}: run \`npm install\` first\n${e.message}`);
}
const pkgVersion = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
const stockName = `uws_linux_${arch}_${abi}.node`;
const stockPath = join(pkgDir, stockName);
if (!existsSync(stockPath)) {
  die(`uWebSockets.js ${pkgVersion} has no binary for linux/${arch} Node ABI ${abi} (Node ${process.version}): ${rel(stockPath)} is missing.\nUse Node 20, 22 or 24 (ABI 115, 127, 137).`);
}

// 1. Does the stock binary load as it is? (In a child: a failed dlopen must not pollute us.)
const probe = spawnSync(
  process.execPath,
  ['-e', `require('node:module').createRequire(${JSON.stringify(join(ROOT, 'package.json'))})('uWebSockets.js')`],
  { encoding: 'utf8', timeout: 60_000 },
);
if (probe.status === 0) {
  const stale = existsSync(OUT_DIR);
  rmSync(OUT_DIR, { recursive: true, force: true });
  log(`stock ${stockName} loads on this system (Node ${process.version}), no compat needed${stale ? ' (removed stale build/uws-compat/)' : ''}`);
  process.exit(0);
}
const probeOut = String(probe.stderr || probe.error?.message || `exit ${probe.status}`);
const errorLines = probeOut.split('\n').filter((l) => /Error/.test(l));
const loadError = (errorLines.length ? errorLines : probeOut.trim().split('\n')).slice(-3).join('\n');
const why = /version `[^']+' not found[^\n]*/.exec(probeOut)?.[0] ?? loadError.split('\n').pop();
log(`stock ${stockName} does not load: ${why}`);
removeOutputOnFailure = true;

// 2. Why not? Only too-new glibc symbol versions are something we may fix.
try {
  process.report.excludeNetwork = true; // faster report where supported (no DNS lookups)
} catch {}
const runtimeStr = process.report?.getReport?.().header?.glibcVersionRuntime;
const runtime = parseRuntimeGlibc(runtimeStr);
if (!runtime) {
  die(`the stock ${stockName} does not load and this is not a glibc system (musl?), which uWebSockets.js does not support:\n${loadError}`);
}

const binaryNames = readdirSync(pkgDir)
  .filter((f) => new RegExp(`^uws_linux_${arch}_(\\d+)\\.node$`).test(f))
  .sort();
const plans = [];
const unexpected = [];
for (const name of binaryNames) {
  const srcPath = join(pkgDir, name);
  const src = readFileSync(srcPath);
  const elf = parseElf(src, rel(srcPath));
  const tooNew = elf.undefinedSymbols.filter((s) => {
    const v = glibcVersionOf(s.version);
    return v && compareVersions(v, runtime) > 0;
  });
  for (const s of tooNew) {
    if (KNOWN.get(s.name) !== s.version) unexpected.push(`${name}: ${s.name}@${s.version} (${s.versionFile})`);
  }
  const tooNewVersions = new Set(tooNew.map((s) => `${s.versionFile}:${s.version}`));
  plans.push({ name, abi: /_(\d+)\.node$/.exec(name)[1], srcPath, src, tooNew, tooNewVersions });
}
if (unexpected.length) {
  die(
    `uWebSockets.js ${pkgVersion} needs glibc symbols that glibc ${runtimeStr} lacks and the shim does not provide:\n` +
      unexpected.map((u) => `  ${u}`).join('\n') +
      `\nThe shim only provides ${[...KNOWN.keys()].join(', ')} (GLIBC_2.38). Use a newer glibc (>= the versions above) or extend native/compat/isoc23_shim.c and scripts/uws-compat.mjs.`,
  );
}
const current = plans.find((p) => p.abi === abi);
if (!current.tooNew.length) {
  die(`the stock ${stockName} does not load, but not because of too-new glibc symbols (glibc ${runtimeStr}); the compat step cannot fix this:\n${loadError}`);
}

if (!existsSync(SHIM)) {
  die(`${rel(SHIM)} is missing: run \`npm install\` (its install script builds it with node-gyp), then re-run \`node scripts/uws-compat.mjs\``);
}
const shimExports = new Set(parseElf(readFileSync(SHIM), rel(SHIM)).definedSymbols);
const missingInShim = [...KNOWN.keys()].filter((s) => !shimExports.has(s));
if (missingInShim.length) die(`${rel(SHIM)} does not export ${missingInShim.join(', ')}: rebuild it (npm install)`);

// 3. Patched copies (written only when their content changes: the second run is fast).
mkdirSync(OUT_DIR, { recursive: true });
const binaries = {};
let written = 0;
for (const p of plans) {
  const out = Buffer.from(p.src);
  setWeakVersionNeeds(out, (need) => p.tooNewVersions.has(`${need.file}:${need.name}`), p.name);
  const check = parseElf(out, p.name).verneed.filter((n) => p.tooNewVersions.has(`${n.file}:${n.name}`));
  if (check.some((n) => !n.weak)) die(`patching ${p.name} failed: version need not weak after patch`);
  const outPath = join(OUT_DIR, p.name);
  let same = false;
  try {
    same = readFileSync(outPath).equals(out);
  } catch {}
  if (!same) {
    writeAtomic(outPath, out);
    written++;
  }
  binaries[p.abi] = {
    file: rel(outPath),
    source: rel(p.srcPath),
    sourceSha256: sha256(p.src),
    sha256: sha256(out),
    weakVersionNeeds: [...p.tooNewVersions].sort(),
    shimmedSymbols: p.tooNew.map((s) => s.name).sort(),
  };
}
for (const f of readdirSync(OUT_DIR)) {
  if (f !== 'manifest.json' && !plans.some((p) => p.name === f)) rmSync(join(OUT_DIR, f), { recursive: true, force: true });
}
const manifest = {
  shim: rel(SHIM),
  binaries,
  reason:
    `the stock uws_linux_${arch}_*.node of uWebSockets.js ${pkgVersion} do not load on glibc ${runtimeStr}: they import ` +
    `${[...new Set(plans.flatMap((p) => p.tooNew.map((s) => `${s.name}@${s.version}`)))].sort().join(', ')}; ` +
    `the copies here have that version need marked weak and take the symbols from the shim`,
  package: `uWebSockets.js ${pkgVersion}`,
  platform: `linux-${arch}`,
  glibcRuntime: runtimeStr,
};
const manifestText = JSON.stringify(manifest, null, 2) + '\n';
let manifestSame = false;
try {
  manifestSame = readFileSync(MANIFEST, 'utf8') === manifestText;
} catch {}
if (!manifestSame) writeAtomic(MANIFEST, manifestText);
log(
  written || !manifestSame
    ? `glibc ${runtimeStr} < 2.38: wrote ${written} patched binar${written === 1 ? 'y' : 'ies'}${manifestSame ? '' : ' and the manifest'} to ${rel(OUT_DIR)}/`
    : `glibc ${runtimeStr} < 2.38: ${rel(OUT_DIR)}/ is up to date (${plans.length} binaries)`,
);

// 4. Prove it: shim (RTLD_GLOBAL) + patched binary, App(), listen on an ephemeral port, one request.
const PROOF = `
const os = require('node:os');
const http = require('node:http');
const shim = { exports: {} };
process.dlopen(shim, process.env.UWS_COMPAT_SHIM, os.constants.dlopen.RTLD_NOW | os.constants.dlopen.RTLD_GLOBAL);
const r = shim.exports.strtol('0b101', 0);
if (r[0] !== 5n || r[1] !== 5) throw new Error('shim strtol("0b101", 0) returned ' + r.join(','));
const uws = require(process.env.UWS_COMPAT_BINARY);
const body = 'uws-compat proof ' + process.versions.modules;
const timer = setTimeout(() => { console.error('timed out'); process.exit(1); }, 15000);
uws.App().get('/*', (res) => { res.end(body); }).listen('127.0.0.1', 0, (token) => {
  if (!token) { console.error('listen on 127.0.0.1:0 failed'); process.exit(1); }
  const port = uws.us_socket_local_port(token);
  http.get({ host: '127.0.0.1', port, path: '/proof', agent: false }, (res) => {
    let data = '';
    res.setEncoding('utf8');
    res.on('data', (c) => { data += c; });
    res.on('end', () => {
      uws.us_listen_socket_close(token);
      clearTimeout(timer);
      if (res.statusCode !== 200 || data !== body) {
        console.error('unexpected answer: HTTP ' + res.statusCode + ' ' + JSON.stringify(data));
        process.exit(1);
      }
      console.log('HTTP ' + res.statusCode + ' from 127.0.0.1:' + port);
      process.exit(0);
    });
  }).on('error', (e) => { console.error(e.stack); process.exit(1); });
});
`;
const proof = spawnSync(process.execPath, ['-e', PROOF], {
  encoding: 'utf8',
  timeout: 60_000,
  env: { ...process.env, UWS_COMPAT_SHIM: SHIM, UWS_COMPAT_BINARY: join(OUT_DIR, stockName) },
});
if (proof.status !== 0) {
  die(`proof failed: shim + patched ${stockName} did not serve a request (exit ${proof.status ?? proof.signal}):\n${lastLines(proof.stderr || proof.error?.message || '')}`);
}
log(`proof ok: shim + patched ${stockName} (Node ${process.version}) served ${proof.stdout.trim()}`);
