// What uWebSockets.js 20.57.0 does not tell JS about a request head, read from the head itself.
//
// uWS parses the client's request head and hands JS only what it kept. Two of its leniencies
// lose information the gateway must have to be safe (docs/security.md):
//   - a header line with an empty name (": x") ends uWS's header table: every header after it is
//     invisible, a hidden Content-Length included, so the body would be parsed as a second request;
//   - leading and trailing bytes >= 0x80 of a value are trimmed as if they were spaces (its trim
//     compares a signed char < 33), so `Host: internal.example\xff` reads as internal.example.
// inspectHead(req, methodLength, targetLength, maxBytes) finds the head in uWS's receive buffer
// through the HttpRequest the JS `req` object wraps, checks that the memory is laid out as
// expected, and scans the raw header lines for those two things, and for the bytes no field value
// may hold (controls other than HTAB, DEL: uWS lets DEL through), 8-bit bytes (whose values JS
// must re-read as bytes) and a Connection "close" option anywhere in any Connection line (uWS
// honours only a first value of exactly 5 bytes, so `Connection: keep-alive, close` kept the
// connection open: a front proxy that closes after it would see the next bytes as no request,
// the gateway as one), so that JS never loops over header characters itself.
//
// Layout it relies on (uWebSockets at 65f0af8, the commit this uWS.js build embeds; pinned by
// the raw-socket regressions, test/regressions/issue-8-*.test.ts: a layout this code does not
// recognise makes every request a 500, so the whole suite fails loudly): the JS HttpRequest
// object keeps the uWS::HttpRequest* in internal field 0; uWS::HttpRequest begins with `struct { std::string_view key, value; } headers[100]`, and
// headers[0] is { method, target } pointing into the receive buffer, where the complete head
// (request line to the empty line) lies contiguous during the handler. Before anything is read
// past those two views, the views are checked against each other and against the lengths JS saw
// (the target must start one byte after the method, be followed by " HTTP/1.1\r\n"), so another
// layout is reported as kLayoutMismatch rather than read.
//
// JS: inspectHead(req: object, methodLength: number, targetLength: number, maxBytes: number): number
//   a bit set: kVerified (1) always when the layout checked out; kEmptyName (2); kEdge8Bit (4);
//   kUnterminated (8: no end of head within maxBytes); kControl (16); kEightBit (32);
//   kConnectionClose (64: a Connection header lists "close"); kConnectionHeader (128: there is a
//   Connection header line: JS reads its value only then); kForwardReady (256, below); kUwsCloses
//   (512: uWS has set its own close flag for this request, because the first Connection value is
//   5 bytes long whatever they are: it closes after the answer, and its end() with the close flag
//   then writes no `Connection: close`, so JS must); or kLayoutMismatch (-1).
//
// The JS object is reached through V8 (an N-API value is a v8::Local<v8::Value> in every Node
// version this builds for: 20, 22, 24), because N-API offers no access to another addon's
// internal fields.
#include <node_api.h>
#include <sys/socket.h>
#include <uv.h>
#include <v8.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

