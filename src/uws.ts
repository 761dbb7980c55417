// The only place the project loads uWebSockets.js.
//
// The prebuilt Linux binaries of uWebSockets.js 20.57.0 need glibc 2.38. On glibc 2.36/2.37,
// `npm install` (postinstall: scripts/uws-compat.mjs) writes patched copies of them to
// build/uws-compat/ plus a manifest; they load once the shim build/Release/uws_glibc_compat.node
// has been dlopen'ed with RTLD_GLOBAL (see native/compat/README.md). Without a manifest (glibc
// >= 2.38, macOS, Windows) the package is loaded as npm installed it.
//
// IMPORTANT: uWS reads process.env.UWS_HTTP_MAX_HEADERS_SIZE once, when its binary is loaded.
// Callers that want a different header size limit must set it BEFORE the first loadUws() call;
// later changes have no effect in this process.

import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { constants } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as UWS from 'uWebSockets.js';

export type UwsModule = typeof UWS;

interface CompatManifest {
  shim: string;
  binaries: Record<string, { file: string } | undefined>;
  platform?: string;
  reason?: string;
}

const FIX_HINT =
  'Run `npm install` (its postinstall runs the compat step) or `node scripts/uws-compat.mjs`; see docs/platforms.md.';

let cached: UwsModule | undefined;

/**
 * The package root: the nearest directory at or above `from` that has a package.json. This file
 * runs both as src/uws.ts (vitest) and as dist/src/uws.js (tsc output), so it is searched for.
 */
export function findPackageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`uws: no package.json found above ${from}`);
    dir = parent;
  }
}

/** build/uws-compat/manifest.json of the package root (it exists only where the compat step acted). */
export function compatManifestPath(root: string = findPackageRoot()): string {
  return join(root, 'build', 'uws-compat', 'manifest.json');
}

/** Loads (once) and returns the uWebSockets.js module. */
export function loadUws(): UwsModule {
  if (cached) return cached;
  const root = findPackageRoot();
  const require = createRequire(import.meta.url);
  const manifestPath = compatManifestPath(root);
  let manifest: CompatManifest | undefined;
  if (existsSync(manifestPath)) {
    try {
      manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as CompatManifest;
    } catch (e) {
      throw new Error(`uws: cannot read ${manifestPath}: ${(e as Error).message}. ${FIX_HINT}`, { cause: e });
    }
    // A build/ left over from another machine (e.g. a shared checkout) is not for us.
    if (manifest.platform && manifest.platform !== `${process.platform}-${process.arch}`) manifest = undefined;
  }
  cached = manifest ? loadPatched(root, manifestPath, manifest, require) : loadStock(require);
  return cached;
}

function loadStock(require: NodeRequire): UwsModule {
  try {
    return require('uWebSockets.js') as UwsModule;
  } catch (e) {
    const msg = (e as Error).message;
    const glibc = /GLIBC_\d+\.\d+' not found/.test(msg)
      ? ' The prebuilt binary needs a newer glibc than this system has and no compat copy exists (build/uws-compat/manifest.json is missing).'
      : '';
    throw new Error(`uws: cannot load uWebSockets.js.${glibc} ${FIX_HINT}\n${msg}`, { cause: e });
  }
}

function loadPatched(root: string, manifestPath: string, manifest: CompatManifest, require: NodeRequire): UwsModule {
  const abi = process.versions.modules;
  const entry = manifest.binaries?.[abi];
  if (!entry) {
    throw new Error(
      `uws: ${manifestPath} has no patched uWebSockets.js binary for Node ABI ${abi} (Node ${process.version}); ` +
        `it lists ABIs ${Object.keys(manifest.binaries ?? {}).join(', ') || 'none'}. ${FIX_HINT}`,
    );
  }
  const shimPath = resolve(root, manifest.shim);
  const binaryPath = resolve(root, entry.file);
  let native: UwsModule;
  try {
    // The shim must be in the global scope (RTLD_GLOBAL) before the patched binary is loaded,
    // so that the dynamic linker binds its __isoc23_* references to it. RTLD_NOW: fail here,
    // not at the first call.
    process.dlopen({ exports: {} }, shimPath, constants.dlopen.RTLD_NOW | constants.dlopen.RTLD_GLOBAL);
    native = require(binaryPath) as UwsModule;
  } catch (e) {
    throw new Error(
      `uws: cannot load the glibc-compat uWebSockets.js (shim ${shimPath}, binary ${binaryPath}). ${FIX_HINT}\n${(e as Error).message}`,
      { cause: e },
    );
  }
  return withPackageWrapper(native, require);
}

/**
 * Runs the package's own uws.js on top of the patched binary, so that the result is exactly what
 * `require('uWebSockets.js')` gives elsewhere (it adds DeclarativeResponse): the stock binary's
 * slot in the require cache is filled with the patched exports, so uws.js's
 * `require('./uws_<platform>_<arch>_<abi>.node')` returns them instead of loading the stock file.
 * This also makes any later `require`/`import` of 'uWebSockets.js' in this process get this
 * instance rather than fail.
 */
function withPackageWrapper(native: UwsModule, require: NodeRequire): UwsModule {
  try {
    const pkgDir = dirname(require.resolve('uWebSockets.js'));
    const stock = join(pkgDir, `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
    const key = existsSync(stock) ? realpathSync(stock) : stock;
    if (!require.cache[key]) {
      const m = new Module(key);
      m.filename = key;
      m.loaded = true;
      m.exports = native;
      require.cache[key] = m;
    }
    const wrapped = require('uWebSockets.js') as UwsModule;
    if (wrapped === native) return wrapped;
  } catch {
    // Fall through: the bare binary has everything but the JS-only DeclarativeResponse helper.
  }
  return native;
}
