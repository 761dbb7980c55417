/**
 * Path normalization and request framing, through the real gateway: path tricks cannot reach
 * another route, smuggling-shaped requests are refused and never forwarded, limits hold.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { echoUpstream, startGateway, rawRequest, type Gateway, type Upstream } from '../helpers/gateway.js';

let pub: Upstream;
let priv: Upstream;
let gw: Gateway;

beforeAll(async () => {
  pub = await echoUpstream({ 'x-from': 'public' });
  priv = await echoUpstream({ 'x-from': 'private' });
  gw = await startGateway({
    limits: { maxBodyBytes: 1000, maxHeaderBytes: 4096, requestTimeoutMs: 500 },
    upstreams: { pub: { targets: [{ url: pub.url }] }, priv: { targets: [{ url: priv.url }] } },
    routes: [
      { id: 'public', paths: ['/public/*'], upstream: 'pub' },
      { id: 'private', paths: ['/private/*', '/private'], upstream: 'priv' },
      { id: 'files', paths: ['/files/:name'], upstream: 'pub' },
    ],
  });
});

afterAll(async () => {
  await gw?.stop();
  await pub?.close();
  await priv?.close();
});

function statusOf(raw: string): number {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(raw);
  return m ? Number(m[1]) : 0;
}

function bodyOf(raw: string): any {
  return JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
}

async function rawGet(path: string): Promise<string> {
  return rawRequest(gw.port, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`, 600);
}

describe('path normalization', () => {
  it.each([
    ['/public/../private/x', 'private', '/private/x'],
    ['/public/%2e%2e/private/x', 'private', '/private/x'],
    ['/public/%2E%2E/private/x', 'private', '/private/x'],
    ['/public/.%2e/private/x', 'private', '/private/x'],
    ['//private//x', 'private', '/private/x'],
    ['/public/./a/./b', 'public', '/public/a/b'],
    ['/%70ublic/a', 'public', '/public/a'],
  ])('%s is matched (and forwarded) as %s %s', async (path, from, forwarded) => {
    const raw = await rawGet(path);
    expect(statusOf(raw)).toBe(200);
    expect(raw).toContain(`x-from: ${from}`);
    expect(bodyOf(raw).url).toBe(forwarded);
  });

  it.each(['/..', '/public/../../private', '/%2e%2e/private', '/public/%zz', '/public/%4'])('%s is 400', async (path) => {
    const raw = await rawGet(path);
    expect(statusOf(raw)).toBe(400);
    expect(bodyOf(raw).error.code).toBe('bad_path');
  });

  it('%2F stays encoded and is not a separator', async () => {
    const raw = await rawGet('/files/a%2fb');
    expect(statusOf(raw)).toBe(200);
    expect(bodyOf(raw).url).toBe('/files/a%2Fb');
  });

  it('matching is case-sensitive: /PRIVATE is not /private', async () => {
    expect(statusOf(await rawGet('/PRIVATE/x'))).toBe(404);
  });
});

describe('request framing', () => {
  it('Content-Length with Transfer-Encoding is 400 and never forwarded', async () => {
    const before = priv.requests;
    const raw = await rawRequest(
      gw.port,
      'POST /private/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    expect(statusOf(raw)).toBe(400);
    expect(priv.requests).toBe(before);
  });

  it('two Content-Length headers are 400 with Connection: close and never forwarded', async () => {
    const before = priv.requests;
    const raw = await rawRequest(gw.port, 'POST /private/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 30\r\n\r\nhello');
    expect(statusOf(raw)).toBe(400);
    expect(raw.toLowerCase()).toContain('connection: close');
    expect(bodyOf(raw).error.code).toBe('bad_request');
    expect(priv.requests).toBe(before);
  });

  it('a request smuggled behind two Content-Lengths is never served', async () => {
    const before = { priv: priv.requests, pub: pub.requests };
    const raw = await rawRequest(
      gw.port,
      'POST /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 30\r\n\r\nhelloGET /private/smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    // Either the 400 alone, or (uWS's choice when more requests follow a pending answer) the
    // connection dropped; never a second answer.
    expect((raw.match(/HTTP\/1\.1 /g) ?? []).length).toBeLessThanOrEqual(1);
    if (raw) expect(statusOf(raw)).toBe(400);
    expect(priv.requests).toBe(before.priv);
    expect(pub.requests).toBe(before.pub);
  });

  it('a duplicate Host is 400', async () => {
    const raw = await rawRequest(gw.port, 'GET /public/a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n');
    expect(statusOf(raw)).toBe(400);
  });

  it('CRLF injection in a header value does not split the request', async () => {
    const before = priv.requests;
    const raw = await rawRequest(gw.port, 'GET /public/a HTTP/1.1\r\nHost: x\r\nX-A: b\rGET /private/x HTTP/1.1\r\n\r\n');
    expect([0, 400]).toContain(statusOf(raw));
    expect(priv.requests).toBe(before);
  });

  it('a request head over maxHeaderBytes is 431', async () => {
    const raw = await rawRequest(gw.port, `GET /public/a HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\n`);
    expect(statusOf(raw)).toBe(431);
  });

  it('a Content-Length over maxBodyBytes is 413 and the upstream never sees it', async () => {
    const before = pub.requests;
    const raw = await rawRequest(gw.port, `POST /public/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n${'x'.repeat(1001)}`);
    expect(statusOf(raw)).toBe(413);
    expect(bodyOf(raw).error.code).toBe('body_too_large');
    expect(pub.requests).toBe(before);
  });

  it('a chunked body over maxBodyBytes is 413', async () => {
    const chunk = 'x'.repeat(600);
    const raw = await rawRequest(
      gw.port,
      `POST /public/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`,
    );
    expect(statusOf(raw)).toBe(413);
  });

  it('a chunked body within the limit is forwarded whole', async () => {
    const raw = await rawRequest(gw.port, `POST /public/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n`);
    expect(statusOf(raw)).toBe(200);
    // The echo upstream answers with a Content-Length, so the relayed answer is not chunked.
    expect(bodyOf(raw).bodyBytes).toBe(8);
  });

  it('a body that does not arrive within requestTimeoutMs is 408 and closes the connection', async () => {
    const before = pub.requests;
    const raw = await rawRequest(gw.port, 'POST /public/a HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-part', 1500);
    expect(statusOf(raw)).toBe(408);
    expect(bodyOf(raw).error.code).toBe('request_timeout');
    expect(raw.toLowerCase()).toContain('connection: close');
    expect(pub.requests).toBe(before);
  });

  it('a bad request line is 400', async () => {
    const raw = await rawRequest(gw.port, 'GARBAGE\r\n\r\n');
    expect([0, 400]).toContain(statusOf(raw));
    const res = await request(gw.url + '/public/still-alive');
    expect(res.statusCode).toBe(200);
    await res.body.text();
  });
});
