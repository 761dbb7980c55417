/**
 * The dashboard's static files (index.html, dashboard.js, dashboard.css in this folder): plain
 * files, no build step, read once when the admin API starts. They are read from the source tree
 * (src/primary/dashboard/, beside this file's source), where a clone and the npm package have
 * them, so `npm run build` needs no copy step and can never serve a stale copy.
 *
 * The page holds no data (the login form and empty tables): it may be served without the token.
 * Its data comes from GET /dashboard/data, which needs it.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';

/** dist/src/primary/dashboard/serve.js -> <package>/src/primary/dashboard/ */
const ASSET_DIR = fileURLToPath(new URL('../../../../src/primary/dashboard/', import.meta.url));

const FILES = {
  '/dashboard': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
} as const;

export type DashboardAsset = keyof typeof FILES;

/**
 * Only the page's own script, style and data: no inline script or style, no other origin, no
 * framing, no form posts anywhere (the login form is handled by the script).
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Headers of every dashboard answer, the data's included. */
export const DASHBOARD_HEADERS = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
} as const;

export function isDashboardAsset(path: string): path is DashboardAsset {
  return Object.prototype.hasOwnProperty.call(FILES, path);
}

export class DashboardAssets {
  readonly #bodies = new Map<DashboardAsset, Buffer>();
  /** Why the files could not be read (a broken install), or null. */
  readonly error: string | null = null;

  constructor(dir = ASSET_DIR) {
    try {
      for (const [path, { file }] of Object.entries(FILES)) this.#bodies.set(path as DashboardAsset, readFileSync(dir + file));
    } catch (err) {
      this.error = `cannot read the dashboard's files in ${dir}: ${(err as Error).message}`;
    }
  }

  /** Writes the asset; false when the files could not be read. */
  serve(res: ServerResponse, path: DashboardAsset): boolean {
    const body = this.#bodies.get(path);
    if (body === undefined) return false;
    res.writeHead(200, { ...DASHBOARD_HEADERS, 'content-type': FILES[path].type, 'content-length': body.length });
    res.end(body);
    return true;
  }
}
