// Native router: see router.h for the layout and src/native/router-types.ts for the contract.
// Built with -fno-exceptions and NAPI_DISABLE_CPP_EXCEPTIONS: every N-API failure is checked and
// turned into a pending JS exception, never a C++ throw.
#include "router.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>
#include <utility>

namespace gateway {

namespace {

// The candidate walk's per-tree callback is inlined into DoMatch so that its state (counts,
// output pointers) stays in registers: about 40 fewer instructions per lookup.
#if defined(__GNUC__) || defined(__clang__)
#define GATEWAY_ALWAYS_INLINE __attribute__((always_inline))
#else
#define GATEWAY_ALWAYS_INLINE
#endif

constexpr int kFound = 1;
constexpr int kNotFound = 0;
constexpr int kMethodNotAllowed = -1;

// Output buffer layout (Int32 indexes; see router.h): [0] candidateCount, [1] paramCount,
// [2] allowCount, [3] candidate capacity C, [4] pair capacity P, then from kOutData the
// candidates (C), candidateParams (C), params (2P) and the Allow list.
constexpr size_t kOutData = 8;

enum SegKind : uint8_t { kStatic = 0, kParam = 1, kWild = 2 };

// Hash of a run of UTF-16 code units, 4 units (8 bytes) per multiply. Never 0 (0 = "not
// computed yet" in Router::segHash_). Keys come from the route table, so a weak hash could only
// slow lookups down, never change an answer (every probe compares the key).
inline uint32_t HashUnits(const char16_t* s, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (static_cast<uint64_t>(n) * 0xFF51AFD7ED558CCDull);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    uint64_t chunk;
    std::memcpy(&chunk, s + i, sizeof(chunk));
    h = (h ^ chunk) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
  }
  uint64_t tail = 0;
  for (; i < n; i++) tail = (tail << 16) | s[i];
  h = (h ^ tail) * 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 32;
  uint32_t out = static_cast<uint32_t>(h);
  return out == 0 ? 1 : out;
}

std::u16string Ascii(const char* s) {
  std::u16string out;
  while (*s) out.push_back(static_cast<char16_t>(static_cast<unsigned char>(*s++)));
  return out;
}

std::u16string PatternPrefix(uint32_t index) {
  return Ascii(("pattern " + std::to_string(index)).c_str());
}

enum class ErrKind { kType, kRange };

// Throws a TypeError / RangeError with a UTF-16 message (so host names etc. round-trip exactly).
void Throw(napi_env env, ErrKind kind, const std::u16string& msg) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  napi_value text = nullptr;
  napi_value err = nullptr;
  if (napi_create_string_utf16(env, msg.data(), msg.size(), &text) != napi_ok) return;
  napi_status s = kind == ErrKind::kType ? napi_create_type_error(env, nullptr, text, &err)
                                         : napi_create_range_error(env, nullptr, text, &err);
  if (s == napi_ok) napi_throw(env, err);
}

bool Pending(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  return pending;
}

// A string property/element of the table, read whole into `out`. False if not a string.
bool ReadWhole(napi_env env, napi_value v, std::u16string* out) {
  size_t len = 0;
  if (napi_get_value_string_utf16(env, v, nullptr, 0, &len) != napi_ok) return false;
  out->assign(len, u'\0');
  if (len == 0) return true;
  std::vector<char16_t> buf(len + 1);
  size_t got = 0;
  if (napi_get_value_string_utf16(env, v, buf.data(), len + 1, &got) != napi_ok) return false;
  out->assign(buf.data(), got);
  return true;
}

// A request string: into `stack` (capacity `cap` units including the NUL napi writes) when it
// fits, else into `heap` (grown, and kept, for the next long input). False if not a string.
bool ReadArg(napi_env env, napi_value v, char16_t* stack, size_t cap, std::vector<char16_t>& heap,
             const char16_t** data, size_t* len) {
  size_t n = 0;
  if (napi_get_value_string_utf16(env, v, stack, cap, &n) != napi_ok) return false;
  if (n + 1 < cap) {
    *data = stack;
    *len = n;
    return true;
  }
  size_t full = 0;
  if (napi_get_value_string_utf16(env, v, nullptr, 0, &full) != napi_ok) return false;
  if (full == n) {
    *data = stack;
    *len = n;
    return true;
  }
  if (heap.size() < full + 1) heap.resize(full + 1);
  if (napi_get_value_string_utf16(env, v, heap.data(), full + 1, &n) != napi_ok) return false;
  *data = heap.data();
  *len = n;
  return true;
}

bool IsMethodChar(char16_t c) {
  if (c >= u'0' && c <= u'9') return true;
  if (c >= u'A' && c <= u'Z') return true;
  switch (c) {
    case u'!': case u'#': case u'$': case u'%': case u'&': case u'\'': case u'*': case u'+':
    case u'-': case u'.': case u'^': case u'_': case u'`': case u'|': case u'~':
      return true;
    default:
      return false;
  }
}

// One pattern, parsed and validated.
struct Segment {
  SegKind kind;
  std::u16string text;  // static text
};
struct Parsed {
  uint32_t index = 0;
  bool anyHost = false;
  std::vector<std::u16string> exact;  // unique
  std::vector<std::u16string> wild;   // unique, ".example.com"
  bool anyMethod = false;
  std::vector<std::u16string> methods;  // unique
  std::vector<Segment> segments;
  double priority = 0;
  double headerMatches = 0;
};

