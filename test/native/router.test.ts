/**
 * One behaviour suite for both router engines (native addon and TS reference): the contract of
 * src/native/router-types.ts, including the resolutions written there.
 */
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { createRouter, nativeAvailable, type RouterEngineKind } from '../../src/native/router.js';
import {
  MATCH_FOUND,
  MATCH_METHOD_NOT_ALLOWED,
  MATCH_NOT_FOUND,
  MAX_CANDIDATES,
  MAX_PARAMS,
  newMatchOutput,
  type RoutePattern,
  type RouterEngine,
} from '../../src/native/router-types.js';

type P = Partial<RoutePattern> & { path: string };

function table(patterns: P[]): RoutePattern[] {
  return patterns.map((p) => ({ hosts: null, methods: null, priority: 0, headerMatches: 0, ...p }));
}

interface Answer {
  code: number;
  candidates: number[];
  candidateParams: number[];
  params: string[]; // the captured substrings
  offsets: number[];
  allow: string[];
}

function lookup(r: RouterEngine, method: string, host: string, path: string): Answer {
  const out = newMatchOutput();
  const code = r.match(method, host, path, out);
  const offsets = Array.from(out.params.subarray(0, 2 * out.paramCount));
  const params: string[] = [];
  for (let i = 0; i < offsets.length; i += 2) params.push(path.slice(offsets[i], offsets[i + 1]));
  return {
    code,
    candidates: Array.from(out.candidates.subarray(0, out.candidateCount)),
    candidateParams: Array.from(out.candidateParams.subarray(0, out.candidateCount)),
    params,
    offsets,
    allow: out.allow,
  };
}

it('the native addon is built and loads', () => {
  expect(nativeAvailable()).toBe(true);
});

it('createRouter rejects an unknown engine', () => {
  expect(() => createRouter([], 'fast' as RouterEngineKind)).toThrow(TypeError);
});

it('the native router works in a worker thread (one addon instance per isolate)', async () => {
  const addon = join(fileURLToPath(new URL('../../', import.meta.url)), 'build', 'Release', 'gateway_native.node');
  const source = `
    const { parentPort } = require('node:worker_threads');
    const { Router } = require(${JSON.stringify(addon)});
    const r = new Router([{ hosts: null, methods: ['GET'], path: '/a/:x', priority: 0 }]);
    parentPort.postMessage([r.match('GET', 'h', '/a/1'), r.match('PUT', 'h', '/a/1'), Array.from(new Int32Array(r.output, 0, 1))]);`;
  const worker = new Worker(source, { eval: true });
  const [message] = (await once(worker, 'message')) as [unknown];
  await worker.terminate();
  expect(message).toEqual([MATCH_FOUND, MATCH_METHOD_NOT_ALLOWED, [0]]);
});

