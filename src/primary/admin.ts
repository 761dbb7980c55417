/**
 * Admin API, served by the primary on admin.host:admin.port (node:http: it is not the hot path).
 * Every call but GET /healthz and the dashboard's page and files needs `Authorization: Bearer
 * <admin.token>`; the token is compared in constant time. Errors use the gateway's JSON error
 * shape (src/errors.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Supervisor } from './supervisor.js';
import { redactConfig } from '../config/index.js';
import { GATEWAY_ERRORS, errorBody, type GatewayErrorCode } from '../errors.js';
import { log } from '../observability/log.js';
import { peerAddress } from './audit.js';
import { metricsText } from './metrics.js';
import { LiveStats } from './live-stats.js';
import { dashboardData } from './dashboard/data.js';
import { DASHBOARD_HEADERS, DashboardAssets, isDashboardAsset } from './dashboard/serve.js';

/** Indented for people reading curl output; `compact` for what only the dashboard's script reads every second. */
function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, compact = false): void {
  const text = (compact ? JSON.stringify(body) : JSON.stringify(body, null, 2)) + '\n';
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, code: GatewayErrorCode, message: string, headers: Record<string, string> = {}): void {
  const text = errorBody(code, undefined, message) + '\n';
  res.writeHead(GATEWAY_ERRORS[code].status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function authorized(req: IncomingMessage, token: string | undefined): boolean {
  if (!token) return false; // no token configured: only /healthz is served
  const header = req.headers.authorization ?? '';
  const given = header.startsWith('Bearer ') ? header.slice(7) : '';
  return timingSafeEqual(digest(given), digest(token));
}

/**
 * `portOverride` (GATEWAY_ADMIN_PORT): listen there instead of admin.port, for a second gateway
 * started beside the first during an upgrade (node:http cannot share a port with SO_REUSEPORT).
 */
export function startAdmin(sup: Supervisor, portOverride?: number): Promise<Server | null> {
  const admin = sup.config.admin;
  if (!admin) return Promise.resolve(null);
  const port = portOverride ?? admin.port;
  const assets = new DashboardAssets();
  if (assets.error !== null) log('error', 'the dashboard cannot be served', { error: assets.error });
  const live = new LiveStats(sup.metrics);
  live.start();

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /healthz') return sendJson(res, 200, { status: 'ok' });
    // The page and its script hold no data: a browser gets them, then signs in (CONFIG.md).
    if (req.method === 'GET' && isDashboardAsset(url.pathname)) {
      if (!assets.serve(res, url.pathname)) sendError(res, 'internal_error', 'The dashboard files are missing from this installation.');
      return;
    }
    if (!authorized(req, sup.config.admin?.token)) {
      return sendError(res, 'unauthorized', 'Missing or invalid admin token.', { 'www-authenticate': 'Bearer' });
    }
    switch (route) {
      case 'GET /readyz': {
        // slots: each worker's process, the config version it runs and its state.
        const detail = { version: sup.version, slots: sup.workerStatus() };
        if (!sup.allReady) {
          return sendJson(res, 503, { status: 'starting', ready: sup.slots.filter((s) => s.ready).length, workers: sup.slots.length, ...detail });
        }
        // An upstream connection held by a request the gateway ended long ago means a worker's
        // pool is leaking and will run dry: not ready, so an orchestrator replaces this gateway.
        const stuck = sup.stuckConnections;
        if (stuck > 0) return sendJson(res, 503, { status: 'degraded', reason: 'upstream connections held by ended requests', stuckConnections: stuck, workers: sup.slots.length, ...detail });
        return sendJson(res, 200, { status: 'ready', workers: sup.slots.length, ...detail });
      }
      case 'GET /config': {
        const { source, address, at } = sup.loaded;
        return sendJson(res, 200, {
          version: sup.version,
          loadedAt: new Date(at).toISOString(),
          source,
          ...(address !== undefined ? { address } : {}),
          hash: sup.configHash,
          file: sup.options.configPath,
          config: redactConfig(sup.config),
        });
      }
      case 'POST /reload':
        return void sup.reload('admin', peerAddress(req.socket.remoteAddress)).then(
          (r) =>
            r.ok
              ? sendJson(res, 200, { version: r.version, complete: r.complete, workers: r.workers })
              : sendJson(res, 400, { version: sup.version, errors: r.errors }),
          (err) => sendError(res, 'internal_error', String(err)),
        );
      case 'GET /upstreams':
        return sendJson(res, 200, sup.upstreamStatus());
      case 'GET /metrics': {
        const text = metricsText(sup);
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        return void res.end(text);
      }
      case 'GET /dashboard/data':
        return sendJson(res, 200, dashboardData(sup, live), DASHBOARD_HEADERS, true);
      default:
        return sendError(res, 'not_found', 'No such admin endpoint.');
    }
  });
  server.on('close', () => live.stop());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, admin.host, () => {
      log('info', 'admin API listening', { host: admin.host, port: (server.address() as { port: number }).port });
      resolve(server);
    });
  });
}