// Reads obj[name]; false with a pending exception if a getter threw.
bool GetProp(napi_env env, napi_value obj, const char* name, napi_value* out) {
  return napi_get_named_property(env, obj, name, out) == napi_ok;
}

napi_valuetype TypeOf(napi_env env, napi_value v) {
  napi_valuetype t = napi_undefined;
  napi_typeof(env, v, &t);
  return t;
}

// Shared by hosts and methods: null/undefined/[] -> "any"; else an array of strings, each
// handed to `each`. Returns false with a pending exception on error.
template <typename F>
bool ReadStringList(napi_env env, napi_value list, uint32_t index, const char* what, bool* any,
                    F&& each) {
  napi_valuetype t = TypeOf(env, list);
  if (t == napi_undefined || t == napi_null) {
    *any = true;
    return true;
  }
  const std::u16string bad = PatternPrefix(index) + u": " + Ascii(what) +
                             u" must be null or an array of strings";
  bool isArray = false;
  napi_is_array(env, list, &isArray);
  if (!isArray) {
    Throw(env, ErrKind::kType, bad);
    return false;
  }
  uint32_t n = 0;
  if (napi_get_array_length(env, list, &n) != napi_ok) return false;
  if (n == 0) {
    *any = true;
    return true;
  }
  std::u16string s;
  for (uint32_t i = 0; i < n; i++) {
    napi_value el = nullptr;
    if (napi_get_element(env, list, i, &el) != napi_ok) return false;
    if (!ReadWhole(env, el, &s)) {
      if (!Pending(env)) Throw(env, ErrKind::kType, bad);
      return false;
    }
    if (!each(s)) return false;
  }
  return true;
}

void PushUnique(std::vector<std::u16string>& v, const std::u16string& s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

bool ParsePattern(napi_env env, napi_value raw, uint32_t index, Parsed* p) {
  p->index = index;
  const std::u16string prefix = PatternPrefix(index);
  if (TypeOf(env, raw) != napi_object) {
    Throw(env, ErrKind::kType, prefix + u" must be an object");
    return false;
  }
  // Read in this order (hosts, methods, path, priority, headerMatches): the reference does too.
  napi_value v = nullptr;
  if (!GetProp(env, raw, "hosts", &v)) return false;
  bool ok = ReadStringList(env, v, index, "hosts", &p->anyHost, [&](const std::u16string& h) {
    bool invalid = h.empty();
    for (char16_t c : h) invalid = invalid || (c >= u'A' && c <= u'Z');
    if (!invalid && h == u"*") {
      p->anyHost = true;
    } else if (!invalid && h.size() >= 2 && h[0] == u'*' && h[1] == u'.') {
      invalid = h.size() == 2 || h.find(u'*', 1) != std::u16string::npos;
      if (!invalid) PushUnique(p->wild, h.substr(1));
    } else if (!invalid) {
      invalid = h.find(u'*') != std::u16string::npos;
      if (!invalid) PushUnique(p->exact, h);
    }
    if (invalid) Throw(env, ErrKind::kType, prefix + u": invalid host \"" + h + u"\"");
    return !invalid;
  });
  if (!ok) return false;

  if (!GetProp(env, raw, "methods", &v)) return false;
  ok = ReadStringList(env, v, index, "methods", &p->anyMethod, [&](const std::u16string& m) {
    bool invalid = m.empty();
    for (char16_t c : m) invalid = invalid || !IsMethodChar(c);
    if (invalid) {
      Throw(env, ErrKind::kType, prefix + u": invalid method \"" + m + u"\"");
      return false;
    }
    PushUnique(p->methods, m);
    return true;
  });
  if (!ok) return false;

  if (!GetProp(env, raw, "path", &v)) return false;
  std::u16string path;
  if (!ReadWhole(env, v, &path) || path.empty() || path[0] != u'/') {
    if (!Pending(env)) Throw(env, ErrKind::kType, prefix + u": path must be a string starting with \"/\"");
    return false;
  }
  if (path.size() > Router::kMaxPatternPath) {
    Throw(env, ErrKind::kRange,
          prefix + u": path longer than " + Ascii(std::to_string(Router::kMaxPatternPath).c_str()) +
              u" characters");
    return false;
  }
  int params = 0;
  size_t start = 1;
  for (;;) {
    size_t slash = path.find(u'/', start);
    bool last = slash == std::u16string::npos;
    std::u16string seg = path.substr(start, last ? std::u16string::npos : slash - start);
    if (seg == u"*") {
      if (!last) {
        Throw(env, ErrKind::kType, prefix + u": \"*\" must be the last segment");
        return false;
      }
      p->segments.push_back({kWild, std::u16string()});
      params++;
    } else if (!seg.empty() && seg[0] == u':') {
      if (seg.size() == 1) {
        Throw(env, ErrKind::kType, prefix + u": empty parameter name");
        return false;
      }
      p->segments.push_back({kParam, std::u16string()});
      params++;
    } else {
      p->segments.push_back({kStatic, std::move(seg)});
    }
    if (last) break;
    start = slash + 1;
  }
  if (params > Router::kMaxParams) {
    Throw(env, ErrKind::kRange,
          prefix + u": more than " + Ascii(std::to_string(Router::kMaxParams).c_str()) + u" parameters");
    return false;
  }

  if (!GetProp(env, raw, "priority", &v)) return false;
  double prio = 0;
  if (TypeOf(env, v) != napi_number || napi_get_value_double(env, v, &prio) != napi_ok ||
      !std::isfinite(prio) || std::trunc(prio) != prio) {
    Throw(env, ErrKind::kType, prefix + u": priority must be an integer");
    return false;
  }
  p->priority = prio == 0 ? 0 : prio;

  if (!GetProp(env, raw, "headerMatches", &v)) return false;
  double hm = 0;
  const napi_valuetype ht = TypeOf(env, v);
  if (ht != napi_undefined &&
      (ht != napi_number || napi_get_value_double(env, v, &hm) != napi_ok || !std::isfinite(hm) ||
       std::trunc(hm) != hm || hm < 0)) {
    Throw(env, ErrKind::kType, prefix + u": headerMatches must be a non-negative integer");
    return false;
  }
  p->headerMatches = hm == 0 ? 0 : hm;
  return true;
}

// Build-time trie node (frozen into Router::Node afterwards).
struct BuildNode {
  std::u16string key;  // text of the static edge that leads here
  std::vector<int32_t> statics;
  int32_t param = -1;
  int32_t wild = -1;
  uint32_t captures = 0;      // ":x" and "*" edges from the root to here
  std::vector<int32_t> leaf;  // pattern indexes
};

// Upper bounds for the capacity computation: e = the most a walk of a subtree (or a sequence of
// them) can append to the output; n = the most it can append without appending a leaf with an
// unconditional pattern (the walk then goes on to what follows). A walk of a then b appends at
// most max(a.e, a.n + b.e), and without stopping at most a.n + b.n.
struct Reach {
  uint64_t e = 0;
  uint64_t n = 0;
};
inline Reach Then(Reach a, Reach b) { return Reach{std::max(a.e, a.n + b.e), a.n + b.n}; }
inline Reach Either(Reach a, Reach b) { return Reach{std::max(a.e, b.e), std::max(a.n, b.n)}; }

}  // namespace

