// The native upstream engine's connection; see upstream_connection.h for the design and the JS API.
// Built with -fno-exceptions and NAPI_DISABLE_CPP_EXCEPTIONS.
#include "upstream_connection.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

namespace gateway {
namespace upstream {

namespace {

// RFC 9110 tchar.
struct TcharTable {
  bool t[256] = {};
  TcharTable() {
    for (const char* c = "!#$%&'*+-.^_`|~"; *c; c++) t[static_cast<uint8_t>(*c)] = true;
    for (int c = '0'; c <= '9'; c++) t[c] = true;
    for (int c = 'a'; c <= 'z'; c++) t[c] = true;
    for (int c = 'A'; c <= 'Z'; c++) t[c] = true;
  }
};
const TcharTable kTchar;

bool NameIs(const uint8_t* p, size_t n, const char* lower) {
  size_t m = std::strlen(lower);
  if (n != m) return false;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<uint8_t>(c + 32);
    if (c != static_cast<uint8_t>(lower[i])) return false;
  }
  return true;
}

// Whether any byte of `w` is a control (< 0x20, HTAB included) or DEL: 8 value bytes at a time
// (both tests are exact for "any byte"); a hit is looked at byte by byte.
inline bool AnyControlOrDel(uint64_t w) {
  constexpr uint64_t kOnes = ~0ULL / 255;
  constexpr uint64_t kHighs = kOnes * 128;
  const uint64_t below = (w - kOnes * 0x20) & ~w & kHighs;
  const uint64_t x = w ^ (kOnes * 0x7f);
  const uint64_t del = (x - kOnes) & ~x & kHighs;
  return (below | del) != 0;
}

// The request head JS serialized: request line, exactly `fields` field lines, empty line, and
// nothing else. A CR or LF inside a value either breaks a line (BARE CR/LF) or adds one (so the
// count no longer matches): both are refused, so no value can smuggle a header or a request.
int32_t ValidateHead(const uint8_t* p, size_t n, uint32_t fields, bool chunked) {
  bool teSeen = false;
  size_t i = 0;
  while (i < n && kTchar.t[p[i]]) i++;
  if (i == 0 || i >= n || p[i] != ' ') return kInvalidRequestLine;
  i++;
  const size_t target = i;
  while (i < n && p[i] >= 0x21) i++;  // as undici: no controls, no SP (8-bit bytes pass)
  static const char kVersion[] = " HTTP/1.1\r\n";
  if (i == target || n - i < 11 || std::memcmp(p + i, kVersion, 11) != 0) return kInvalidRequestLine;
  i += 11;
  uint32_t count = 0;
  for (;;) {
    if (i + 1 < n && p[i] == '\r' && p[i + 1] == '\n') {
      i += 2;
      break;
    }
    const size_t name = i;
    while (i < n && kTchar.t[p[i]]) i++;
    if (i == name || i >= n || p[i] != ':') return kInvalidFieldName;
    const size_t nameLen = i - name;
    i++;
    const size_t value = i;
    for (uint64_t w; i + 8 <= n; i += 8) {
      std::memcpy(&w, p + i, 8);
      if (AnyControlOrDel(w)) break;
    }
    while (i < n && (p[i] == '\t' || (p[i] >= 0x20 && p[i] != 0x7f))) i++;
    if (i + 1 >= n || p[i] != '\r' || p[i + 1] != '\n') return kInvalidFieldValue;
    const uint8_t* nm = p + name;
    if (NameIs(nm, nameLen, "transfer-encoding")) {
      // Only the engine's own framing of a streamed body without Content-Length.
      size_t a = value;
      while (a < i && p[a] == ' ') a++;
      if (!chunked || teSeen || !NameIs(p + a, i - a, "chunked")) return kInvalidForbiddenField;
      teSeen = true;
    } else if (NameIs(nm, nameLen, "upgrade") ||
        NameIs(nm, nameLen, "keep-alive") || NameIs(nm, nameLen, "expect")) {
      return kInvalidForbiddenField;
    }
    if (NameIs(nm, nameLen, "connection")) {
      size_t a = value, b = i;
      while (a < b && (p[a] == ' ' || p[a] == '\t')) a++;
      while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t')) b--;
      if (!NameIs(p + a, b - a, "keep-alive") && !NameIs(p + a, b - a, "close")) return kInvalidForbiddenField;
    }
    i += 2;
    if (++count > fields) return kInvalidFieldCount;
  }
  if (i != n || count != fields) return kInvalidFieldCount;
  if (chunked && !teSeen) return kInvalidForbiddenField;
  return 0;
}

bool HopByHop(const uint8_t* n, size_t len);

// Lines the gateway appends to a prepared response head: "name: value" joined by CRLF, names
// tokens (none the framing or hop-by-hop ones), values without controls but HTAB (8-bit bytes
// pass, as in the upstream's own values). `first` gets the first name's length.
bool ValidateTail(const uint8_t* p, size_t n, int32_t* first) {
  size_t i = 0;
  if (n == 0) {
    *first = -1;
    return true;
  }
  for (;;) {
    const size_t name = i;
    while (i < n && kTchar.t[p[i]]) i++;
    if (i == name || i + 1 >= n || p[i] != ':' || p[i + 1] != ' ' || HopByHop(p + name, i - name)) return false;
    if (name == 0) *first = static_cast<int32_t>(i);
    i += 2;
    while (i < n && (p[i] == '\t' || (p[i] >= 0x20 && p[i] != 0x7f))) i++;
    if (i == n) return true;
    if (i + 2 >= n || p[i] != '\r' || p[i + 1] != '\n') return false;
    i += 2;
  }
}

bool IntArg(const Napi::Value& v, int64_t* out) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= -9007199254740991.0 && d <= 9007199254740991.0)) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

void FinalizeShared(napi_env env, void* data, void*) {
  Shared* s = static_cast<Shared*>(data);
  if (s->scratchRef != nullptr) napi_delete_reference(env, s->scratchRef);
  if (s->stagingRef != nullptr) napi_delete_reference(env, s->stagingRef);
  if (s->slabRef != nullptr) napi_delete_reference(env, s->slabRef);
  delete s;
}

