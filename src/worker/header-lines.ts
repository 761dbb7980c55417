/**
 * Lookups and removals in header lines as bytes: "name: value\r\n" each, lower-case names, one
 * byte per char (the addon's copy of a client's lines, RequestHead.rawHeaders). Without a string
 * per line: a name is found with one search of the bytes for "\n" + name + ":" (a value holds no
 * "\n", so that can only be a line's start) and the first line compared directly, so a lookup of
 * an absent name costs one Buffer.indexOf. Removals cut lines out in place (the Buffer must be
 * the request's own copy): what follows moves up, and the caller keeps the new length.
 */

/** "\n" + name + ":" per name looked up (a bounded cache: names come from config and plugin code). */
const needles = new Map<string, Buffer>();

function needleOf(lower: string): Buffer {
  let n = needles.get(lower);
  if (n === undefined) {
    if (needles.size >= 256) needles.clear();
    n = Buffer.from('\n' + lower + ':', 'latin1');
    needles.set(lower, n);
  }
  return n;
}

/** The start of the first line named `lower` at or after the line starting at `from` (within `length` bytes), or -1. */
function namedLineAt(lines: Buffer, length: number, from: number, lower: string, needle: Buffer): number {
  if (from + lower.length < length && lines[from + lower.length] === 0x3a) {
    let named = true;
    for (let i = 0; named && i < lower.length; i++) named = lines[from + i] === lower.charCodeAt(i);
    if (named) return from;
  }
  const k = lines.indexOf(needle, from);
  return k !== -1 && k + 1 < length ? k + 1 : -1;
}

/** The value of the first line named `lower` among the first `length` bytes of `lines`, or undefined. */
export function lineValue(lines: Buffer, length: number, lower: string): string | undefined {
  const start = namedLineAt(lines, length, 0, lower, needleOf(lower));
  if (start === -1) return undefined;
  return lines.toString('latin1', start + lower.length + 2, lines.indexOf(0x0d, start + lower.length));
}

/** How many lines are named `lower` among the first `length` bytes of `lines`. */
export function countLines(lines: Buffer, length: number, lower: string): number {
  const needle = needleOf(lower);
  let n = 0;
  for (let start = namedLineAt(lines, length, 0, lower, needle); start !== -1; start = namedLineAt(lines, length, lines.indexOf(0x0a, start) + 1, lower, needle)) n++;
  return n;
}

let leftCount = 0;
let leftLength = 0;

/**
 * Cuts every line named `lower` out of the first `length` bytes (`count` lines) of `lines`, in
 * place, and returns the first one's value, or undefined when there was none (then nothing
 * moved). takenCount() and takenLength() say what is left.
 */
export function takeLines(lines: Buffer, length: number, count: number, lower: string): string | undefined {
  const needle = needleOf(lower);
  let first: string | undefined;
  for (let start = namedLineAt(lines, length, 0, lower, needle); start !== -1; start = namedLineAt(lines, length, start, lower, needle)) {
    const end = lines.indexOf(0x0a, start + lower.length) + 1;
    first ??= lines.toString('latin1', start + lower.length + 2, end - 2);
    if (end < length) lines.copy(lines, start, end, length);
    length -= end - start;
    count--;
  }
  leftCount = count;
  leftLength = length;
  return first;
}

/** Lines left by the last takeLines. */
export function takenCount(): number {
  return leftCount;
}

/** Bytes left by the last takeLines. */
export function takenLength(): number {
  return leftLength;
}
