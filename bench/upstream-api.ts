/**
 * What the bench upstream (bench/upstream-server.ts) serves, for the harness and the scenarios: the
 * answer bodies (so both sides agree on their exact sizes) and its counters endpoint. Importing
 * upstream-server.ts itself would start a server.
 */

/** The plain answer: 17 bytes of JSON. */
export const SMALL_BODY = '{"hello":"world"}';
export const SMALL_RESPONSE_BYTES = SMALL_BODY.length;
export const MIB = 1024 * 1024;

/** The JSON documents of the msgpack-* scenarios: `GET /json/<n>k` answers one of exactly n KiB. */
export const JSON_SIZES_KIB = [1, 64] as const;
export const JSON_PATH_PREFIX = '/json/';

/** The aggregate-1m scenarios' big backend answer: `GET /json-1m`, a JSON document of exactly 1 MiB. */
export const JSON_1M_PATH = '/json-1m';
export const JSON_1M_BYTES = MIB;

export function jsonPath(kib: number): string {
  return `${JSON_PATH_PREFIX}${kib}k`;
}

/**
 * A JSON document of exactly `bytes` bytes shaped like an API listing (an object with an array of
 * records: numbers, strings, booleans, a nested array), the kind of body MessagePack is used for.
 * The last record's `note` string pads it to the exact size.
 */
export function jsonDocument(bytes: number): string {
  const items: string[] = [];
  const record = (i: number, note: string) =>
    JSON.stringify({ id: i, sku: `SKU-${100000 + i}`, name: `Item number ${i}`, price: 9.99 + i, stock: i * 7, active: i % 3 !== 0, tags: ['bench', `t${i % 10}`], note });
  const wrap = (parts: string[]) => `{"page":1,"items":[${parts.join(',')}]}`;
  for (let i = 0; ; i++) {
    const next = [...items, record(i, '')];
    if (wrap(next).length > bytes) {
      // Pad the previous last record (or a first one) with `note` to reach `bytes` exactly.
      const last = items.length > 0 ? items.length - 1 : 0;
      if (items.length === 0) items.push(record(0, ''));
      const missing = bytes - wrap(items).length;
      if (missing < 0) throw new Error(`jsonDocument: ${bytes} bytes is too small for one record`);
      items[last] = record(last, 'x'.repeat(missing));
      const out = wrap(items);
      if (out.length !== bytes) throw new Error(`jsonDocument: made ${out.length} bytes, wanted ${bytes}`);
      return out;
    }
    items.push(record(i, ''));
  }
}

/** The upstream's counters, on its main port. */
export const STATS_PATH = '/__bench/stats';
/** The OTLP/HTTP sink's path, on its own port. */
export const OTLP_PATH = '/v1/traces';

/** What GET /__bench/stats answers: per listening port (index 0 = the main port), then the sink. */
export interface UpstreamStats {
  ports: number[];
  delayMs: number[];
  /** Requests answered. */
  requests: number[];
  /** TCP connections accepted. */
  accepts: number[];
  otlp: { port: number; requests: number; bytes: number; spans: number; accepts: number } | null;
}