Shared* GetShared(napi_env env) {
  void* data = nullptr;
  if (napi_get_instance_data(env, &data) == napi_ok && data != nullptr) return static_cast<Shared*>(data);
  Shared* s = new (std::nothrow) Shared();
  if (s == nullptr) return nullptr;
  napi_value scratch = nullptr, staging = nullptr;
  void* sp = nullptr;
  void* gp = nullptr;
  if (napi_create_arraybuffer(env, kScratchInts * sizeof(int32_t), &sp, &scratch) != napi_ok ||
      napi_create_arraybuffer(env, kStagingSize, &gp, &staging) != napi_ok ||
      napi_create_reference(env, scratch, 1, &s->scratchRef) != napi_ok ||
      napi_create_reference(env, staging, 1, &s->stagingRef) != napi_ok) {
    delete s;
    return nullptr;
  }
  s->scratch = static_cast<int32_t*>(sp);
  s->staging = static_cast<uint8_t*>(gp);
  if (napi_set_instance_data(env, s, FinalizeShared, nullptr) != napi_ok) return nullptr;
  return s;
}

Napi::Value UpstreamInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Shared* s = GetShared(env);
  if (s == nullptr) {
    Napi::Error::New(env, "upstreamInit: out of memory").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  napi_value scratch = nullptr, staging = nullptr;
  napi_get_reference_value(env, s->scratchRef, &scratch);
  napi_get_reference_value(env, s->stagingRef, &staging);
  Napi::Object o = Napi::Object::New(env);
  o.Set("scratch", Napi::Value(env, scratch));
  o.Set("staging", Napi::Value(env, staging));
  o.Set("maxFields", Napi::Number::New(env, kMaxFields));
  o.Set("sendSlot", Napi::Number::New(env, kSSend));
  o.Set("preparedRoom", Napi::Number::New(env, static_cast<double>(kPreparedRoom)));
  o.Set("maxResponseTail", Napi::Number::New(env, static_cast<double>(kMaxResponseTail)));
  o.Set("stagingSize", Napi::Number::New(env, static_cast<double>(kStagingSize)));
  return o;
}

Napi::Value ErrName(const Napi::CallbackInfo& info) {
  int64_t code = 0;
  if (info.Length() < 1 || !IntArg(info[0], &code)) return info.Env().Undefined();
  return Napi::String::New(info.Env(), uv_err_name(static_cast<int>(code)));
}

}  // namespace

// A write that did not complete at once: the remaining bytes, owned here.
struct UpstreamConnection::WriteReq {
  uv_write_t req;
  UpstreamConnection* conn;
  size_t len;
  char data[1];
};

void UpstreamConnection::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "UpstreamConnection",
                                    {
                                        InstanceMethod<&UpstreamConnection::Connect>("connect"),
                                        InstanceMethod<&UpstreamConnection::Send>("send"),
                                        InstanceMethod<&UpstreamConnection::WriteBody>("writeBody"),
                                        InstanceMethod<&UpstreamConnection::EndBody>("endBody"),
                                        InstanceMethod<&UpstreamConnection::ReadStart>("readStart"),
                                        InstanceMethod<&UpstreamConnection::Close>("close"),
                                    });
  if (env.IsExceptionPending()) return;
  exports.Set("UpstreamConnection", ctor);
  exports.Set("upstreamInit", Napi::Function::New(env, UpstreamInit, "upstreamInit"));
  exports.Set("uvErrName", Napi::Function::New(env, ErrName, "uvErrName"));
}

UpstreamConnection::UpstreamConnection(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UpstreamConnection>(info) {
  Napi::Env env = info.Env();
  env_ = env;
  int64_t idle = 0;
  if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsFunction() || !IntArg(info[2], &idle) || idle < 0) {
    Napi::TypeError::New(env, "new UpstreamConnection(owner: object, onEvent: function, idleMs: number)")
        .ThrowAsJavaScriptException();
    return;
  }
  idleMs_ = static_cast<uint64_t>(idle);
  shared_ = GetShared(env);
  uv_loop_t* loop = nullptr;
  if (shared_ == nullptr || napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    Napi::Error::New(env, "UpstreamConnection: no event loop").ThrowAsJavaScriptException();
    return;
  }
  http1::Limits limits;
  limits.maxHeadSize = kMaxHeadSize;
  limits.maxHeaders = kMaxFields;
  out_ = static_cast<int32_t*>(std::malloc(http1::ResponseParser::kOutInts * sizeof(int32_t)));
  store_ = static_cast<uint8_t*>(std::malloc(http1::ResponseParser::StoreSize(limits)));
  if (out_ == nullptr || store_ == nullptr) {
    Napi::Error::New(env, "UpstreamConnection: out of memory").ThrowAsJavaScriptException();
    return;
  }
  parser_ = new (std::nothrow) http1::ResponseParser(limits, out_, store_);
  napi_value resource_name = nullptr;
  if (parser_ == nullptr || napi_create_string_utf8(env, "GatewayUpstreamConnection", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_async_init(env, info[0], resource_name, &async_) != napi_ok ||
      napi_create_reference(env, info[0], 1, &owner_) != napi_ok ||
      napi_create_reference(env, info[1], 1, &callback_) != napi_ok) {
    if (!env.IsExceptionPending()) Napi::Error::New(env, "UpstreamConnection: setup failed").ThrowAsJavaScriptException();
    return;
  }
  uv_tcp_init(loop, &tcp_);
  uv_timer_init(loop, &timer_);
  uv_timer_init(loop, &connectTimer_);
  tcp_.data = this;
  timer_.data = this;
  connectTimer_.data = this;
  // Timers never keep the process alive; the socket does while a request runs (as undici's).
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));
  uv_unref(reinterpret_cast<uv_handle_t*>(&connectTimer_));
  uv_unref(reinterpret_cast<uv_handle_t*>(&tcp_));
  openHandles_ = 3;
  // The JS object must outlive the handles: released in the last close callback.
  Ref();
  napi_add_env_cleanup_hook(env, OnEnvCleanup, this);
}

UpstreamConnection::~UpstreamConnection() {
  delete parser_;
  std::free(out_);
  std::free(store_);
}

// ------------------------------------------------------------------------------- JS methods

