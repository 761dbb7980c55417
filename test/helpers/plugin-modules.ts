/**
 * Plugin modules for tests: a temp directory laid out as a user's would be, with the gateway
 * installed as a dependency (node_modules/uws-gateway, a symlink to this checkout), so a module
 * written there imports `uws-gateway/plugin` through the package's exports like a real one.
 */
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './gateway.js';

export interface PluginDir {
  readonly dir: string;
  /** Writes a file (a module, a config) in the directory; returns its path. */
  write(name: string, text: string): string;
  /** Writes a config file (JSON) in the directory; returns its path. */
  config(config: unknown, name?: string): string;
}

export function pluginDir(): PluginDir {
  const dir = mkdtempSync(join(tmpdir(), 'gw-plugins-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', 'uws-gateway'), 'dir');
  return {
    dir,
    write(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
    config(config, name = 'gateway.json') {
      return this.write(name, JSON.stringify(config, null, 2));
    },
  };
}

/** A module source exporting `descriptor` (JavaScript text of an object literal) via definePlugin. */
export function pluginSource(descriptor: string, imports = 'definePlugin, Type'): string {
  return `import { ${imports} } from 'uws-gateway/plugin';\nexport default definePlugin(${descriptor});\n`;
}
