// Shared memory for state every worker of the machine reads and writes with atomics: per
// upstream target, the machine-wide in-flight count (least-connections), the active health the
// primary's probes found, and the passive ejection deadline. The layout is JS's business
// (src/native/shared-state.ts); this file only creates, opens and unlinks the POSIX shm segment
// (native/shm.h, mode 0600) and hands it to JS as a SharedArrayBuffer, so JS reads and writes it
// with Atomics (lock-prefixed instructions on the same physical memory in every process) and no
// call crosses into C++ on the request path.
//
// JS surface:
//   createSharedState(name: string, bytes: number): SharedArrayBuffer   primary: O_CREAT|O_EXCL
//   openSharedState(name: string): SharedArrayBuffer                    workers
//   unlinkSharedState(name: string): boolean
//   monotonicMs(): number    CLOCK_MONOTONIC in ms: the same clock in every process of the machine
//
// Mappings are never unmapped: a SharedArrayBuffer over them may live as long as the process, so
// its backing store's deleter does nothing (a process maps one or two segments in its life).
// N-API has no SharedArrayBuffer over external memory, so this goes through V8 (as uws_head.cc).
#include <node_api.h>
#include <v8.h>

#include <cstring>
#include <ctime>
#include <memory>
#include <string>

#include "shm.h"

namespace gateway {
namespace {

bool GetString(napi_env env, napi_value v, std::string* out) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok) return false;
  out->resize(len + 1);
  if (napi_get_value_string_utf8(env, v, out->data(), len + 1, &len) != napi_ok) return false;
  out->resize(len);
  return true;
}

napi_value FromV8(v8::Local<v8::Value> v) {
  napi_value out;
  static_assert(sizeof(out) == sizeof(v), "napi_value is a v8::Local");
  std::memcpy(&out, &v, sizeof(out));
  return out;
}

void NoDelete(void*, size_t, void*) {}

// Hands the mapping to JS; the segment object is leaked on purpose (see the header comment).
napi_value AsSharedArrayBuffer(napi_env env, ShmSegment* seg) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  std::unique_ptr<v8::BackingStore> store = v8::SharedArrayBuffer::NewBackingStore(seg->data(), seg->size(), NoDelete, nullptr);
  v8::Local<v8::SharedArrayBuffer> sab = v8::SharedArrayBuffer::New(isolate, std::move(store));
  (void) env;
  return FromV8(sab);
}

napi_value Create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  std::string name;
  int64_t bytes = 0;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 2 || !GetString(env, argv[0], &name) ||
      napi_get_value_int64(env, argv[1], &bytes) != napi_ok || bytes <= 0 || bytes > (int64_t{1} << 32)) {
    napi_throw_type_error(env, nullptr, "createSharedState(name, bytes)");
    return nullptr;
  }
  if (!ShmSegment::ValidName(name)) {
    napi_throw_type_error(env, nullptr, "createSharedState: the name must be /[A-Za-z0-9._-]+");
    return nullptr;
  }
  auto* seg = new ShmSegment();
  std::string error;
  if (!seg->Create(name, static_cast<size_t>(bytes), &error)) {
    delete seg;
    napi_throw_error(env, nullptr, error.c_str());
    return nullptr;
  }
  std::memset(seg->data(), 0, seg->size());
  return AsSharedArrayBuffer(env, seg);
}

napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  std::string name;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1 || !GetString(env, argv[0], &name) ||
      !ShmSegment::ValidName(name)) {
    napi_throw_type_error(env, nullptr, "openSharedState(name)");
    return nullptr;
  }
  auto* seg = new ShmSegment();
  std::string error;
  if (!seg->Open(name, &error)) {
    delete seg;
    napi_throw_error(env, nullptr, error.c_str());
    return nullptr;
  }
  return AsSharedArrayBuffer(env, seg);
}

napi_value Unlink(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  std::string name;
  napi_value result;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1 || !GetString(env, argv[0], &name) ||
      !ShmSegment::ValidName(name)) {
    napi_throw_type_error(env, nullptr, "unlinkSharedState(name)");
    return nullptr;
  }
  std::string error;
  const bool ok = ShmSegment::Unlink(name, &error);
  if (napi_get_boolean(env, ok, &result) != napi_ok) return nullptr;
  return result;
}

napi_value MonotonicMs(napi_env env, napi_callback_info) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  napi_value result;
  if (napi_create_double(env, static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6, &result) != napi_ok) return nullptr;
  return result;
}

void Define(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value fn;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn) != napi_ok) return;
  napi_set_named_property(env, exports, name, fn);
}

}  // namespace

void InitSharedState(napi_env env, napi_value exports) {
  Define(env, exports, "createSharedState", Create);
  Define(env, exports, "openSharedState", Open);
  Define(env, exports, "unlinkSharedState", Unlink);
  Define(env, exports, "monotonicMs", MonotonicMs);
}

}  // namespace gateway
