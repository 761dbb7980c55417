/**
 * Pure-TS reference implementation of the router contract (../router-types.ts): the oracle the
 * native addon (native/router.cc) is checked against by test/native/router-diff.test.ts.
 *
 * It is written to be obviously right, not fast: no tree at all. A lookup scans every pattern of
 * each consulted host tree, keeps those that accept the method and match the path (each pattern
 * once, at its first host tree), sorts them by the precedence key of the contract (host tree,
 * then segment kinds static < :param < *, then lists-the-method, headerMatches desc, priority
 * desc, index asc) and cuts the list after the first group holding an unconditional pattern.
 * Validation and limits follow the resolutions written in router-types.ts, with the same error
 * classes and messages as the native engine.
 */
import {
  MATCH_FOUND,
  MATCH_METHOD_NOT_ALLOWED,
  MATCH_NOT_FOUND,
  MAX_CANDIDATES,
  MAX_PARAMS,
  type MatchOutput,
  type RoutePattern,
  type RouterEngine,
} from '../router-types.js';

/** Longest accepted pattern path, in UTF-16 code units (a longer one is a RangeError). */
export const MAX_PATTERN_PATH = 8192;

const STATIC = 0;
const PARAM = 1;
const WILD = 2;
type Kind = typeof STATIC | typeof PARAM | typeof WILD;

interface Segment {
  kind: Kind;
  text: string; // the static text ("" for params and wildcards)
}

interface Pattern {
  index: number;
  methods: Set<string> | null; // null = any method
  segments: Segment[];
  shapeKey: string; // same for "/a/:x" and "/a/:y"
  paramCount: number;
  priority: number;
  headerMatches: number;
}

/** Where a host tree's patterns come from: "=host", "*.suffix" (with the dot) or "any". */
type TreeKey = string;
const ANY_TREE: TreeKey = 'any';

// RFC 9110 tchar, without lower-case letters (methods are upper-case by contract).
const METHOD_RE = /^[!#$%&'*+\-.^_`|~0-9A-Z]+$/;

function fail(index: number, message: string): never {
  throw new TypeError(`pattern ${index}: ${message}`);
}

function parseHosts(raw: unknown, index: number): TreeKey[] {
  if (raw === null || raw === undefined) return [ANY_TREE];
  if (!Array.isArray(raw)) fail(index, 'hosts must be null or an array of strings');
  if (raw.length === 0) return [ANY_TREE];
  const keys: TreeKey[] = [];
  for (let i = 0; i < raw.length; i++) {
    const h: unknown = raw[i];
    if (typeof h !== 'string') fail(index, 'hosts must be null or an array of strings');
    let key: TreeKey;
    if (h.length === 0 || /[A-Z]/.test(h)) {
      fail(index, `invalid host "${h}"`);
    } else if (h === '*') {
      key = ANY_TREE;
    } else if (h.startsWith('*.')) {
      if (h.length === 2 || h.indexOf('*', 1) !== -1) fail(index, `invalid host "${h}"`);
      key = h.slice(1); // ".example.com"
    } else {
      if (h.indexOf('*') !== -1) fail(index, `invalid host "${h}"`);
      key = '=' + h;
    }
    if (!keys.includes(key)) keys.push(key);
  }
  return keys;
}

function parseMethods(raw: unknown, index: number): Set<string> | null {
  if (raw === null || raw === undefined) return null;
  if (!Array.isArray(raw)) fail(index, 'methods must be null or an array of strings');
  if (raw.length === 0) return null;
  const methods = new Set<string>();
  for (let i = 0; i < raw.length; i++) {
    const m: unknown = raw[i];
    if (typeof m !== 'string') fail(index, 'methods must be null or an array of strings');
    if (!METHOD_RE.test(m)) fail(index, `invalid method "${m}"`);
    methods.add(m);
  }
  return methods;
}

function parsePath(raw: unknown, index: number): Segment[] {
  if (typeof raw !== 'string' || !raw.startsWith('/')) fail(index, 'path must be a string starting with "/"');
  if (raw.length > MAX_PATTERN_PATH) {
    throw new RangeError(`pattern ${index}: path longer than ${MAX_PATTERN_PATH} characters`);
  }
  const parts = raw.slice(1).split('/');
  const segments: Segment[] = [];
  let params = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (p === '*') {
      if (i !== parts.length - 1) fail(index, '"*" must be the last segment');
      segments.push({ kind: WILD, text: '' });
      params++;
    } else if (p.startsWith(':')) {
      if (p.length === 1) fail(index, 'empty parameter name');
      segments.push({ kind: PARAM, text: '' });
      params++;
    } else {
      segments.push({ kind: STATIC, text: p });
    }
  }
  if (params > MAX_PARAMS) throw new RangeError(`pattern ${index}: more than ${MAX_PARAMS} parameters`);
  return segments;
}