inline bool EqualUnits(const char16_t* a, const char16_t* b, uint32_t n) {
  uint32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    uint64_t x, y;
    std::memcpy(&x, a + i, sizeof(x));
    std::memcpy(&y, b + i, sizeof(y));
    if (x != y) return false;
  }
  for (; i < n; i++) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

void Router::KeyTable::Build(const std::vector<std::pair<std::u16string, int32_t>>& entries) {
  count_ = static_cast<uint32_t>(entries.size());
  uint32_t size = 8;
  while (size < 2 * count_) size <<= 1;
  mask_ = size - 1;
  slots_.assign(size, Slot{0, 0, 0, -1});
  for (const auto& kv : entries) {
    const std::u16string& k = kv.first;
    Slot slot{HashUnits(k.data(), k.size()), static_cast<uint32_t>(keys_.size()), static_cast<uint32_t>(k.size()),
              kv.second};
    keys_ += k;
    uint32_t pos = slot.hash & mask_;
    while (slots_[pos].value >= 0) pos = (pos + 1) & mask_;
    slots_[pos] = slot;
  }
}

int32_t Router::KeyTable::Find(const char16_t* s, uint32_t len) const {
  if (count_ == 0) return -1;
  const uint32_t h = HashUnits(s, len);
  for (uint32_t pos = h & mask_;; pos = (pos + 1) & mask_) {
    const Slot& slot = slots_[pos];
    if (slot.value < 0) return -1;
    if (slot.hash == h && slot.keyLen == len && EqualUnits(keys_.data() + slot.keyStart, s, len)) return slot.value;
  }
}

Napi::Object Router::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "Router",
                                    {
                                        InstanceMethod<&Router::Methods>("methods"),
                                        InstanceMethod<&Router::Stats>("stats"),
                                        InstanceAccessor<&Router::GetOutput>("output"),
                                    });
  if (env.IsExceptionPending()) return exports;
  exports.Set("Router", ctor);
  return exports;
}

Router::Router(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Router>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1) {
    Throw(env, ErrKind::kType, u"patterns must be an array");
    return;
  }
  if (!Build(env, info[0])) {
    if (!Pending(env)) Throw(env, ErrKind::kType, u"invalid route table");
    return;
  }
  const size_t outInts = kOutData + 2 * size_t{candCap_} + 2 * size_t{pairCap_} + methods_.size();
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, outInts * sizeof(int32_t));
  if (env.IsExceptionPending()) return;
  out_ = static_cast<int32_t*>(ab.Data());
  std::memset(out_, 0, outInts * sizeof(int32_t));
  out_[3] = static_cast<int32_t>(candCap_);
  out_[4] = static_cast<int32_t>(pairCap_);
  output_ = Napi::Persistent(ab);

  // `match` is an own property: a function whose data pointer is this object, which saves the
  // napi_unwrap of a prototype method (a private-symbol lookup, ~1/4 of a hit's cost). The
  // function holds the wrapper through a read-only, non-configurable property, so this object
  // outlives every reference to the function.
  napi_value self = info.This();
  napi_value fn = nullptr;
  napi_property_descriptor owner = {"router", nullptr, nullptr, nullptr, nullptr, self, napi_default, nullptr};
  if (napi_create_function(env, "match", NAPI_AUTO_LENGTH, MatchCallback, this, &fn) != napi_ok ||
      napi_define_properties(env, fn, 1, &owner) != napi_ok) {
    Throw(env, ErrKind::kType, u"could not create match()");
    return;
  }
  napi_property_descriptor match = {"match", nullptr, nullptr, nullptr, nullptr, fn, napi_enumerable, nullptr};
  if (napi_define_properties(env, self, 1, &match) != napi_ok) Throw(env, ErrKind::kType, u"could not create match()");
}

