/**
 * The request lifecycle without processes: a ProxyTransaction between a FakeDownstream (uWS's
 * HttpResponse as it behaves) and a FakeDispatcher (an upstream engine through the contract).
 * Table-free but exhaustive about the lifecycle's rules: what is written and when, backpressure,
 * failures before and after the head, aborts on either side, finish() exactly once.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeDispatcher, FakeDownstream, testHead } from '../helpers/fakes.js';
import { Endpoint } from '../../src/upstream/endpoint.js';
import { Cluster } from '../../src/upstream/cluster.js';
import { roundRobin } from '../../src/upstream/lb/round-robin.js';
import { UpstreamFailure } from '../../src/upstream/dispatch.js';
import { ProxyTransaction, proxyAction } from '../../src/worker/actions/proxy.js';
import { respondAction } from '../../src/worker/actions/respond.js';
import { RequestContext } from '../../src/plugins/context.js';
import type { AccessHandler, LocalReply } from '../../src/plugins/api.js';
import type { CompiledPipeline } from '../../src/plugins/pipeline.js';
import type { CompiledConfig, CompiledRoute } from '../../src/runtime/compile.js';
import { runAccessPhase, type Transaction, type WorkerHost } from '../../src/worker/transaction.js';
import type { RequestHead } from '../../src/worker/head.js';
import { timerList } from '../../src/util/timer-lists.js';

const immediate = () => new Promise((r) => setImmediate(r));

function proxyOf(cluster: Cluster, timeoutMs: number): CompiledRoute['proxy'] {
  const main = { cluster, responseHeadersMs: 15000, idleMs: 60000 };
  return { main, split: null, chooseSide: () => main, mirror: null, timeoutMs, timeoutList: timeoutMs > 0 ? timerList(timeoutMs) : null };
}

function setup(headOver: Partial<RequestHead> = {}, routeOver: Partial<CompiledRoute> = {}, cfgOver: Partial<CompiledConfig> = {}) {
  const fd = new FakeDispatcher();
  const ep = new Endpoint('k', 'u', 'http://up.internal:9000', 'up.internal:9000', -1, fd);
  const members = [{ endpoint: ep, weight: 1, index: 0 }];
  const route: CompiledRoute = {
    id: 'r', index: 0, headerMatch: null, action: proxyAction, bodyMode: 'buffer',
    proxy: proxyOf(new Cluster('u', members, roundRobin(members)), 10000),
    respond: null, stripPrefix: null, preserveHost: false, pipeline: null, removeResponseHeaders: null, requestIdHeader: '',
    ...routeOver,
  };
  const finished: Transaction[] = [];
  // Every value the in-flight count takes, in order (drain waits for it to reach 0).
  const inflightSeen: number[] = [];
  let inflight = 0;
  const host: WorkerHost = {
    config: { maxBodyBytes: 1000, bodyBufferBytes: 65536, requestTimeoutMs: 0, ...cfgOver } as CompiledConfig,
    accessLog: null, draining: false,
    get inflight() {
      return inflight;
    },
    set inflight(v: number) {
      inflight = v;
      inflightSeen.push(v);
    },
    onFinished: (tx) => finished.push(tx),
    onDrainConnection: () => {},
  };
  const down = new FakeDownstream();
  const tx = route.action.create(down.res, testHead(headOver), route, host) as ProxyTransaction;
  tx.upstreamPath = '/x';
  return { fd, ep, down, tx, host, finished, inflightSeen };
}

afterEach(() => vi.useRealTimers());

describe('a proxied request', () => {
  it('is dispatched once with the forwarding headers and the target Host, and answered in one corked write', () => {
    const { fd, down, tx, host, finished } = setup();
    tx.proceed();
    expect(fd.exchanges).toHaveLength(1);
    const h = fd.last.req.headers;
    const get = (n: string) => h[h.indexOf(n) + 1];
    expect(get('x-forwarded-for')).toBe('127.0.0.1');
    expect(get('x-real-ip')).toBe('127.0.0.1');
    expect(get('host')).toBe('up.internal:9000');
    expect(h.filter((n, i) => i % 2 === 0 && n === 'host')).toHaveLength(1);
    expect(host.inflight).toBe(1);
    fd.respond(fd.last, 200, { 'content-length': '5', date: 'x', connection: 'keep-alive, x-secret', 'x-secret': 'no', 'x-ok': 'yes' }, ['hello']);
    expect(down.wire).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(down.wire).toContain('x-ok: yes\r\n');
    expect(down.wire).toContain('via: 1.1 gateway\r\n');
    for (const dropped of ['date:', 'connection:', 'x-secret']) expect(down.wire.toLowerCase()).not.toContain(dropped);
    expect(down.wire.endsWith('\r\n\r\nhello')).toBe(true);
    expect(down.calls.filter((c) => c.startsWith('end') || c.startsWith('tryEnd'))).toEqual(['end 5']); // coalesced
    expect(finished).toHaveLength(1);
    expect(host.inflight).toBe(0);
  });

  it('streams a large body with backpressure: a chunk not taken is retried from onWritable, the upstream resumed after', async () => {
    const { fd, down, tx, finished } = setup();
    tx.proceed();
    const big = 'x'.repeat(40_000);
    down.capacity = 20_000;
    fd.respond(fd.last, 200, { 'content-length': String(big.length * 2) }, [big], true);
    expect(fd.last.paused).toBe(true);
    expect(down.ended).toBe(false);
    down.drain();
    await Promise.resolve();
    expect(fd.last.resumes).toBe(1);
    fd.last.handler.onData(Buffer.from(big));
    fd.last.handler.onComplete();
    expect(down.ended).toBe(true);
    expect(down.getWriteOffset()).toBe(big.length * 2);
    expect(finished).toHaveLength(1);
  });

  it('relays a chunked answer as chunks and ends it', () => {
    const { fd, down, tx } = setup();
    tx.proceed();
    fd.respond(fd.last, 200, {}, ['one', 'two']);
    expect(down.calls.filter((c) => /^(write \d|end)/.test(c))).toEqual(['write 3', 'write 3', 'end 0']);
  });

  it.each([
    ['connect', 502, 'upstream_unavailable'],
    ['reset', 502, 'upstream_reset'],
    ['timeout', 504, 'upstream_timeout'],
    ['protocol', 502, 'bad_upstream_response'],
  ] as const)('a %s failure before the head is a %i JSON error, written on the next turn', async (kind, status, code) => {
    const { fd, down, tx, finished } = setup();
    tx.proceed();
    fd.fail(fd.last, new UpstreamFailure(kind, 'boom', 'X'));
    expect(down.wire).toBe(''); // never from inside a callback
    await immediate();
    expect(down.wire).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(JSON.parse(down.wire.slice(down.wire.indexOf('\r\n\r\n') + 4)).error.code).toBe(code);
    expect(finished).toHaveLength(1);
  });

  it('a failure after the head cuts the client connection (the client must see the truncation)', () => {
    const { fd, down, tx, finished } = setup();
    tx.proceed();
    fd.respond(fd.last, 200, { 'content-length': '100000' }, ['x'.repeat(20_000)], true);
    fd.fail(fd.last, new UpstreamFailure('reset', 'reset', 'ECONNRESET'));
    expect(down.closed).toBe(true);
    expect(down.ended).toBe(false);
    expect(finished).toHaveLength(1);
  });

  it('a client that goes away aborts the upstream request, and finish() runs once', () => {
    const { fd, down, tx, host, finished } = setup();
    tx.proceed();
    down.abort();
    expect(fd.last.aborted).not.toBeNull();
    fd.fail(fd.last, new UpstreamFailure('aborted', 'aborted', 'ABORTED'));
    expect(finished).toHaveLength(1);
    expect(finished[0].aborted).toBe(true);
    expect(host.inflight).toBe(0);
    expect(down.wire).toBe('');
  });

  it('the route deadline answers 504 before the head and aborts the upstream', async () => {
    // Real timers: the gateway's clock is node:perf_hooks' performance, which fake timers do not replace.
    const base = setup();
    const proxy = { ...base.tx.route!.proxy!, timeoutMs: 50, timeoutList: timerList(50) };
    void proxyOf;
    const { down, tx } = setup({}, { proxy }); // dispatches to base's endpoint
    tx.proceed();
    expect(base.fd.last.aborted).toBeNull();
    // The abort and the 504 come from the same deadline; the answer may be written a turn later.
    for (let waited = 0; (base.fd.last.aborted === null || down.wire === '') && waited < 5000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    expect(base.fd.last.aborted).not.toBeNull();
    expect(down.wire).toMatch(/^HTTP\/1\.1 504 /);
  });

  it('HEAD keeps the upstream Content-Length and writes no body; 204 and 304 carry none', () => {
    for (const [method, status, expected] of [['HEAD', 200, 'endWithoutBody 42'], ['GET', 204, 'endWithoutBody -'], ['GET', 304, 'endWithoutBody -']] as const) {
      const { fd, down, tx } = setup({ method });
      tx.proceed();
      fd.respond(fd.last, status, { 'content-length': '42' });
      expect(down.calls.at(-1)).toBe(expected);
    }
  });

  it('reports each attempt to the cluster once, with the latency to the response head (not to the end of the body) or to the failure', async () => {
    const report = vi.spyOn(Cluster.prototype, 'report');
    try {
      const { fd, ep, tx } = setup();
      tx.proceed();
      fd.respond(fd.last, 200, { 'content-length': '4' }, ['ab'], true);
      await new Promise((r) => setTimeout(r, 60)); // a slow body
      fd.last.handler.onData(Buffer.from('cd'));
      fd.last.handler.onComplete();
      expect(report).toHaveBeenCalledTimes(1);
      const [rep, kind, status, us] = report.mock.calls[0];
      expect([rep, kind, status]).toEqual([ep, 'response', 200]);
      expect(us).toBeLessThan(40_000);

      const second = setup();
      second.tx.proceed();
      await new Promise((r) => setTimeout(r, 30));
      second.fd.fail(second.fd.last, new UpstreamFailure('reset', 'reset', 'ECONNRESET'));
      expect(report).toHaveBeenCalledTimes(2);
      expect(report.mock.calls[1][1]).toBe('reset');
      expect(report.mock.calls[1][3]).toBeGreaterThanOrEqual(25_000);
    } finally {
      report.mockRestore();
    }
  });

  it('a 103 before the answer is relayed as its own head; the final status line goes out in front of the first final header', () => {
    const { fd, down, tx } = setup();
    tx.proceed();
    fd.last.handler.onInformational(103, [Buffer.from('link'), Buffer.from('</a.css>; rel=preload')]);
    fd.respond(fd.last, 200, { 'content-length': '2' }, ['ok']);
    expect(down.wire).toMatch(/^HTTP\/1\.1 103 Early Hints\r\nlink: <\/a\.css>; rel=preload\r\n\r\nHTTP\/1\.1 200 OK\r\nvia: 1\.1 gateway\r\n/);
  });
});

describe('request bodies', () => {
  it('a buffered body is dispatched when its last byte arrives, as one Buffer', () => {
    const { fd, down, tx } = setup({ method: 'POST', contentLength: 10 });
    tx.proceed();
    expect(fd.exchanges).toHaveLength(0);
    down.send('hello', false);
    down.send('world', true);
    expect(fd.exchanges).toHaveLength(1);
    expect((fd.last.req.body as Buffer).toString()).toBe('helloworld');
  });

  it('a chunked body is dispatched only on the next turn (uWS finishes parsing what it read first), and its answer closes', async () => {
    const { fd, down, tx } = setup({ method: 'POST', contentLength: -1 });
    tx.proceed();
    down.send('abc', true);
    expect(fd.exchanges).toHaveLength(0);
    await immediate();
    expect(fd.exchanges).toHaveLength(1);
    fd.respond(fd.last, 200, { 'content-length': '2' }, ['ok']);
    expect(down.closeAfter).toBe(true);
  });

  it('a chunked body that grows past maxBodyBytes is 413 and never dispatched', async () => {
    const { fd, down, tx } = setup({ method: 'POST', contentLength: -1 });
    tx.proceed();
    down.send('x'.repeat(600), false);
    down.send('x'.repeat(600), false);
    await immediate();
    expect(fd.exchanges).toHaveLength(0);
    expect(down.wire).toMatch(/^HTTP\/1\.1 413 /);
    expect(down.closeAfter).toBe(true);
  });
});

describe('local answers', () => {
  it('a respond route is written on the next turn, whole, and counted once', async () => {
    const down = new FakeDownstream();
    const finished: Transaction[] = [];
    const host: WorkerHost = { config: { maxBodyBytes: 1000, bodyBufferBytes: 65536, requestTimeoutMs: 0 } as CompiledConfig, accessLog: null, inflight: 0, draining: false, onFinished: (t) => finished.push(t), onDrainConnection: () => {} };
    const route = { id: 's', respond: { status: 201, headers: ['x-a', '1'], body: Buffer.from('hi') }, pipeline: null, bodyMode: 'discard' } as unknown as CompiledRoute;
    const tx = respondAction.create(down.res, testHead(), route, host);
    tx.proceed();
    expect(down.wire).toBe('');
    expect(host.inflight).toBe(1); // drain waits for it
    await immediate();
    expect(down.wire).toBe('HTTP/1.1 201 Created\r\nx-a: 1\r\nvia: 1.1 gateway\r\ncontent-length: 2\r\n\r\nhi');
    expect(finished).toHaveLength(1);
    expect(host.inflight).toBe(0);
  });
});

describe('async access plugins (a JWKS fetch, scrypt, Redis) and the in-flight count', () => {
  function deferred<T>() {
    let resolve!: (v: T) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
    return { promise, resolve, reject };
  }

  /** A proxy route whose access phase is `access` (the rest of its pipeline empty), started as front.ts starts it. */
  function start(access: AccessHandler[]) {
    const pipeline: CompiledPipeline = {
      access, onUpstream: null, onRequestBody: null, onResponseHeaders: null, onUpstreamAnswer: null, onComplete: null,
      removeResponseHeaders: null, rewritesBodies: false, answersPreflight: false, modules: false,
    };
    const s = setup({}, { pipeline });
    const ctx = new RequestContext('GET', '/x', '', 'gw', [], '127.0.0.1', '127.0.0.1', 'r');
    s.tx.ctx = ctx;
    runAccessPhase(s.tx, access, ctx);
    return s;
  }

  const settle = async () => {
    for (let i = 0; i < 3; i++) await immediate();
  };

  it('a Promise that resolves to a LocalReply: that answer, never dispatched, in flight 1 until it is written, then 0 once', async () => {
    const d = deferred<LocalReply>();
    const { fd, down, finished, inflightSeen } = start([() => d.promise]);
    await settle();
    expect(inflightSeen).toEqual([1]); // waiting on the plugin counts as in flight
    d.resolve({ status: 429, headers: ['retry-after', '1'], body: 'slow down' });
    await settle();
    expect(fd.exchanges).toHaveLength(0);
    expect(down.wire).toMatch(/^HTTP\/1\.1 429 Too Many Requests\r\nretry-after: 1\r\n/);
    expect(down.wire).toMatch(/\r\n\r\nslow down$/);
    expect(finished).toHaveLength(1);
    expect(finished[0].status).toBe(429);
    expect(inflightSeen).toEqual([1, 0]);
  });

  it('a plugin that throws after an await: 500 internal_error, in flight 1 -> 0 once', async () => {
    const { fd, down, finished, inflightSeen } = start([
      async () => {
        await immediate();
        throw new Error('lost the Redis connection');
      },
    ]);
    await settle();
    expect(fd.exchanges).toHaveLength(0);
    expect(down.wire).toMatch(/^HTTP\/1\.1 500 /);
    expect(down.wire).toContain('"code":"internal_error"');
    expect(finished.map((t) => t.errorCode)).toEqual(['internal_error']);
    expect(inflightSeen).toEqual([1, 0]);
  });

  it('allowed after an await, then the upstream fails: the gateway error 502, in flight 1 -> 0 once', async () => {
    const { fd, down, finished, inflightSeen } = start([
      async () => {
        await immediate();
        return undefined;
      },
      async () => undefined,
    ]);
    await settle();
    expect(fd.exchanges).toHaveLength(1);
    fd.fail(fd.last, new UpstreamFailure('connect', 'could not connect: ECONNREFUSED', 'ECONNREFUSED'));
    await settle();
    expect(down.wire).toMatch(/^HTTP\/1\.1 502 /);
    expect(finished).toHaveLength(1);
    expect(inflightSeen).toEqual([1, 0]);
  });

  it('the second of two async plugins answers: the first one\'s allow is not a dispatch', async () => {
    const { fd, down, finished, inflightSeen } = start([async () => undefined, async () => ({ status: 401, code: 'unauthorized' })]);
    await settle();
    expect(fd.exchanges).toHaveLength(0);
    expect(down.wire).toMatch(/^HTTP\/1\.1 401 /);
    expect(finished).toHaveLength(1);
    expect(inflightSeen).toEqual([1, 0]);
  });

  it('the client goes away while the plugin runs: finished once at the abort, the late answer writes nothing', async () => {
    const d = deferred<LocalReply | undefined>();
    const { fd, down, finished, inflightSeen } = start([() => d.promise]);
    await settle();
    down.abort();
    expect(inflightSeen).toEqual([1, 0]);
    expect(finished).toHaveLength(1);
    d.resolve({ status: 403, code: 'forbidden' });
    await settle();
    expect(down.wire).toBe('');
    expect(fd.exchanges).toHaveLength(0);
    expect(finished).toHaveLength(1);
    expect(inflightSeen).toEqual([1, 0]);
  });

  it('the client goes away after the plugin answered but before the answer is written: finished once, nothing written', async () => {
    const d = deferred<LocalReply>();
    const { down, finished, inflightSeen } = start([() => d.promise]);
    d.resolve({ status: 403, code: 'forbidden' });
    await Promise.resolve();
    await Promise.resolve(); // the reply is decided; it is written on the next turn
    down.abort();
    await settle();
    expect(down.wire).toBe('');
    expect(finished).toHaveLength(1);
    expect(inflightSeen).toEqual([1, 0]);
  });

  it('the client goes away, then the plugin allows: nothing is dispatched', async () => {
    const d = deferred<LocalReply | undefined>();
    const { fd, down, finished, inflightSeen } = start([() => d.promise]);
    down.abort();
    d.resolve(undefined);
    await settle();
    expect(fd.exchanges).toHaveLength(0);
    expect(down.wire).toBe('');
    expect(finished).toHaveLength(1);
    expect(inflightSeen).toEqual([1, 0]);
  });
});