namespace gateway {
namespace {

constexpr int32_t kVerified = 1;
constexpr int32_t kEmptyName = 2;
constexpr int32_t kEdge8Bit = 4;
constexpr int32_t kUnterminated = 8;
constexpr int32_t kControl = 16;
constexpr int32_t kEightBit = 32;
constexpr int32_t kConnectionClose = 64;
constexpr int32_t kConnectionHeader = 128;
constexpr int32_t kForwardReady = 256;
constexpr int32_t kUwsCloses = 512;
constexpr int32_t kLayoutMismatch = -1;

// inspectHead's forwarding options (its 5th argument) and what it reports (the registered scratch).
constexpr int32_t kForwardWrite = 1;        // write the forwarded lines
constexpr int32_t kForwardUnderscores = 2;  // names with '_' are forwarded (limits.allowUnderscoreHeaders)
constexpr int32_t kForwardTrustsProxies = 4; // some peer is trusted: its forwarding headers count (JS reads them)
constexpr int32_t kSeenVia = 1;
constexpr int32_t kSeenTraceparent = 2;
constexpr int32_t kSeenTracestate = 4;
// More lines than this and JS reads the head (uWS's header table holds fewer than 100 entries).
constexpr int kMaxForwardLines = 64;

struct View {
  const unsigned char* data;
  size_t size;
};

// std::string_view is {size, data} in libstdc++ and {data, size} in libc++: accept either, by
// which word equals the length JS saw.
bool ReadView(const uint64_t* words, size_t expectedSize, View* out) {
  if (words[0] == expectedSize && words[1] != 0) {
    out->size = static_cast<size_t>(words[0]);
    out->data = reinterpret_cast<const unsigned char*>(words[1]);
    return true;
  }
  if (words[1] == expectedSize && words[0] != 0) {
    out->size = static_cast<size_t>(words[1]);
    out->data = reinterpret_cast<const unsigned char*>(words[0]);
    return true;
  }
  return false;
}

bool IsSpace(unsigned char c) { return c == ' ' || c == '\t'; }

constexpr uint64_t kOnes = ~0ULL / 255;        // 0x0101010101010101
constexpr uint64_t kHighs = kOnes * 128;       // 0x8080808080808080

// Whether any byte of `w` is < 0x20 or > 0x7e (a control, DEL, or an 8-bit byte): the fast "all
// plain" test for 8 bytes at a time; a hit is looked at byte by byte (HTAB is allowed).
inline bool AnyOutsidePrintable(uint64_t w) {
  const uint64_t below = (w - kOnes * 0x20) & ~w & kHighs;
  const uint64_t above = ((w + kOnes * (127 - 0x7e)) | w) & kHighs;
  return (below | above) != 0;
}

// Flags for the bytes of one field value [v, e): controls (not HTAB) and DEL, 8-bit bytes.
int32_t ScanValue(const unsigned char* v, const unsigned char* e) {
  int32_t flags = 0;
  const unsigned char* q = v;
  for (; q + 8 <= e; q += 8) {
    uint64_t w;
    std::memcpy(&w, q, 8);
    if (!AnyOutsidePrintable(w)) continue;
    for (int i = 0; i < 8; i++) {
      const unsigned char c = q[i];
      if (c >= 0x80) flags |= kEightBit;
      else if ((c < 0x20 && c != '\t') || c == 0x7f) flags |= kControl;
    }
  }
  for (; q < e; q++) {
    const unsigned char c = *q;
    if (c >= 0x80) flags |= kEightBit;
    else if ((c < 0x20 && c != '\t') || c == 0x7f) flags |= kControl;
  }
  return flags;
}

bool LowerEquals(const unsigned char* a, const char* lower, size_t n) {
  for (size_t i = 0; i < n; i++) if ((a[i] | 0x20) != static_cast<unsigned char>(lower[i])) return false;
  return true;
}

// Calls `f(option, length)` for each option of a comma-separated value [v, e) (the spaces around
// it trimmed, empty ones skipped) until `f` returns false; returns whether it saw them all.
template <typename F>
bool EachOption(const unsigned char* v, const unsigned char* e, F f) {
  while (v < e) {
    while (v < e && (IsSpace(*v) || *v == ',')) v++;
    const unsigned char* t = v;
    while (v < e && *v != ',') v++;
    const unsigned char* end = v;
    while (end > t && IsSpace(end[-1])) end--;
    if (end != t && !f(t, static_cast<size_t>(end - t))) return false;
  }
  return true;
}

bool IsClose(const unsigned char* t, size_t n) { return n == 5 && LowerEquals(t, "close", 5); }

// Whether a Connection value [v, e) lists the "close" option (RFC 9112 §9.6), in any position and
// case. uWS itself closes only when the whole first Connection value is 5 bytes long.
bool HasCloseOption(const unsigned char* v, const unsigned char* e) {
  return !EachOption(v, e, [](const unsigned char* t, size_t n) { return !IsClose(t, n); });
}

// The length uWS gives a field value [v, e): it trims bytes that compare < 33 as a signed char
// from both ends (spaces, HTAB, and every byte >= 0x80; HttpParser.h at 65f0af8).
size_t UwsTrimmedLength(const unsigned char* v, const unsigned char* e) {
  while (e > v && static_cast<signed char>(e[-1]) < 33) e--;
  while (v < e && static_cast<signed char>(*v) < 33) v++;
  return static_cast<size_t>(e - v);
}


// ---- forwarding: the client's header lines as the upstream gets them, written by the same scan
//
// For routes without plugins (src/worker/front.ts), the lines the gateway forwards are copied
// here from the raw head instead of being read one by one through uWS and serialized again in JS.
// The filter is collectHeader's (src/worker/head.ts), and every case it does not cover the same way
// (Transfer-Encoding, two Content-Lengths, Connection options naming headers, a peer that may be
// a trusted proxy sending forwarding headers, repeated Via/traceparent/tracestate, 8-bit bytes, a
// name that is not a token, very many lines) clears kForwardReady: JS then reads the head as before.
// The differential test (test/native/head-forward-diff.test.ts) holds the two to the same output.

struct Forward {
  unsigned char* out = nullptr;  // the registered arena (a JS Buffer kept by napi_ref)
  size_t capacity = 0;
  int32_t* report = nullptr;     // [0] bytes written, [1] lines, [2] Content-Length lines, [3] kSeen* bits
  napi_ref arenaRef = nullptr;
  napi_ref reportRef = nullptr;
};
Forward forward;

bool IsTchar(unsigned char c) {
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
  }
  return false;
}

// Whether every option of a Connection value [v, e) is close or keep-alive (none names a header).
bool OnlyCloseOrKeepAlive(const unsigned char* v, const unsigned char* e) {
  return EachOption(v, e, [](const unsigned char* t, size_t n) { return IsClose(t, n) || (n == 10 && LowerEquals(t, "keep-alive", 10)); });
}

enum class LineKind { kForward, kDrop, kContentLength, kVia, kTraceparent, kTracestate, kForwarding, kConnection, kRefuse };

// What collectHeader does with a header of `len` bytes named `name`; `lower` holds its first
// min(len, 64) bytes lower-cased (enough for every name compared whole, and for the prefix).
LineKind Classify(const unsigned char* name, const char* lower, size_t len, int32_t options) {
  auto is = [&](const char* name) { return std::strlen(name) == len && std::memcmp(lower, name, len) == 0; };
  switch (len) {
    case 2: if (is("te")) return LineKind::kDrop; break;
    case 3: if (is("via")) return LineKind::kVia; break;
    case 4: if (is("host")) return LineKind::kDrop; break;
    case 5: if (is("proxy")) return LineKind::kDrop; break;
    case 6: if (is("expect")) return LineKind::kDrop; break;
    case 7: if (is("trailer") || is("upgrade")) return LineKind::kDrop; break;
    case 9: if (is("forwarded")) return LineKind::kForwarding; if (is("x-real-ip")) return LineKind::kDrop; break;
    case 10: if (is("connection")) return LineKind::kConnection; if (is("keep-alive")) return LineKind::kDrop; if (is("tracestate")) return LineKind::kTracestate; break;
    case 11: if (is("traceparent")) return LineKind::kTraceparent; break;
    case 14: if (is("content-length")) return LineKind::kContentLength; if (is("x-original-url")) return LineKind::kDrop; break;
    case 13: if (is("x-rewrite-url")) return LineKind::kDrop; break;
    case 15: if (is("x-forwarded-for")) return LineKind::kForwarding; break;
    case 16: if (is("x-forwarded-host") || is("x-forwarded-port")) return LineKind::kForwarding; break;
    case 17: if (is("transfer-encoding")) return LineKind::kRefuse; if (is("x-forwarded-proto")) return LineKind::kForwarding; break;
    case 18: if (is("x-forwarded-prefix")) return LineKind::kForwarding; break;
  }
  if (len > 6 && std::memcmp(lower, "proxy-", 6) == 0) return LineKind::kDrop;
  if ((options & kForwardUnderscores) == 0 && std::memchr(name, '_', len) != nullptr) return LineKind::kDrop;
  return LineKind::kForward;
}

// The forwarding pass over the header lines [p, limit) of a head ScanHeaderLines accepted: writes
// "name: value\r\n" per forwarded line (name lower-cased, value without the spaces around it) and
// returns kForwardReady, or 0 when JS must read this head itself (nothing it wrote counts).
int32_t ForwardLines(const unsigned char* p, const unsigned char* limit, int32_t options) {
  unsigned char* const start = forward.out;
  unsigned char* o = start;
  unsigned char* const end = start + forward.capacity;
  int32_t lines = 0, contentLengths = 0, seen = 0, count = 0;
  char lower[64];
  while (p + 1 < limit) {
    if (p[0] == '\r' && p[1] == '\n') {
      forward.report[0] = static_cast<int32_t>(o - start);
      forward.report[1] = lines;
      forward.report[2] = contentLengths;
      forward.report[3] = seen;
      return kForwardReady;
    }
    if (++count > kMaxForwardLines) return 0;
    const unsigned char* cr = static_cast<const unsigned char*>(std::memchr(p, '\r', static_cast<size_t>(limit - p)));
    if (cr == nullptr) return 0;
    const unsigned char* colon = static_cast<const unsigned char*>(std::memchr(p, ':', static_cast<size_t>(cr - p)));
    if (colon == nullptr || colon == p) return 0;
    const size_t nameLength = static_cast<size_t>(colon - p);
    const unsigned char* v = colon + 1;
    const unsigned char* e = cr;
    while (v < e && IsSpace(*v)) v++;
    while (e > v && IsSpace(e[-1])) e--;
    const unsigned char* next = cr + 2;
    for (size_t i = 0; i < nameLength; i++) {
      if (!IsTchar(p[i])) return 0;
      if (i < sizeof(lower)) lower[i] = static_cast<char>(p[i] >= 'A' && p[i] <= 'Z' ? p[i] | 0x20 : p[i]);
    }
    switch (Classify(p, lower, nameLength, options)) {
      case LineKind::kForward: {
        const size_t valueLength = static_cast<size_t>(e - v);
        if (static_cast<size_t>(end - o) < nameLength + valueLength + 4) return 0;
        for (size_t i = 0; i < nameLength; i++) o[i] = static_cast<unsigned char>(p[i] >= 'A' && p[i] <= 'Z' ? p[i] | 0x20 : p[i]);
        o += nameLength;
        *o++ = ':';
        *o++ = ' ';
        std::memcpy(o, v, valueLength);
        o += valueLength;
        *o++ = '\r';
        *o++ = '\n';
        lines++;
        break;
      }
      case LineKind::kDrop:
        break;
      case LineKind::kContentLength:
        contentLengths++;
        if (contentLengths > 1) return 0;  // JS refuses two (400)
        break;
      case LineKind::kVia:
        if ((seen & kSeenVia) != 0) return 0;  // JS joins repeated lines
        seen |= kSeenVia;
        break;
      case LineKind::kTraceparent:
        if ((seen & kSeenTraceparent) != 0) return 0;
        seen |= kSeenTraceparent;
        break;
      case LineKind::kTracestate:
        if ((seen & kSeenTracestate) != 0) return 0;
        seen |= kSeenTracestate;
        break;
      case LineKind::kForwarding:
        if ((options & kForwardTrustsProxies) != 0) return 0;  // a trusted peer's are used: JS reads them
        break;  // an untrusted peer's are dropped unread
      case LineKind::kConnection:
        if (!OnlyCloseOrKeepAlive(v, e)) return 0;  // options naming headers to drop: JS
        break;
      case LineKind::kRefuse:
        return 0;
    }
    p = next;
  }
  return 0;
}

// Scans header lines from `p` (just after the request line) to the empty line ending the head.
int32_t ScanHeaderLines(const unsigned char* p, const unsigned char* limit) {
  int32_t flags = kVerified;
  while (p + 1 < limit) {
    if (p[0] == '\r' && p[1] == '\n') return flags;  // the empty line: end of head
    const unsigned char* cr = static_cast<const unsigned char*>(std::memchr(p, '\r', static_cast<size_t>(limit - p)));
    if (cr == nullptr || cr + 1 >= limit || cr[1] != '\n') break;  // uWS accepted the head: CRLF ends every line
    if (p[0] == ':') flags |= kEmptyName;
    const unsigned char* colon = static_cast<const unsigned char*>(std::memchr(p, ':', static_cast<size_t>(cr - p)));
    if (colon != nullptr) {
      const unsigned char* v = colon + 1;
      const unsigned char* e = cr;
      flags |= ScanValue(v, e);
      if (colon - p == 10 && LowerEquals(p, "connection", 10)) {
        // uWS's getHeader("connection") is the first such line: its length decides uWS's close flag.
        if ((flags & kConnectionHeader) == 0 && UwsTrimmedLength(v, e) == 5) flags |= kUwsCloses;
        flags |= kConnectionHeader;
        if (HasCloseOption(v, e)) flags |= kConnectionClose;
      }
      while (v < e && IsSpace(*v)) v++;
      while (e > v && IsSpace(e[-1])) e--;
      if (v < e && (*v >= 0x80 || e[-1] >= 0x80)) flags |= kEdge8Bit;
    }
    p = cr + 2;
  }
  return flags | kUnterminated;
}

napi_value InspectHead(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_value result;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 4) {
    napi_throw_type_error(env, nullptr, "inspectHead(req, methodLength, targetLength, maxBytes)");
    return nullptr;
  }
  int64_t methodLength = 0, targetLength = 0, maxBytes = 0;
  napi_valuetype type;
  if (napi_typeof(env, argv[0], &type) != napi_ok || type != napi_object ||
      napi_get_value_int64(env, argv[1], &methodLength) != napi_ok ||
      napi_get_value_int64(env, argv[2], &targetLength) != napi_ok ||
      napi_get_value_int64(env, argv[3], &maxBytes) != napi_ok || methodLength <= 0 || targetLength <= 0 || maxBytes <= 0) {
    napi_throw_type_error(env, nullptr, "inspectHead(req, methodLength, targetLength, maxBytes)");
    return nullptr;
  }
  int32_t options = 0;
  if (argc >= 5 && napi_get_value_int32(env, argv[4], &options) != napi_ok) options = 0;
  if (forward.out == nullptr) options = 0;
  int32_t answer = kLayoutMismatch;
  v8::Local<v8::Value> value;
  static_assert(sizeof(value) == sizeof(napi_value), "napi_value is a v8::Local");
  std::memcpy(static_cast<void*>(&value), &argv[0], sizeof(value));
  v8::Local<v8::Object> obj = value.As<v8::Object>();
  if (obj->InternalFieldCount() >= 1) {
    const uint64_t* words = static_cast<const uint64_t*>(obj->GetAlignedPointerFromInternalField(0));
    View method, target;
    if (words != nullptr && ReadView(words, static_cast<size_t>(methodLength), &method) &&
        ReadView(words + 2, static_cast<size_t>(targetLength), &target) &&
        target.data == method.data + method.size + 1 && method.data[method.size] == ' ' &&
        std::memcmp(target.data + target.size, " HTTP/1.1\r\n", 11) == 0) {
      const unsigned char* lines = target.data + target.size + 11;
      answer = ScanHeaderLines(lines, method.data + maxBytes);
      constexpr int32_t kNotForwardable = kEmptyName | kEdge8Bit | kUnterminated | kControl | kEightBit;
      if ((options & kForwardWrite) != 0 && (answer & kNotForwardable) == 0) {
        answer |= ForwardLines(lines, method.data + maxBytes, options);
      }
    }
  }
  if (napi_create_int32(env, answer, &result) != napi_ok) return nullptr;
  return result;
}