napi_value Router::MatchCallback(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3] = {nullptr, nullptr, nullptr};
  void* data = nullptr;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, &data) != napi_ok || data == nullptr) return nullptr;
  return static_cast<Router*>(data)->DoMatch(env, argc, argv);
}

bool Router::Build(Napi::Env env, napi_value table) {
  bool isArray = false;
  napi_is_array(env, table, &isArray);
  if (!isArray) {
    Throw(env, ErrKind::kType, u"patterns must be an array");
    return false;
  }
  uint32_t count = 0;
  if (napi_get_array_length(env, table, &count) != napi_ok) return false;

  // 1. Parse and validate every pattern (first error wins, in index order).
  std::vector<Parsed> parsed(count);
  for (uint32_t i = 0; i < count; i++) {
    napi_value raw = nullptr;
    if (napi_get_element(env, table, i, &raw) != napi_ok) return false;
    if (!ParsePattern(env, raw, i, &parsed[i])) return false;
  }

  // 2. Methods (sorted: the Allow list comes out in id order) and host trees.
  for (const Parsed& p : parsed)
    for (const auto& m : p.methods) methods_.push_back(m);
  std::sort(methods_.begin(), methods_.end());
  methods_.erase(std::unique(methods_.begin(), methods_.end()), methods_.end());
  const size_t M = methods_.size();
  const size_t kOther = M, kAll = M + 1;

  std::unordered_map<std::u16string, int32_t> exactIds, wildIds;
  auto treeFor = [&](std::unordered_map<std::u16string, int32_t>* ids, const std::u16string& key) {
    if (ids == nullptr) {
      if (anyTree_ < 0) {
        anyTree_ = static_cast<int32_t>(trees_.size());
        trees_.push_back(HostTree{std::vector<int32_t>(M + 2, -1)});
      }
      return anyTree_;
    }
    auto it = ids->find(key);
    if (it != ids->end()) return it->second;
    int32_t id = static_cast<int32_t>(trees_.size());
    trees_.push_back(HostTree{std::vector<int32_t>(M + 2, -1)});
    ids->emplace(key, id);
    return id;
  };

  // 3. Tries.
  std::vector<BuildNode> bn;
  std::unordered_map<std::u16string, int32_t> staticChild;  // (parent id, text) -> child
  std::vector<uint8_t> isAllTrie;                            // per node
  auto newNode = [&](bool all) {
    bn.emplace_back();
    isAllTrie.push_back(all ? 1 : 0);
    return static_cast<int32_t>(bn.size() - 1);
  };
  bool overflow = false;
  auto insert = [&](int32_t tree, size_t slot, const Parsed& p) {
    int32_t& root = trees_[tree].roots[slot];
    const bool all = slot == kAll;
    if (root < 0) root = newNode(all);
    int32_t cur = root;
    for (const Segment& s : p.segments) {
      int32_t next;
      if (s.kind == kStatic) {
        std::u16string key;
        key.push_back(static_cast<char16_t>(cur & 0xffff));
        key.push_back(static_cast<char16_t>((static_cast<uint32_t>(cur) >> 16) & 0xffff));
        key += s.text;
        auto it = staticChild.find(key);
        if (it != staticChild.end()) {
          next = it->second;
        } else {
          next = newNode(all);
          bn[next].key = s.text;
          bn[next].captures = bn[cur].captures;
          bn[cur].statics.push_back(next);
          staticChild.emplace(std::move(key), next);
        }
      } else if (s.kind == kParam) {
        next = bn[cur].param;
        if (next < 0) {
          next = newNode(all);
          bn[cur].param = next;
          bn[next].captures = bn[cur].captures + 1;
        }
      } else {
        next = bn[cur].wild;
        if (next < 0) {
          next = newNode(all);
          bn[cur].wild = next;
          bn[next].captures = bn[cur].captures + 1;
        }
      }
      cur = next;
    }
    bn[cur].leaf.push_back(static_cast<int32_t>(p.index));
    if (!all && bn[cur].leaf.size() > static_cast<size_t>(kMaxCandidates)) overflow = true;
  };

  std::vector<int32_t> ptrees;
  for (const Parsed& p : parsed) {
    maxDepth_ = std::max(maxDepth_, static_cast<uint32_t>(p.segments.size()));
    ptrees.clear();
    for (const auto& h : p.exact) ptrees.push_back(treeFor(&exactIds, h));
    for (const auto& h : p.wild) ptrees.push_back(treeFor(&wildIds, h));
    if (p.anyHost) ptrees.push_back(treeFor(nullptr, std::u16string()));
    for (int32_t t : ptrees) {
      if (p.anyMethod) {
        for (size_t m = 0; m < M; m++) insert(t, m, p);
        insert(t, kOther, p);
      } else {
        for (const auto& name : p.methods) {
          size_t m = std::lower_bound(methods_.begin(), methods_.end(), name) - methods_.begin();
          insert(t, m, p);
        }
      }
      insert(t, kAll, p);
    }
  }
  if (overflow) {
    Throw(env, ErrKind::kRange,
          u"more than " + Ascii(std::to_string(kMaxCandidates).c_str()) +
              u" patterns share one host, method and path shape");
    return false;
  }

  // 4. Freeze into flat arrays.
  nodes_.resize(bn.size());
  for (size_t i = 0; i < bn.size(); i++) {
    BuildNode& b = bn[i];
    Node& n = nodes_[i];
    n.param = b.param;
    n.wild = b.wild;
    // The precedence key within a leaf: lists the method (every methods=null pattern last),
    // more header matches, higher priority, lower index.
    std::sort(b.leaf.begin(), b.leaf.end(), [&](int32_t a, int32_t c) {
      const Parsed& x = parsed[a];
      const Parsed& y = parsed[c];
      if (x.anyMethod != y.anyMethod) return !x.anyMethod;
      if (x.headerMatches != y.headerMatches) return x.headerMatches > y.headerMatches;
      if (x.priority != y.priority) return x.priority > y.priority;
      return a < c;
    });
    if (!isAllTrie[i]) {
      for (int32_t idx : b.leaf) {
        if (parsed[idx].headerMatches == 0) n.leafSure = 1;
      }
    } else if (!b.leaf.empty()) {
      // The methods an all-trie leaf allows (methods=null patterns never reach a 405).
      n.methodStart = static_cast<uint32_t>(methodPool_.size());
      for (int32_t idx : b.leaf) {
        for (const auto& name : parsed[idx].methods) {
          methodPool_.push_back(static_cast<int32_t>(std::lower_bound(methods_.begin(), methods_.end(), name) - methods_.begin()));
        }
      }
      std::sort(methodPool_.begin() + n.methodStart, methodPool_.end());
      methodPool_.erase(std::unique(methodPool_.begin() + n.methodStart, methodPool_.end()), methodPool_.end());
      n.methodCount = static_cast<uint32_t>(methodPool_.size() - n.methodStart);
    }
    n.leafStart = static_cast<uint32_t>(leafPool_.size());
    n.leafCount = static_cast<uint32_t>(b.leaf.size());
    leafPool_.insert(leafPool_.end(), b.leaf.begin(), b.leaf.end());
    n.edgeStart = static_cast<uint32_t>(edges_.size());
    n.edgeCount = static_cast<uint32_t>(b.statics.size());
    for (int32_t c : b.statics) {
      const std::u16string& k = bn[c].key;
      Edge e;
      e.keyStart = static_cast<uint32_t>(keyPool_.size());
      e.keyLen = static_cast<uint32_t>(k.size());
      e.hash = HashUnits(k.data(), k.size());
      e.child = c;
      keyPool_ += k;
      edges_.push_back(e);
    }
    if (n.edgeCount > kLinearEdges) {
      uint32_t size = 16;
      while (size < 2 * n.edgeCount) size <<= 1;
      n.slotStart = static_cast<uint32_t>(slots_.size());
      n.slotMask = size - 1;
      slots_.resize(slots_.size() + size, -1);
      for (uint32_t j = 0; j < n.edgeCount; j++) {
        uint32_t e = n.edgeStart + j;
        uint32_t pos = edges_[e].hash & n.slotMask;
        while (slots_[n.slotStart + pos] >= 0) pos = (pos + 1) & n.slotMask;
        slots_[n.slotStart + pos] = static_cast<int32_t>(e);
      }
    }
  }

  // Host maps.
  exactHosts_.Build(std::vector<std::pair<std::u16string, int32_t>>(exactIds.begin(), exactIds.end()));
  wildHosts_.Build(std::vector<std::pair<std::u16string, int32_t>>(wildIds.begin(), wildIds.end()));
  for (const auto& kv : wildIds) wildLengths_.push_back(static_cast<uint32_t>(kv.first.size()));
  std::sort(wildLengths_.begin(), wildLengths_.end(), [](uint32_t a, uint32_t b) { return a > b; });
  wildLengths_.erase(std::unique(wildLengths_.begin(), wildLengths_.end()), wildLengths_.end());

  // 5. Output capacity: the most candidates (C) and capture pairs (P) one lookup can report. A
  // lookup appends whole leaves until one holds an unconditional pattern, across the shapes of a
  // host tree and then across host trees, so this is a bound over every (method, host, path):
  // per trie node (children have higher ids: post-order is descending ids), either the path ends
  // here (this node's leaf) or it goes on to one static child, then :param, then *.
  std::vector<Reach> rc(bn.size()), rp(bn.size());
  for (size_t i = bn.size(); i-- > 0;) {
    if (isAllTrie[i]) continue;
    const BuildNode& b = bn[i];
    Reach endC, endP;
    if (!b.leaf.empty()) {
      const bool sure = nodes_[i].leafSure != 0;
      endC = Reach{b.leaf.size(), sure ? 0 : b.leaf.size()};
      endP = Reach{b.captures, sure ? 0 : b.captures};
    }
    Reach sc, sp;
    for (int32_t c : b.statics) {
      sc = Either(sc, rc[c]);
      sp = Either(sp, rp[c]);
    }
    const Reach none;
    Reach goC = Then(Then(sc, b.param >= 0 ? rc[b.param] : none), b.wild >= 0 ? rc[b.wild] : none);
    Reach goP = Then(Then(sp, b.param >= 0 ? rp[b.param] : none), b.wild >= 0 ? rp[b.wild] : none);
    rc[i] = Either(endC, goC);
    rp[i] = Either(endP, goP);
  }
  // Host chains: a host consults its exact tree, then every wildcard tree whose suffix it ends
  // in (each such suffix's shorter wildcard suffixes are in the chain too), then the any-host
  // tree. wildNext[w] is the longest wildcard tree whose suffix is a proper suffix of w's.
  std::vector<std::pair<std::u16string, int32_t>> wilds(wildIds.begin(), wildIds.end());
  std::sort(wilds.begin(), wilds.end(), [](const auto& a, const auto& b) { return a.first.size() < b.first.size(); });
  auto longestWild = [&](const std::u16string& h, uint32_t below) {
    const uint32_t n = static_cast<uint32_t>(h.size());
    for (uint32_t L : wildLengths_) {
      if (L >= n || L >= below || h[n - L] != u'.') continue;
      const int32_t t = wildHosts_.Find(h.data() + (n - L), L);
      if (t >= 0) return t;
    }
    return int32_t{-1};
  };
  std::vector<int32_t> wildNext(trees_.size(), -1);
  for (const auto& kv : wilds) wildNext[kv.second] = longestWild(kv.first, static_cast<uint32_t>(kv.first.size()));
  std::vector<int32_t> exactWild;
  for (const auto& kv : exactIds) exactWild.push_back(longestWild(kv.first, UINT32_MAX));
  uint64_t capC = 1, capP = 1;
  std::vector<Reach> chainC(trees_.size()), chainP(trees_.size());
  for (size_t slot = 0; slot <= M; slot++) {  // each method's tries and the "other methods" ones
    auto at = [&](int32_t t, const std::vector<Reach>& r) {
      const int32_t root = t >= 0 ? trees_[t].roots[slot] : -1;
      return root >= 0 ? r[root] : Reach{};
    };
    const Reach anyC = at(anyTree_, rc), anyP = at(anyTree_, rp);
    capC = std::max(capC, anyC.e);
    capP = std::max(capP, anyP.e);
    for (const auto& kv : wilds) {  // shorter suffixes first: their chains are ready
      const int32_t t = kv.second, next = wildNext[t];
      chainC[t] = Then(at(t, rc), next >= 0 ? chainC[next] : anyC);
      chainP[t] = Then(at(t, rp), next >= 0 ? chainP[next] : anyP);
      capC = std::max(capC, chainC[t].e);
      capP = std::max(capP, chainP[t].e);
    }
    size_t k = 0;
    for (const auto& kv : exactIds) {
      const int32_t w = exactWild[k++];
      capC = std::max(capC, Then(at(kv.second, rc), w >= 0 ? chainC[w] : anyC).e);
      capP = std::max(capP, Then(at(kv.second, rp), w >= 0 ? chainP[w] : anyP).e);
    }
  }
  // A pattern is listed at most once per lookup, and each listed leaf adds at least one.
  capC = std::min<uint64_t>(capC, std::max<uint64_t>(count, 1));
  capP = std::min<uint64_t>(capP, capC * kMaxParams);
  candCap_ = static_cast<uint32_t>(capC);
  pairCap_ = static_cast<uint32_t>(capP);

  // Scratch for lookups.
  segStart_.assign(maxDepth_ + 1, 0);
  segEnd_.assign(maxDepth_ + 1, 0);
  segHash_.assign(maxDepth_ + 1, 0);
  frameNode_.assign(maxDepth_ + 2, 0);
  frameState_.assign(maxDepth_ + 2, 0);
  allowBits_.assign((M + 63) / 64, 0);
  return true;
}

