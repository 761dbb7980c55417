/**
 * Regression cases (test/native/http-response-corpus.ts) on both engines: the outcome of each named
 * valid or malformed upstream response, fed whole, at every cut and byte by byte.
 */
import { describe, expect, it } from 'vitest';
import { CORPUS, MALFORMED, VALID } from './http-response-corpus.js';
import { ENGINES, parseAllSplits } from './http-response-parser-harness.js';

it('the corpus has the malformed kinds of the black-box review (at least 36) and distinct names', () => {
  expect(MALFORMED.length).toBeGreaterThanOrEqual(36);
  expect(new Set(CORPUS.map((c) => c.name)).size).toBe(CORPUS.length);
});

describe.each(ENGINES)('regressions (%s)', (engine) => {
  it.each(VALID.map((c) => [c.name, c] as const))('valid: %s', (_name, c) => {
    const r = parseAllSplits(engine, c.raw, { kinds: c.kinds, limits: c.limits }, 300);
    expect(r.outcome.split('@')[0]).toBe(c.outcome);
    const finals = r.messages.filter((m) => !m.flags?.includes('INFORMATIONAL'));
    expect(finals.length).toBe(c.responses ?? 1);
    expect(r.messages.every((m) => m.complete)).toBe(true);
  });

  it.each(MALFORMED.map((c) => [c.name, c] as const))('malformed: %s', (_name, c) => {
    const r = parseAllSplits(engine, c.raw, { kinds: c.kinds, limits: c.limits }, 300);
    expect(r.outcome.split('@')[0]).toBe(c.outcome);
  });
});

describe('regression details', () => {
  it.each(ENGINES)('%s: 304 with Content-Length reports the length, no body, and the next response follows', (engine) => {
    const c = VALID.find((v) => v.name.startsWith('304'))!;
    const r = parseAllSplits(engine, c.raw, { kinds: c.kinds });
    expect(r.messages).toMatchObject([
      { status: 304, flags: ['KEEP_ALIVE', 'NO_BODY'], contentLength: 1234, body: '', complete: true },
      { status: 200, body: 'ok', complete: true },
    ]);
  });

  it.each(ENGINES)('%s: 103 Early Hints is an informational head with its Link header, then the 200', (engine) => {
    const c = VALID.find((v) => v.name.startsWith('103'))!;
    const r = parseAllSplits(engine, c.raw);
    expect(r.messages).toMatchObject([
      { status: 103, flags: ['INFORMATIONAL', 'NO_BODY'], headers: ['Link', '</style.css>; rel=preload; as=style'], complete: true },
      { status: 200, body: 'page', complete: true },
    ]);
  });

  it.each(ENGINES)('%s: a body longer than its Content-Length is never merged into it', (engine) => {
    const c = MALFORMED.find((v) => v.name.startsWith('body longer'))!;
    const r = parseAllSplits(engine, c.raw);
    expect(r.messages).toMatchObject([{ body: 'abc', complete: true }]);
  });
});
