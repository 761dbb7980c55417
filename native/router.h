// Native radix (segment) tree router: the product implementation of the contract in
// src/native/router-types.ts. The pure-TS oracle is src/native/reference/router.ts; both must
// give identical answers (test/native/router-diff.test.ts).
//
// JS surface (wrapped by src/native/router.ts, not meant to be used directly):
//   new Router(patterns: RoutePattern[])      TypeError / RangeError on a bad table
//   router.output: ArrayBuffer                 Int32 view, C = [3], P = [4]:
//                                              [0] candidateCount, [1] paramCount (pairs),
//                                              [2] allowCount, [3] candidate capacity C,
//                                              [4] capture-pair capacity P, [5, 8) unused,
//                                              [8, 8+C) candidates, [8+C, 8+2C) candidateParams,
//                                              [8+2C, 8+2C+2P) params,
//                                              [8+2C+2P, +allowCount) the Allow list as indexes
//                                              into methods()
//   router.match(method, host, path): number   1 found, 0 not found, -1 method not allowed
//                                              (an own property bound to this router)
//   router.methods(): string[]                 the table's method names, sorted
//   router.stats(): object                     table sizes, for diagnostics
//
// Layout: one host tree per exact host (hash map), per wildcard suffix (hash map keyed by
// ".suffix", probed for each suffix length in the table, longest first, where the request host
// has a "." at that distance from its end) and one for any host. Each host tree has one trie per
// method named in the table (holding that method's patterns plus the methods=null ones), one
// "other methods" trie (methods=null only) and one "all" trie (every pattern; its leaves list
// their methods, for the 405 Allow list, collected by an exhaustive walk). A trie node has
// static children (linear scan when few, open-addressing hash when many), one :param child, one
// * child and a leaf list already sorted by the precedence key (lists the method, headerMatches
// desc, priority desc, index asc), with a flag saying whether it holds an unconditional pattern
// (headerMatches 0).
//
// A lookup walks the method's trie of each host tree in precedence order, depth first (static,
// then :param, then *, backtracking on dead ends; WalkLeaves, shared with the 405 walk), and
// appends each leaf it reaches to the candidates (skipping patterns an earlier host tree already
// listed) until it has appended a leaf with an unconditional pattern: on a plain hit that is the
// first leaf, and nothing more is visited. C and P are computed when the table is built as a
// bound over every possible lookup, so the output never truncates.
//
// Strings are read as UTF-16 (napi_get_value_string_utf16) so that matching is exact on code
// units and param offsets are JS string indexes; no Unicode or percent decoding happens.
#ifndef GATEWAY_NATIVE_ROUTER_H_
#define GATEWAY_NATIVE_ROUTER_H_

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace gateway {

class Router : public Napi::ObjectWrap<Router> {
 public:
  // Keep in sync with src/native/router-types.ts and src/native/reference/router.ts.
  // kMaxCandidates bounds one leaf (one host tree, shape and method); a lookup that crosses
  // leaves can report more, up to the capacity computed for the table.
  static constexpr int kMaxCandidates = 64;
  static constexpr int kMaxParams = 32;
  static constexpr size_t kMaxPatternPath = 8192;  // UTF-16 code units
  // Request strings up to these lengths are read on the stack; longer ones into a reused heap
  // buffer (same answers, just slower the first time).
  static constexpr size_t kStackPath = 8192;
  static constexpr size_t kStackHost = 256;
  static constexpr size_t kStackMethod = 32;

  static Napi::Object Init(Napi::Env env, Napi::Object exports);
  explicit Router(const Napi::CallbackInfo& info);

 private:
  struct Node {
    uint32_t edgeStart = 0;  // into edges_
    uint32_t edgeCount = 0;
    uint32_t slotStart = 0;  // into slots_ (when edgeCount > kLinearEdges)
    uint32_t slotMask = 0;
    int32_t param = -1;  // child for ":name"
    int32_t wild = -1;   // child for "*" (always a leaf)
    uint32_t leafStart = 0;  // into leafPool_
    uint32_t leafCount = 0;
    uint32_t methodStart = 0;  // all-patterns tries: the leaf's methods, into methodPool_
    union {                    // (one field each kind of trie needs: Node stays 40 bytes)
      uint32_t methodCount = 0;  // all-patterns tries: how many
      uint32_t leafSure;         // method tries: 1 if the leaf holds a pattern with headerMatches 0
    };
  };
  struct Edge {
    uint32_t keyStart;  // into keyPool_
    uint32_t keyLen;
    uint32_t hash;
    int32_t child;
  };
  struct HostTree {
    // roots[m] for method id m < methods_.size(); [M] other methods; [M+1] all patterns.
    std::vector<int32_t> roots;
  };
  // Open-addressing map from UTF-16 keys to int32 values, built once (host names).
  class KeyTable {
   public:
    void Build(const std::vector<std::pair<std::u16string, int32_t>>& entries);
    int32_t Find(const char16_t* s, uint32_t len) const;  // -1 if absent
    bool empty() const { return count_ == 0; }

   private:
    struct Slot {
      uint32_t hash;
      uint32_t keyStart;
      uint32_t keyLen;
      int32_t value;  // -1 = empty slot
    };
    std::vector<Slot> slots_;
    std::u16string keys_;
    uint32_t mask_ = 0;
    uint32_t count_ = 0;
  };

  static constexpr uint32_t kLinearEdges = 8;

  static napi_value MatchCallback(napi_env env, napi_callback_info info);
  napi_value DoMatch(napi_env env, size_t argc, napi_value* argv);
  Napi::Value Methods(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value GetOutput(const Napi::CallbackInfo& info);

  bool Build(Napi::Env env, napi_value table);
  int32_t FindStatic(const Node& n, uint32_t d);
  template <typename Visit>
  bool WalkLeaves(int32_t root, Visit&& visit);
  bool CollectAllow(int32_t root);
  int MethodId(const char16_t* m, size_t len) const;
  template <typename F>
  void ForEachTree(const char16_t* host, size_t len, F&& f) const;

  // The table.
  std::vector<std::u16string> methods_;  // sorted (UTF-16 code unit order)
  std::vector<HostTree> trees_;
  KeyTable exactHosts_;
  KeyTable wildHosts_;                     // ".example.com" -> tree
  std::vector<uint32_t> wildLengths_;      // distinct suffix lengths, longest first
  int32_t anyTree_ = -1;
  std::vector<Node> nodes_;
  std::vector<Edge> edges_;
  std::vector<int32_t> slots_;
  std::vector<int32_t> leafPool_;
  std::vector<int32_t> methodPool_;
  std::u16string keyPool_;
  uint32_t maxDepth_ = 0;  // most segments in a pattern

  // Per-lookup scratch, sized at construction (no allocation on a hit).
  const char16_t* path_ = nullptr;
  uint32_t pathLen_ = 0;
  uint32_t nseg_ = 0;  // segments of the path, capped at maxDepth_ + 1
  std::vector<uint32_t> segStart_, segEnd_, segHash_;
  std::vector<int32_t> frameNode_;
  std::vector<uint8_t> frameState_;
  std::vector<char16_t> heapPath_, heapHost_, heapMethod_;
  std::vector<uint64_t> allowBits_;  // method-id bitmap, zero between lookups

  Napi::Reference<Napi::ArrayBuffer> output_;
  int32_t* out_ = nullptr;
  uint32_t candCap_ = 0;   // C: most candidates one lookup can report
  uint32_t pairCap_ = 0;   // P: most capture pairs one lookup can report
};

}  // namespace gateway

#endif  // GATEWAY_NATIVE_ROUTER_H_
