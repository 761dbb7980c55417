// Native router: see router.h for the layout and src/native/router-types.ts for the contract.
// Built with -fno-exceptions and NAPI_DISABLE_CPP_EXCEPTIONS: every N-API failure is checked and
// turned into a pending JS exception, never a C++ throw.
#include "router.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

namespace gateway {

namespace {

constexpr int kFound = 1;
constexpr int kNotFound = 0;
constexpr int kMethodNotAllowed = -1;

// Output buffer layout (Int32 indexes).
constexpr size_t kOutCandidates = 0;
constexpr size_t kOutParams = Router::kMaxCandidates;
constexpr size_t kOutCounts = kOutParams + 2 * Router::kMaxParams;
constexpr size_t kOutInts = kOutCounts + 2;

enum SegKind : uint8_t { kStatic = 0, kParam = 1, kWild = 2 };

inline uint32_t HashUnits(const char16_t* s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) {
    h ^= static_cast<uint32_t>(s[i]);
    h *= 16777619u;
  }
  return h;
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
  // Read in this order (hosts, methods, path, priority): the reference does too.
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
  return true;
}

// Build-time trie node (frozen into Router::Node afterwards).
struct BuildNode {
  std::u16string key;  // text of the static edge that leads here
  std::vector<int32_t> statics;
  int32_t param = -1;
  int32_t wild = -1;
  std::vector<int32_t> leaf;  // pattern indexes
};

}  // namespace

size_t Router::ViewHash::operator()(std::u16string_view s) const noexcept {
  return HashUnits(s.data(), s.size());
}

