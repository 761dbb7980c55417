// quietStderr (native/uws_quiet.cc) and withoutUwsWarning (src/native/uws-quiet.ts): fd 2 goes to
// /dev/null for one call and comes back whatever the call does. What it is for (an uncorked
// WebSocket upgrade's warning kept out of the log) is pinned end to end by
// test/regressions/websocket-upgrade-cork.test.ts.
import { spawnSync } from 'node:child_process';
import { fstatSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findPackageRoot } from '../../src/uws.js';
import { withoutUwsWarning } from '../../src/native/uws-quiet.js';

const ADDON = join(findPackageRoot(), 'build', 'Release', 'gateway_native.node');

function sameFile(a: { dev: number; ino: number }, b: { dev: number; ino: number }): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

describe('quietStderr', () => {
  it('what is written to fd 2 while on is gone; before and after, it arrives (a real child process)', () => {
    const script = `
      const fs = require('node:fs');
      const { quietStderr } = require(${JSON.stringify(ADDON)});
      fs.writeSync(2, 'before\\n');
      if (quietStderr(true) !== 0) process.exit(3);
      fs.writeSync(2, 'hidden\\n');
      process.stderr.write('hidden too\\n');
      if (quietStderr(false) !== 0) process.exit(4);
      fs.writeSync(2, 'after\\n');
      quietStderr(true); quietStderr(true); // twice on: still one saved stderr
      quietStderr(false);
      fs.writeSync(2, 'again\\n');
    `;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('before\nafter\nagain\n');
  });

  it('withoutUwsWarning: fd 2 is /dev/null during the call and the original after it, also when the call throws', () => {
    const original = fstatSync(2);
    const devNull = statSync('/dev/null');
    expect(sameFile(original, devNull)).toBe(false); // else the checks below would hold anyway
    let during: { dev: number; ino: number } | null = null;
    withoutUwsWarning(() => {
      during = fstatSync(2);
    });
    expect(sameFile(during!, devNull)).toBe(true);
    expect(sameFile(fstatSync(2), original)).toBe(true);
    expect(() => withoutUwsWarning(() => {
      throw new Error('boom');
    })).toThrow('boom');
    expect(sameFile(fstatSync(2), original)).toBe(true);
  });
});