int Router::MethodId(const char16_t* m, size_t len) const {
  for (size_t i = 0; i < methods_.size(); i++) {
    const std::u16string& s = methods_[i];
    if (s.size() == len && EqualUnits(s.data(), m, static_cast<uint32_t>(len))) return static_cast<int>(i);
  }
  return static_cast<int>(methods_.size());  // "other"
}

// Calls f(treeId) for the host trees of `host` in precedence order until f returns true.
template <typename F>
void Router::ForEachTree(const char16_t* host, size_t len, F&& f) const {
  const uint32_t n = static_cast<uint32_t>(len);
  const int32_t exact = exactHosts_.Find(host, n);
  if (exact >= 0 && f(exact)) return;
  // "*.example.com" is stored as ".example.com" (length L): it applies when the host is longer
  // than L and has a "." L units from its end. Longest suffix first.
  for (uint32_t L : wildLengths_) {
    if (L >= n || host[n - L] != u'.') continue;
    const int32_t t = wildHosts_.Find(host + (n - L), L);
    if (t >= 0 && f(t)) return;
  }
  if (anyTree_ >= 0) f(anyTree_);
}

// The static child of `n` for segment d, or -1. Edges are compared by hash first (the segment's
// hash is computed once per lookup, on first use).
int32_t Router::FindStatic(const Node& n, uint32_t d) {
  const uint32_t start = segStart_[d];
  const uint32_t len = segEnd_[d] - start;
  const char16_t* seg = path_ + start;
  uint32_t h = segHash_[d];
  if (h == 0) h = segHash_[d] = HashUnits(seg, len);
  const char16_t* keys = keyPool_.data();
  if (n.edgeCount <= kLinearEdges) {
    const Edge* e = edges_.data() + n.edgeStart;
    for (uint32_t i = 0; i < n.edgeCount; i++, e++) {
      if (e->hash == h && e->keyLen == len && EqualUnits(keys + e->keyStart, seg, len)) return e->child;
    }
    return -1;
  }
  for (uint32_t pos = h & n.slotMask;; pos = (pos + 1) & n.slotMask) {
    const int32_t s = slots_[n.slotStart + pos];
    if (s < 0) return -1;
    const Edge& e = edges_[s];
    if (e.hash == h && e.keyLen == len && EqualUnits(keys + e.keyStart, seg, len)) return e.child;
  }
}