function parsePriority(raw: unknown, index: number): number {
  if (typeof raw !== 'number' || !Number.isInteger(raw)) fail(index, 'priority must be an integer');
  return raw === 0 ? 0 : raw; // -0 is 0
}

function parseHeaderMatches(raw: unknown, index: number): number {
  if (raw === undefined) return 0;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 0) fail(index, 'headerMatches must be a non-negative integer');
  return raw === 0 ? 0 : raw;
}

/** The request path split into segments: [start, end) offsets, "/" being one empty segment. */
function splitPath(path: string): Array<[number, number]> {
  const segs: Array<[number, number]> = [];
  let start = 1;
  for (;;) {
    const slash = path.indexOf('/', start);
    if (slash === -1) {
      segs.push([start, path.length]);
      return segs;
    }
    segs.push([start, slash]);
    start = slash + 1;
  }
}

/** Does the pattern match the path? Fills `captures` ([start, end) pairs) when it does. */
function matches(p: Pattern, path: string, segs: Array<[number, number]>, captures: number[]): boolean {
  captures.length = 0;
  const last = p.segments.length - 1;
  for (let i = 0; i <= last; i++) {
    const seg = p.segments[i];
    if (i >= segs.length) return false; // the path ran out (a "*" needs a segment, even empty)
    const [start, end] = segs[i];
    if (seg.kind === WILD) {
      captures.push(start, path.length);
      return true; // "*" is last and takes the rest
    }
    if (seg.kind === PARAM) {
      if (end === start) return false; // a param is never empty
      captures.push(start, end);
    } else if (path.slice(start, end) !== seg.text) {
      return false;
    }
  }
  return segs.length === p.segments.length;
}