Napi::Value UpstreamConnection::Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t port = 0, timeout = 0;
  if (info.Length() < 3 || !info[0].IsString() || !IntArg(info[1], &port) || !IntArg(info[2], &timeout) ||
      port <= 0 || port > 65535 || timeout < 0) {
    Napi::TypeError::New(env, "connect(ip: string, port: number, timeoutMs: number)").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  if (closed_ || connectStarted_) return Napi::Number::New(env, UV_EALREADY);
  std::string ip = info[0].As<Napi::String>().Utf8Value();
  struct sockaddr_storage addr;
  int r = ip.find(':') != std::string::npos
              ? uv_ip6_addr(ip.c_str(), static_cast<int>(port), reinterpret_cast<struct sockaddr_in6*>(&addr))
              : uv_ip4_addr(ip.c_str(), static_cast<int>(port), reinterpret_cast<struct sockaddr_in*>(&addr));
  if (r == 0) {
    r = uv_tcp_connect(&connectReq_, &tcp_, reinterpret_cast<const struct sockaddr*>(&addr), OnConnect);
  }
  if (r != 0) return Napi::Number::New(env, r);
  connectStarted_ = true;
  connectReq_.data = this;
  if (timeout > 0) uv_timer_start(&connectTimer_, OnConnectTimer, static_cast<uint64_t>(timeout), 0);
  if (!pendingOut_.empty()) {
    uv_buf_t b = uv_buf_init(&pendingOut_[0], static_cast<unsigned>(pendingOut_.size()));
    Write(&b, 1);
    pendingOut_.clear();
    pendingOut_.shrink_to_fit();
  }
  return Napi::Number::New(env, 0);
}

Napi::Value UpstreamConnection::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int32_t* s = shared_->scratch;
  const int64_t headLen = s[kSSendHeadLen], fields = s[kSSendFields], kind = s[kSSendKind], flags = s[kSSendFlags],
                headersMs = s[kSSendHeadersMs], bodyMs = s[kSSendBodyMs];
  if (info.Length() < 1 || !info[0].IsBuffer() || kind < http1::kRequestOther || kind > http1::kRequestConnect ||
      headersMs < 0 || bodyMs < 0 || fields < 0) {
    Napi::TypeError::New(env, "send(head, body, dropList) with headLen, fieldCount, kind, flags, headersTimeoutMs, bodyTimeoutMs in the scratch")
        .ThrowAsJavaScriptException();
    return Napi::Value();
  }
  Napi::Buffer<uint8_t> head = info[0].As<Napi::Buffer<uint8_t>>();
  const int64_t tailLen = (flags & kSendPrepared) != 0 ? s[kSSendTailLen] : 0;
  if (headLen < 0 || tailLen < 0 || static_cast<size_t>(headLen + tailLen) > head.Length()) {
    Napi::RangeError::New(env, "send(): headLen or tailLen out of range").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  const uint8_t* bodyData = nullptr;
  size_t bodyLen = 0;
  prepared_ = (flags & kSendPrepared) != 0;
  if (prepared_) {
    if (info.Length() > 2 && info[2].IsBuffer()) {
      Napi::Buffer<char> drop = info[2].As<Napi::Buffer<char>>();
      dropList_.assign(drop.Data(), drop.Length());
    } else {
      dropList_.clear();
    }
  }
  if (info.Length() > 1 && info[1].IsBuffer()) {
    Napi::Buffer<uint8_t> body = info[1].As<Napi::Buffer<uint8_t>>();
    bodyData = body.Data();
    bodyLen = body.Length();
  }
  if (closed_ || inflight_ || writeFailed_) return Napi::Number::New(env, kInvalidState);
  const int32_t v = ValidateHead(head.Data(), static_cast<size_t>(headLen), static_cast<uint32_t>(fields), (flags & kSendChunked) != 0);
  if (v != 0) return Napi::Number::New(env, v);
  if (!TakeTail(head.Data() + headLen, static_cast<size_t>(tailLen))) return Napi::Number::New(env, kInvalidTail);
  if (!parser_->Expect(static_cast<int32_t>(kind))) return Napi::Number::New(env, kInvalidState);

  inflight_ = true;
  gotBytes_ = false;
  reused_ = served_ > 0;
  bodyEnded_ = (flags & kSendStream) == 0;
  chunked_ = (flags & kSendChunked) != 0;
  headSeen_ = false;
  interim_ = false;
  keepAlive_ = false;
  keepAliveTimeout_ = -1;
  paused_ = false;
  needDrain_ = false;
  bodyTimeoutMs_ = static_cast<uint64_t>(bodyMs);
  if (!refd_) {
    uv_ref(reinterpret_cast<uv_handle_t*>(&tcp_));
    refd_ = true;
  }
  StopTimer();
  if (headersMs > 0) StartTimer(kTimerHeaders, static_cast<uint64_t>(headersMs));

  uv_buf_t bufs[2];
  bufs[0] = uv_buf_init(reinterpret_cast<char*>(head.Data()), static_cast<unsigned>(headLen));
  unsigned n = 1;
  if (bodyLen > 0) bufs[n++] = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(bodyData)), static_cast<unsigned>(bodyLen));
  Write(bufs, n);
  return Napi::Number::New(env, 0);
}

// The response tail of this request: kept while it is the same bytes as the last one (the usual
// case: every answer on a connection ends with the same Via), else checked and copied.
bool UpstreamConnection::TakeTail(const uint8_t* p, size_t n) {
  if (n == tail_.size() && (n == 0 || std::memcmp(p, tail_.data(), n) == 0)) return true;
  int32_t first = -1;
  if (n > kMaxResponseTail || !ValidateTail(p, n, &first)) return false;
  tail_.assign(reinterpret_cast<const char*>(p), n);
  tailFirst_ = first;
  return true;
}

Napi::Value UpstreamConnection::WriteBody(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBuffer()) {
    Napi::TypeError::New(env, "writeBody(chunk: Buffer)").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  if (closed_ || !inflight_ || bodyEnded_ || writeFailed_) return Napi::Number::New(env, -1);
  Napi::Buffer<uint8_t> chunk = info[0].As<Napi::Buffer<uint8_t>>();
  const size_t len = chunk.Length();
  if (len == 0) return Napi::Number::New(env, 1);
  char* data = reinterpret_cast<char*>(chunk.Data());
  if (chunked_) {
    char size[24];
    int sl = std::snprintf(size, sizeof(size), "%zx\r\n", len);
    static char crlf[] = "\r\n";
    uv_buf_t bufs[3] = {uv_buf_init(size, static_cast<unsigned>(sl)), uv_buf_init(data, static_cast<unsigned>(len)),
                        uv_buf_init(crlf, 2)};
    Write(bufs, 3);
  } else {
    uv_buf_t b = uv_buf_init(data, static_cast<unsigned>(len));
    Write(&b, 1);
  }
  if (closed_ || writeFailed_) return Napi::Number::New(env, -1);
  if (Queued() >= kHighWater) {
    needDrain_ = true;
    return Napi::Number::New(env, 0);
  }
  return Napi::Number::New(env, 1);
}

