/**
 * The one loader of the gateway's addon, build/Release/gateway_native.node under the package
 * root (built by `npm install` with node-gyp). Every native facade gets its class or function
 * here by name; there is deliberately no silent fallback to a reference implementation.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { findPackageRoot } from '../uws.js';

let addon: Record<string, unknown> | null = null;
let loadError: Error | null = null;

function load(): Record<string, unknown> {
  if (addon !== null) return addon;
  if (loadError !== null) throw loadError;
  let file = '(package root not found)';
  try {
    file = join(findPackageRoot(), 'build', 'Release', 'gateway_native.node');
    addon = createRequire(import.meta.url)(file) as Record<string, unknown>;
    return addon;
  } catch (err) {
    loadError = new Error(
      `the native addon could not be loaded from ${file}: run \`npm install\` (it builds it with node-gyp). Cause: ${(err as Error).message}`,
      { cause: err },
    );
    throw loadError;
  }
}

/** The addon's export `name` (a class or a function); throws with the fix if it is missing. */
export function nativeExport<T>(name: string): T {
  const value = load()[name];
  if (typeof value !== 'function') {
    throw new Error(`build/Release/gateway_native.node does not export ${name} (a stale build?): run \`npm install\``);
  }
  return value as T;
}
