/**
 * Retries, canary splits, mirroring and DNS names through the real gateway and real upstreams:
 * which failures are tried again and where, the retry budget under a storm, the keep-alive race
 * with Node backends (zero 502s), a split's ratio and stickiness, a mirror that is slow or down
 * never touching the real request, and `localhost` / never-resolving target names.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { Agent, request } from 'undici';
import { freePort, sleep, startGateway, startUpstream, type Gateway, type Upstream } from '../helpers/gateway.js';

interface Counting extends Upstream {
  hits: Array<{ method: string; url: string; body: number }>;
  status: number;
  delayMs: number;
}

async function counting(name: string): Promise<Counting> {
  let u!: Counting;
  const up = await startUpstream((req, res) => {
    let body = 0;
    req.on('data', (c: Buffer) => (body += c.length));
    req.on('end', () => {
      u.hits.push({ method: req.method!, url: req.url!, body });
      const answer = () => {
        res.writeHead(u.status, { 'x-target': name, 'content-type': 'text/plain' });
        res.end(name);
      };
      if (u.delayMs > 0) setTimeout(answer, u.delayMs);
      else answer();
    });
  });
  u = Object.assign(up, { hits: [], status: 200, delayMs: 0 });
  return u;
}

let a: Counting;
let b: Counting;
let canary: Counting;
let shadow: Counting;
let gw: Gateway;
let adminPort: number;
const TOKEN = 'retries-admin-token-0123456789';

beforeAll(async () => {
  [a, b, canary, shadow] = await Promise.all([counting('a'), counting('b'), counting('canary'), counting('shadow')]);
  const dead = await freePort();
  adminPort = await freePort();
  gw = await startGateway({
    admin: { host: '127.0.0.1', port: adminPort, token: TOKEN },
    upstreams: {
      pair: { targets: [{ url: a.url }, { url: b.url }], retries: { attempts: 1, on: ['connect-failure', '502', '503'], idempotentOnly: true, budgetPercent: 20 } },
      anyMethod: { targets: [{ url: a.url }, { url: b.url }], retries: { attempts: 1, on: ['503'], idempotentOnly: false, budgetPercent: 100 } },
      deadFirst: { targets: [{ url: `http://127.0.0.1:${dead}` }, { url: b.url }], balancer: 'round-robin', retries: { attempts: 1, on: ['connect-failure'], idempotentOnly: true, budgetPercent: 100 } },
      main: { targets: [{ url: a.url }] },
      sticky: { targets: [{ url: a.url }], balancer: 'consistent-hash', hashOn: 'header:x-user' },
      canary: { targets: [{ url: canary.url }] },
      shadow: { targets: [{ url: shadow.url }] },
      shadowDown: { targets: [{ url: `http://127.0.0.1:${dead}` }] },
      byName: { targets: [{ url: `http://localhost:${a.port}` }] },
      nowhere: { targets: [{ url: 'http://no-such-host.invalid:8080' }] },
    },
    routes: [
      { id: 'pair', paths: ['/pair/*'], upstream: 'pair' },
      { id: 'any', paths: ['/any/*'], upstream: 'anyMethod' },
      { id: 'streamed', paths: ['/streamed/*'], upstream: 'anyMethod', requestBuffering: false },
      { id: 'dead-first', paths: ['/dead-first/*'], upstream: 'deadFirst' },
      { id: 'split', paths: ['/split/*'], upstream: 'main', split: [{ upstream: 'canary', weight: 10 }] },
      { id: 'sticky-split', paths: ['/sticky/*'], upstream: 'sticky', split: [{ upstream: 'canary', weight: 30 }] },
      { id: 'mirrored', paths: ['/mirrored/*'], upstream: 'main', mirror: { upstream: 'shadow', percent: 100 } },
      { id: 'mirror-down', paths: ['/mirror-down/*'], upstream: 'main', mirror: { upstream: 'shadowDown', percent: 100 } },
      { id: 'by-name', paths: ['/by-name/*'], upstream: 'byName' },
      { id: 'nowhere', paths: ['/nowhere/*'], upstream: 'nowhere' },
    ],
  });
});

afterAll(async () => {
  await gw?.stop();
  await Promise.all([a, b, canary, shadow].map((u) => u?.close()));
});

function reset(): void {
  for (const u of [a, b, canary, shadow]) {
    u.hits.length = 0;
    u.status = 200;
    u.delayMs = 0;
  }
}

async function call(path: string, method: 'GET' | 'POST' = 'GET', body?: string, headers: Record<string, string> = {}) {
  const r = await request(gw.url + path, { method, body, headers });
  const text = await r.body.text();
  return { status: r.statusCode, target: String(r.headers['x-target'] ?? ''), text };
}

/** The metric's lines, once they show a non-zero value (workers flush every second), or '' after 4 s. */
async function metric(name: string): Promise<string> {
  for (let i = 0; i < 40; i++) {
    const r = await request(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const lines = (await r.body.text()).split('\n').filter((l) => l.startsWith(name)).join('\n');
    if (/ [1-9]/.test(lines)) return lines;
    await sleep(100);
  }
  return '';
}

describe('retries', () => {
  it('a GET that got a 503 is sent once more, to the other target; the client sees the good answer', async () => {
    reset();
    a.status = 503;
    // Three: the retry budget always allows 3 retries per 10 s per worker, and round-robin may
    // send every one of these to `a` first (the retry's pick moves it on to `b`, the next request's
    // back to `a`); more would test the budget, which its own test below does.
    for (let i = 0; i < 3; i++) {
      const r = await call('/pair/x');
      expect(r.status).toBe(200);
      expect(r.target).toBe('b');
    }
    expect(a.hits.length).toBeGreaterThan(0); // tried, then moved on
  });

  it('a POST (not idempotent) is not retried on a 503: the client gets the upstream\'s 503', async () => {
    reset();
    a.status = 503;
    b.status = 503;
    const r = await call('/pair/x', 'POST', 'data');
    expect(r.status).toBe(503);
    expect(a.hits.length + b.hits.length).toBe(1);
  });

  it('idempotentOnly: false retries a POST, with its body sent again', async () => {
    reset();
    a.status = 503;
    for (let i = 0; i < 4; i++) {
      const r = await call('/any/x', 'POST', 'hello world');
      expect(r.status).toBe(200);
    }
    expect(b.hits.every((h) => h.body === 11)).toBe(true);
    expect(a.hits.every((h) => h.body === 11)).toBe(true);
  });

  it('a streamed body is never retried (it cannot be sent again)', async () => {
    reset();
    a.status = 503;
    b.status = 503;
    const r = await call('/streamed/x', 'POST', 'hello');
    expect(r.status).toBe(503);
    expect(a.hits.length + b.hits.length).toBe(1);
  });

  it('a connect failure is retried on another target, even for a POST', async () => {
    reset();
    for (let i = 0; i < 4; i++) {
      const r = await call('/dead-first/x', 'POST', 'x');
      expect(r.status).toBe(200);
      expect(r.target).toBe('b');
    }
    expect(await metric('gateway_upstream_retries_total{upstream="deadFirst",reason="connect-failure"}')).toMatch(/ [1-9]/);
  });

  it('the budget holds a storm: every target failing, retries add at most 20% (+3 per 10 s per worker)', async () => {
    reset();
    a.status = 503;
    b.status = 503;
    const N = 200;
    for (let i = 0; i < N; i += 20) await Promise.all(Array.from({ length: 20 }, () => call('/pair/storm')));
    const attempts = a.hits.length + b.hits.length;
    // Without a budget: 2N. With it: N + 20% of N + 3 per worker.
    expect(attempts).toBeLessThanOrEqual(N + N * 0.2 + 3 * 2);
    expect(attempts).toBeGreaterThan(N);
    expect(await metric('gateway_upstream_retry_budget_exhausted_total{upstream="pair"}')).toMatch(/ [1-9]/);
  });
});

describe('the keep-alive race with Node backends: zero 502s', () => {
  /**
   * A real node:http server: keepAliveTimeout (Node's own Keep-Alive hint), or closing the
   * connection right after every Nth answer without saying so, or silently after an idle time.
   */
  async function nodeBackend(opts: { keepAliveTimeout?: number; closeEvery?: number; silentIdleMs?: number }) {
    let n = 0;
    const server: Server = createServer((req, res) => {
      n++;
      if (opts.closeEvery !== undefined && n % opts.closeEvery === 0) res.on('finish', () => req.socket.destroy());
      res.end('ok');
    });
    server.keepAliveTimeout = opts.keepAliveTimeout ?? 60_000;
    if (opts.silentIdleMs !== undefined) {
      server.keepAliveTimeout = 0; // no Keep-Alive hint: the close comes unannounced
      server.on('connection', (sock) => {
        let t = setTimeout(() => sock.destroy(), opts.silentIdleMs);
        sock.on('data', () => clearTimeout(t));
        server.on('request', (req, res) => {
          if (req.socket !== sock) return;
          res.on('finish', () => {
            clearTimeout(t);
            t = setTimeout(() => sock.destroy(), opts.silentIdleMs);
          });
        });
      });
    }
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
  }

  it('keepAliveTimeout 1 s (15 s of requests around it), closes after every 3rd answer under load, silent 200 ms idle closes', async () => {
    const ka = await nodeBackend({ keepAliveTimeout: 1000 });
    const every = await nodeBackend({ closeEvery: 3 });
    const silent = await nodeBackend({ silentIdleMs: 200 });
    const g = await startGateway({
      upstreams: { ka: { targets: [{ url: ka.url }], connectionsPerWorker: 4 }, every: { targets: [{ url: every.url }], connectionsPerWorker: 4 }, silent: { targets: [{ url: silent.url }], connectionsPerWorker: 4 } },
      routes: [{ id: 'ka', paths: ['/ka'], upstream: 'ka' }, { id: 'every', paths: ['/every'], upstream: 'every' }, { id: 'silent', paths: ['/silent'], upstream: 'silent' }],
    });
    const agent = new Agent({ connections: 16 });
    const statuses = new Map<string, number[]>([['/ka', []], ['/every', []], ['/silent', []]]);
    const get = (p: string) => request(g.url + p, { dispatcher: agent }).then(async (r) => (await r.body.text(), statuses.get(p)!.push(r.statusCode)));
    const end = Date.now() + 15_000;
    try {
      await Promise.all([
        // Requests spaced around the backend's 1 s keepAliveTimeout.
        (async () => {
          for (let i = 0; Date.now() < end; i++) {
            await Promise.all([get('/ka'), get('/ka')]);
            await sleep(900 + ((i * 37) % 200));
          }
        })(),
        // Steady load on the one that closes after every 3rd answer: a request often meets a
        // connection that was just handed back and is being closed.
        ...Array.from({ length: 3 }, async () => {
          while (Date.now() < end) await get('/every');
        }),
        // Requests spaced around the silent 200 ms idle close.
        ...Array.from({ length: 4 }, async (_, k) => {
          for (let i = 0; Date.now() < end; i++) {
            await get('/silent');
            await sleep(185 + ((i * 7 + k * 5) % 30));
          }
        }),
      ]);
    } finally {
      await agent.close();
      await g.stop();
      for (const s of [ka, every, silent]) s.server.close();
    }
    for (const [path, list] of statuses) {
      expect(list.length, path).toBeGreaterThan(20);
      expect(list.filter((s) => s !== 200), path).toEqual([]);
    }
    console.log(`keep-alive race: ${[...statuses].map(([p, l]) => `${p} ${l.length}`).join(', ')} requests, all 200`);
  });
});

describe('canary split', () => {
  it('sends about weight% of 1,000 requests to the canary', async () => {
    reset();
    let toCanary = 0;
    for (let i = 0; i < 1000; i += 50) {
      const rs = await Promise.all(Array.from({ length: 50 }, () => call('/split/x')));
      toCanary += rs.filter((r) => r.target === 'canary').length;
    }
    expect(toCanary).toBeGreaterThanOrEqual(70);
    expect(toCanary).toBeLessThanOrEqual(130);
  });

  it('is sticky per consistent-hash key: one user stays on one side', async () => {
    const sides = new Map<string, Set<string>>();
    for (let u = 0; u < 40; u++) {
      for (let k = 0; k < 3; k++) {
        const r = await call('/sticky/x', 'GET', undefined, { 'x-user': `user-${u}` });
        (sides.get(`user-${u}`) ?? sides.set(`user-${u}`, new Set()).get(`user-${u}`)!).add(r.target);
      }
    }
    for (const s of sides.values()) expect(s.size).toBe(1);
    const canaryUsers = [...sides.values()].filter((s) => s.has('canary')).length;
    expect(canaryUsers).toBeGreaterThan(3);
    expect(canaryUsers).toBeLessThan(25);
  });
});

describe('mirroring', () => {
  it('copies method, path, headers and body to the shadow; a 2 s shadow does not slow the real request', async () => {
    reset();
    shadow.delayMs = 2000;
    const t0 = performance.now();
    const r = await call('/mirrored/copy?q=1', 'POST', 'mirror-me');
    expect(r.status).toBe(200);
    expect(r.target).toBe('a');
    expect(performance.now() - t0).toBeLessThan(1500);
    for (let i = 0; i < 40 && shadow.hits.length === 0; i++) await sleep(100);
    expect(shadow.hits).toEqual([{ method: 'POST', url: '/mirrored/copy?q=1', body: 9 }]);
  });

  it('a shadow that is down never fails the real request', async () => {
    reset();
    for (let i = 0; i < 10; i++) expect((await call('/mirror-down/x')).status).toBe(200);
    expect(await metric('gateway_mirror_requests_total{route="mirror-down",result="failed"}')).toMatch(/ [1-9]/);
  });
});

describe('DNS names in targets', () => {
  it('localhost resolves (getaddrinfo) and serves', async () => {
    reset();
    const r = await call('/by-name/x');
    expect(r.status).toBe(200);
    const ups = (await (await request(`http://127.0.0.1:${adminPort}/upstreams`, { headers: { authorization: `Bearer ${TOKEN}` } })).body.json()) as any;
    expect(ups.byName.targets.map((t: { url: string }) => t.url)[0]).toBe(`http://localhost:${a.port}`);
    expect(ups.byName.targets.some((t: { address: string }) => /127\.0\.0\.1|\[::1\]/.test(t.address))).toBe(true);
  });

  it('a name that never resolved is 502 for its requests, not a start-up failure', async () => {
    const r = await call('/nowhere/x');
    expect(r.status).toBe(502);
    expect(JSON.parse(r.text).error.code).toBe('upstream_unavailable');
  });
});
