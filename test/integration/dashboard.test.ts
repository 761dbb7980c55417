/**
 * GET /dashboard on the real gateway, in a real browser (Debian's chromium, driven by
 * playwright-core; .ci/run installs it, and without it this test fails rather than skips):
 * - the page and its script are served without the token but show no data, with a CSP that
 *   allows no inline script; /dashboard/data is 401 without the token;
 * - signed in on the page (the token kept in sessionStorage), it shows the routes and the
 *   upstream targets, the requests/s rise under (bounded) load and fall back when it stops, a
 *   target taken down turns unhealthy, and a reload's new route appears, its id shown as text
 *   (a route id is the operator's text: markup in it is never run), and a target that answers
 *   only 503s shows its circuit breaker open.
 * UPDATE_SCREENSHOT=1 writes docs/dashboard.png (for the README) while the load runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT, freePort, sleep, startGateway, startUpstream, waitForLogLines, type Gateway, type Upstream } from '../helpers/gateway.js';

const TOKEN = 'admin-token-for-dashboard-tests-01';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const XSS_ID = '<img src=x onerror="window.__xss=1">';

let web1: Upstream;
let web2: Upstream;
let users: Upstream;
let failing: Upstream;
let gw: Gateway;
let adminPort: number;
let browser: Browser;
let page: Page;
let baseConfig: Record<string, unknown>;

function backend(name: string): Promise<Upstream> {
  return startUpstream((req, res) => {
    const body = JSON.stringify({ name, url: req.url });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}

/** Light load, bounded in count and time: two clients, a request each every 20 ms at most. */
function startLoad(): { stop: () => Promise<number> } {
  let running = true;
  let sent = 0;
  const deadline = Date.now() + 60_000;
  const client = async (path: string) => {
    while (running && sent < 5000 && Date.now() < deadline) {
      sent++;
      try {
        const r = await request(gw.url + path);
        await r.body.dump();
      } catch {
        // a target taken down may fail a request or two: not what this test looks at
      }
      await sleep(20);
    }
  };
  const done = Promise.all([client('/web/page'), client('/users/1'), client('/status')]);
  return {
    stop: async () => {
      running = false;
      await done;
      return sent;
    },
  };
}

const cell = (route: string, field: string) => page.locator(`#routes tr[data-route="${route}"] td.${field}`);
const health = (up: Upstream) => page.locator(`#targets tr[data-target="${up.url}"] td.health`);
const breaker = (up: Upstream) => page.locator(`#targets tr[data-target="${up.url}"] td.breaker`);

/** Polls `read` (bounded) until `ok` holds; the last value. */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await read();
  while (!ok(v)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await sleep(100);
    v = await read();
  }
  return v;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`chromium is not installed at ${CHROMIUM}: apt-get install chromium (.ci/run does), or set CHROMIUM_PATH`);
  [web1, web2, users] = await Promise.all([backend('web1'), backend('web2'), backend('users')]);
  // Every answer a 503: a failure for the circuit breaker (CONFIG.md), so its breaker opens.
  failing = await startUpstream((_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json', 'content-length': 2 });
    res.end('{}');
  });
  adminPort = await freePort();
  const active = { path: '/health', intervalMs: 300, timeoutMs: 250, healthyThreshold: 1, unhealthyThreshold: 2 };
  baseConfig = {
    admin: { host: '127.0.0.1', port: adminPort, token: 'env:TEST_ADMIN_TOKEN' },
    accessLog: false,
    upstreams: {
      web: { targets: [{ url: web1.url }, { url: web2.url }], healthCheck: { active }, circuitBreaker: {} },
      users: { targets: [{ url: users.url }], balancer: 'least-connections', healthCheck: { active } },
      failing: { targets: [{ url: failing.url }], circuitBreaker: { minRequests: 4, failureRatio: 0.5, openMs: 600_000 } },
    },
    routes: [
      { id: 'web-pages', paths: ['/web/*'], upstream: 'web' },
      { id: 'users-api', methods: ['GET'], paths: ['/users/:id'], upstream: 'users' },
      { id: 'status', paths: ['/status'], respond: { status: 200, body: 'ok' } },
      { id: 'failing', paths: ['/failing'], upstream: 'failing' },
    ],
  };
  gw = await startGateway(baseConfig, { env: { TEST_ADMIN_TOKEN: TOKEN } });
  await gw.waitForLog('"admin API listening"');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1180, height: 760 } });
});

