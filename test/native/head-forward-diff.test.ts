/**
 * Differential test of the native header forwarding (native/uws_head.cc ForwardLines, used for
 * routes whose upstreams take lines as bytes: src/worker/front.ts) against the JS reading it replaces
 * (src/worker/head.ts readHeaders, its collectHeader filter). Thousands of generated request
 * heads go over real sockets to a real uWS app; in its handler each head is read both ways, under
 * each forwarding option (half of them with a request id header, whose client lines the gateway
 * replaces), and wherever the addon says it forwarded (HEAD_FORWARD_READY):
 *   - its lines, parsed back, are exactly the headers readHeaders forwards (order, names, bytes);
 *   - readForwardedHead and readHeaders agree on everything else the proxy uses (the body's
 *     length, or the same refusal; Connection close; Via; the client's trace; forwarding values;
 *     the request id kept or made, once).
 * Heads the addon leaves to JS are counted: both kinds must be frequent, so neither side of the
 * comparison is vacuous.
 *
 * Reproduce a failure with HEAD_FUZZ_SEED=<seed printed in the failure>.
 */
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { loadUws } from '../../src/uws.js';
import { HeadGen } from '../helpers/head-gen.js';
import { FORWARD_TRUSTS_PROXIES, FORWARD_UNDERSCORES, FORWARD_WRITE, HEAD_FORWARD_READY, inspectHead } from '../../src/native/uws-head.js';
import { clientConnection, readForwardedHead, readHeaders, type HeadContext, type RequestHead } from '../../src/worker/head.js';
import { splitHeaderLines } from '../../src/upstream/dispatch.js';
import { compileCidrs } from '../../src/net/cidr.js';

const SEED = Number(process.env.HEAD_FUZZ_SEED ?? 20261201);
const HEADS = 1500;

/** The comparable part of a head (headers are compared on their own). */
function facts(h: RequestHead): Record<string, unknown> {
  return {
    contentLength: h.contentLength,
    clientClose: h.clientClose,
    via: h.via,
    forwardedFor: h.forwardedFor,
    forwardedProto: h.forwardedProto,
    forwardedHost: h.forwardedHost,
    forwardedPort: h.forwardedPort,
    clientIp: h.clientIp,
    trustedExtra: h.trustedExtra,
    parentSpanId: h.parentSpanId,
    // A new trace is random either way; the client's is kept.
    traceId: h.parentSpanId !== '' ? h.traceId : 'new',
    tracestate: h.headers.includes('tracestate') ? h.headers[h.headers.indexOf('tracestate') + 1] : null,
    // The client's (first, when safe) or a new one ('id' both ways); once among the headers.
    requestId: h.requestId,
    requestIdLines: h.headers.filter((v, i) => i % 2 === 0 && v === h.requestIdHeader).length,
  };
}

/** What readHeaders forwards of the client's: its headers without the gateway's trace context and request id. */
function clientHeaders(h: RequestHead): string[] {
  const out: string[] = [];
  for (let i = 0; i < h.headers.length; i += 2) {
    if (h.headers[i] === 'traceparent' || h.headers[i] === 'tracestate' || h.headers[i] === h.requestIdHeader) continue;
    out.push(h.headers[i], h.headers[i + 1]);
  }
  return out;
}

/** Forwarding options, and the trusted proxies then (the test's peer is 127.0.0.1). */
const OPTIONS: ReadonlyArray<readonly [number, string[], string]> = [
  [FORWARD_WRITE, [], 'x-request-id'],
  [FORWARD_WRITE | FORWARD_UNDERSCORES, [], ''],
  // Some proxy is trusted, not this peer: its forwarding headers are its own, dropped unread.
  [FORWARD_WRITE | FORWARD_TRUSTS_PROXIES, ['10.9.9.9/32'], 'x-request-id'],
  // The peer is trusted: its forwarding headers count, so the addon must leave them to JS.
  [FORWARD_WRITE | FORWARD_TRUSTS_PROXIES, ['127.0.0.1/32'], ''],
];

