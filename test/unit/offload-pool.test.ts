/**
 * The offload pool (src/offload/pool.ts) with real worker threads. It is loaded from dist/
 * (npm run build first, as for every test that starts the gateway): piscina starts its threads
 * on the compiled task file.
 */
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: compiled output, typed through the source below
import * as compiled from '../../dist/src/offload/pool.js';
import type * as Source from '../../src/offload/pool.js';
import { keyPrefix, mergeJson } from '../../src/worker/actions/aggregate-merge.js';

const { OffloadPool, offloadThreads } = compiled as typeof Source;

const pool = new OffloadPool(1);
afterAll(() => pool.close());

/** A body with an ArrayBuffer of its own, as the aggregate action keeps them. */
function own(text: string): Buffer {
  const b = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  b.write(text);
  return b;
}

describe('offload pool', () => {
  it('runs a named task on a thread and gives the same bytes as running it inline', async () => {
    const prefixes = ['a', 'b'].map(keyPrefix);
    const texts = [JSON.stringify({ x: [1, 2, 3], s: 'é' }), ' [true,null] '];
    const inline = mergeJson({ prefixes, bodies: texts.map(own), required: [true, true] });
    const bodies = texts.map(own);
    const r = await pool.run('aggregateMerge', { prefixes, bodies, required: [true, true] }, bodies.map((b) => b.buffer as ArrayBuffer));
    expect(Buffer.from(r.merged!).equals(inline.merged!)).toBe(true);
    expect(r.invalid).toEqual([]);
  });

  it('moves the listed buffers to the thread instead of copying them', async () => {
    const bodies = [own('{"big":"' + 'x'.repeat(100_000) + '"}')];
    const r = await pool.run('aggregateMerge', { prefixes: [keyPrefix('k')], bodies, required: [true] }, [bodies[0].buffer as ArrayBuffer]);
    expect(bodies[0].buffer.byteLength).toBe(0); // detached here: it went to the thread
    expect(r.merged!.byteLength).toBe(100_000 + 16);
  });

  it('has no threads where requests are never served (dry runs)', async () => {
    const none = new OffloadPool(0);
    expect(none.available).toBe(false);
    await expect(none.run('aggregateMerge', { prefixes: [], bodies: [], required: [] })).rejects.toThrow(/no threads/);
  });

  it('sizes itself to the cores per gateway worker, 1 to 4 threads', () => {
    expect(offloadThreads(2, 2)).toBe(1);
    expect(offloadThreads(8, 2)).toBe(4);
    expect(offloadThreads(16, 1)).toBe(4);
    expect(offloadThreads(2, 8)).toBe(1);
    expect(offloadThreads(6, 2)).toBe(3);
  });
});
