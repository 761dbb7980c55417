/**
 * What every replay case is made of: the primary request a client sends (to one of three routes)
 * and the smuggled request hidden in its body or trailing bytes, with a marker path unique to the
 * case. Byte strings are written as JS strings with one char per byte (latin1), so `\xff` is the
 * single byte 0xFF; `bytes()` turns them into Buffers.
 */

/** The Host every case sends (unless the case is about the Host header itself). */
export const HOST = 'gw.test';
/** The API key of the one consumer of the private route (its hash is in the gateway config). */
export const API_KEY = 'corpus-replay-key-7f3a9c';
/** The body the respond route answers with. */
export const RESPOND_BODY = 'respond-route-ok';

export type PrimaryKind = 'public' | 'private' | 'respond';
export type SmuggledKind = 'public' | 'private';
export const PRIMARY_KINDS: readonly PrimaryKind[] = ['public', 'private', 'respond'];

export function bytes(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** The primary request of a case: where it goes and the header lines it must carry. */
export interface Primary {
  kind: PrimaryKind;
  /** The path the route sees (and the upstream, for public/private). */
  path: string;
  /** The request target as sent: the path, and a query when the family adds one. */
  target: string;
  /** `Host: gw.test\r\n`. */
  hostLine: string;
  /** `X-Api-Key: ...\r\n` for the private route, else ''. */
  authLine: string;
  /** hostLine + authLine: what a case puts in its head unless it is about those headers. */
  std: string;
}

export function primaryFor(kind: PrimaryKind, id: string, query = ''): Primary {
  const path = `/${kind}/p-${id}`;
  const hostLine = `Host: ${HOST}\r\n`;
  const authLine = kind === 'private' ? `X-Api-Key: ${API_KEY}\r\n` : '';
  return { kind, path, target: query === '' ? path : `${path}?${query}`, hostLine, authLine, std: hostLine + authLine };
}

/** The marker path of a case's smuggled request: the upstream must never see it. */
export function smuggledPath(kind: SmuggledKind, id: string): string {
  return `/${kind}/SMUGGLED-${id}`;
}

/**
 * The smuggled request: a complete GET to the marker path. To the private route it carries the
 * key, so that if it were ever served it would reach the upstream (where the test sees it) rather
 * than stop at a 401.
 */
export function smuggledRequest(kind: SmuggledKind, id: string): string {
  const auth = kind === 'private' ? `X-Api-Key: ${API_KEY}\r\n` : '';
  return `GET ${smuggledPath(kind, id)} HTTP/1.1\r\nHost: ${HOST}\r\n${auth}\r\n`;
}

/** How the bytes of one case go on the wire. */
export type Delivery = 'one-write' | 'smuggled-later';

/**
 * A case's bytes in three pieces: everything before the smuggled request, the smuggled request
 * itself, and what follows it. `one-write` sends them as one write; `smuggled-later` sends the
 * first piece, then the rest ~50 ms later on the same connection (the parser has finished with
 * the head by then: what it makes of the later bytes is then a decision about a new read).
 */
export interface Pieces {
  before: string;
  smuggled: string;
  after: string;
}

export function partsFor(p: Pieces, delivery: Delivery): Buffer[] {
  if (delivery === 'one-write') return [bytes(p.before + p.smuggled + p.after)];
  return [bytes(p.before), bytes(p.smuggled + p.after)];
}

export interface ReplayCase {
  /** `c00042`: unique, fixed width (no id is a prefix of another). */
  id: string;
  /** The family the summary counts it under, e.g. `smuggler-exhaustive/utf8` or `garden/chunk-size`. */
  family: string;
  /** Human-readable: the mutation or payload, the body shape, the delivery. */
  name: string;
  delivery: Delivery;
  primary: Primary;
  smuggledPath: string;
  /** The writes, in order, ~50 ms apart. */
  parts: Buffer[];
}

export function caseId(n: number): string {
  return 'c' + String(n).padStart(5, '0');
}

/** Lower-case hex of a number, as in a chunk-size line. */
export function hex(n: number): string {
  return n.toString(16);
}