Napi::Value UpstreamConnection::EndBody(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_ || !inflight_ || bodyEnded_) return Napi::Number::New(env, -1);
  bodyEnded_ = true;
  if (chunked_) {
    static char last[] = "0\r\n\r\n";
    uv_buf_t b = uv_buf_init(last, 5);
    Write(&b, 1);
  }
  return Napi::Number::New(env, writeFailed_ ? -1 : 0);
}

Napi::Value UpstreamConnection::ReadStart(const Napi::CallbackInfo& info) {
  // Inside our own callback (its microtasks included) the pause has not been applied yet: this
  // cancels it.
  if (inCall_) resumeInCall_ = true;
  if (!closed_ && paused_) {
    paused_ = false;
    if (connected_) uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), OnAlloc, OnRead);
    if (inflight_ && headSeen_ && bodyTimeoutMs_ > 0) StartTimer(kTimerBody, bodyTimeoutMs_);
  }
  return info.Env().Undefined();
}

Napi::Value UpstreamConnection::Close(const Napi::CallbackInfo& info) {
  Shutdown();
  return info.Env().Undefined();
}

// ------------------------------------------------------------------------------- writing

size_t UpstreamConnection::Queued() const { return writeQueued_ + pendingOut_.size(); }

// Writes what the kernel takes now (uv_try_write: no copy, no request); the rest is copied and
// queued with uv_write. Before connect() it is kept in pendingOut_.
void UpstreamConnection::Write(const uv_buf_t* bufs, unsigned n) {
  if (closed_ || writeFailed_) return;
  size_t total = 0;
  for (unsigned i = 0; i < n; i++) total += bufs[i].len;
  if (!connectStarted_) {
    for (unsigned i = 0; i < n; i++) pendingOut_.append(bufs[i].base, bufs[i].len);
    return;
  }
  size_t skip = 0;
  if (connected_ && writeQueued_ == 0) {
    int r = uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), bufs, n);
    if (r >= 0) {
      skip = static_cast<size_t>(r);
    } else if (r != UV_EAGAIN) {
      // The read side reports the failure (EOF / reset, or the headers timeout).
      writeFailed_ = true;
      return;
    }
  }
  if (skip == total) return;
  const size_t rest = total - skip;
  WriteReq* w = static_cast<WriteReq*>(std::malloc(sizeof(WriteReq) + rest));
  if (w == nullptr) {
    writeFailed_ = true;
    return;
  }
  w->conn = this;
  w->len = rest;
  char* dst = w->data;
  for (unsigned i = 0; i < n; i++) {
    size_t len = bufs[i].len;
    const char* src = bufs[i].base;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    src += skip;
    len -= skip;
    skip = 0;
    std::memcpy(dst, src, len);
    dst += len;
  }
  uv_buf_t b = uv_buf_init(w->data, static_cast<unsigned>(rest));
  int r = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp_), &b, 1, OnWrite);
  if (r != 0) {
    std::free(w);
    writeFailed_ = true;
    return;
  }
  writeQueued_ += rest;
}

void UpstreamConnection::OnWrite(uv_write_t* req, int status) {
  WriteReq* w = reinterpret_cast<WriteReq*>(req);
  UpstreamConnection* c = w->conn;
  c->writeQueued_ -= w->len;
  std::free(w);
  if (c->closed_) return;
  if (status < 0) {
    c->writeFailed_ = true;
    return;
  }
  if (c->needDrain_ && c->Queued() <= kLowWater) {
    c->needDrain_ = false;
    c->Call(kEvDrain);
  }
}

// ------------------------------------------------------------------------------- connecting

void UpstreamConnection::OnConnect(uv_connect_t* req, int status) {
  UpstreamConnection* c = static_cast<UpstreamConnection*>(req->data);
  if (c->closed_) return;
  uv_timer_stop(&c->connectTimer_);
  if (status < 0) {
    c->Fail(kKindConnect, status);
    return;
  }
  c->connected_ = true;
  uv_tcp_nodelay(&c->tcp_, 1);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp_), OnAlloc, OnRead);
  c->Call(kEvConnected);
}

void UpstreamConnection::OnConnectTimer(uv_timer_t* t) {
  UpstreamConnection* c = static_cast<UpstreamConnection*>(t->data);
  if (c->closed_ || c->connected_) return;
  c->Fail(kKindConnect, kCodeConnectTimeout);
}

// ------------------------------------------------------------------------------- timers

// One deadline per connection (headers, body or idle) on one lazily armed uv timer: moving the
// deadline later touches no timer (the timer fires early, sees the deadline ahead and re-arms
// for the rest), so a request on a warm connection costs no timer-heap operation in the steady
// state (uv_timer_start/stop per request showed up at ~1% of a worker's CPU).
void UpstreamConnection::StartTimer(TimerMode mode, uint64_t ms) {
  timerMode_ = mode;
  const uint64_t now = uv_now(tcp_.loop);
  deadline_ = now + ms;
  if (!timerArmed_ || armedFor_ > deadline_) {
    uv_timer_start(&timer_, OnTimer, ms, 0);
    timerArmed_ = true;
    armedFor_ = deadline_;
  }
}

void UpstreamConnection::StopTimer() { timerMode_ = kTimerNone; }

void UpstreamConnection::OnTimer(uv_timer_t* t) {
  UpstreamConnection* c = static_cast<UpstreamConnection*>(t->data);
  c->timerArmed_ = false;
  if (c->closed_ || c->timerMode_ == kTimerNone) return;
  const uint64_t now = uv_now(c->tcp_.loop);
  if (now < c->deadline_) {
    uv_timer_start(&c->timer_, OnTimer, c->deadline_ - now, 0);
    c->timerArmed_ = true;
    c->armedFor_ = c->deadline_;
    return;
  }
  const TimerMode mode = c->timerMode_;
  c->timerMode_ = kTimerNone;
  switch (mode) {
    case kTimerHeaders:
      c->Fail(kKindTimeout, kCodeHeadersTimeout, false, !c->connected_);
      break;
    case kTimerBody:
      c->Fail(kKindTimeout, kCodeBodyTimeout);
      break;
    case kTimerIdle:
      c->Fail(kKindIdle, kCodeIdleTimeout);
      break;
    case kTimerNone:
      break;
  }
}

