/**
 * Bodies stream both ways with backpressure: 200 MB up and 200 MB down pass through while
 * the workers' memory stays flat, and a client that stops reading does not make the gateway
 * buffer the upstream's answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { sleep, startGateway, startUpstream, type Gateway, type Upstream } from '../helpers/gateway.js';
import { childPids, rssBytes } from '../helpers/procs.js';

const MB = 1024 * 1024;
const TOTAL = 200 * MB;
const CHUNK = Buffer.alloc(64 * 1024, 'abcdefgh');

let up: Upstream;
let gw: Gateway;
let downloadWritten = 0;

beforeAll(async () => {
  up = await startUpstream((req, res) => {
    if (req.method === 'POST') {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (c: Buffer) => {
        bytes += c.length;
        hash.update(c);
      });
      req.on('end', () => res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') })));
      return;
    }
    const chunked = req.url!.includes('chunked');
    res.writeHead(200, chunked ? {} : { 'content-length': TOTAL });
    downloadWritten = 0;
    const pump = () => {
      while (downloadWritten < TOTAL) {
        downloadWritten += CHUNK.length;
        if (!res.write(CHUNK)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  gw = await startGateway({
    limits: { maxBodyBytes: 512 * MB },
    upstreams: { big: { targets: [{ url: up.url }] } },
    routes: [{ id: 'big', paths: ['/big/*'], upstream: 'big' }],
  });
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

function maxWorkerRss(gwPid: number): number {
  return Math.max(...childPids(gwPid).map(rssBytes));
}

describe('streaming', () => {
  it('uploads 200 MB with flat worker memory and the body intact', async () => {
    const before = maxWorkerRss(gw.proc.pid!);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, maxWorkerRss(gw.proc.pid!))), 100);
    const hash = createHash('sha256');
    async function* body() {
      for (let sent = 0; sent < TOTAL; sent += CHUNK.length) {
        hash.update(CHUNK);
        yield CHUNK;
      }
    }
    const res = await request(gw.url + '/big/up', { method: 'POST', body: body(), headers: { 'content-length': String(TOTAL) } });
    const result = (await res.body.json()) as { bytes: number; sha256: string };
    clearInterval(sampler);
    expect(res.statusCode).toBe(200);
    expect(result.bytes).toBe(TOTAL);
    expect(result.sha256).toBe(hash.digest('hex'));
    expect(peak - before).toBeLessThan(64 * MB);
  });

  it.each(['/big/down', '/big/down-chunked'])('downloads 200 MB from %s with flat worker memory', async (path) => {
    const before = maxWorkerRss(gw.proc.pid!);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, maxWorkerRss(gw.proc.pid!))), 100);
    const res = await request(gw.url + path);
    let bytes = 0;
    for await (const c of res.body) bytes += (c as Buffer).length;
    clearInterval(sampler);
    expect(res.statusCode).toBe(200);
    expect(bytes).toBe(TOTAL);
    expect(peak - before).toBeLessThan(64 * MB);
  });

  it('a client that stops reading stalls the upstream instead of filling the gateway', async () => {
    const sock = connect(gw.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write('GET /big/down HTTP/1.1\r\nHost: x\r\n\r\n');
    sock.pause(); // read nothing
    await sleep(1500);
    const writtenWhilePaused = downloadWritten;
    const rss = maxWorkerRss(gw.proc.pid!);
    await sleep(500);
    // The upstream is held back by backpressure: it has written only what the socket buffers
    // along the way hold, far from 200 MB, and no more while the client still does not read.
    expect(writtenWhilePaused).toBeLessThan(64 * MB);
    expect(downloadWritten - writtenWhilePaused).toBeLessThan(4 * MB);
    expect(rss).toBeLessThan(256 * MB);
    sock.destroy();
  });
});