function contextFor(options: number, trusted: string[]): HeadContext {
  return {
    isTrustedProxy: compileCidrs(trusted),
    trustsAnyProxy: (options & FORWARD_TRUSTS_PROXIES) !== 0,
    allowUnderscores: (options & FORWARD_UNDERSCORES) !== 0,
    tls: false,
    listenPort: '8080',
    maxBodyBytes: 1_000_000,
    traceSampleRatio: -1,
  };
}

function send(port: number, head: string): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const timer = setTimeout(() => s.destroy(), 3000);
    s.on('data', () => s.end());
    s.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    s.on('error', () => undefined);
    s.write(Buffer.from(head, 'latin1'));
  });
}

describe('native header forwarding against readHeaders', () => {
  it(`forwards exactly what readHeaders forwards, on ${HEADS} generated heads under each option`, async () => {
    const gen = new HeadGen(SEED);
    const uws = loadUws();
    const app = uws.App();
    let handled = 0;
    let ready = 0;
    let leftToJs = 0;
    const failures: string[] = [];
    let current = '';
    app.any('/*', (res: HttpResponse, req: HttpRequest) => {
      res.onAborted(() => undefined);
      handled++;
      const method = req.getCaseSensitiveMethod();
      const url = req.getUrl();
      const q = req.getQuery();
      const targetLength = q === undefined ? url.length : url.length + 1 + q.length;
      const host = req.getHeader('host');
      for (const [options, trusted, requestIdHeader] of OPTIONS) {
        const hc = contextFor(options, trusted);
        const flags = inspectHead(req, method.length, targetLength, 16 * 1024, options);
        if ((flags & HEAD_FORWARD_READY) === 0) {
          leftToJs++;
          continue;
        }
        ready++;
        const connection = clientConnection(res);
        const fast = readForwardedHead(req, connection, hc, method, url, url, q ?? '', host, requestIdHeader, () => 'id', 0, flags);
        const js = readHeaders(req, connection, hc, method, url, url, q ?? '', host, requestIdHeader, () => 'id', 0, flags & ~HEAD_FORWARD_READY);
        const where = `seed ${SEED}, options ${options}, head ${JSON.stringify(current)}`;
        if (typeof js === 'string' || typeof fast === 'string') {
          if (js !== fast) failures.push(`${where}: readHeaders ${String(typeof js === 'string' ? js : 'a head')}, forwarded ${String(typeof fast === 'string' ? fast : 'a head')}`);
          continue;
        }
        const lines = fast.rawHeaders === null ? [] : splitHeaderLines(fast.rawHeaders);
        const expected = clientHeaders(js);
        if (JSON.stringify(lines) !== JSON.stringify(expected)) failures.push(`${where}: lines ${JSON.stringify(lines)} vs ${JSON.stringify(expected)}`);
        if (fast.rawHeaderCount !== lines.length / 2) failures.push(`${where}: ${fast.rawHeaderCount} lines counted, ${lines.length / 2} written`);
        if (JSON.stringify(facts(fast)) !== JSON.stringify(facts(js))) failures.push(`${where}: ${JSON.stringify(facts(fast))} vs ${JSON.stringify(facts(js))}`);
        if (clientHeaders(fast).length !== 0) failures.push(`${where}: client headers left in headers: ${JSON.stringify(fast.headers)}`);
      }
      res.cork(() => res.writeStatus('204 No Content').end());
    });
    const token = await new Promise<import('uWebSockets.js').us_listen_socket>((ok, fail) => app.listen('127.0.0.1', 0, (t) => (t ? ok(t) : fail(new Error('listen')))));
    try {
      const port = uws.us_socket_local_port(token);
      for (let i = 0; i < HEADS; i++) {
        current = gen.head();
        await send(port, current);
      }
    } finally {
      uws.us_listen_socket_close(token);
    }
    expect(failures.slice(0, 5)).toEqual([]);
    // uWS refuses some generated heads itself (never reaching the handler); most must arrive.
    expect(handled).toBeGreaterThan(HEADS * 0.8);
    expect(ready).toBeGreaterThan(handled * 0.4);
    expect(leftToJs).toBeGreaterThan(handled * 0.2);
  }, 60_000);
});