// ------------------------------------------------------------------------------- reading

void UpstreamConnection::OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  UpstreamConnection* c = static_cast<UpstreamConnection*>(h->data);
  // In a response body: read straight into a JS Buffer, whose bytes are then handed to onData as
  // a slice (no copy into staging, none out of it). One left over from a read that found nothing
  // is used again.
  if (c->inflight_ && c->headSeen_ && !c->closed_ && c->env_ != nullptr) {
    if (c->readRef_ == nullptr) {
      napi_handle_scope scope = nullptr;
      if (napi_open_handle_scope(c->env_, &scope) == napi_ok) {
        napi_value b = nullptr;
        void* data = nullptr;
        if (napi_create_buffer(c->env_, kReadSize, &data, &b) == napi_ok && data != nullptr &&
            napi_create_reference(c->env_, b, 1, &c->readRef_) == napi_ok) {
          c->readData_ = static_cast<uint8_t*>(data);
        } else {
          c->readRef_ = nullptr;
        }
        napi_close_handle_scope(c->env_, scope);
      }
    }
    if (c->readRef_ != nullptr) {
      *buf = uv_buf_init(reinterpret_cast<char*>(c->readData_), static_cast<unsigned>(kReadSize));
      return;
    }
  }
  // Otherwise one read buffer per environment: a read is handled completely (its bytes parsed,
  // what JS needs moved out) before the loop can start another.
  *buf = uv_buf_init(reinterpret_cast<char*>(c->shared_->readBuf), static_cast<unsigned>(kReadSize));
}

void UpstreamConnection::ReleaseReadBuffer() {
  readBufferFree_ = false;
  if (readRef_ == nullptr) return;
  if (env_ != nullptr) napi_delete_reference(env_, readRef_);
  readRef_ = nullptr;
  readData_ = nullptr;
}

void UpstreamConnection::OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  UpstreamConnection* c = static_cast<UpstreamConnection*>(s->data);
  if (nread == 0) return;  // nothing read: a JS read buffer is kept for the next read
  const bool inReadBuffer = c->readRef_ != nullptr && reinterpret_cast<uint8_t*>(buf->base) == c->readData_;
  if (c->closed_) {
    if (inReadBuffer) c->ReleaseReadBuffer();
    return;
  }
  if (nread > 0) {
    if (!c->inflight_) {
      if (inReadBuffer) c->ReleaseReadBuffer();
      c->Fail(kKindIdle, kCodeUnsolicited);
      return;
    }
    // A short read is copied like any other (to the slab or staging) and the JS Buffer kept for
    // the next read: handing out 64 KiB for a few KiB made the external memory, and with it V8's
    // full GCs, grow with the number of reads instead of the bytes.
    // Once the handler lets go of its chunks, a short read is handed over in the Buffer too: the
    // next read reuses it, so it is no waste, and JS copies nothing out of staging.
    const bool direct = inReadBuffer && (nread >= static_cast<ssize_t>(kDirectReadMin) || c->readBufferFree_);
    c->directRead_ = direct;
    c->readBufferFree_ = false;
    c->Feed(reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(nread));
    c->directRead_ = false;
    // JS holds the Buffer now if it kept a chunk of it: the next read gets a new one. When the
    // handler let go of it (kSReadBufferFree), the next read of this response goes into it again:
    // no 64 KiB of garbage per read, whose external memory drove V8 into full GCs (download-1m's
    // profile: over a third of the worker's CPU in marking and sweeping). Once the response is
    // over it goes: an idle connection holds none.
    if (direct && (!c->readBufferFree_ || !c->inflight_ || c->closed_)) c->ReleaseReadBuffer();
    return;
  }
  if (inReadBuffer) c->ReleaseReadBuffer();
  if (nread == UV_EOF) {
    c->OnEof();
    return;
  }
  if (!c->inflight_) {
    c->Fail(kKindIdle, static_cast<int32_t>(nread));
    return;
  }
  c->Fail(kKindReset, static_cast<int32_t>(nread), c->reused_ && !c->gotBytes_);
}

// Where the bytes of the next event go: a small read's into the slab (JS slices them, no copy;
// the slab region is never written again), a big one's into staging (JS copies them out, so a
// held body chunk never pins a slab).
void UpstreamConnection::BeginBatch(size_t n) {
  bDirect_ = false;
  bDirectLen_ = 0;
  bFlags_ = 0;
  bFields_ = 0;
  bLen_ = 0;
  bBodyStart_ = 0;
  bError_ = false;
  if (n <= kSlabRead && EnsureSlab()) {
    batch_ = shared_->slab + shared_->slabCursor;
    batchBase_ = static_cast<int32_t>(shared_->slabCursor);
  } else {
    batch_ = shared_->staging;
    batchBase_ = -1;
  }
}

// The batch's bytes were handed to JS: the slab moves past them.
void UpstreamConnection::EndBatch() {
  if (batchBase_ >= 0 && bLen_ > 0) shared_->slabCursor += (bLen_ + 7) & ~static_cast<size_t>(7);
  bLen_ = 0;
  if (batchBase_ >= 0) batch_ = shared_->slab + shared_->slabCursor;
}

// A slab with room for one more batch; a new one (the old one lives on in the Buffers JS holds).
bool UpstreamConnection::EnsureSlab() {
  Shared* sh = shared_;
  if (sh->slab != nullptr && sh->slabSize - sh->slabCursor >= kSlabBatch) return true;
  napi_handle_scope scope = nullptr;
  if (env_ == nullptr || napi_open_handle_scope(env_, &scope) != napi_ok) return false;
  napi_value ab = nullptr;
  void* data = nullptr;
  napi_ref ref = nullptr;
  bool ok = napi_create_arraybuffer(env_, kSlabSize, &data, &ab) == napi_ok && data != nullptr &&
            napi_create_reference(env_, ab, 1, &ref) == napi_ok;
  if (ok) {
    if (sh->slabRef != nullptr) napi_delete_reference(env_, sh->slabRef);
    sh->slabRef = ref;
    sh->slab = static_cast<uint8_t*>(data);
    sh->slabSize = kSlabSize;
    sh->slabCursor = 0;
    sh->slabChanged = true;
  }
  napi_close_handle_scope(env_, scope);
  return ok;
}

