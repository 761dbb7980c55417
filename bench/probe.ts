/**
 * The event-loop probe: while the load generator runs, one small request every `intervalMs` to
 * a route the gateway answers itself (a `respond` route), each on a fresh connection so that
 * SO_REUSEPORT spreads the probes over the workers. A worker whose event loop is busy (a merge
 * of a megabyte of JSON, say) answers its probe late: the probe's latency is the event-loop
 * delay a request arriving at a random moment sees, measured from outside, with nothing added
 * to the gateway.
 */
import { connect } from 'node:net';
import { newHistogram, summarize, type LatencySummary } from './histogram.js';

export interface ProbeResult extends LatencySummary {
  count: number;
  failed: number;
}

function once(port: number, path: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const sock = connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('probe timed out'));
    }, timeoutMs);
    sock.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (got.includes('\r\n\r\n')) {
        const us = Number(process.hrtime.bigint() - t0) / 1000;
        clearTimeout(timer);
        sock.destroy();
        if (got.startsWith('HTTP/1.1 2')) resolve(us);
        else reject(new Error(`probe got ${got.slice(0, 12)}`));
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.write(`GET ${path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n`);
  });
}

/** Starts probing; stop() ends it and gives the latency summary (µs). */
export function startProbe(port: number, path: string, intervalMs = 10): { stop(): Promise<ProbeResult> } {
  const hist = newHistogram();
  let failed = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      try {
        hist.recordValue(Math.max(1, Math.round(await once(port, path, 10_000))));
      } catch {
        failed++;
      }
      const wait = intervalMs - (Date.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { ...summarize(hist), count: hist.totalCount, failed };
    },
  };
}