afterAll(async () => {
  await browser?.close();
  await gw?.stop();
  await Promise.all([web1?.close(), web2?.close(), users?.close(), failing?.close()]);
});

describe('dashboard over HTTP', () => {
  it('the page and its files need no token and hold no data; a CSP allows only its own script', async () => {
    const html = await request(`http://127.0.0.1:${adminPort}/dashboard`);
    const text = await html.body.text();
    expect(html.statusCode).toBe(200);
    expect(html.headers['content-type']).toBe('text/html; charset=utf-8');
    const csp = String(html.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(html.headers['x-frame-options']).toBe('DENY');
    expect(text).toContain('<script src="/dashboard/dashboard.js" defer></script>');
    expect(text).not.toMatch(/<script>|<script [^s]/); // no inline script
    expect(text).not.toContain('web-pages');
    for (const file of ['dashboard.js', 'dashboard.css']) {
      const r = await request(`http://127.0.0.1:${adminPort}/dashboard/${file}`);
      expect(r.statusCode).toBe(200);
      expect(await r.body.text()).toBe(readFileSync(join(ROOT, 'src/primary/dashboard', file), 'utf8'));
    }
  });

  it('/dashboard/data: 401 without the token, the routes and targets with it', async () => {
    const no = await request(`http://127.0.0.1:${adminPort}/dashboard/data`);
    expect(no.statusCode).toBe(401);
    expect((await no.body.json()) as unknown).toMatchObject({ error: { status: 401, code: 'unauthorized' } });
    const yes = await request(`http://127.0.0.1:${adminPort}/dashboard/data`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(yes.statusCode).toBe(200);
    expect(yes.headers['cache-control']).toBe('no-store');
    const d = (await yes.body.json()) as { routes: Array<{ id: string }>; upstreams: Record<string, { targets: Array<{ url: string; health: string }> }>; config: { version: number } };
    expect(d.routes.map((r) => r.id)).toEqual(['web-pages', 'users-api', 'status', 'failing']);
    expect(d.upstreams.web.targets.map((t) => [t.url, t.health])).toEqual([[web1.url, 'healthy'], [web2.url, 'healthy']]);
    expect(d.config.version).toBe(1);
  });
});

describe('dashboard in chromium', () => {
  it('asks for the token, shows nothing without it, and refuses a wrong one', async () => {
    await page.goto(`http://127.0.0.1:${adminPort}/dashboard`);
    await page.locator('#login').waitFor({ state: 'visible' });
    expect(await page.locator('#data').isVisible()).toBe(false);
    expect(await page.locator('#routes tbody tr').count()).toBe(0);
    await page.fill('#token', 'not-the-token');
    await page.click('#login button[type=submit]');
    await until(() => page.locator('#login-error').textContent(), (t) => t === 'That token was not accepted.', 'the refusal');
    expect(await page.locator('#data').isVisible()).toBe(false);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  });

  it('signed in: routes and targets; a failing target\'s breaker opens; requests/s rise under load and fall when it stops; a reload\'s route id is text; a target taken down turns unhealthy', async () => {
    await page.fill('#token', TOKEN);
    await page.click('#login button[type=submit]');
    await page.locator('#data').waitFor({ state: 'visible' });
    expect(await page.locator('#login').isVisible()).toBe(false);
    expect(await page.locator('#routes tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-route')))).toEqual(['web-pages', 'users-api', 'status', 'failing']);
    expect(await cell('users-api', 'to').textContent()).toBe('users');
    expect(await health(web2).textContent()).toBe('healthy');
    // Kept for the session: a reload of the page needs no new sign-in.
    await page.reload();
    await page.locator('#data').waitFor({ state: 'visible' });
    expect(await page.locator('#login').isVisible()).toBe(false);
    const rps = async (route: string) => Number(await cell(route, 'rps').textContent());
    expect(await rps('web-pages')).toBe(0);

    // A target that answers only 503s: its breaker opens (per worker; the page shows the most
    // open state over the workers), the targets that answer stay closed.
    expect(await breaker(failing).textContent()).toBe('closed');
    // One keep-alive client: one connection, so one worker sees every failure.
    let last: { error?: { code?: string } } = {};
    for (let i = 0; i < 10; i++) {
      const r = await request(gw.url + '/failing');
      expect(r.statusCode).toBe(503);
      last = (await r.body.json()) as { error?: { code?: string } };
    }
    expect(last.error?.code).toBe('circuit_open'); // the open breaker answers: the upstream is not asked
    await until(() => breaker(failing).textContent(), (t) => t === 'open', 'the failing target\'s breaker open on the page');
    expect(await page.locator(`#targets tr[data-target="${failing.url}"] .badge.open`).count()).toBe(1);
    expect(await breaker(web1).textContent()).toBe('closed');

    const load = startLoad();
    try {
      await until(() => rps('web-pages'), (v) => v > 0, 'web-pages requests/s above 0');
      await until(() => rps('users-api'), (v) => v > 0, 'users-api requests/s above 0');
      expect(await cell('web-pages', 'errors').textContent()).toBe('0.0 %');
      expect(await cell('web-pages', 'p99').textContent()).toMatch(/^\d+(\.\d+)? ms$/);

      // A reload that adds a route whose id is markup: shown as text, never run.
      const withOdd = structuredClone(baseConfig) as { routes: unknown[] };
      withOdd.routes.push({ id: XSS_ID, paths: ['/odd'], respond: { status: 204 } });
      writeFileSync(gw.configPath, JSON.stringify({ ...withOdd, workers: 2, listen: { host: '127.0.0.1', port: gw.port } }));
      gw.proc.kill('SIGHUP');
      await waitForLogLines(gw, 'config audit', 1);
      await until(() => page.locator('#config-version').textContent(), (t) => t === 'v2', 'config v2 on the page');
      const odd = page.locator('#routes tbody tr').nth(4);
      expect(await odd.locator('td.id').textContent()).toBe(XSS_ID);
      expect(await odd.getAttribute('data-route')).toBe(XSS_ID);
      expect(await page.locator('#routes img').count()).toBe(0);
      expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
      writeFileSync(gw.configPath, JSON.stringify({ ...baseConfig, workers: 2, listen: { host: '127.0.0.1', port: gw.port } }));
      gw.proc.kill('SIGHUP');
      await waitForLogLines(gw, 'config audit', 2);
      await until(() => page.locator('#routes tbody tr').count(), (n) => n === 4, 'the odd route gone');

      // One of web's two targets goes down: its active health check turns it unhealthy.
      await web2.close();
      await until(() => health(web2).textContent(), (t) => t === 'unhealthy', 'web2 unhealthy on the page');
      expect(await health(web1).textContent()).toBe('healthy');
      expect(await page.locator(`#targets tr[data-target="${web2.url}"] .badge.unhealthy`).count()).toBe(1);

      if (process.env.UPDATE_SCREENSHOT === '1') {
        await until(() => rps('web-pages'), (v) => v > 0, 'traffic for the screenshot');
        await page.screenshot({ path: join(ROOT, 'docs/dashboard.png'), fullPage: true });
      }
    } finally {
      await load.stop();
    }
    // The window is a few seconds: the rates fall back to 0 once the load stopped.
    // Read beside the page: what /dashboard/data says and the page's own status line, so a
    // failure tells a page that stopped updating from a window that does not empty.
    const apiRps = async (route: string) => {
      const r = await request(`http://127.0.0.1:${adminPort}/dashboard/data`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const d = (await r.body.json()) as { routes: Array<{ id: string; rps: number }> };
      return d.routes.find((x) => x.id === route)?.rps;
    };
    await until(
      async () => ({ page: await rps('web-pages'), data: await apiRps('web-pages'), status: await page.locator('#status').textContent() }),
      (v) => v.page === 0,
      'web-pages requests/s back to 0',
      20_000,
    );
    expect(await rps('users-api')).toBe(0);
  });
  it('a poll whose answer cannot be read (not JSON) does not stop the page: it says so and updates again on the next poll', async () => {
    await page.locator('#data').waitFor({ state: 'visible' });
    let broken = 0;
    await page.route('**/dashboard/data', async (route) => {
      if (broken++ === 0) await route.fulfill({ status: 200, contentType: 'application/json', body: '{"routes": [' });
      else await route.continue();
    });
    try {
      await until(() => page.locator('#status').textContent(), (t) => t === 'the gateway does not answer; retrying', 'the failed poll on the page');
      await until(() => page.locator('#status').textContent(), (t) => t?.startsWith('updated ') === true, 'the page updating again');
    } finally {
      await page.unroute('**/dashboard/data');
    }
    expect(broken).toBeGreaterThan(1);
  });
});