void UpstreamConnection::Feed(const uint8_t* data, size_t n) {
  gotBytes_ = true;
  BeginBatch(n);
  size_t off = 0;
  while (off < n) {
    const int32_t st = parser_->Execute(data + off, n - off);
    execOffset_ = off;
    if (!TakeEvents(data + off)) return;
    off += static_cast<size_t>(out_[1]);
    if (st == http1::kStatusError) {
      bError_ = true;
      bErrorCode_ = parser_->error();
      break;
    }
    if (st == http1::kStatusUpgraded) {
      bError_ = true;
      bErrorCode_ = kCodeUpgrade;
      break;
    }
  }
  // A complete response followed by bytes that break the stream: the response stands, the
  // connection goes (Flush sees bError_ and does not keep it).
  if (bError_ && (bFlags_ & kFComplete) == 0) {
    Fail(kKindProtocol, bErrorCode_);
    return;
  }
  Flush();
}

bool UpstreamConnection::TakeEvents(const uint8_t* data) {
  const int32_t count = out_[0];
  const int32_t* ev = out_ + http1::ResponseParser::kOutHeader;
  int32_t i = 0;
  while (i < count) {
    switch (ev[i]) {
      case http1::kEvBegin:
        i += 1;
        break;
      case http1::kEvHead: {
        const int32_t status = ev[i + 1];
        const int32_t flags = ev[i + 3];
        const int32_t clHi = ev[i + 4];
        const int32_t clLo = ev[i + 5];
        const int32_t kat = ev[i + 6];
        const int32_t fields = ev[i + 7];
        const int32_t blockStart = ev[i + 8];
        const int32_t blockLen = ev[i + 9];
        const int32_t reasonLen = ev[i + 10];
        i += 11;
        if ((flags & http1::kFlagInformational) != 0) {
          interim_ = true;
          // 100 Continue (never asked for: the gateway does not send Expect) is skipped.
          if (status == 100) break;
          // (Interim heads come before the final one: nothing else is in the batch yet.)
          bLen_ = 0;
          StageFields(store_ + blockStart, blockLen, reasonLen, fields);
          shared_->scratch[kSFlags] = kFHead;
          shared_->scratch[kSStatus] = status;
          shared_->scratch[kSFieldCount] = bFields_;
          shared_->scratch[kSTotal] = static_cast<int32_t>(bLen_);
          shared_->scratch[kSBase] = batchBase_;
          bFields_ = 0;
          Call(kEvInfo);
          EndBatch();
          if (closed_) return false;
          if (batchBase_ >= 0 && !EnsureSlab()) return false;
          if (batchBase_ >= 0) {
            batch_ = shared_->slab + shared_->slabCursor;
            batchBase_ = static_cast<int32_t>(shared_->slabCursor);
          }
          break;
        }
        if ((flags & http1::kFlagUpgrade) != 0) break;  // Feed fails it (kCodeUpgrade)
        headSeen_ = true;
        keepAlive_ = (flags & http1::kFlagKeepAlive) != 0;
        keepAliveTimeout_ = kat;
        bFlags_ |= kFHead;
        bStatus_ = status;
        clHi_ = clHi;
        clLo_ = clLo;
        if (prepared_) {
          bFlags_ |= kFPrepared;
          StagePrepared(store_ + blockStart, blockLen, reasonLen, fields);
        } else {
          StageFields(store_ + blockStart, blockLen, reasonLen, fields);
        }
        bBodyStart_ = bLen_;
        break;
      }
      case http1::kEvBody: {
        const int32_t off = ev[i + 1];
        const int32_t len = ev[i + 2];
        i += 3;
        if (directRead_ && bFlags_ == 0) {
          // The batch is this one run of body bytes in a JS read buffer: JS gets a slice of it.
          bFlags_ |= kFBody;
          bDirect_ = true;
          bBodyStart_ = execOffset_ + static_cast<size_t>(off);
          bDirectLen_ = static_cast<size_t>(len);
          break;
        }
        if (bDirect_) {
          // A second run (chunked framing in between): back to copying, the first run included.
          std::memcpy(batch_ + bLen_, readData_ + bBodyStart_, bDirectLen_);
          bBodyStart_ = bLen_;
          bLen_ += bDirectLen_;
          bDirect_ = false;
        }
        if ((bFlags_ & kFBody) == 0) {
          bFlags_ |= kFBody;
          bBodyStart_ = bLen_;
        }
        std::memcpy(batch_ + bLen_, data + off, static_cast<size_t>(len));
        bLen_ += static_cast<size_t>(len);
        break;
      }
      case http1::kEvTrailers:
        i += 4;  // trailers are not relayed (the contract has no place for them)
        break;
      case http1::kEvComplete:
        i += 1;
        if (interim_) {
          interim_ = false;
        } else if (headSeen_) {
          bFlags_ |= kFComplete;
        }
        break;
      case http1::kEvError:
        i += 4;
        break;
      default:
        i = count;
        break;
    }
  }
  return true;
}

// The head's block (reason \0 (name \0 value \0)*) goes to the batch without the reason, and the
// offsets of each name and value to scratch.
void UpstreamConnection::StageFields(const uint8_t* block, int32_t blockLen, int32_t reasonLen, int32_t count) {
  const uint8_t* p = block + reasonLen + 1;
  const size_t len = static_cast<size_t>(blockLen - reasonLen - 1);
  const size_t base = bLen_;
  std::memcpy(batch_ + base, p, len);
  int32_t* f = shared_->scratch + kSFields;
  size_t at = 0;
  for (int32_t k = 0; k < count; k++) {
    const uint8_t* nul = static_cast<const uint8_t*>(std::memchr(p + at, 0, len - at));
    const size_t nameEnd = static_cast<size_t>(nul - p);
    const uint8_t* nul2 = static_cast<const uint8_t*>(std::memchr(p + nameEnd + 1, 0, len - nameEnd - 1));
    const size_t valueEnd = static_cast<size_t>(nul2 - p);
    f[4 * k] = static_cast<int32_t>(base + at);
    f[4 * k + 1] = static_cast<int32_t>(base + nameEnd);
    f[4 * k + 2] = static_cast<int32_t>(base + nameEnd + 1);
    f[4 * k + 3] = static_cast<int32_t>(base + valueEnd);
    at = valueEnd + 1;
  }
  bFields_ = count;
  bLen_ = base + len;
}