// The uWS HttpResponse pointer a JS `res` wraps (internal field 0), 0 when it wraps nothing. uWS's
// HttpResponse is its socket: every request of one connection gives the same pointer, and no two
// open connections share one (a closed connection's may come back for a later one).
uintptr_t ResponsePointer(napi_env env, napi_callback_info info, const char* usage, bool* thrown) {
  size_t argc = 1;
  napi_value argv[1];
  napi_valuetype type;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1 ||
      napi_typeof(env, argv[0], &type) != napi_ok || type != napi_object) {
    napi_throw_type_error(env, nullptr, usage);
    *thrown = true;
    return 0;
  }
  v8::Local<v8::Value> value;
  std::memcpy(static_cast<void*>(&value), &argv[0], sizeof(value));
  v8::Local<v8::Object> obj = value.As<v8::Object>();
  if (obj->InternalFieldCount() < 1) return 0;
  return reinterpret_cast<uintptr_t>(obj->GetAlignedPointerFromInternalField(0));
}

// Connection slots: a small integer per open client connection, so that JS keeps what it knows of
// a connection in an array indexed by it (a pointer as a JS number is a heap number, and a Map
// keyed by one hashes a double on every request). A slot is given on a connection's first request
// and taken back when uWS reports the connection open or closed (app.filter); freed slots are
// given again first, so the numbers stay as low as the open connections are many. One table per
// process: only the thread that runs uWS calls these.
//
// The table is open addressing with linear probing over one array (power-of-two size, at most
// half full; removal shifts the following entries back, so there are no tombstones): a lookup is a
// multiply and, nearly always, one cache line. std::unordered_map cost ~0.2 us a request here (a
// division per node it visits, and nodes scattered on the heap).
class ConnectionSlots {
 public:
  // The slot of `p`, given now if it has none.
  int32_t Of(uintptr_t p) {
    if (count_ * 2 >= entries_.size()) Grow();
    size_t i = Home(p);
    while (entries_[i].pointer != 0) {
      if (entries_[i].pointer == p) return entries_[i].slot;
      i = (i + 1) & mask_;
    }
    int32_t slot;
    if (released_.empty()) {
      slot = next_++;
    } else {
      slot = released_.back();
      released_.pop_back();
    }
    entries_[i] = {p, slot};
    count_++;
    return slot;
  }

