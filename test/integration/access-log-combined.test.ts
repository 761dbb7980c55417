/**
 * accessLog.format "combined": the real gateway writes Apache/nginx combined lines to a file.
 * Each line is checked whole: client address, consumer (the apiKey consumer, or "-"), the CLF
 * time, the quoted request line with its query, status, body bytes, referer and user agent,
 * "-" for a missing field, and `"`, `\` and control bytes escaped as \xHH inside the quotes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewayCli, rawRequest, sleep, startGateway, startUpstream, type Gateway, type Upstream } from '../helpers/gateway.js';

const KEY = 'acme-key-0123456789';
const BODY = 'hello, combined';

let up: Upstream;
let gw: Gateway;
let logPath: string;

beforeAll(async () => {
  up = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(BODY) });
    res.end(BODY);
  });
  logPath = join(mkdtempSync(join(tmpdir(), 'gw-combined-')), 'access.log');
  gw = await startGateway({
    workers: 1,
    accessLog: { path: logPath, format: 'combined' },
    upstreams: { app: { targets: [{ url: up.url }] } },
    consumers: [{ id: 'acme', apiKeys: [gatewayCli('hash-key', KEY + '\n')] }],
    routes: [
      { id: 'private', paths: ['/private/*'], upstream: 'app', plugins: { apiKey: {} } },
      { id: 'public', paths: ['/public/*'], upstream: 'app' },
    ],
  });
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

/** One raw request (latin1 bytes as written) on its own connection: "status bodyBytes" of its answer. */
async function send(lines: string[]): Promise<string> {
  const raw = await rawRequest(gw.port, Buffer.from([...lines, 'Connection: close', '', ''].join('\r\n'), 'latin1'));
  const status = /^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1];
  return `${status} ${raw.length - raw.indexOf('\r\n\r\n') - 4}`;
}

async function logLinesWith(count: number): Promise<string[]> {
  for (let i = 0; i < 200; i++) {
    const lines = existsSync(logPath) ? readFileSync(logPath, 'utf8').split('\n').filter((l) => l !== '') : [];
    if (lines.length >= count) return lines;
    await sleep(50);
  }
  throw new Error(`the access log did not get ${count} lines`);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const LINE = /^(\S+) - (\S+) \[(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) \+0000\] (.*)$/;

describe('access log, combined format', () => {
  it('writes each request as one exact combined line, with escaping inside the quoted fields', async () => {
    const before = Math.floor(Date.now() / 1000) * 1000;
    // A consumer, a query with a `"`, a referer, a user agent with `"`, `\` and a tab.
    const a = await send([
      'GET /private/a?q="x"&n=1 HTTP/1.1',
      'Host: gw',
      `X-Api-Key: ${KEY}`,
      'Referer: http://ref.example/page',
      'User-Agent: agent "quoted" back\\slash\ttab',
    ]);
    expect(a).toBe(`200 ${BODY.length}`);
    // No consumer (rejected by apiKey), no referer, no user agent.
    const b = await send(['GET /private/b HTTP/1.1', 'Host: gw']);
    expect(b).toMatch(/^401 \d+$/);
    // Anonymous on a public route; a DEL byte in the path (refused, and escaped in the line; an
    // answer given before the headers are read logs "-" for referer and user agent).
    const c = await send(['GET /public/c HTTP/1.1', 'Host: gw', 'User-Agent: curl/8.5.0']);
    expect(c).toBe(`200 ${BODY.length}`);
    const d = await send(['GET /public/\x7fd HTTP/1.1', 'Host: gw']);
    expect(d).toMatch(/^400 \d+$/);
    const after = Date.now();

    const lines = await logLinesWith(4);
    expect(lines).toHaveLength(4);
    const rest: string[] = [];
    for (const line of lines) {
      const m = LINE.exec(line);
      expect(m, line).not.toBeNull();
      const [, client, , day, mon, year, h, min, s, tail] = m!;
      expect(client).toBe('127.0.0.1');
      expect(MONTHS).toContain(mon);
      const at = Date.UTC(Number(year), MONTHS.indexOf(mon), Number(day), Number(h), Number(min), Number(s));
      expect(at).toBeGreaterThanOrEqual(before);
      expect(at).toBeLessThanOrEqual(after);
      rest.push(`${m![2]} ${tail}`);
    }
    expect(rest.sort()).toEqual(
      [
        `acme "GET /private/a?q=\\x22x\\x22&n=1 HTTP/1.1" ${a} "http://ref.example/page" "agent \\x22quoted\\x22 back\\x5cslash\\x09tab"`,
        `- "GET /private/b HTTP/1.1" ${b} "-" "-"`,
        `- "GET /public/c HTTP/1.1" ${c} "-" "curl/8.5.0"`,
        `- "GET /public/\\x7fd HTTP/1.1" ${d} "-" "-"`,
      ].sort(),
    );
  });
});
