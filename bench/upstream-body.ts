/**
 * Bodies the load suite's upstream serves that the scenarios need to know the size of
 * (bench/upstream-server.ts serves them; bench/scenarios.ts checks the answers' sizes).
 */

export const JSON_MIB_BYTES = 1024 * 1024;

/** Exactly 1 MiB of realistic JSON (an array of small records, padded inside the array). */
export function jsonMiB(): Buffer {
  const items: string[] = [];
  let size = 2;
  for (let i = 0; ; i++) {
    const item = JSON.stringify({ id: i, name: `user-${i}`, email: `user${i}@example.com`, score: (i % 1000) / 7, active: i % 3 === 0, tags: ['a', 'bb'] });
    if (size + item.length + 1 > JSON_MIB_BYTES) break;
    items.push(item);
    size += item.length + 1;
  }
  const body = `[${items.join(',')}`;
  return Buffer.from(body.padEnd(JSON_MIB_BYTES - 1, ' ') + ']');
}
