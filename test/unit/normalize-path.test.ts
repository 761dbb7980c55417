/** Path normalization rules (CONFIG.md "Path matching"), unit level; the integration tests check them through the gateway. */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
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

  it('returns the same string when nothing changes, allocating nothing (no young-generation GC over 2M calls)', () => {
    const p = '/api/v1/users/42';
    expect(normalizePath(p)).toBe(p);
    // toBe compares string values, so it cannot see a copy; the garbage collector can. A copy per
    // call (2M x ~40 bytes) fills the young generation dozens of times; the real fast path never does.
    const script = `
      const { normalizePath } = await import(${JSON.stringify(new URL('../../dist/src/worker/normalize-path.js', import.meta.url).href)});
      const { PerformanceObserver } = await import('node:perf_hooks');
      let minor = 0;
      const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.detail?.kind === 1) minor++; });
      obs.observe({ entryTypes: ['gc'] });
      const paths = ['/api/v1/users/42', '/static/app.js', '/a/b/c'];
      for (let i = 0; i < 2e5; i++) normalizePath(paths[i % 3]); // warm up (JIT)
      globalThis.gc();
      await new Promise((r) => setTimeout(r, 20));
      minor = 0;
      let n = 0;
      for (let i = 0; i < 2e6; i++) n += normalizePath(paths[i % 3]).length;
      await new Promise((r) => setTimeout(r, 20));
      obs.disconnect();
      process.stdout.write(JSON.stringify({ minor, n }));
    `;
    const r = spawnSync(process.execPath, ['--expose-gc', '--max-semi-space-size=1', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const { minor } = JSON.parse(r.stdout) as { minor: number };
    expect(minor).toBeLessThanOrEqual(1);
  });
});