describe.each(['native', 'reference'] as const)('router (%s)', (engine) => {
  const make = (patterns: P[]) => createRouter(table(patterns), engine);
  const hit = (r: RouterEngine, path: string, method = 'GET', host = 'h.test') => lookup(r, method, host, path);

  describe('segment precedence', () => {
    it('static beats :param beats *', () => {
      const r = make([{ path: '/a/*' }, { path: '/a/:x' }, { path: '/a/b' }]);
      expect(hit(r, '/a/b')).toMatchObject({ code: MATCH_FOUND, candidates: [2], params: [] });
      expect(hit(r, '/a/c')).toMatchObject({ code: MATCH_FOUND, candidates: [1], params: ['c'], offsets: [3, 4] });
      expect(hit(r, '/a/b/c')).toMatchObject({ code: MATCH_FOUND, candidates: [0], params: ['b/c'] });
    });

    it('backtracks from a dead-end static branch to :param, then to *', () => {
      const r = make([{ path: '/a/b/c' }, { path: '/a/:x/d' }, { path: '/a/*' }, { path: '/:y/b/e' }]);
      expect(hit(r, '/a/b/c').candidates).toEqual([0]);
      expect(hit(r, '/a/b/d')).toMatchObject({ candidates: [1], params: ['b'] });
      // Decided per segment: "a" (static) beats ":y", so /a/* wins over /:y/b/e.
      expect(hit(r, '/a/b/e')).toMatchObject({ candidates: [2], params: ['b/e'] });
      expect(hit(r, '/z/b/e')).toMatchObject({ candidates: [3], params: ['z'] });
      expect(hit(r, '/z/b/f').code).toBe(MATCH_NOT_FOUND);
    });

    it('backtracks through several levels', () => {
      const r = make([{ path: '/a/b/c/d' }, { path: '/a/:x/c/e' }, { path: '/:p/:q/:r/f' }]);
      expect(hit(r, '/a/b/c/e')).toMatchObject({ candidates: [1], params: ['b'] });
      expect(hit(r, '/a/b/c/f')).toMatchObject({ candidates: [2], params: ['a', 'b', 'c'] });
    });

    it('priority never overrides specificity', () => {
      const r = make([{ path: '/a/:x', priority: 100 }, { path: '/a/b', priority: -5 }]);
      expect(hit(r, '/a/b').candidates).toEqual([1]);
    });
  });

  describe('candidates', () => {
    it('patterns of one shape are all candidates, priority desc then index asc', () => {
      const r = make([
        { path: '/a/:x', priority: 1 },
        { path: '/a/:y', priority: 5 },
        { path: '/a/:z', priority: 5 },
        { path: '/a/:w', priority: 1 },
        { path: '/a/:v', priority: -3 },
        { path: '/a/b', priority: 9 },
      ]);
      expect(hit(r, '/a/q').candidates).toEqual([1, 2, 0, 3, 4]);
      expect(hit(r, '/a/b').candidates).toEqual([5]);
    });

    it('only patterns accepting the method are candidates', () => {
      const r = make([
        { path: '/a/:x', methods: ['POST'] },
        { path: '/a/:y', methods: ['GET'] },
        { path: '/a/:z' },
        { path: '/a/:w', methods: ['GET', 'POST'], priority: 2 },
      ]);
      expect(hit(r, '/a/1', 'GET').candidates).toEqual([3, 1, 2]);
      expect(hit(r, '/a/1', 'POST').candidates).toEqual([3, 0, 2]);
      expect(hit(r, '/a/1', 'PUT').candidates).toEqual([2]);
    });

    it('duplicate hosts and methods do not duplicate a candidate', () => {
      const r = make([{ path: '/a', hosts: ['x.test', 'x.test', '*.test', '*.test'], methods: ['GET', 'GET'] }]);
      expect(hit(r, '/a', 'GET', 'x.test').candidates).toEqual([0]);
      expect(hit(r, '/a', 'GET', 'y.test').candidates).toEqual([0]);
    });
  });

  describe('hosts', () => {
    const r = make([
      { path: '/x', hosts: ['api.example.com'] },
      { path: '/x', hosts: ['*.example.com'] },
      { path: '/x', hosts: ['*.b.example.com'] },
      { path: '/x' },
      { path: '/only-wild', hosts: ['*.example.com'] },
      { path: '/y' },
      { path: '/:p', hosts: ['p.test'] },
      { path: '/z', hosts: ['p.test', '*.test'] },
    ]);

    it('exact, then wildcard by longest suffix, then any host', () => {
      expect(hit(r, '/x', 'GET', 'api.example.com').candidates).toEqual([0]);
      expect(hit(r, '/x', 'GET', 'other.example.com').candidates).toEqual([1]);
      expect(hit(r, '/x', 'GET', 'c.b.example.com').candidates).toEqual([2]);
      expect(hit(r, '/x', 'GET', 'b.example.com').candidates).toEqual([1]);
      expect(hit(r, '/x', 'GET', 'unrelated.org').candidates).toEqual([3]);
      expect(hit(r, '/x', 'GET', '').candidates).toEqual([3]);
    });

    it('a wildcard needs at least one label before the suffix', () => {
      expect(hit(r, '/x', 'GET', 'example.com').candidates).toEqual([3]);
      expect(hit(r, '/only-wild', 'GET', 'example.com').code).toBe(MATCH_NOT_FOUND);
      expect(hit(r, '/only-wild', 'GET', 'a.b.c.example.com').candidates).toEqual([4]);
      expect(hit(r, '/only-wild', 'GET', 'xexample.com').code).toBe(MATCH_NOT_FOUND);
    });

    it('falls through host trees that have nothing for the path', () => {
      expect(hit(r, '/only-wild', 'GET', 'api.example.com').candidates).toEqual([4]);
      expect(hit(r, '/y', 'GET', 'api.example.com').candidates).toEqual([5]);
    });

    it('the first host tree that matches wins, even with a less specific shape', () => {
      expect(hit(r, '/x', 'GET', 'p.test')).toMatchObject({ candidates: [6], params: ['x'] });
      // /z is static in both p.test and *.test trees: p.test (exact) is consulted first.
      expect(hit(r, '/z', 'GET', 'p.test')).toMatchObject({ candidates: [7], params: [] });
      expect(hit(r, '/z', 'GET', 'q.test').candidates).toEqual([7]);
    });

    it('hosts null, [] and ["*"] all mean any host', () => {
      const r2 = make([{ path: '/a', hosts: [] }, { path: '/a', hosts: ['*'] }, { path: '/a', hosts: null }]);
      expect(hit(r2, '/a', 'GET', 'whatever.test').candidates).toEqual([0, 1, 2]);
    });

    it('hosts are compared exactly (the caller lower-cases them)', () => {
      expect(hit(r, '/only-wild', 'GET', 'API.EXAMPLE.COM').code).toBe(MATCH_NOT_FOUND);
    });
  });

  describe('methods, 404 and 405', () => {
    it('falls back per method (GET /users/me -> GET /users/:id)', () => {
      const r = make([
        { path: '/users/:id', methods: ['GET'] },
        { path: '/users/me', methods: ['POST'] },
      ]);
      expect(hit(r, '/users/me', 'GET')).toMatchObject({ code: MATCH_FOUND, candidates: [0], params: ['me'] });
      expect(hit(r, '/users/me', 'POST')).toMatchObject({ code: MATCH_FOUND, candidates: [1], params: [] });
      expect(hit(r, '/users/me', 'DELETE')).toMatchObject({ code: MATCH_METHOD_NOT_ALLOWED, allow: ['GET', 'POST'] });
      expect(hit(r, '/users/7', 'DELETE')).toMatchObject({ code: MATCH_METHOD_NOT_ALLOWED, allow: ['GET'] });
      expect(hit(r, '/users', 'GET').code).toBe(MATCH_NOT_FOUND);
    });

    it('methods null and [] accept every method, including unknown ones', () => {
      const r = make([{ path: '/a', methods: null }, { path: '/b', methods: [] }]);
      expect(hit(r, '/a', 'BREW').candidates).toEqual([0]);
      expect(hit(r, '/b', 'M-SEARCH').candidates).toEqual([1]);
      expect(hit(r, '/b', '').candidates).toEqual([1]);
    });

    it('methods are case-sensitive and there is no implicit HEAD', () => {
      const r = make([{ path: '/a', methods: ['GET'] }]);
      expect(hit(r, '/a', 'get')).toMatchObject({ code: MATCH_METHOD_NOT_ALLOWED, allow: ['GET'] });
      expect(hit(r, '/a', 'HEAD')).toMatchObject({ code: MATCH_METHOD_NOT_ALLOWED, allow: ['GET'] });
    });

    it('Allow is sorted, unique, and covers every shape matching the path', () => {
      const r = make([
        { path: '/a/b', methods: ['PUT', 'GET'] },
        { path: '/a/b', methods: ['DELETE', 'GET'] },
        { path: '/a/:x', methods: ['POST'] },
        { path: '/a/*', methods: ['OPTIONS'] },
        { path: '/other', methods: ['PATCH'] },
      ]);
      expect(hit(r, '/a/b', 'PATCH')).toMatchObject({
        code: MATCH_METHOD_NOT_ALLOWED,
        candidates: [],
        params: [],
        allow: ['DELETE', 'GET', 'OPTIONS', 'POST', 'PUT'],
      });
      expect(hit(r, '/a/c', 'PATCH').allow).toEqual(['OPTIONS', 'POST']);
      expect(hit(r, '/a/', 'PATCH').allow).toEqual(['OPTIONS']);
      expect(hit(r, '/nope', 'GET')).toMatchObject({ code: MATCH_NOT_FOUND, allow: [] });
    });

    it('405 comes from the first host tree that has the path', () => {
      const r = make([
        { path: '/x', hosts: ['a.test'], methods: ['POST'] },
        { path: '/x', hosts: ['*.test'], methods: ['PUT'] },
        { path: '/x', methods: ['GET'] },
        { path: '/y', hosts: ['*.test'], methods: ['PUT'] },
        { path: '/y', methods: ['PATCH'] },
      ]);
      expect(hit(r, '/x', 'GET', 'a.test').candidates).toEqual([2]);
      expect(hit(r, '/x', 'DELETE', 'a.test').allow).toEqual(['POST']);
      expect(hit(r, '/x', 'DELETE', 'b.test').allow).toEqual(['PUT']);
      expect(hit(r, '/x', 'DELETE', 'b.org').allow).toEqual(['GET']);
      expect(hit(r, '/y', 'DELETE', 'a.test').allow).toEqual(['PUT']);
      expect(hit(r, '/y', 'PATCH', 'a.test').candidates).toEqual([4]);
    });

    it('an empty table answers 404', () => {
      const r = make([]);
      expect(hit(r, '/', 'GET').code).toBe(MATCH_NOT_FOUND);
    });
  });

  describe('which route wins (docs/configuration.md; rules 1-5 of router-types.ts)', () => {
    it('a route without hosts is the default for hosts a wildcard route does not cover', () => {
      const r = make([{ path: '/x', hosts: ['*.example.com'] }, { path: '/x' }]);
      expect(hit(r, '/x', 'GET', 'a.example.com').candidates).toEqual([0]);
      expect(hit(r, '/x', 'GET', 'example.com').candidates).toEqual([1]);
      expect(hit(r, '/x', 'GET', 'other.org').candidates).toEqual([1]);
    });

    it('a route listing the method beats one without methods, whatever the order and priority', () => {
      for (const [first, second] of [[{ path: '/a', priority: 5 }, { path: '/a', methods: ['GET'] }], [{ path: '/a', methods: ['GET'] }, { path: '/a', priority: 5 }]] as P[][]) {
        const r = make([first, second]);
        const listing = first.methods ? 0 : 1;
        expect(hit(r, '/a', 'GET').candidates).toEqual([listing, 1 - listing]);
        expect(hit(r, '/a', 'POST').candidates).toEqual([1 - listing]);
        expect(hit(r, '/a', 'BREW').candidates).toEqual([1 - listing]);
      }
    });

    it('the method rule only orders routes of one path shape: path beats method', () => {
      const r = make([{ path: '/a/:x', methods: ['GET'] }, { path: '/a/b' }]);
      expect(hit(r, '/a/b', 'GET').candidates).toEqual([1]);
      expect(hit(r, '/a/c', 'GET').candidates).toEqual([0]);
    });

    it('header-matched routes first (more matches first), then the rest; priority only breaks ties', () => {
      const r = make([
        { path: '/v', headerMatches: 1, priority: 9 },
        { path: '/v', priority: 10 },
        { path: '/v', headerMatches: 2 },
        { path: '/v', headerMatches: 1, priority: 10 },
        { path: '/v', methods: ['GET'] },
      ]);
      expect(hit(r, '/v', 'GET').candidates).toEqual([4, 2, 3, 0, 1]);
      expect(hit(r, '/v', 'POST').candidates).toEqual([2, 3, 0, 1]);
    });

    it('falls back from a header-matched route to a less specific path', () => {
      const r = make([{ path: '/api/*' }, { path: '/api/users', headerMatches: 1 }]);
      const a = hit(r, '/api/users');
      expect(a).toMatchObject({ code: MATCH_FOUND, candidates: [1, 0], candidateParams: [0, 0], params: ['users'] });
      expect(hit(r, '/api/orders')).toMatchObject({ candidates: [0], params: ['orders'] });
    });

    it('stops after the first group holding a route without header matches', () => {
      const r = make([{ path: '/a/b', headerMatches: 1 }, { path: '/a/:x' }, { path: '/a/:y', headerMatches: 3 }, { path: '/a/*' }]);
      expect(hit(r, '/a/b')).toMatchObject({ candidates: [0, 2, 1], candidateParams: [0, 0, 0], params: ['b'] });
      expect(hit(r, '/a/c')).toMatchObject({ candidates: [2, 1], params: ['c'] });
      expect(hit(r, '/a/c/d')).toMatchObject({ candidates: [3], params: ['c/d'] });
    });

    it('each group has its own captures (candidateParams)', () => {
      const r = make([{ path: '/u/:id/x', headerMatches: 1 }, { path: '/:a/:b/x' }, { path: '/u/*', headerMatches: 1 }]);
      const a = hit(r, '/u/7/x');
      expect(a).toMatchObject({ candidates: [0, 2, 1], candidateParams: [0, 1, 2], params: ['7', '7/x', 'u', '7'] });
    });

    it('backtracks through dead ends while falling back', () => {
      const r = make([{ path: '/a/b/c', headerMatches: 1 }, { path: '/a/:x/d' }, { path: '/a/:x/c', headerMatches: 1 }, { path: '/:y/b/c' }]);
      expect(hit(r, '/a/b/c')).toMatchObject({ candidates: [0, 2, 3], candidateParams: [0, 0, 1], params: ['b', 'a'] });
    });

    it('falls back across host trees: exact, wildcard, any host', () => {
      const r = make([
        { path: '/x', hosts: ['a.test'], headerMatches: 1 },
        { path: '/x', hosts: ['*.test'], headerMatches: 2 },
        { path: '/:p', hosts: ['*.test'] },
        { path: '/x' },
      ]);
      expect(hit(r, '/x', 'GET', 'a.test')).toMatchObject({ candidates: [0, 1, 2], candidateParams: [0, 0, 0], params: ['x'] });
      expect(hit(r, '/x', 'GET', 'b.test')).toMatchObject({ candidates: [1, 2] });
      expect(hit(r, '/x', 'GET', 'b.org')).toMatchObject({ candidates: [3] });
      const r2 = make([{ path: '/x', hosts: ['a.test'], headerMatches: 1 }, { path: '/x', hosts: ['*.test'], headerMatches: 1 }, { path: '/*' }]);
      expect(hit(r2, '/x', 'GET', 'a.test')).toMatchObject({ candidates: [0, 1, 2], candidateParams: [0, 0, 0], params: ['x'] });
    });

    it('lists a route in several host trees once, at its most specific one', () => {
      const r = make([{ path: '/x', hosts: ['a.test', '*.test'], headerMatches: 1 }, { path: '/x', hosts: ['*.test'], headerMatches: 1 }, { path: '/x' }]);
      expect(hit(r, '/x', 'GET', 'a.test').candidates).toEqual([0, 1, 2]);
      expect(hit(r, '/x', 'GET', 'b.test').candidates).toEqual([0, 1, 2]);
      // Listed once even when that makes the lookup report fewer than its leaves hold.
      const r2 = make([{ path: '/x', hosts: ['a.test', '*.test', '*'], headerMatches: 1 }, { path: '/x' }]);
      expect(hit(r2, '/x', 'GET', 'a.test').candidates).toEqual([0, 1]);
      expect(hit(r2, '/x', 'GET', 'b.test').candidates).toEqual([0, 1]);
      expect(hit(r2, '/x', 'GET', 'b.org').candidates).toEqual([0, 1]);
    });

    it('a header-matched route listing the method comes before an unconditional one without methods', () => {
      const r = make([{ path: '/a' }, { path: '/a', methods: ['GET'], headerMatches: 1 }]);
      expect(hit(r, '/a', 'GET').candidates).toEqual([1, 0]);
      expect(hit(r, '/a', 'POST').candidates).toEqual([0]);
    });

    it('405 only when no route of the winning host matches the method', () => {
      const r = make([
        { path: '/x', methods: ['GET'], headerMatches: 1 },
        { path: '/x', methods: ['POST'] },
        { path: '/y', hosts: ['a.test'], methods: ['POST'] },
        { path: '/y', methods: ['GET'], headerMatches: 1 },
        { path: '/y', methods: ['PUT'] },
      ]);
      // The winning host has a GET route (its header match decides): no 405 when it fails.
      expect(hit(r, '/x', 'GET')).toMatchObject({ code: MATCH_FOUND, candidates: [0], allow: [] });
      expect(hit(r, '/x', 'DELETE')).toMatchObject({ code: MATCH_METHOD_NOT_ALLOWED, allow: ['GET', 'POST'] });
      // a.test wins /y and has no GET route: the any-host GET is a candidate, and if its header
      // match fails the answer is a.test's 405.
      expect(hit(r, '/y', 'GET', 'a.test')).toMatchObject({ code: MATCH_FOUND, candidates: [3], allow: ['POST'] });
      expect(hit(r, '/y', 'GET', 'b.test')).toMatchObject({ code: MATCH_FOUND, candidates: [3], allow: [] });
      expect(hit(r, '/y', 'PUT', 'a.test')).toMatchObject({ code: MATCH_FOUND, candidates: [4], allow: [] });
      expect(hit(r, '/y', 'DELETE', 'a.test')).toMatchObject({ code: MATCH_METHOD_NOT_ALLOWED, allow: ['POST'] });
      expect(hit(r, '/y', 'DELETE', 'b.test')).toMatchObject({ code: MATCH_METHOD_NOT_ALLOWED, allow: ['GET', 'PUT'] });
    });

    it('reports more than MAX_CANDIDATES candidates when groups chain (the output grows)', () => {
      const n = MAX_CANDIDATES - 4;
      const cond = (path: string) => Array.from({ length: n }, () => ({ path, headerMatches: 1 }));
      const r = make([...cond('/c/d'), ...cond('/c/:x'), ...cond('/c/*'), { path: '/*' }]);
      const out = newMatchOutput();
      expect(r.match('GET', 'h', '/c/d', out)).toBe(MATCH_FOUND);
      expect(out.candidateCount).toBe(3 * n + 1);
      expect(Array.from(out.candidates.subarray(0, 3 * n + 1))).toEqual(Array.from({ length: 3 * n + 1 }, (_, i) => i));
      const bases = Array.from(out.candidateParams.subarray(0, 3 * n + 1));
      expect(bases).toEqual([...Array(2 * n).fill(0), ...Array(n).fill(1), 2]);
      expect(Array.from(out.params.subarray(0, 2 * out.paramCount))).toEqual([3, 4, 3, 4, 1, 4]);
      const grown = out.candidates;
      expect(r.match('GET', 'h', '/c/d', out)).toBe(MATCH_FOUND);
      expect(out.candidates).toBe(grown); // no new array for the next such hit
      expect(r.match('GET', 'h', '/z', out)).toBe(MATCH_FOUND);
      expect(out).toMatchObject({ candidateCount: 1, paramCount: 1 });
    });

    it('headerMatches must be a non-negative integer; undefined is 0', () => {
      for (const bad of [-1, 1.5, '1', NaN, Infinity, null]) {
        expect(() => createRouter([{ hosts: null, methods: null, path: '/', priority: 0, headerMatches: bad as number }], engine)).toThrow(
          new TypeError('pattern 0: headerMatches must be a non-negative integer'),
        );
      }
      const r = createRouter([{ hosts: null, methods: null, path: '/', priority: 0 } as RoutePattern, { hosts: null, methods: null, path: '/', priority: 0, headerMatches: 1 }], engine);
      expect(hit(r, '/').candidates).toEqual([1, 0]);
    });
  });

  describe('paths', () => {
    it('reports [start, end) offsets for each capture in pattern order', () => {
      const r = make([{ path: '/u/:a/v/:b/*' }]);
      expect(hit(r, '/u/1/v/22/x/y')).toMatchObject({ offsets: [3, 4, 7, 9, 10, 13], params: ['1', '22', 'x/y'] });
    });

    it('a * tail may be empty but its segment must exist', () => {
      const r = make([{ path: '/files/*' }, { path: '/*', priority: -1 }]);
      expect(hit(r, '/files/')).toMatchObject({ candidates: [0], offsets: [7, 7], params: [''] });
      expect(hit(r, '/files/a/b/')).toMatchObject({ candidates: [0], params: ['a/b/'] });
      expect(hit(r, '/files')).toMatchObject({ candidates: [1], params: ['files'] });
      expect(hit(r, '/')).toMatchObject({ candidates: [1], offsets: [1, 1] });
    });

    it('a trailing slash is significant', () => {
      const r = make([{ path: '/a' }, { path: '/b/' }, { path: '/c/:x' }]);
      expect(hit(r, '/a').candidates).toEqual([0]);
      expect(hit(r, '/a/').code).toBe(MATCH_NOT_FOUND);
      expect(hit(r, '/b/').candidates).toEqual([1]);
      expect(hit(r, '/b').code).toBe(MATCH_NOT_FOUND);
      expect(hit(r, '/c/').code).toBe(MATCH_NOT_FOUND); // a param is never empty
      expect(hit(r, '/c/d/').code).toBe(MATCH_NOT_FOUND);
    });

    it('the root path', () => {
      const r = make([{ path: '/' }, { path: '/:x' }]);
      expect(hit(r, '/').candidates).toEqual([0]);
      expect(hit(r, '/q')).toMatchObject({ candidates: [1], params: ['q'] });
      expect(hit(make([{ path: '/:x' }]), '/').code).toBe(MATCH_NOT_FOUND);
    });

    it('a path not starting with "/" is not found', () => {
      const r = make([{ path: '/*' }]);
      expect(hit(r, '').code).toBe(MATCH_NOT_FOUND);
      expect(hit(r, '*').code).toBe(MATCH_NOT_FOUND);
      expect(hit(r, 'a/b').code).toBe(MATCH_NOT_FOUND);
    });

    it('matches percent-encoded bytes literally and never splits on %2F', () => {
      const r = make([{ path: '/caf%C3%A9' }, { path: '/p/:x/q' }]);
      expect(hit(r, '/caf%C3%A9').candidates).toEqual([0]);
      expect(hit(r, '/café').code).toBe(MATCH_NOT_FOUND);
      expect(hit(r, '/caf%c3%a9').code).toBe(MATCH_NOT_FOUND);
      expect(hit(r, '/p/a%2Fb/q')).toMatchObject({ candidates: [1], params: ['a%2Fb'] });
    });

    it('matches unicode on UTF-16 code units, offsets are string indexes', () => {
      const r = make([{ path: '/café/:x' }, { path: '/日本/*' }, { path: '/e/:x/z' }]);
      expect(hit(r, '/café/ü')).toMatchObject({ candidates: [0], params: ['ü'], offsets: [6, 7] });
      expect(hit(r, '/cafe\u0301/ü').code).toBe(MATCH_NOT_FOUND); // no normalization
      expect(hit(r, '/日本/語/😀')).toMatchObject({ candidates: [1], params: ['語/😀'], offsets: [4, 8] });
      expect(hit(r, '/e/😀x/z')).toMatchObject({ candidates: [2], params: ['😀x'], offsets: [3, 6] });
      expect(hit(r, '/e/\ud800/z')).toMatchObject({ candidates: [2], params: ['\ud800'] }); // lone surrogate
    });

    it('static segments may contain ":" and "*" after their first character', () => {
      const r = make([{ path: '/a*/x:y/*' }]);
      expect(hit(r, '/a*/x:y/z')).toMatchObject({ candidates: [0], params: ['z'] });
      expect(hit(r, '/ab/x:y/z').code).toBe(MATCH_NOT_FOUND);
    });

    it('paths are case-sensitive', () => {
      const r = make([{ path: '/A' }]);
      expect(hit(r, '/a').code).toBe(MATCH_NOT_FOUND);
    });
  });

  describe('limits', () => {
    it('pattern paths up to 8192 code units; longer is a RangeError', () => {
      const ok = '/' + 'a'.repeat(8191);
      expect(hit(make([{ path: ok }]), ok).candidates).toEqual([0]);
      expect(() => make([{ path: ok + 'a' }])).toThrow(RangeError);
      const deep = '/x'.repeat(4096); // 4096 segments
      expect(hit(make([{ path: deep }, { path: '/x/*' }]), deep).candidates).toEqual([0]);
    });

    it(`up to MAX_PARAMS (${MAX_PARAMS}) captures; more is a RangeError`, () => {
      const path32 = Array.from({ length: MAX_PARAMS - 1 }, (_, i) => `/:p${i}`).join('') + '/*';
      const r = make([{ path: path32 }]);
      const req = Array.from({ length: MAX_PARAMS + 3 }, (_, i) => `/v${i}`).join('');
      const a = hit(r, req);
      expect(a.params.length).toBe(MAX_PARAMS);
      expect(a.params[0]).toBe('v0');
      expect(a.params[MAX_PARAMS - 1]).toBe('v31/v32/v33/v34');
      expect(() => make([{ path: `${path32.slice(0, -2)}/:q/*` }])).toThrow(RangeError);
    });

    it(`up to MAX_CANDIDATES (${MAX_CANDIDATES}) patterns per leaf and method; more is a RangeError`, () => {
      const many = (n: number, extra: P[] = []) => [...Array.from({ length: n }, (_, i) => ({ path: `/a/:x${i}`, priority: i % 3 })), ...extra];
      const r = make(many(MAX_CANDIDATES));
      const a = hit(r, '/a/b');
      expect(a.candidates.length).toBe(MAX_CANDIDATES);
      expect(a.candidates.slice(0, 3)).toEqual([2, 5, 8]);
      expect(() => make(many(MAX_CANDIDATES + 1))).toThrow(RangeError);
      // methods=null patterns count for every method...
      expect(() => make(many(40, Array.from({ length: 25 }, () => ({ path: '/a/:y', methods: ['GET'] }))))).toThrow(RangeError);
      // ...but different methods are different leaves, and different hosts different trees.
      const split = make(
        many(40, [
          ...Array.from({ length: 24 }, () => ({ path: '/a/:y', methods: ['GET'] })),
          ...Array.from({ length: 24 }, () => ({ path: '/a/:y', methods: ['POST'] })),
          ...Array.from({ length: 64 }, () => ({ path: '/a/:y', methods: ['GET'], hosts: ['h.test'] })),
        ]),
      );
      expect(hit(split, '/a/b', 'GET', 'x.test').candidates.length).toBe(64);
      expect(hit(split, '/a/b', 'POST').candidates.length).toBe(64);
      expect(hit(split, '/a/b', 'GET', 'h.test').candidates.length).toBe(64);
    });

    it('request strings have no length limit', () => {
      const r = make([{ path: '/a/:x/b', methods: ['GET'] }, { path: '/*', methods: ['GET'], hosts: ['h'.repeat(1000) + '.test'] }, { path: '/m', methods: ['X'.repeat(100)] }]);
      const long = 'y'.repeat(100_000);
      expect(hit(r, `/a/${long}/b`)).toMatchObject({ candidates: [0], offsets: [3, 100_003] });
      expect(hit(r, `/a/${long}/c`).code).toBe(MATCH_NOT_FOUND);
      expect(hit(r, `/${long}`, 'GET', 'h'.repeat(1000) + '.test')).toMatchObject({ candidates: [1], offsets: [1, 100_001] });
      expect(hit(r, `/a/${long}/b`, 'PUT')).toMatchObject({ code: MATCH_METHOD_NOT_ALLOWED, allow: ['GET'] });
      expect(hit(r, '/m', 'X'.repeat(100)).candidates).toEqual([2]);
      expect(hit(r, '/m', 'X'.repeat(99)).allow).toEqual(['X'.repeat(100)]);
      expect(hit(r, '/m', 'X'.repeat(32)).code).toBe(MATCH_METHOD_NOT_ALLOWED);
      const slashes = '/'.repeat(50_000);
      expect(hit(r, slashes).code).toBe(MATCH_NOT_FOUND);
      expect(hit(r, '/a' + slashes).code).toBe(MATCH_NOT_FOUND);
    });
  });

  describe('output buffer', () => {
    it('writes counts on every call, allocates allow only for 405', () => {
      const r = make([{ path: '/a/:x', methods: ['GET'] }]);
      const out = newMatchOutput();
      expect(r.match('GET', 'h', '/a/1', out)).toBe(MATCH_FOUND);
      const empty = out.allow;
      expect(r.match('GET', 'h', '/a/2', out)).toBe(MATCH_FOUND);
      expect(out.allow).toBe(empty); // no new array on a hit
      expect(r.match('POST', 'h', '/a/1', out)).toBe(MATCH_METHOD_NOT_ALLOWED);
      expect(out).toMatchObject({ candidateCount: 0, paramCount: 0, allow: ['GET'] });
      const allow = out.allow;
      expect(r.match('GET', 'h', '/a/1', out)).toBe(MATCH_FOUND);
      expect(out).toMatchObject({ candidateCount: 1, paramCount: 1, allow: [] });
      expect(allow).toEqual(['GET']); // the caller's copy is not mutated
      expect(r.match('GET', 'h', '/b', out)).toBe(MATCH_NOT_FOUND);
      expect(out).toMatchObject({ candidateCount: 0, paramCount: 0 });
    });
  });

  describe('validation', () => {
    const bad: Array<[string, unknown, ErrorConstructor, string]> = [
      ['not an array', { length: 1 }, TypeError, 'patterns must be an array'],
      ['null pattern', [null], TypeError, 'pattern 0 must be an object'],
      ['hosts not an array', [{ hosts: 'a.test', methods: null, path: '/', priority: 0 }], TypeError, 'pattern 0: hosts must be null or an array of strings'],
      ['host not a string', [{ hosts: [1], methods: null, path: '/', priority: 0 }], TypeError, 'pattern 0: hosts must be null or an array of strings'],
      ['empty host', [{ hosts: [''], methods: null, path: '/', priority: 0 }], TypeError, 'pattern 0: invalid host ""'],
      ['upper-case host', [{ hosts: ['A.test'], methods: null, path: '/', priority: 0 }], TypeError, 'pattern 0: invalid host "A.test"'],
      ['inner wildcard', [{ hosts: ['a.*.test'], methods: null, path: '/', priority: 0 }], TypeError, 'pattern 0: invalid host "a.*.test"'],
      ['bare "*."', [{ hosts: ['*.'], methods: null, path: '/', priority: 0 }], TypeError, 'pattern 0: invalid host "*."'],
      ['double wildcard', [{ hosts: ['*.*.test'], methods: null, path: '/', priority: 0 }], TypeError, 'pattern 0: invalid host "*.*.test"'],
      ['methods not an array', [{ hosts: null, methods: 'GET', path: '/', priority: 0 }], TypeError, 'pattern 0: methods must be null or an array of strings'],
      ['lower-case method', [{ hosts: null, methods: ['get'], path: '/', priority: 0 }], TypeError, 'pattern 0: invalid method "get"'],
      ['empty method', [{ hosts: null, methods: [''], path: '/', priority: 0 }], TypeError, 'pattern 0: invalid method ""'],
      ['method with space', [{ hosts: null, methods: ['GE T'], path: '/', priority: 0 }], TypeError, 'pattern 0: invalid method "GE T"'],
      ['missing path', [{ hosts: null, methods: null, priority: 0 }], TypeError, 'pattern 0: path must be a string starting with "/"'],
      ['relative path', [{ hosts: null, methods: null, path: 'a', priority: 0 }], TypeError, 'pattern 0: path must be a string starting with "/"'],
      ['* not last', [{ hosts: null, methods: null, path: '/*/a', priority: 0 }], TypeError, 'pattern 0: "*" must be the last segment'],
      ['empty param name', [{ hosts: null, methods: null, path: '/a/:', priority: 0 }], TypeError, 'pattern 0: empty parameter name'],
      ['fractional priority', [{ hosts: null, methods: null, path: '/', priority: 0.5 }], TypeError, 'pattern 0: priority must be an integer'],
      ['missing priority', [{ hosts: null, methods: null, path: '/' }], TypeError, 'pattern 0: priority must be an integer'],
      ['infinite priority', [{ hosts: null, methods: null, path: '/', priority: Infinity }], TypeError, 'pattern 0: priority must be an integer'],
      ['first bad pattern wins', [{ hosts: null, methods: null, path: '/', priority: 0 }, { path: 'x' }, null], TypeError, 'pattern 1: path must be a string starting with "/"'],
      ['hosts checked before path', [{ hosts: ['B'], methods: null, path: 'x', priority: 0 }], TypeError, 'pattern 0: invalid host "B"'],
    ];
    it.each(bad)('%s', (_name, patterns, cls, message) => {
      let caught: unknown;
      try {
        createRouter(patterns as RoutePattern[], engine);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(cls);
      expect((caught as Error).message).toBe(message);
    });

    it('propagates an exception thrown while reading the table', () => {
      const boom = new Error('boom');
      const pattern = { methods: null, path: '/', priority: 0, get hosts(): never { throw boom; } };
      expect(() => createRouter([pattern as unknown as RoutePattern], engine)).toThrow(boom);
    });

    it('accepts undefined hosts/methods as "any" and -0 / large integer priorities', () => {
      const r = createRouter([{ path: '/', priority: -0 } as RoutePattern, { hosts: null, methods: null, path: '/', priority: 2 ** 60 }], engine);
      expect(hit(r, '/').candidates).toEqual([1, 0]);
    });

    it('match() rejects non-string arguments with a TypeError', () => {
      const r = make([{ path: '/' }]);
      const out = newMatchOutput();
      const m = r.match.bind(r) as (...args: unknown[]) => number;
      expect(() => m(1, 'h', '/', out)).toThrow(TypeError);
      expect(() => m('GET', null, '/', out)).toThrow(TypeError);
      expect(() => m('GET', 'h', undefined, out)).toThrow(TypeError);
      expect(() => m('GET', 'h', { toString: () => '/' }, out)).toThrow(TypeError);
      expect(r.match('GET', 'h', '/', out)).toBe(MATCH_FOUND); // still usable
    });
  });
});
