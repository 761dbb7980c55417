/**
 * A uWebSockets.js call that must be made outside cork() while uWS.js 20.57.0 prints a warning
 * line to stderr for it every time (res.upgrade() of an asynchronous WebSocket upgrade; why it
 * must be uncorked: src/worker/actions/websocket.ts). The worker's stderr is its JSON log, so for
 * that one synchronous call fd 2 writes to /dev/null (native/uws_quiet.cc).
 */
import { nativeExport } from './addon.js';
import { log } from '../observability/log.js';

let quietStderr: ((on: boolean) => number) | null = null;
let failureLogged = false;

/** Runs `call` with this process's stderr sent to /dev/null (restored before returning or throwing). */
export function withoutUwsWarning(call: () => void): void {
  quietStderr ??= nativeExport<(on: boolean) => number>('quietStderr');
  const err = quietStderr(true);
  try {
    call();
  } finally {
    if (err === 0) quietStderr(false);
  }
  if (err !== 0 && !failureLogged) {
    failureLogged = true;
    log('warn', 'could not silence uWS.js\'s uncorked-write warning around a WebSocket upgrade: it may appear in this log', { errno: err });
  }
}
