/** The error registry (src/errors.ts) and the documented table (docs/errors.md) must agree. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { GATEWAY_ERRORS, errorBody, statusLine } from '../../src/errors.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const documented = new Map(
  [...doc.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])] as const),
);

describe('gateway errors', () => {
  it('every code is documented with its status, and nothing else is', () => {
    const codes = Object.entries(GATEWAY_ERRORS).map(([code, def]) => [code, def.status] as const);
    expect(new Map(codes)).toEqual(documented);
  });

  it('bodies have the CONFIG.md shape', () => {
    expect(JSON.parse(errorBody('rate_limited', 'abc'))).toEqual({
      error: { status: 429, code: 'rate_limited', message: GATEWAY_ERRORS.rate_limited.message, requestId: 'abc' },
    });
    expect(JSON.parse(errorBody('not_found')).error).not.toHaveProperty('requestId');
  });

  it('status lines carry the standard reason phrase', () => {
    expect(statusLine(404)).toBe('404 Not Found');
    expect(statusLine(599)).toBe('599 Unknown');
  });
});