// Depth-first walk of one trie along the looked-up path: static before :param before *,
// backtracking on dead ends, so leaves are reached in precedence order (rule 2). Calls
// visit(leafNode, endDepth) for each leaf matching the path, with frameState_[0, endDepth)
// recording the edge taken at each depth (1 static, 2 param, 3 wildcard); stops as soon as
// visit returns true. Returns whether it was stopped. The one state machine for both walks: the
// candidate walk (stops at the first leaf with an unconditional pattern) and the 405 walk
// (visits every leaf).
template <typename Visit>
bool Router::WalkLeaves(int32_t root, Visit&& visit) {
  uint32_t d = 0;
  frameNode_[0] = root;
  frameState_[0] = 0;
  for (;;) {
    const Node& n = nodes_[frameNode_[d]];
    int32_t next = -1;
    if (d == nseg_) {
      if (n.leafCount != 0 && visit(frameNode_[d], d)) return true;
    } else {
      uint8_t st = frameState_[d];
      if (st == 0) {
        st = 1;
        if (n.edgeCount != 0) next = FindStatic(n, d);
      }
      if (next < 0 && st == 1) {
        st = 2;
        if (n.param >= 0 && segEnd_[d] != segStart_[d]) next = n.param;
      }
      if (next < 0 && st == 2) {
        st = 3;
        if (n.wild >= 0) {
          frameState_[d] = 3;
          if (visit(n.wild, d + 1)) return true;
        }
      }
      frameState_[d] = st;
    }
    if (next >= 0) {
      d++;
      frameNode_[d] = next;
      frameState_[d] = 0;
      continue;
    }
    if (d == 0) return false;
    d--;
  }
}

