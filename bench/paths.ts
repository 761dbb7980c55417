/** Where things are: the package root, the compiled bench scripts, the gateway launcher. */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function packageRoot(from: string): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`bench: no package.json above ${from}`);
    dir = parent;
  }
}

/** The directory this module runs from: dist/bench when compiled. */
export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = packageRoot(BENCH_DIR);
export const GATEWAY_BIN = join(ROOT, 'bin', 'gateway.js');
/** A compiled script of the suite that runs as its own process (e.g. 'upstream-server.js'). */
export function benchScript(rel: string): string {
  return join(BENCH_DIR, rel);
}