  // Takes back the slot of `p`: returns it, or -1 when it had none.
  int32_t Release(uintptr_t p) {
    if (entries_.empty()) return -1;
    size_t i = Home(p);
    while (entries_[i].pointer != p) {
      if (entries_[i].pointer == 0) return -1;
      i = (i + 1) & mask_;
    }
    const int32_t slot = entries_[i].slot;
    released_.push_back(slot);
    count_--;
    // Backward-shift deletion: move later entries of the run into the hole when their home
    // position does not lie (cyclically) after the hole.
    size_t hole = i;
    for (size_t j = (i + 1) & mask_; entries_[j].pointer != 0; j = (j + 1) & mask_) {
      const size_t home = Home(entries_[j].pointer);
      if (((j - home) & mask_) >= ((j - hole) & mask_)) {
        entries_[hole] = entries_[j];
        hole = j;
      }
    }
    entries_[hole] = {0, 0};
    return slot;
  }

 private:
  struct Entry {
    uintptr_t pointer;  // 0: free
    int32_t slot;
  };

  size_t Home(uintptr_t p) const {
    // Fibonacci hashing of the pointer without its alignment bits.
    return static_cast<size_t>(((p >> 4) * 0x9E3779B97F4A7C15ull) >> shift_);
  }

  void Grow() {
    std::vector<Entry> old;
    old.swap(entries_);
    const size_t size = old.empty() ? 256 : old.size() * 2;
    entries_.assign(size, Entry{0, 0});
    mask_ = size - 1;
    shift_ = 64;
    for (size_t s = size; s > 1; s >>= 1) shift_--;
    for (const Entry& e : old) {
      if (e.pointer == 0) continue;
      size_t i = Home(e.pointer);
      while (entries_[i].pointer != 0) i = (i + 1) & mask_;
      entries_[i] = e;
    }
  }

