/** Path normalization rules (CONFIG.md "Path matching"), unit level; the integration tests check them through the gateway. */
import { describe, expect, it } from 'vitest';
import { normalizePath } from '../../src/worker/normalize-path.js';

describe('normalizePath', () => {
  it.each([
    ['/', '/'],
    ['/a/b', '/a/b'],
    ['/a/b/', '/a/b/'],
    ['/.well-known/x', '/.well-known/x'],
    ['/a//b', '/a/b'],
    ['//a', '/a'],
    ['/a/./b', '/a/b'],
    ['/a/../b', '/b'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/a/%2e%2e/b', '/b'],
    ['/a/%2E./b', '/b'],
    ['/%61%62', '/ab'],
    ['/a%2fb', '/a%2Fb'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/a/%7euser', '/a/~user'],
  ])('%s -> %s', (input, out) => {
    expect(normalizePath(input)).toBe(out);
  });

  it.each(['/..', '/../a', '/a/../..', '/%2e%2e', '/a/%2', '/a/%zz', '/%', 'a', ''])('%s is invalid', (input) => {
    expect(normalizePath(input)).toBeNull();
  });

  it('returns the same string (no allocation) when nothing changes', () => {
    const p = '/api/v1/users/42';
    expect(normalizePath(p)).toBe(p);
  });
});