// The 405 walk over an all-patterns trie: ORs the methods of every leaf matching the path into
// allowBits_. True if any leaf matched.
bool Router::CollectAllow(int32_t root) {
  bool any = false;
  WalkLeaves(root, [&](int32_t leaf, uint32_t) {
    const Node& l = nodes_[leaf];
    any = true;
    for (uint32_t i = 0; i < l.methodCount; i++) {
      const int32_t m = methodPool_[l.methodStart + i];
      allowBits_[m >> 6] |= uint64_t{1} << (m & 63);
    }
    return false;
  });
  return any;
}

napi_value Router::DoMatch(napi_env env, size_t argc, napi_value* argv) {
  char16_t methodBuf[kStackMethod + 1];
  char16_t hostBuf[kStackHost + 1];
  char16_t pathBuf[kStackPath + 1];
  const char16_t *method = nullptr, *host = nullptr, *path = nullptr;
  size_t methodLen = 0, hostLen = 0, pathLen = 0;
  if (argc < 3 || out_ == nullptr ||
      !ReadArg(env, argv[0], methodBuf, kStackMethod + 1, heapMethod_, &method, &methodLen) ||
      !ReadArg(env, argv[1], hostBuf, kStackHost + 1, heapHost_, &host, &hostLen) ||
      !ReadArg(env, argv[2], pathBuf, kStackPath + 1, heapPath_, &path, &pathLen)) {
    Throw(env, ErrKind::kType, u"match(method, host, path): all three must be strings");
    return nullptr;
  }
  int32_t* counts = out_;  // candidateCount, paramCount, allowCount
  counts[0] = 0;
  counts[1] = 0;
  counts[2] = 0;
  int code = kNotFound;
  if (pathLen != 0 && path[0] == u'/' && pathLen <= 0x7fffffffu) {
    // Split into segments: "/" is one empty segment; at most maxDepth_ + 1 are needed (a path
    // with more segments than any pattern only matches through a "*", which takes the rest).
    path_ = path;
    pathLen_ = static_cast<uint32_t>(pathLen);
    uint32_t n = 0;
    uint32_t start = 1;
    for (uint32_t i = 1;; i++) {
      if (i == pathLen_ || path[i] == u'/') {
        segStart_[n] = start;
        segEnd_[n] = i;
        segHash_[n] = 0;  // computed on first use by a hashed node
        n++;
        if (i == pathLen_ || n > maxDepth_) break;
        start = i + 1;
      }
    }
    nseg_ = n;

    const int mid = MethodId(method, methodLen);
    int32_t* const cand = out_ + kOutData;
    int32_t* const candParams = cand + candCap_;
    int32_t* const params = candParams + candCap_;
    uint32_t count = 0;  // candidates so far
    uint32_t pairs = 0;  // capture pairs so far
    bool dedupe = false;  // an earlier host tree listed candidates: skip those patterns
    bool overflow = false;  // never: candCap_ / pairCap_ bound every lookup (checked anyway)
    // Appends a leaf's candidates and captures; true (stop) if it holds an unconditional one.
    auto append = [&](int32_t leaf, uint32_t endDepth) {
      const Node& l = nodes_[leaf];
      const int32_t* src = leafPool_.data() + l.leafStart;
      uint32_t added = 0;
      if (!dedupe) {
        if (count + l.leafCount > candCap_) {
          overflow = true;
          return true;
        }
        std::memcpy(cand + count, src, l.leafCount * sizeof(int32_t));
        added = l.leafCount;
      } else {
        // Listed before = conditional (every listed leaf but the last is), so l.leafSure holds
        // for what remains whenever it holds for the leaf.
        for (uint32_t i = 0; i < l.leafCount; i++) {
          bool listed = false;
          for (uint32_t j = 0; j < count && !listed; j++) listed = cand[j] == src[i];
          if (listed) continue;
          if (count + added == candCap_) {
            overflow = true;
            return true;
          }
          cand[count + added++] = src[i];
        }
        if (added == 0) return false;
      }
      for (uint32_t i = 0; i < added; i++) candParams[count + i] = static_cast<int32_t>(pairs);
      count += added;
      for (uint32_t d = 0; d < endDepth; d++) {
        const uint8_t st = frameState_[d];
        if (st >= 2 && pairs == pairCap_) {
          overflow = true;
          return true;
        }
        if (st == 2) {
          params[2 * pairs] = static_cast<int32_t>(segStart_[d]);
          params[2 * pairs + 1] = static_cast<int32_t>(segEnd_[d]);
          pairs++;
        } else if (st == 3) {
          params[2 * pairs] = static_cast<int32_t>(segStart_[d]);
          params[2 * pairs + 1] = static_cast<int32_t>(pathLen_);
          pairs++;
        }
      }
      return l.leafSure != 0;
    };
    int32_t firstTree = -1;  // the host tree of the first candidate
    bool sure = false;
    ForEachTree(host, hostLen, [&](int32_t t) GATEWAY_ALWAYS_INLINE {
      const int32_t root = trees_[t].roots[mid];
      if (root < 0) return false;
      const uint32_t before = count;
      sure = WalkLeaves(root, append);
      if (count != before && firstTree < 0) {
        firstTree = t;
        dedupe = true;
      }
      return sure;
    });
    counts[0] = static_cast<int32_t>(count);
    counts[1] = static_cast<int32_t>(pairs);
    if (overflow) {
      counts[0] = counts[1] = 0;
      path_ = nullptr;
      napi_throw_error(env, nullptr, "router: output capacity exceeded (a bug in the capacity bound)");
      return nullptr;
    }
    if (!sure) {
      // No unconditional candidate: the winning host tree (the first with the path for any
      // method) decides. Before the first candidate's tree, it has nothing for the method: 405
      // with the union over every leaf of its all-patterns trie matching the path (also the
      // answer for when no conditional candidate holds). At that tree: 404.
      int32_t* allow = params + 2 * pairCap_;
      ForEachTree(host, hostLen, [&](int32_t t) {
        if (t == firstTree) return true;
        const int32_t root = trees_[t].roots[methods_.size() + 1];
        if (root < 0 || !CollectAllow(root)) return false;
        int32_t n = 0;
        for (size_t w = 0; w < allowBits_.size(); w++) {
          uint64_t bits = allowBits_[w];
          allowBits_[w] = 0;
          while (bits != 0) {
            allow[n++] = static_cast<int32_t>(w * 64 + __builtin_ctzll(bits));
            bits &= bits - 1;
          }
        }
        counts[2] = n;
        return n != 0;
      });
    }
    code = count != 0 ? kFound : counts[2] != 0 ? kMethodNotAllowed : kNotFound;
    path_ = nullptr;
  }
  napi_value result = nullptr;
  napi_create_int32(env, code, &result);
  return result;
}