/** -1, 0, 1 like a comparator: the lexicographic order of kind sequences (static first). */
function compareKinds(a: Pattern, b: Pattern): number {
  const n = Math.min(a.segments.length, b.segments.length);
  for (let i = 0; i < n; i++) {
    const d = a.segments[i].kind - b.segments[i].kind;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return a.segments.length - b.segments.length;
}

export class ReferenceRouter implements RouterEngine {
  /** Tree key -> the patterns in that host tree, in index order. */
  private readonly trees = new Map<TreeKey, Pattern[]>();
  /** Wildcard tree keys (".example.com"), longest first. */
  private readonly wildcards: TreeKey[];

  constructor(table: readonly RoutePattern[]) {
    if (!Array.isArray(table)) throw new TypeError('patterns must be an array');
    const parsed: Array<{ pattern: Pattern; keys: TreeKey[] }> = [];
    for (let index = 0; index < table.length; index++) {
      const raw: unknown = table[index];
      if (typeof raw !== 'object' || raw === null) throw new TypeError(`pattern ${index} must be an object`);
      const r = raw as Record<string, unknown>;
      // Read in this order (hosts, methods, path, priority, headerMatches): the native engine does too.
      const keys = parseHosts(r.hosts, index);
      const methods = parseMethods(r.methods, index);
      const segments = parsePath(r.path, index);
      const priority = parsePriority(r.priority, index);
      const headerMatches = parseHeaderMatches(r.headerMatches, index);
      const shapeKey = JSON.stringify(segments.map((s) => (s.kind === STATIC ? 's' + s.text : s.kind)));
      const paramCount = segments.filter((s) => s.kind !== STATIC).length;
      parsed.push({ pattern: { index, methods, segments, shapeKey, paramCount, priority, headerMatches }, keys });
    }
    for (const { pattern, keys } of parsed) {
      for (const key of keys) {
        let list = this.trees.get(key);
        if (!list) this.trees.set(key, (list = []));
        list.push(pattern);
      }
    }
    this.wildcards = [...this.trees.keys()].filter((k) => k.startsWith('.')).sort((a, b) => b.length - a.length);
    this.checkLeafSizes();
  }

  /**
   * MAX_CANDIDATES: the patterns of one host tree with one shape that accept one method (those
   * with methods=null count for every method) must fit the candidates buffer.
   */
  private checkLeafSizes(): void {
    for (const list of this.trees.values()) {
      const byShape = new Map<string, Pattern[]>();
      for (const p of list) {
        const group = byShape.get(p.shapeKey);
        if (group) group.push(p);
        else byShape.set(p.shapeKey, [p]);
      }
      for (const group of byShape.values()) {
        const anyMethod = group.filter((p) => p.methods === null).length;
        const perMethod = new Map<string, number>();
        for (const p of group) for (const m of p.methods ?? []) perMethod.set(m, (perMethod.get(m) ?? 0) + 1);
        const worst = anyMethod + Math.max(0, ...perMethod.values());
        if (worst > MAX_CANDIDATES) {
          throw new RangeError(`more than ${MAX_CANDIDATES} patterns share one host, method and path shape`);
        }
      }
    }
  }

  /** The host trees consulted for `host`, in precedence order (rule 1). */
  private treesFor(host: string): Pattern[][] {
    const out: Pattern[][] = [];
    const exact = this.trees.get('=' + host);
    if (exact) out.push(exact);
    for (const suffix of this.wildcards) {
      if (host.length > suffix.length && host.endsWith(suffix)) out.push(this.trees.get(suffix)!);
    }
    const any = this.trees.get(ANY_TREE);
    if (any) out.push(any);
    return out;
  }

  /**
   * Every pattern matching (method, host, path), in precedence order, each once (at the first
   * host tree that has it), with its captures: the whole ordered list that match() cuts. The
   * differential test uses it as the oracle of "which route wins".
   */
  ranked(method: string, host: string, path: string): Array<{ index: number; headerMatches: number; captures: number[] }> {
    if (!path.startsWith('/')) return [];
    return this.matching(method, this.treesFor(host), path, splitPath(path)).map((m) => ({
      index: m.p.index,
      headerMatches: m.p.headerMatches,
      captures: m.captures,
    }));
  }

  private matching(method: string, trees: Pattern[][], path: string, segs: Array<[number, number]>): Matched[] {
    const matched: Matched[] = [];
    const seen = new Set<number>();
    trees.forEach((tree, rank) => {
      for (const p of tree) {
        if (seen.has(p.index) || !accepts(p, method)) continue;
        const captures: number[] = [];
        if (!matches(p, path, segs, captures)) continue;
        seen.add(p.index);
        matched.push({ p, rank, captures });
      }
    });
    return matched.sort(precedence);
  }

  match(method: string, host: string, path: string, out: MatchOutput): number {
    if (typeof method !== 'string' || typeof host !== 'string' || typeof path !== 'string') {
      throw new TypeError('match(method, host, path): all three must be strings');
    }
    out.candidateCount = 0;
    out.paramCount = 0;
    if (out.allow.length !== 0) out.allow = [];
    if (!path.startsWith('/')) return MATCH_NOT_FOUND;

    const segs = splitPath(path);
    const trees = this.treesFor(host);
    const matched = this.matching(method, trees, path, segs);

    // Candidates: through the end of the first group holding an unconditional pattern.
    const firstSure = matched.findIndex((m) => m.p.headerMatches === 0);
    let end = matched.length;
    if (firstSure !== -1) {
      end = firstSure + 1;
      while (end < matched.length && sameGroup(matched[end], matched[firstSure])) end++;
    }
    if (end > out.candidates.length) {
      out.candidates = new Int32Array(end);
      out.candidateParams = new Int32Array(end);
    }
    const pairs: number[] = [];
    let groupStart = 0;
    for (let i = 0; i < end; i++) {
      if (i === 0 || !sameGroup(matched[i], matched[i - 1])) {
        groupStart = pairs.length / 2;
        pairs.push(...matched[i].captures);
      }
      out.candidates[i] = matched[i].p.index;
      out.candidateParams[i] = groupStart;
    }
    if (pairs.length > out.params.length) out.params = new Int32Array(pairs.length);
    for (let i = 0; i < pairs.length; i++) out.params[i] = pairs[i];
    out.candidateCount = end;
    out.paramCount = pairs.length / 2;
    if (firstSure !== -1) return MATCH_FOUND;

    // No unconditional candidate: the winning host tree (the first with a pattern matching the
    // path for any method) gives the 405, unless it has a pattern for this method (then 404).
    let allow: string[] = [];
    const captures: number[] = [];
    for (const tree of trees) {
      const onPath = tree.filter((p) => matches(p, path, segs, captures));
      if (onPath.length === 0) continue;
      if (!onPath.some((p) => accepts(p, method))) allow = [...new Set(onPath.flatMap((p) => [...p.methods!]))].sort();
      break;
    }
    if (allow.length !== 0) out.allow = allow;
    if (end > 0) return MATCH_FOUND;
    return allow.length !== 0 ? MATCH_METHOD_NOT_ALLOWED : MATCH_NOT_FOUND;
  }
}

interface Matched {
  p: Pattern;
  rank: number; // index of its host tree in precedence order
  captures: number[];
}

function accepts(p: Pattern, method: string): boolean {
  return p.methods === null || p.methods.has(method);
}

/** Same host tree and shape (both match the path, so same kinds means same shape). */
function sameGroup(a: Matched, b: Matched): boolean {
  return a.rank === b.rank && a.p.shapeKey === b.p.shapeKey;
}

/** The precedence key of router-types.ts, as a comparator. */
function precedence(a: Matched, b: Matched): number {
  return (
    a.rank - b.rank ||
    compareKinds(a.p, b.p) ||
    (a.p.methods === null ? 1 : 0) - (b.p.methods === null ? 1 : 0) ||
    Math.sign(b.p.headerMatches - a.p.headerMatches) ||
    Math.sign(b.p.priority - a.p.priority) ||
    a.p.index - b.p.index
  );
}
