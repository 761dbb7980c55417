// Native radix (segment) tree router: the product implementation of the contract in
// src/native/router-types.ts. The pure-TS oracle is src/native/reference/router.ts; both must
// give identical answers (test/native/router-diff.test.ts).
//
// JS surface (wrapped by src/native/router.ts, not meant to be used directly):
//   new Router(patterns: RoutePattern[])      TypeError / RangeError on a bad table
//   router.output: ArrayBuffer                 Int32 view: [0,64) candidates, [64,128) params,
//                                              [128] candidateCount, [129] paramCount
//   router.match(method, host, path): number   1 found, 0 not found, -1 method not allowed
//   router.allow(): string[]                   the Allow list of the last -1 answer
//   router.stats(): object                     table sizes, for diagnostics
//
// Layout: one host tree per exact host (hash map), per wildcard suffix (hash map keyed by
// ".suffix", probed at every "." of the request host, leftmost first = longest first) and one
// for any host. Each host tree has one trie per method named in the table (holding that
// method's patterns plus the methods=null ones), one "other methods" trie (methods=null only)
// and one "all" trie (every pattern, used only to decide 405 vs 404). A trie node has static
// children (linear scan when few, open-addressing hash when many), one :param child, one *
// child and a leaf list already sorted by priority desc, index asc.
//
// Strings are read as UTF-16 (napi_get_value_string_utf16) so that matching is exact on code
// units and param offsets are JS string indexes; no Unicode or percent decoding happens.
#ifndef GATEWAY_NATIVE_ROUTER_H_
#define GATEWAY_NATIVE_ROUTER_H_

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gateway {

class Router : public Napi::ObjectWrap<Router> {
 public:
  // Keep in sync with src/native/router-types.ts and src/native/reference/router.ts.
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
  struct ViewHash {
    size_t operator()(std::u16string_view s) const noexcept;
  };

  static constexpr uint32_t kLinearEdges = 8;

  Napi::Value Match(const Napi::CallbackInfo& info);
  Napi::Value Allow(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value GetOutput(const Napi::CallbackInfo& info);

  bool Build(Napi::Env env, napi_value table);
  int32_t FindStatic(const Node& n, uint32_t d) const;
  int32_t Walk(int32_t root, uint32_t* endDepth);
  int MethodId(const char16_t* m, size_t len) const;
  template <typename F>
  void ForEachTree(const char16_t* host, size_t len, F&& f) const;

  // The table.
  std::vector<std::u16string> methods_;  // sorted (UTF-16 code unit order)
  std::vector<HostTree> trees_;
  std::vector<std::u16string> hostKeys_;  // owns the strings the maps below view
  std::unordered_map<std::u16string_view, int32_t, ViewHash> exactHosts_;
  std::unordered_map<std::u16string_view, int32_t, ViewHash> wildHosts_;  // ".example.com"
  int32_t anyTree_ = -1;
  std::vector<Node> nodes_;
  std::vector<Edge> edges_;
  std::vector<int32_t> slots_;
  std::vector<int32_t> leafPool_;
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
  std::vector<int32_t> allow_;  // method ids of the last 405

  Napi::Reference<Napi::ArrayBuffer> output_;
  int32_t* out_ = nullptr;
};

}  // namespace gateway

#endif  // GATEWAY_NATIVE_ROUTER_H_
