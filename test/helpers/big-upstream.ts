/**
 * test/fixtures/big-upstream.mjs (bulk downloads and uploads) in its own process, so that it never
 * competes with the test's event loop, and the routes the streaming tests put in front of it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Starts it (TOTAL_BYTES: the size of its downloads, 200 MB by default); stop it with proc.kill(). */
export async function startBigUpstream(totalBytes?: number): Promise<{ proc: ChildProcess; url: string }> {
  const env = totalBytes === undefined ? process.env : { ...process.env, TOTAL_BYTES: String(totalBytes) };
  const proc = spawn(process.execPath, [fileURLToPath(new URL('../fixtures/big-upstream.mjs', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'], env });
  const port = await new Promise<string>((resolve) => proc.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
  return { proc, url: `http://127.0.0.1:${port}` };
}

/**
 * /big/* reads request bodies whole (spooled past limits.bodyBufferBytes), /streamed/* streams
 * them through; both strip their prefix. No route deadline: transfers this big outlast the
 * default 10 s on a busy box.
 */
export function bigRoutes(upstream: string): Record<string, unknown>[] {
  return [
    { id: 'big', paths: ['/big/*'], upstream, stripPrefix: '/big', timeoutMs: 0 },
    { id: 'streamed', paths: ['/streamed/*'], upstream, stripPrefix: '/streamed', timeoutMs: 0, requestBuffering: false },
  ];
}