namespace {

bool HopByHop(const uint8_t* n, size_t len) {
  switch (len) {
    case 2:
      return NameIs(n, len, "te");
    case 4:
      return NameIs(n, len, "date");  // uWS writes its own
    case 7:
      return NameIs(n, len, "trailer") || NameIs(n, len, "upgrade");
    case 10:
      return NameIs(n, len, "connection") || NameIs(n, len, "keep-alive");
    case 14:
      return NameIs(n, len, "content-length");
    case 17:
      return NameIs(n, len, "transfer-encoding");
    default:
      return len > 6 && NameIs(n, 6, "proxy-");
  }
}

bool EqualNoCase(const uint8_t* a, const uint8_t* b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint8_t x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<uint8_t>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<uint8_t>(y + 32);
    if (x != y) return false;
  }
  return true;
}

constexpr int kMaxConnectionTokens = 32;

}  // namespace

bool UpstreamConnection::Dropped(const uint8_t* name, size_t n, const uint8_t* const* tokens, const size_t* tokenLens,
                                 int nt) const {
  if (HopByHop(name, n)) return true;
  for (int t = 0; t < nt; t++) {
    if (tokenLens[t] == n && EqualNoCase(tokens[t], name, n)) return true;
  }
  const uint8_t* d = reinterpret_cast<const uint8_t*>(dropList_.data());
  const size_t dl = dropList_.size();
  size_t at = 0;
  while (at < dl) {
    const uint8_t* nul = static_cast<const uint8_t*>(std::memchr(d + at, 0, dl - at));
    const size_t len = nul == nullptr ? dl - at : static_cast<size_t>(nul - (d + at));
    if (len == n && EqualNoCase(d + at, name, n)) return true;
    at += len + 1;
  }
  return false;
}

// The final head as the proxy relays it, in the batch at bLen_ + kPreparedRoom (the room in front
// is for the status line JS writes there): "name: value" lines joined by CRLF (no CRLF after the
// last), without the hop-by-hop and framing headers, the names the upstream's
// Connection header lists and the request's drop list. The parser guarantees the bytes: names are
// tokens, values hold no CR, LF, NUL or other control but HTAB.
void UpstreamConnection::StagePrepared(const uint8_t* block, int32_t blockLen, int32_t reasonLen, int32_t count) {
  const uint8_t* p = block + reasonLen + 1;
  const size_t len = static_cast<size_t>(blockLen - reasonLen - 1);
  const uint8_t* tokens[kMaxConnectionTokens];
  size_t tokenLens[kMaxConnectionTokens];
  int nt = 0;
  size_t at = 0;
  for (int32_t k = 0; k < count; k++) {
    const uint8_t* name = p + at;
    const size_t nameLen = static_cast<size_t>(static_cast<const uint8_t*>(std::memchr(name, 0, len - at)) - name);
    const uint8_t* value = name + nameLen + 1;
    const size_t valueLen =
        static_cast<size_t>(static_cast<const uint8_t*>(std::memchr(value, 0, len - at - nameLen - 1)) - value);
    at += nameLen + valueLen + 2;
    if (!NameIs(name, nameLen, "connection")) continue;
    size_t i = 0;
    while (i <= valueLen) {
      size_t j = i;
      while (j < valueLen && value[j] != ',') j++;
      size_t a = i, b = j;
      while (a < b && (value[a] == ' ' || value[a] == '	')) a++;
      while (b > a && (value[b - 1] == ' ' || value[b - 1] == '	')) b--;
      if (b > a && !NameIs(value + a, b - a, "keep-alive") && !NameIs(value + a, b - a, "close") &&
          nt < kMaxConnectionTokens) {
        tokens[nt] = value + a;
        tokenLens[nt++] = b - a;
      }
      i = j + 1;
    }
  }
  uint8_t* out = batch_ + bLen_ + kPreparedRoom;
  size_t o = 0;
  int32_t first = -1;
  at = 0;
  for (int32_t k = 0; k < count; k++) {
    const uint8_t* name = p + at;
    const size_t nameLen = static_cast<size_t>(static_cast<const uint8_t*>(std::memchr(name, 0, len - at)) - name);
    const uint8_t* value = name + nameLen + 1;
    const size_t valueLen =
        static_cast<size_t>(static_cast<const uint8_t*>(std::memchr(value, 0, len - at - nameLen - 1)) - value);
    at += nameLen + valueLen + 2;
    if (Dropped(name, nameLen, tokens, tokenLens, nt)) continue;
    if (first >= 0) {
      out[o++] = '\r';
      out[o++] = '\n';
    } else {
      first = static_cast<int32_t>(nameLen);
    }
    std::memcpy(out + o, name, nameLen);
    o += nameLen;
    out[o++] = ':';
    out[o++] = ' ';
    std::memcpy(out + o, value, valueLen);
    o += valueLen;
  }
  if (!tail_.empty()) {
    if (first >= 0) {
      out[o++] = '\r';
      out[o++] = '\n';
    } else {
      first = tailFirst_;
    }
    std::memcpy(out + o, tail_.data(), tail_.size());
    o += tail_.size();
  }
  firstLen_ = first;
  preparedLen_ = static_cast<int32_t>(o);
  bFields_ = 0;
  bLen_ += kPreparedRoom + o;
}

// Hands the batch of one read to JS in one callback.
void UpstreamConnection::Flush() {
  if (bFlags_ == 0) return;  // part of a head, or only interim heads
  const bool complete = (bFlags_ & kFComplete) != 0;
  int32_t flags = bFlags_;
  if (complete) {
    inflight_ = false;
    served_++;
    StopTimer();
    bool reusable = keepAlive_ && bodyEnded_ && !bError_ && !writeFailed_;
    uint64_t idle = idleMs_;
    if (reusable && keepAliveTimeout_ >= 0) {
      // Retire it a second before the upstream's Keep-Alive: timeout=N runs out (as undici).
      const int64_t hint = static_cast<int64_t>(keepAliveTimeout_) * 1000 - 1000;
      if (hint < 1000) {
        reusable = false;
      } else if (idle == 0 || static_cast<uint64_t>(hint) < idle) {
        idle = static_cast<uint64_t>(hint);
      }
    }
    if (reusable) {
      flags |= kFReusable;
      if (refd_) {
        uv_unref(reinterpret_cast<uv_handle_t*>(&tcp_));
        refd_ = false;
      }
      if (idle > 0) StartTimer(kTimerIdle, idle);
    } else {
      Shutdown();
    }
  } else if (bodyTimeoutMs_ > 0) {
    StartTimer(kTimerBody, bodyTimeoutMs_);
  } else if ((bFlags_ & kFHead) != 0) {
    StopTimer();
  }
  int32_t* s = shared_->scratch;
  s[kSFlags] = flags;
  s[kSStatus] = bStatus_;
  s[kSFieldCount] = (bFlags_ & kFHead) != 0 ? bFields_ : 0;
  s[kSTotal] = static_cast<int32_t>(bLen_);
  s[kSBodyStart] = static_cast<int32_t>(bBodyStart_);
  s[kSBodyLength] = static_cast<int32_t>(bDirect_ ? bDirectLen_ : bLen_ - bBodyStart_);
  s[kSBase] = bDirect_ ? kBaseReadBuffer : batchBase_;
  s[kSReadBufferFree] = 0;
  if ((bFlags_ & kFHead) != 0) {
    s[kSClHi] = clHi_;
    s[kSClLo] = clLo_;
    s[kSFirstLength] = firstLen_;
    s[kSPreparedLength] = preparedLen_;
  }
  resumeInCall_ = false;
  inCall_ = true;
  const bool direct = bDirect_;
  const bool go = Call(kEvResponse);
  inCall_ = false;
  if (direct) readBufferFree_ = shared_->scratch[kSReadBufferFree] == 1;
  EndBatch();
  if (!go && !resumeInCall_ && !complete && !closed_ && inflight_) {
    paused_ = true;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    if (timerMode_ == kTimerBody) StopTimer();
  }
}

