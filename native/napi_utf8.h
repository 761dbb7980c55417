// A JS string's UTF-8 bytes without an allocation for the usual short one: read into the
// caller's stack buffer, and only when the output may have been cut short (napi stops at a
// character boundary, so "nearly full" means "maybe more") read whole into `heap`.
#ifndef GATEWAY_NATIVE_NAPI_UTF8_H_
#define GATEWAY_NATIVE_NAPI_UTF8_H_

#include <node_api.h>

#include <cstddef>
#include <string>

namespace gateway {

// False when `value` is not a string (nothing is thrown). *bytes points into `stack` or `heap`.
inline bool ReadUtf8(napi_env env, napi_value value, char* stack, size_t stackSize, std::string* heap,
                     const char** bytes, size_t* len) {
  if (napi_get_value_string_utf8(env, value, stack, stackSize, len) != napi_ok) return false;
  *bytes = stack;
  if (*len >= stackSize - 4) {
    size_t full = 0;
    napi_get_value_string_utf8(env, value, nullptr, 0, &full);
    heap->resize(full + 1);
    napi_get_value_string_utf8(env, value, &(*heap)[0], full + 1, len);
    *bytes = heap->data();
  }
  return true;
}

}  // namespace gateway

#endif  // GATEWAY_NATIVE_NAPI_UTF8_H_