Napi::Value Router::Methods(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array arr = Napi::Array::New(env, methods_.size());
  for (size_t i = 0; i < methods_.size(); i++) {
    const std::u16string& m = methods_[i];
    napi_value s = nullptr;
    if (napi_create_string_utf16(env, m.data(), m.size(), &s) != napi_ok) return Napi::Value();
    if (napi_set_element(env, arr, static_cast<uint32_t>(i), s) != napi_ok) return Napi::Value();
  }
  return arr;
}

Napi::Value Router::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("methods", Napi::Number::New(env, static_cast<double>(methods_.size())));
  o.Set("hostTrees", Napi::Number::New(env, static_cast<double>(trees_.size())));
  o.Set("nodes", Napi::Number::New(env, static_cast<double>(nodes_.size())));
  o.Set("edges", Napi::Number::New(env, static_cast<double>(edges_.size())));
  o.Set("maxDepth", Napi::Number::New(env, static_cast<double>(maxDepth_)));
  o.Set("candidateCapacity", Napi::Number::New(env, static_cast<double>(candCap_)));
  o.Set("pairCapacity", Napi::Number::New(env, static_cast<double>(pairCap_)));
  size_t bytes = nodes_.size() * sizeof(Node) + edges_.size() * sizeof(Edge) + slots_.size() * 4 +
                 leafPool_.size() * 4 + keyPool_.size() * 2;
  o.Set("bytes", Napi::Number::New(env, static_cast<double>(bytes)));
  return o;
}

Napi::Value Router::GetOutput(const Napi::CallbackInfo& info) {
  if (output_.IsEmpty()) return info.Env().Undefined();
  return output_.Value();
}

}  // namespace gateway
