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
 *   - `priority`: integer; higher wins among patterns nothing else separates.
 *   - `headerMatches`: how many header predicates the caller checks before it accepts the
 *     pattern (the route's `headers`); 0 = unconditional. The router never sees the headers:
 *     it orders and extends the candidates so that the caller's "first candidate whose header
 *     matches hold" is the winner of the config contract (docs/configuration.md, "Which route
 *     wins").
 *
 * A pattern *matches* a request (method, host, path) when it sits in a host tree consulted for
 * the host (rule 1), accepts the method (null = every method) and its path matches. Matching
 * patterns are ordered by this precedence key, the first field that differs decides:
 *   1. Host tree: the exact host's tree, then the wildcard trees by longest suffix first, then
 *      the any-host tree. A pattern sitting in several consulted trees (["a.test", "*.test"])
 *      counts once, at the first of them.
 *   2. Path, segment by segment from the left: static < :param < * (lexicographic on the
 *      segment kinds; this is exactly the order in which a depth-first walk with backtracking
 *      reaches the leaves: a static branch that dead-ends falls back to :param, then *).
 *      Patterns with the same host tree and kinds that match the same path have the same shape
 *      ("/a/:x" and "/a/:y"): they form one *group* (one leaf of the native tree).
 *   3. Method: a pattern that lists the method before a methods=null pattern.
 *   4. headerMatches descending (conditional patterns, more predicates first, before the
 *      unconditional ones).
 *   5. priority descending.
 *   6. pattern index ascending.
 *
 * Candidates (MATCH_FOUND) are the matching patterns in that order, from the first one through
 * the end of the first group that holds an unconditional pattern (headerMatches 0); all of them
 * when no matching pattern is unconditional. So a lookup stops at the first group that surely
 * serves the request, and a group whose patterns are all conditional is followed by the next
 * groups (next path alternatives in the same host tree, then the next host trees) in case none
 * of its predicates holds. The caller takes the first candidate whose header matches hold;
 * patterns of the last group after its first unconditional one are listed but never taken.
 *
 * When there is no candidate, or all candidates are conditional (then the answer is for the
 * case that none of them holds), the *winning host tree* decides between 404 and 405: it is the
 * first host tree (order of rule 1) with a pattern matching the path for any method.
 *   - No candidate: MATCH_METHOD_NOT_ALLOWED if there is a winning host tree, with `allow` = the
 *     methods of its patterns matching the path; else MATCH_NOT_FOUND.
 *   - Only conditional candidates: MATCH_FOUND, and `allow` = that same list if the winning host
 *     tree has no pattern for the method (its candidates come from a later host tree), else []:
 *     the caller answers 405 with `allow` if it is non-empty and no candidate holds, else 404.
 *     (405 only when no pattern of the winning host tree matches the method.)
 *   `allow` ignores header predicates: it lists the methods of every pattern matching the path.
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
 *     get a 405. Duplicate names are ignored. Rule 3 is per method: GET /users/me falls back to
 *     GET /users/:id when /users/me only has POST (rule 2 only orders patterns that match).
 *   - headerMatches: undefined means 0; otherwise a non-negative integer (Number.isInteger).
 *   - `allow` is sorted by UTF-16 code units (Array.prototype.sort) and unique.
 *   - priority must be a finite integer (Number.isInteger); -0 is 0.
 *   - Output: every call writes candidateCount and paramCount (0 unless MATCH_FOUND). `allow` is
 *     a fresh array when it is non-empty (405, or the 405 list of a conditional-only
 *     MATCH_FOUND); otherwise it is set to a fresh [] only if it was non-empty (a hit
 *     allocates nothing). candidates/params beyond the counts are unspecified.
 *   - Params: `params` holds the captures of each candidate group in pattern order, the groups
 *     one after the other in candidate order; candidateParams[i] is the index of candidate i's
 *     first capture pair (0 for the candidates of the first group).
 *   - Capacity: newMatchOutput() sizes candidates/candidateParams for MAX_CANDIDATES and params
 *     for MAX_PARAMS pairs. A lookup that can report more (candidates of several groups) gets
 *     larger arrays: match() replaces them, so this never truncates; it allocates only when the
 *     arrays are too small for the table, not on every such hit.
 *   - Limits, checked when the table is built so that match() never truncates:
 *       a pattern path longer than 8192 UTF-16 code units: RangeError;
 *       a pattern with more than MAX_PARAMS captures (":x" and "*"): RangeError;
 *       more than MAX_CANDIDATES patterns in one leaf for one method (same host tree, same
 *       shape, methods=null ones counting for every method): RangeError.
 *     Request strings have no length limit: a path over 8 KiB gets the same answer (the native
 *     engine reads it into a reused heap buffer instead of the stack).
 *   - Bad input: a malformed table is a TypeError whose message starts "pattern <index>: " (the
 *     first bad pattern in index order; fields read in the order hosts, methods, path,
 *     priority, headerMatches); "*" not last and ":" alone are TypeErrors; other segments ("a*",
 *     "x:y") are static. match() with a non-string method, host or path throws a TypeError.
 */
export interface RoutePattern {
  hosts: string[] | null;
  methods: string[] | null;
  path: string;
  priority: number;
  /** Header predicates the caller checks (0 = none); undefined is read as 0. */
  headerMatches: number;
}

/**
 * Reused output buffer: match() fills it and allocates nothing on a hit.
 * - candidates[0..candidateCount): pattern indexes (into the table given to the constructor),
 *   in precedence order: the caller takes the first whose header matches hold.
 * - candidateParams[0..candidateCount): for candidate i, the index p of its first capture pair:
 *   its k-th capture is [params[2 * (p + k)], params[2 * (p + k) + 1]).
 * - params[0..2*paramCount): [start, end) offsets into the looked-up path, one pair per
 *   captured ":param" or "*" in pattern order, group after group (the candidates of one group
 *   share one shape and one set of pairs).
 * - allow: on 405 the allowed methods; on a MATCH_FOUND whose candidates are all conditional,
 *   the 405's allowed methods for when none of them holds ([] = answer 404).
 * match() may replace candidates, candidateParams and params with larger arrays.
 */
export interface MatchOutput {
  candidates: Int32Array; // capacity MAX_CANDIDATES, or more (see above)
  candidateParams: Int32Array; // same capacity as candidates
  candidateCount: number;
  params: Int32Array; // capacity 2 * MAX_PARAMS, or more
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
    candidateParams: new Int32Array(MAX_CANDIDATES),
    candidateCount: 0,
    params: new Int32Array(2 * MAX_PARAMS),
    paramCount: 0,
    allow: [],
  };
}
