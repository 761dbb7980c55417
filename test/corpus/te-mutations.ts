/**
 * Transfer-Encoding header-line mutations in the families defparam/smuggler probes with (its
 * "exhaustive" and "doubles" configurations; MIT), re-created here from a description of what they
 * do, not from its code:
 *
 *   - a fixed list of hand-made variants of the line `Transfer-Encoding: chunked` (a space or tab
 *     around the name or colon, a mangled name, a mangled or decorated value, a second line);
 *   - one byte put into one of four places of the line, for every byte 0x01-0x1F and 0x7F-0xFF
 *     ("exhaustive": 28 + 160 x 4 = 668 lines);
 *   - the same byte put into two of those four places at once, for every byte 0x01-0x20 and
 *     0x7F-0xFF ("doubles": 161 x 6 = 966 lines).
 *
 * A line is built as a string of code points 0-255. smuggler sends its strings UTF-8 encoded, so
 * a code point >= 0x80 goes out as two bytes (0xA0 as C2 A0, 0xFF as C3 BF); `encodeLine` gives that
 * form and the raw single-byte form (the byte the variant is named after), and the replay sends
 * both wherever they differ.
 */

const NAME = 'Transfer-Encoding';
const VALUE = 'chunked';

/** Where a byte goes in `Transfer-Encoding: chunked`. */
export type Slot = 'lead' | 'name-colon' | 'colon-value' | 'trail';

/**
 * The line with `ch` in each of `slots`: before the name (`lead`), between the name and the colon
 * (`name-colon`), instead of the space after the colon (`colon-value`), after the value (`trail`).
 */
export function lineWith(ch: string, slots: readonly Slot[]): string {
  const has = (s: Slot) => slots.includes(s);
  return (has('lead') ? ch : '') + NAME + (has('name-colon') ? ch : '') + ':' + (has('colon-value') ? ch : ' ') + VALUE + (has('trail') ? ch : '');
}

export interface TeMutation {
  set: 'exhaustive' | 'doubles';
  /** Descriptive name, e.g. `colon-value-0b`, `lead+trail-85`, `mixed-case`. */
  name: string;
  /** The header line without its CRLF, one char per code point (0-255). */
  line: string;
}

/** The hand-made variants (same byte families as smuggler's fixed exhaustive list). */
const FIXED: ReadonlyArray<[string, string]> = [
  ['space-before-name', ` ${NAME}: ${VALUE}`],
  ['tab-after-colon', `${NAME}:\t${VALUE}`],
  ['tabs-around-colon', `${NAME}\t:\t${VALUE}`],
  ['space-for-dash', `Transfer Encoding: ${VALUE}`],
  ['underscore-for-dash', `Transfer_Encoding: ${VALUE}`],
  ['space-for-dash-no-ows', `Transfer Encoding:${VALUE}`],
  ['space-before-colon', `${NAME} : ${VALUE}`],
  ['two-spaces-after-colon', `${NAME}:  ${VALUE}`],
  ['vt-after-colon', `${NAME}:\x0b${VALUE}`],
  ['chunked-then-other', `${NAME}: ${VALUE}, cow`],
  ['other-then-chunked', `${NAME}: cow, ${VALUE}`],
  ['content-encoding-instead', `Content-Encoding: ${VALUE}`],
  ['value-on-folded-line', `${NAME}:\n ${VALUE}`],
  ['double-quoted-value', `${NAME}: "${VALUE}"`],
  ['single-quoted-value', `${NAME}: '${VALUE}'`],
  ['truncated-value', `${NAME}: chunk`],
  ['mixed-case', 'TrAnSFer-EnCODinG: cHuNkeD'],
  ['upper-case', 'TRANSFER-ENCODING: CHUNKED'],
  ['cr-after-value', `${NAME}: ${VALUE}\r`],
  ['tab-after-value', `${NAME}: ${VALUE}\t`],
  ['other-line-then-chunked-line', `${NAME}: cow\r\n${NAME}: ${VALUE}`],
  ['cr-inside-name', `Transfer\r-Encoding: ${VALUE}`],
  ['chunked-between-words', `${NAME}: cow ${VALUE} bar`],
  ['ff-after-colon', `${NAME}:\xff${VALUE}`],
  ['96-inside-value', `${NAME}: ch\x96nked`],
  ['82-inside-name', `Transf\x82r-Encoding: ${VALUE}`],
  ['after-dummy-header-bare-cr', `X:X\r${NAME}: ${VALUE}`],
  ['after-dummy-header-bare-lf', `X:X\n${NAME}: ${VALUE}`],
];

const byteName = (b: number) => b.toString(16).padStart(2, '0');
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** One slot at a time, in this order for each byte. */
const SINGLE_SLOTS: readonly Slot[] = ['colon-value', 'name-colon', 'lead', 'trail'];

/** Every pair of slots, in this order for each byte. */
const SLOT_PAIRS: ReadonlyArray<readonly [Slot, Slot]> = [
  ['lead', 'name-colon'],
  ['lead', 'colon-value'],
  ['lead', 'trail'],
  ['name-colon', 'colon-value'],
  ['name-colon', 'trail'],
  ['colon-value', 'trail'],
];

/** 668 lines: the fixed list, then each byte 0x01-0x1F and 0x7F-0xFF in each single slot. */
export function exhaustiveMutations(): TeMutation[] {
  const out: TeMutation[] = FIXED.map(([name, line]) => ({ set: 'exhaustive', name, line }));
  for (const b of [...range(0x01, 0x1f), ...range(0x7f, 0xff)]) {
    for (const slot of SINGLE_SLOTS) out.push({ set: 'exhaustive', name: `${slot}-${byteName(b)}`, line: lineWith(String.fromCharCode(b), [slot]) });
  }
  return out;
}

/** 966 lines: each byte 0x01-0x20 and 0x7F-0xFF in each pair of slots. */
export function doublesMutations(): TeMutation[] {
  const out: TeMutation[] = [];
  for (const b of [...range(0x01, 0x20), ...range(0x7f, 0xff)]) {
    for (const pair of SLOT_PAIRS) out.push({ set: 'doubles', name: `${pair.join('+')}-${byteName(b)}`, line: lineWith(String.fromCharCode(b), pair) });
  }
  return out;
}

export type LineEncoding = 'utf8' | 'latin1';

/** The bytes of a line: UTF-8 (what smuggler puts on the wire) or one byte per code point. */
export function encodeLine(line: string, encoding: LineEncoding): Buffer {
  return Buffer.from(line, encoding);
}

export interface EncodedMutation extends TeMutation {
  encoding: LineEncoding;
  bytes: Buffer;
}

/**
 * Every mutation of both sets in both encodings, without repeats: the latin1 form only where it
 * differs from the UTF-8 one, and a byte string already produced (a fixed variant that equals a
 * single-slot one, e.g. tab-after-colon = colon-value-09) only once.
 */
export function encodedMutations(): { list: EncodedMutation[]; generated: Record<string, number> } {
  const seen = new Set<string>();
  const list: EncodedMutation[] = [];
  const generated: Record<string, number> = {};
  for (const m of [...exhaustiveMutations(), ...doublesMutations()]) {
    generated[m.set] = (generated[m.set] ?? 0) + 1;
    for (const encoding of ['utf8', 'latin1'] as const) {
      const b = encodeLine(m.line, encoding);
      const key = b.toString('latin1');
      if (seen.has(key)) continue;
      seen.add(key);
      list.push({ ...m, encoding, bytes: b });
    }
  }
  return { list, generated };
}