  std::vector<Entry> entries_;
  std::vector<int32_t> released_;
  size_t count_ = 0;
  size_t mask_ = 0;
  int shift_ = 64;
  int32_t next_ = 0;
};
ConnectionSlots slots;

// connectionSlot(res): the slot of the connection `res` belongs to (given now if it has none);
// releaseConnectionSlot(res): takes that slot back and returns it. Both -1 when there is none
// (`res` wraps nothing, or its connection had no slot).
napi_value SlotCall(napi_env env, napi_callback_info info, bool release) {
  bool thrown = false;
  const uintptr_t p = ResponsePointer(env, info, release ? "releaseConnectionSlot(res)" : "connectionSlot(res)", &thrown);
  if (thrown) return nullptr;
  const int32_t slot = p == 0 ? -1 : release ? slots.Release(p) : slots.Of(p);
  napi_value result;
  if (napi_create_int32(env, slot, &result) != napi_ok) return nullptr;
  return result;
}

napi_value ConnectionSlot(napi_env env, napi_callback_info info) { return SlotCall(env, info, false); }
napi_value ReleaseConnectionSlot(napi_env env, napi_callback_info info) { return SlotCall(env, info, true); }

}  // namespace

// limitReceiveBuffer(res, bytes): sets SO_RCVBUF on the client socket a JS `res` wraps. Why: uWS
// 20.57's uSockets (loop.c, "read again immediately after reading a full recv buffer") reads the
// socket again at once, without looking at pause(), for as long as each read fills its whole
// 512 KiB buffer, so a client that keeps the kernel's receive queue above 512 KiB (a fast upload)
// keeps the worker inside that loop: its body piles up in memory however the gateway pauses, and
// no other connection of the worker is served until it stops. With SO_RCVBUF at most 256 KiB the
// kernel's queue (2 x SO_RCVBUF including bookkeeping) never holds 512 KiB of data, every read
// comes back short, and pause() holds from the next read on.
// Layout (uSockets' libuv backend, the one uWS.js builds): the HttpResponse is its us_socket_t,
// which begins with its us_poll_t { uv_poll_t* uv_p; int fd; ... }. The uv_poll_t is checked to be
// a poll handle of this loop whose descriptor is that fd, and the fd a stream socket, before any
// setsockopt. Returns the receive buffer the kernel reports afterwards (2 x bytes on Linux), -1
// when the layout is not the expected one, -2 when `res` wraps nothing (the response is over), or
// -errno.
napi_value LimitReceiveBuffer(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_value result;
  napi_valuetype type;
  int64_t bytes = 0;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 2 ||
      napi_typeof(env, argv[0], &type) != napi_ok || type != napi_object ||
      napi_get_value_int64(env, argv[1], &bytes) != napi_ok || bytes <= 0 || bytes > (1 << 30)) {
    napi_throw_type_error(env, nullptr, "limitReceiveBuffer(res, bytes)");
    return nullptr;
  }
  v8::Local<v8::Value> value;
  std::memcpy(static_cast<void*>(&value), &argv[0], sizeof(value));
  v8::Local<v8::Object> obj = value.As<v8::Object>();
  int32_t answer = -1;
  uv_loop_t* loop = nullptr;
  if (obj->InternalFieldCount() >= 1 && napi_get_uv_event_loop(env, &loop) == napi_ok) {
    const unsigned char* sock = static_cast<const unsigned char*>(obj->GetAlignedPointerFromInternalField(0));
    if (sock == nullptr) {
      answer = -2;
    } else {
      uv_poll_t* poll = nullptr;
      int fd = -1;
      std::memcpy(&poll, sock, sizeof(poll));
      std::memcpy(&fd, sock + sizeof(poll), sizeof(fd));
      const uintptr_t at = reinterpret_cast<uintptr_t>(poll);
      uv_os_fd_t pollFd = -1;
      int sockType = 0;
      socklen_t len = sizeof(sockType);
      if (at > 4096 && at % alignof(uv_poll_t) == 0 && poll->type == UV_POLL && poll->loop == loop &&
          uv_fileno(reinterpret_cast<uv_handle_t*>(poll), &pollFd) == 0 && pollFd == fd &&
          getsockopt(fd, SOL_SOCKET, SO_TYPE, &sockType, &len) == 0 && sockType == SOCK_STREAM) {
        int size = static_cast<int>(bytes);
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) != 0) {
          answer = -errno;
        } else {
          len = sizeof(size);
          answer = getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, &len) == 0 ? size : -errno;
        }
      }
    }
  }
  if (napi_create_int32(env, answer, &result) != napi_ok) return nullptr;
  return result;
}

