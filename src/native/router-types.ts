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
