/**
 * The router contract shared by the native addon (native/router.cc) and the pure-TS
 * reference (src/native/reference/router.ts). Both must give identical answers for
 * identical inputs; test/native/router-diff.test.ts checks that on random tables.
 *
 * A route table is a list of patterns. Each pattern is one path of one route:
 *   - `hosts`: lower-case host names, exact ("api.example.com") or wildcard ("*.example.com",
 *     matching any host that ends in ".example.com", at least one label before it);
 *     null = any host.
 *   - `methods`: upper-case method names; null = any method.
 *   - `path`: starts with "/"; segments separated by "/"; a segment ":name" captures one
 *     non-empty segment; a final segment "*" captures the rest (possibly empty, no leading "/").
 *   - `priority`: integer; higher wins among patterns of equal specificity.
 *
 * Precedence when a request (method, host, path) is looked up:
 *   1. Host trees are tried in order: exact host, then wildcard hosts by longest suffix first,
 *      then the any-host patterns. The first host tree that yields a match for the method wins.
 *   2. Within a host tree, segment by segment: static beats :param beats * (with backtracking:
 *      if a static branch dead-ends, the :param branch is tried, then *).
 *   3. A pattern with a method list only matches those methods; one with methods=null matches
 *      every method. Lookup is per method, so GET /users/me can fall back to GET /users/:id
 *      when /users/me only has POST.
 *   4. All patterns that end in the same leaf (same host tree, same segment shape, e.g.
 *      "/a/:x" and "/a/:y") and accept the method are candidates, ordered by priority
 *      descending, then by pattern index ascending. The caller filters candidates by further
 *      predicates (header matches) and takes the first that passes.
 *   5. If no host tree matches for the method but some host tree that would be consulted has a
 *      pattern matching the path for another method, the answer is 405 with those methods
 *      (sorted, unique, from the first host tree in the order of rule 1 that matched the path).
 *
 * Paths given to match() are already normalized by the caller (no "//", "." or ".."), and hosts
 * are already lower-cased with any ":port" removed.
 *
 * Resolutions of what the rules above leave open (both engines implement exactly these; the
 * shared suite test/native/router.test.ts pins them):
 *   - Matching is exact on UTF-16 code units, case-sensitive for paths and methods: no percent
 *     decoding ("%2F" is not a separator, "caf%C3%A9" is not "café"), no Unicode normalization.
 *     Param offsets are UTF-16 indexes into the looked-up path: `path.slice(start, end)`.
 *   - Segments are `path.slice(1).split("/")`: "/" is one empty segment, "/a/" is "a" then "".
 *     So a trailing slash is significant (as in nginx): "/a/" does not match "/a" and "/a" does
 *     not match "/a/" unless a pattern says so. ":param" never matches an empty segment. A final
 *     "*" needs its segment to exist but it may be empty: "/a/*" matches "/a/" (empty tail,
 *     start = end = path.length) and "/a/b/c" (tail "b/c"), not "/a"; "/*" matches "/".
 *     Static beats :param beats * is decided per segment, so "/a/:x/c" beats "/a/*" for "/a/b/c".
 *   - A path that does not start with "/" (e.g. "" or "*") is MATCH_NOT_FOUND.
 *   - hosts: null, undefined, [] and any list containing "*" put the pattern in the any-host
 *     tree (an empty list means "no host restriction", as in Kong). A wildcard host is exactly
 *     "*." + a suffix without "*"; "*.example.com" matches "a.example.com" and
 *     "a.b.example.com", never "example.com". Hosts must be non-empty and contain no "A"-"Z".
 *     A pattern may sit in several host trees (["a.com", "*.com"]); duplicates are ignored.
 *   - methods: null, undefined and [] mean any method. Names must be RFC 9110 tokens without
 *     lower-case letters. No implicit HEAD for GET or OPTIONS (the config compiler adds HEAD).
 *     A request method no pattern names is served by the methods=null patterns only, and can
 *     get a 405. Duplicate names are ignored.
 *   - 405: `allow` is every method M for which that first host tree would have yielded a match
 *     (= the methods of all its patterns matching the path, whatever their shape), sorted by
 *     UTF-16 code units (Array.prototype.sort) and unique.
 *   - priority must be a finite integer (Number.isInteger); -0 is 0.
 *   - Output: every call writes candidateCount and paramCount (0 unless MATCH_FOUND). `allow` is
 *     a fresh array on 405; otherwise it is set to a fresh [] only if it was non-empty (a hit
 *     allocates nothing). candidates/params beyond the counts are unspecified.
 *   - Limits, checked when the table is built so that match() never truncates:
 *       a pattern path longer than 8192 UTF-16 code units: RangeError;
 *       a pattern with more than MAX_PARAMS captures (":x" and "*"): RangeError;
 *       more than MAX_CANDIDATES patterns in one leaf for one method (same host tree, same
 *       shape, methods=null ones counting for every method): RangeError.
 *     Request strings have no length limit: a path over 8 KiB gets the same answer (the native
 *     engine reads it into a reused heap buffer instead of the stack).
 *   - Bad input: a malformed table is a TypeError whose message starts "pattern <index>: " (the
 *     first bad pattern in index order; fields read in the order hosts, methods, path,
 *     priority); "*" not last and ":" alone are TypeErrors; other segments ("a*", "x:y") are
 *     static. match() with a non-string method, host or path throws a TypeError.
 */
export interface RoutePattern {
  hosts: string[] | null;
  methods: string[] | null;
  path: string;
  priority: number;
}

/**
 * Reused output buffer: match() fills it and allocates nothing on a hit.
 * - candidates[0..candidateCount): pattern indexes (into the table given to the constructor).
 * - params[0..2*paramCount): [start, end) offsets into the looked-up path, one pair per
 *   captured ":param" or "*" in pattern order (the candidates of one leaf share one shape).
 * - allow: filled only on 405: the allowed methods.
 */
export interface MatchOutput {
  candidates: Int32Array; // capacity MAX_CANDIDATES
  candidateCount: number;
  params: Int32Array; // capacity 2 * MAX_PARAMS
  paramCount: number;
  allow: string[];
}

export const MAX_CANDIDATES = 64;
export const MAX_PARAMS = 32;

export const MATCH_FOUND = 1;
export const MATCH_NOT_FOUND = 0;
export const MATCH_METHOD_NOT_ALLOWED = -1;

export interface RouterEngine {
  /** Returns MATCH_FOUND, MATCH_NOT_FOUND or MATCH_METHOD_NOT_ALLOWED and fills `out`. */
  match(method: string, host: string, path: string, out: MatchOutput): number;
}

export function newMatchOutput(): MatchOutput {
  return {
    candidates: new Int32Array(MAX_CANDIDATES),
    candidateCount: 0,
    params: new Int32Array(2 * MAX_PARAMS),
    paramCount: 0,
    allow: [],
  };
}