Napi::Object Router::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "Router",
                                    {
                                        InstanceMethod<&Router::Match>("match"),
                                        InstanceMethod<&Router::Allow>("allow"),
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
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, kOutInts * sizeof(int32_t));
  if (env.IsExceptionPending()) return;
  out_ = static_cast<int32_t*>(ab.Data());
  std::memset(out_, 0, kOutInts * sizeof(int32_t));
  output_ = Napi::Persistent(ab);
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
          bn[cur].statics.push_back(next);
          staticChild.emplace(std::move(key), next);
        }
      } else if (s.kind == kParam) {
        next = bn[cur].param;
        if (next < 0) {
          next = newNode(all);
          bn[cur].param = next;
        }
      } else {
        next = bn[cur].wild;
        if (next < 0) {
          next = newNode(all);
          bn[cur].wild = next;
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
    std::sort(b.leaf.begin(), b.leaf.end(), [&](int32_t a, int32_t c) {
      if (parsed[a].priority != parsed[c].priority) return parsed[a].priority > parsed[c].priority;
      return a < c;
    });
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

  // Host maps: views into hostKeys_, which is not touched again.
  hostKeys_.reserve(exactIds.size() + wildIds.size());
  for (auto& kv : exactIds) hostKeys_.push_back(kv.first);
  for (auto& kv : wildIds) hostKeys_.push_back(kv.first);
  size_t k = 0;
  for (auto& kv : exactIds) exactHosts_.emplace(std::u16string_view(hostKeys_[k++]), kv.second);
  for (auto& kv : wildIds) wildHosts_.emplace(std::u16string_view(hostKeys_[k++]), kv.second);

  // Scratch for lookups.
  segStart_.assign(maxDepth_ + 1, 0);
  segEnd_.assign(maxDepth_ + 1, 0);
  segHash_.assign(maxDepth_ + 1, 0);
  frameNode_.assign(maxDepth_ + 2, 0);
  frameState_.assign(maxDepth_ + 2, 0);
  allow_.reserve(M);
  return true;
}

int Router::MethodId(const char16_t* m, size_t len) const {
  for (size_t i = 0; i < methods_.size(); i++) {
    const std::u16string& s = methods_[i];
    if (s.size() == len && std::memcmp(s.data(), m, len * sizeof(char16_t)) == 0) return static_cast<int>(i);
  }
  return static_cast<int>(methods_.size());  // "other"
}

// Calls f(treeId) for the host trees of `host` in precedence order until f returns true.
template <typename F>
void Router::ForEachTree(const char16_t* host, size_t len, F&& f) const {
  std::u16string_view h(host, len);
  if (!exactHosts_.empty()) {
    auto it = exactHosts_.find(h);
    if (it != exactHosts_.end() && f(it->second)) return;
  }
  if (!wildHosts_.empty()) {
    // "*.example.com" is stored as ".example.com": try every "." that has something before it,
    // leftmost first (= longest suffix first).
    for (size_t i = 1; i < len; i++) {
      if (host[i] != u'.') continue;
      auto it = wildHosts_.find(h.substr(i));
      if (it != wildHosts_.end() && f(it->second)) return;
    }
  }
  if (anyTree_ >= 0) f(anyTree_);
}

int32_t Router::FindStatic(const Node& n, uint32_t d) const {
  const uint32_t start = segStart_[d];
  const uint32_t len = segEnd_[d] - start;
  const char16_t* seg = path_ + start;
  if (n.edgeCount <= kLinearEdges) {
    const Edge* e = edges_.data() + n.edgeStart;
    for (uint32_t i = 0; i < n.edgeCount; i++, e++) {
      if (e->keyLen == len && std::memcmp(keyPool_.data() + e->keyStart, seg, len * sizeof(char16_t)) == 0)
        return e->child;
    }
    return -1;
  }
  const uint32_t h = segHash_[d];
  uint32_t pos = h & n.slotMask;
  for (;;) {
    int32_t s = slots_[n.slotStart + pos];
    if (s < 0) return -1;
    const Edge& e = edges_[s];
    if (e.hash == h && e.keyLen == len &&
        std::memcmp(keyPool_.data() + e.keyStart, seg, len * sizeof(char16_t)) == 0)
      return e.child;
    pos = (pos + 1) & n.slotMask;
  }
}

// Depth-first walk, static before :param before *, backtracking on dead ends. Returns the leaf
// node (with candidates) or -1. frameState_[d] records the edge taken at depth d:
// 1 static, 2 param, 3 wildcard.
int32_t Router::Walk(int32_t root, uint32_t* endDepth) {
  uint32_t d = 0;
  frameNode_[0] = root;
  frameState_[0] = 0;
  for (;;) {
    const Node& n = nodes_[frameNode_[d]];
    int32_t next = -1;
    if (d == nseg_) {
      if (n.leafCount != 0) {
        *endDepth = d;
        return frameNode_[d];
      }
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
          *endDepth = d + 1;
          return n.wild;
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
    if (d == 0) return -1;
    d--;
  }
}

Napi::Value Router::Match(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  char16_t methodBuf[kStackMethod + 1];
  char16_t hostBuf[kStackHost + 1];
  char16_t pathBuf[kStackPath + 1];
  const char16_t *method = nullptr, *host = nullptr, *path = nullptr;
  size_t methodLen = 0, hostLen = 0, pathLen = 0;
  if (info.Length() < 3 || out_ == nullptr ||
      !ReadArg(env, info[0], methodBuf, kStackMethod + 1, heapMethod_, &method, &methodLen) ||
      !ReadArg(env, info[1], hostBuf, kStackHost + 1, heapHost_, &host, &hostLen) ||
      !ReadArg(env, info[2], pathBuf, kStackPath + 1, heapPath_, &path, &pathLen)) {
    Throw(env, ErrKind::kType, u"match(method, host, path): all three must be strings");
    return Napi::Value();
  }
  int32_t* counts = out_ + kOutCounts;
  counts[0] = 0;
  counts[1] = 0;
  int code = kNotFound;
  if (pathLen != 0 && path[0] == u'/' && pathLen <= 0x7fffffffu) {
    // Split into segments: "/" is one empty segment; at most maxDepth_ + 1 are needed (a path
    // with more segments than any pattern only matches through a "*", which takes the rest).
    path_ = path;
    pathLen_ = static_cast<uint32_t>(pathLen);
    uint32_t n = 0;
    uint32_t start = 1;
    uint32_t h = 2166136261u;
    for (uint32_t i = 1;; i++) {
      if (i == pathLen_ || path[i] == u'/') {
        segStart_[n] = start;
        segEnd_[n] = i;
        segHash_[n] = h;
        n++;
        if (i == pathLen_ || n > maxDepth_) break;
        start = i + 1;
        h = 2166136261u;
      } else {
        h ^= static_cast<uint32_t>(path[i]);
        h *= 16777619u;
      }
    }
    nseg_ = n;

    const int mid = MethodId(method, methodLen);
    int32_t leaf = -1;
    uint32_t endDepth = 0;
    ForEachTree(host, hostLen, [&](int32_t t) {
      int32_t root = trees_[t].roots[mid];
      if (root >= 0) leaf = Walk(root, &endDepth);
      return leaf >= 0;
    });
    if (leaf >= 0) {
      const Node& l = nodes_[leaf];
      std::memcpy(out_ + kOutCandidates, leafPool_.data() + l.leafStart, l.leafCount * sizeof(int32_t));
      int32_t* params = out_ + kOutParams;
      int32_t pc = 0;
      for (uint32_t d = 0; d < endDepth; d++) {
        uint8_t st = frameState_[d];
        if (st == 2) {
          params[2 * pc] = static_cast<int32_t>(segStart_[d]);
          params[2 * pc + 1] = static_cast<int32_t>(segEnd_[d]);
          pc++;
        } else if (st == 3) {
          params[2 * pc] = static_cast<int32_t>(segStart_[d]);
          params[2 * pc + 1] = static_cast<int32_t>(pathLen_);
          pc++;
        }
      }
      counts[0] = static_cast<int32_t>(l.leafCount);
      counts[1] = pc;
      code = kFound;
    } else {
      // 405 if the first host tree that has the path for some method exists.
      const size_t M = methods_.size();
      allow_.clear();
      ForEachTree(host, hostLen, [&](int32_t t) {
        const HostTree& tree = trees_[t];
        uint32_t ignored = 0;
        if (tree.roots[M + 1] < 0 || Walk(tree.roots[M + 1], &ignored) < 0) return false;
        for (size_t m = 0; m < M; m++) {
          if (tree.roots[m] >= 0 && Walk(tree.roots[m], &ignored) >= 0) allow_.push_back(static_cast<int32_t>(m));
        }
        return !allow_.empty();
      });
      if (!allow_.empty()) code = kMethodNotAllowed;
    }
    path_ = nullptr;
  }
  napi_value result = nullptr;
  napi_create_int32(env, code, &result);
  return Napi::Value(env, result);
}

Napi::Value Router::Allow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array arr = Napi::Array::New(env, allow_.size());
  for (size_t i = 0; i < allow_.size(); i++) {
    const std::u16string& m = methods_[allow_[i]];
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