// setHeadForwarding(arena: Buffer, report: Int32Array(4)): where inspectHead writes forwarded lines
// and what it reports of them (worker start; again when the head limit outgrows the arena). Both
// are kept alive by references for as long as they are registered.
napi_value SetHeadForwarding(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  void* data = nullptr;
  size_t length = 0;
  napi_typedarray_type type;
  size_t reportLength = 0;
  void* reportData = nullptr;
  bool isBuffer = false;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 2 ||
      napi_is_buffer(env, argv[0], &isBuffer) != napi_ok || !isBuffer ||
      napi_get_buffer_info(env, argv[0], &data, &length) != napi_ok ||
      napi_get_typedarray_info(env, argv[1], &type, &reportLength, &reportData, nullptr, nullptr) != napi_ok ||
      type != napi_int32_array || reportLength < 4) {
    napi_throw_type_error(env, nullptr, "setHeadForwarding(arena: Buffer, report: Int32Array(4))");
    return nullptr;
  }
  if (forward.arenaRef != nullptr) napi_delete_reference(env, forward.arenaRef);
  if (forward.reportRef != nullptr) napi_delete_reference(env, forward.reportRef);
  napi_create_reference(env, argv[0], 1, &forward.arenaRef);
  napi_create_reference(env, argv[1], 1, &forward.reportRef);
  forward.out = static_cast<unsigned char*>(data);
  forward.capacity = length;
  forward.report = static_cast<int32_t*>(reportData);
  return nullptr;
}

void InitUwsHead(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "setHeadForwarding", NAPI_AUTO_LENGTH, SetHeadForwarding, nullptr, &fn) != napi_ok) return;
  napi_set_named_property(env, exports, "setHeadForwarding", fn);
  if (napi_create_function(env, "inspectHead", NAPI_AUTO_LENGTH, InspectHead, nullptr, &fn) != napi_ok) return;
  napi_set_named_property(env, exports, "inspectHead", fn);
  if (napi_create_function(env, "connectionSlot", NAPI_AUTO_LENGTH, ConnectionSlot, nullptr, &fn) != napi_ok) return;
  napi_set_named_property(env, exports, "connectionSlot", fn);
  if (napi_create_function(env, "releaseConnectionSlot", NAPI_AUTO_LENGTH, ReleaseConnectionSlot, nullptr, &fn) != napi_ok) return;
  napi_set_named_property(env, exports, "releaseConnectionSlot", fn);
  if (napi_create_function(env, "limitReceiveBuffer", NAPI_AUTO_LENGTH, LimitReceiveBuffer, nullptr, &fn) != napi_ok) return;
  napi_set_named_property(env, exports, "limitReceiveBuffer", fn);
}

}  // namespace gateway
