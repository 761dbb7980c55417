/**
 * The worker's WebSocket front: one uWS `app.ws('/*')` behavior next to the HTTP catch-all.
 *
 * How uWS routes an upgrade: `app.ws` registers a GET handler of higher priority than `any`; it
 * takes a GET whose Sec-WebSocket-Key is 24 characters long and calls our `upgrade`, and yields
 * every other request to the catch-all. So the upgrade handler sees WebSocket handshakes only,
 * and hands them to the same front as every request (front.ts handleRequest: head checks,
 * routing, the route's plugins), with uWS's context so the route's transaction can upgrade.
 * A GET with such a key but without `Upgrade: websocket` / `Connection: upgrade` is no handshake:
 * it is handled as a plain request.
 *
 * Settings that are the App's, not a route's (uWS fixes them when the behavior is registered):
 *   - maxPayloadLength: twice the largest route maxMessageBytes at start (at least twice the
 *     default). Each route's own limit is checked on every message (a clean 1009); uWS itself
 *     cuts a client whose message passes its limit, without a close frame;
 *   - idleTimeout 0: the route's idleTimeoutMs is kept by the relay to the millisecond (uWS
 *     counts in 4 s ticks and accepts only 0 or 8..960 s);
 *   - maxBackpressure far above the relay's HIGH_WATER, so uWS never drops a message: the relay
 *     pauses the upstream instead (ws-relay.ts).
 */
import type { TemplatedApp } from 'uWebSockets.js';
import type { WorkerHost } from './transaction.js';
import { handleRequest } from './front.js';
import { loadUws } from '../uws.js';
import type { RelayData } from './ws-relay.js';
import { log } from '../observability/log.js';

const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Far above what the relay lets build up (it pauses the upstream at HIGH_WATER). */
const MAX_BACKPRESSURE = 1024 * 1024 * 1024;

/** uWS's own limit on a client message for this worker's life. */
let uwsMessageLimit = 0;

/** The limit uWS enforces on client messages when `largest` is the largest route maxMessageBytes. */
export function uwsPayloadLimit(largest: number): number {
  return 2 * Math.max(largest, DEFAULT_MAX_MESSAGE_BYTES);
}

/** A handshake: `Upgrade: websocket` and a Connection header listing `upgrade`. */
function isHandshake(upgrade: string, connection: string): boolean {
  if (upgrade.length !== 9 || upgrade.toLowerCase() !== 'websocket') return false;
  return connection.toLowerCase().split(',').some((t) => t.trim() === 'upgrade');
}

export function installWebSockets(app: TemplatedApp, host: WorkerHost, largestMessageBytes: number): void {
  const uws = loadUws();
  uwsMessageLimit = uwsPayloadLimit(largestMessageBytes);
  app.ws<RelayData>('/*', {
    maxPayloadLength: uwsMessageLimit,
    idleTimeout: 0,
    maxBackpressure: MAX_BACKPRESSURE,
    closeOnBackpressureLimit: false,
    sendPingsAutomatically: false,
    maxLifetime: 0,
    compression: uws.DISABLED,
    upgrade: (res, req, context) => {
      if (isHandshake(req.getHeader('upgrade'), req.getHeader('connection'))) handleRequest(host, res, req, context);
      else handleRequest(host, res, req);
    },
    open: (ws) => ws.getUserData().relay.attach(ws),
    message: (ws, message, isBinary) => ws.getUserData().relay.fromClient(message, isBinary),
    drain: (ws) => ws.getUserData().relay.clientDrained(),
    ping: (ws, message) => ws.getUserData().relay.clientPing(message),
    pong: (ws, message) => ws.getUserData().relay.clientPong(message),
    close: (ws, code, message) => ws.getUserData().relay.clientClosed(code, message),
    dropped: (ws) => {
      // Never expected (maxBackpressure is far above what the relay allows): say so, and close.
      log('error', 'uWS dropped a relayed WebSocket message');
      ws.getUserData().relay.closeBoth(1008, 'client not reading');
    },
  });
}

/** A reload whose routes allow larger messages than uWS was started with: those take a restart. */
export function checkMessageLimit(largestMessageBytes: number): void {
  if (uwsMessageLimit !== 0 && largestMessageBytes > uwsMessageLimit) {
    log('warn', 'websocket.maxMessageBytes is over the limit this worker\'s uWS was started with: larger client messages are cut until a restart', {
      limitBytes: uwsMessageLimit, largestMaxMessageBytes: largestMessageBytes,
    });
  }
}