void UpstreamConnection::OnEof() {
  if (!inflight_) {
    Fail(kKindIdle, UV_EOF);
    return;
  }
  BeginBatch(0);
  const int32_t st = parser_->Finish();
  if (!TakeEvents(nullptr)) return;
  if (st == http1::kStatusError) {
    const int32_t code = parser_->error();
    if (code == http1::kErrNoResponse) {
      Fail(kKindReset, kCodeClosedBeforeResponse, reused_ && !gotBytes_);
    } else if (code == http1::kErrUnexpectedEof) {
      Fail(kKindReset, kCodeClosedMidResponse);
    } else {
      Fail(kKindProtocol, code);
    }
    return;
  }
  if ((bFlags_ & kFComplete) != 0) {
    keepAlive_ = false;
    Flush();
    return;
  }
  Fail(kKindReset, kCodeClosedMidResponse);
}

// ------------------------------------------------------------------------------- ends

void UpstreamConnection::Fail(int32_t kind, int32_t code, bool reused, bool waited) {
  if (closed_) return;
  Shutdown();
  int32_t* s = shared_->scratch;
  s[kSErrKind] = kind;
  s[kSErrCode] = code;
  s[kSReused] = reused ? 1 : 0;
  s[kSWaited] = waited ? 1 : 0;
  Call(kEvError);
}

void UpstreamConnection::Shutdown() {
  if (closed_) return;
  closed_ = true;
  ReleaseReadBuffer();
  inflight_ = false;
  napi_remove_env_cleanup_hook(env_, OnEnvCleanup, this);
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), OnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), OnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&connectTimer_), OnHandleClosed);
}

void UpstreamConnection::OnHandleClosed(uv_handle_t* h) {
  UpstreamConnection* c = static_cast<UpstreamConnection*>(h->data);
  if (--c->openHandles_ > 0) return;
  if (c->env_ == nullptr) return;  // the environment is gone
  napi_handle_scope scope = nullptr;
  napi_open_handle_scope(c->env_, &scope);
  if (c->async_ != nullptr) napi_async_destroy(c->env_, c->async_);
  c->async_ = nullptr;
  if (c->owner_ != nullptr) napi_delete_reference(c->env_, c->owner_);
  if (c->callback_ != nullptr) napi_delete_reference(c->env_, c->callback_);
  c->owner_ = nullptr;
  c->callback_ = nullptr;
  if (scope != nullptr) napi_close_handle_scope(c->env_, scope);
  c->Unref();
}

void UpstreamConnection::OnEnvCleanup(void* arg) {
  // The environment is being torn down (a worker thread ends, the process exits): close the
  // handles, touch no JS.
  UpstreamConnection* c = static_cast<UpstreamConnection*>(arg);
  if (c->closed_) return;
  c->closed_ = true;
  c->env_ = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp_), OnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->timer_), OnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->connectTimer_), OnHandleClosed);
}

// One event into JS: a handle scope, and napi_make_callback with this connection's async context
// so that nextTick and microtasks run when it returns. Returns the callback's verdict (false =
// pause); an exception thrown by it goes to process 'uncaughtException' as Node's own would.
bool UpstreamConnection::Call(int32_t event) {
  napi_env env = env_;
  if (env == nullptr || callback_ == nullptr) return true;
  napi_handle_scope scope = nullptr;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return true;
  napi_value recv = nullptr, fn = nullptr, arg = nullptr, result = nullptr;
  bool go = true;
  napi_value args[3] = {nullptr, nullptr, nullptr};
  size_t argc = 1;
  if (napi_get_reference_value(env, owner_, &recv) == napi_ok && napi_get_reference_value(env, callback_, &fn) == napi_ok &&
      napi_create_int32(env, event, &arg) == napi_ok) {
    args[0] = arg;
    // A new slab goes to JS with the first event after it was made (JS keeps one per environment).
    if (shared_->slabChanged && napi_get_reference_value(env, shared_->slabRef, &args[1]) == napi_ok) {
      shared_->slabChanged = false;
      argc = 2;
    }
    // A body read into a JS Buffer: the Buffer itself.
    if (event == kEvResponse && bDirect_ && readRef_ != nullptr &&
        napi_get_reference_value(env, readRef_, &args[2]) == napi_ok) {
      if (argc < 2) napi_get_undefined(env, &args[1]);
      argc = 3;
    }
    napi_status st = napi_make_callback(env, async_, recv, fn, argc, args, &result);
    if (st == napi_ok) {
      napi_valuetype t = napi_undefined;
      if (result != nullptr && napi_typeof(env, result, &t) == napi_ok && t == napi_boolean) {
        bool v = true;
        napi_get_value_bool(env, result, &v);
        go = v;
      }
    } else {
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) {
        napi_value exc = nullptr;
        napi_get_and_clear_last_exception(env, &exc);
        napi_fatal_exception(env, exc);
      }
    }
  }
  napi_close_handle_scope(env, scope);
  return go;
}

void InitUpstream(Napi::Env env, Napi::Object exports) { UpstreamConnection::Init(env, exports); }

}  // namespace upstream
}  // namespace gateway
