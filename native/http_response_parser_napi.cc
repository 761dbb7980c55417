// N-API binding of the response parser; see http_response_parser_napi.h. Built with
// -fno-exceptions and NAPI_DISABLE_CPP_EXCEPTIONS: every failure becomes a pending JS exception.
#include "http_response_parser_napi.h"

#include <cstdint>
#include <cstring>

namespace gateway {

namespace {

bool Pending(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  return pending;
}

void ThrowRange(napi_env env, const char* msg) {
  if (!Pending(env)) napi_throw_range_error(env, nullptr, msg);
}

void ThrowType(napi_env env, const char* msg) {
  if (!Pending(env)) napi_throw_type_error(env, nullptr, msg);
}

// An integer argument in [lo, hi]; false (with a pending exception) otherwise.
bool IntArg(napi_env env, napi_value v, int64_t lo, int64_t hi, int64_t* out, const char* msg) {
  napi_valuetype t = napi_undefined;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) {
    ThrowType(env, msg);
    return false;
  }
  double d = 0;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= static_cast<double>(lo)) ||
      !(d <= static_cast<double>(hi)) || d != static_cast<double>(static_cast<int64_t>(d))) {
    ThrowRange(env, msg);
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

napi_value Int(napi_env env, int32_t v) {
  napi_value r = nullptr;
  if (napi_create_int32(env, v, &r) != napi_ok) return nullptr;
  return r;
}

}  // namespace

Napi::Object ResponseParserWrap::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "ResponseParser",
                                    {
                                        InstanceMethod<&ResponseParserWrap::Finish>("finish"),
                                        InstanceMethod<&ResponseParserWrap::Expect>("expect"),
                                        InstanceMethod<&ResponseParserWrap::PendingCount>("pending"),
                                        InstanceMethod<&ResponseParserWrap::Reset>("reset"),
                                        InstanceAccessor<&ResponseParserWrap::GetOutput>("output"),
                                        InstanceAccessor<&ResponseParserWrap::GetStore>("store"),
                                    });
  if (env.IsExceptionPending()) return exports;
  exports.Set("ResponseParser", ctor);
  return exports;
}

ResponseParserWrap::ResponseParserWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ResponseParserWrap>(info) {
  napi_env env = info.Env();
  const char* usage =
      "new ResponseParser(maxHeadSize, maxHeaders, maxChunkExtensionSize): integers in [16, 16 MiB], [0, 65535], "
      "[0, 1 MiB]";
  if (info.Length() < 3) {
    ThrowType(env, usage);
    return;
  }
  int64_t head = 0, headers = 0, ext = 0;
  if (!IntArg(env, info[0], http1::ResponseParser::kMinHeadSize, http1::ResponseParser::kMaxHeadSize, &head, usage) ||
      !IntArg(env, info[1], 0, http1::ResponseParser::kMaxHeaders, &headers, usage) ||
      !IntArg(env, info[2], 0, http1::ResponseParser::kMaxChunkExtensionSize, &ext, usage)) {
    return;
  }
  http1::Limits limits;
  limits.maxHeadSize = static_cast<uint32_t>(head);
  limits.maxHeaders = static_cast<uint32_t>(headers);
  limits.maxChunkExtensionSize = static_cast<uint32_t>(ext);
  if (!http1::ResponseParser::ValidLimits(limits)) {
    ThrowRange(env, usage);
    return;
  }

  napi_value out = nullptr, store = nullptr;
  void* outData = nullptr;
  void* storeData = nullptr;
  if (napi_create_arraybuffer(env, http1::ResponseParser::kOutInts * sizeof(int32_t), &outData, &out) != napi_ok ||
      napi_create_arraybuffer(env, http1::ResponseParser::StoreSize(limits), &storeData, &store) != napi_ok ||
      outData == nullptr || storeData == nullptr) {
    if (!Pending(env)) napi_throw_error(env, nullptr, "could not allocate the parser's buffers");
    return;
  }
  output_ = Napi::Persistent(Napi::ArrayBuffer(env, out));
  store_ = Napi::Persistent(Napi::ArrayBuffer(env, store));
  parser_.reset(new http1::ResponseParser(limits, static_cast<int32_t*>(outData), static_cast<uint8_t*>(storeData)));

  // `execute` is an own property whose data pointer is this object (no napi_unwrap per call);
  // the function holds the wrapper through a read-only property, so this object outlives it.
  napi_value self = info.This();
  napi_value fn = nullptr;
  napi_property_descriptor owner = {"parser", nullptr, nullptr, nullptr, nullptr, self, napi_default, nullptr};
  if (napi_create_function(env, "execute", NAPI_AUTO_LENGTH, ExecuteCallback, this, &fn) != napi_ok ||
      napi_define_properties(env, fn, 1, &owner) != napi_ok) {
    ThrowType(env, "could not create execute()");
    return;
  }
  napi_property_descriptor exec = {"execute", nullptr, nullptr, nullptr, nullptr, fn, napi_enumerable, nullptr};
  if (napi_define_properties(env, self, 1, &exec) != napi_ok) ThrowType(env, "could not create execute()");
}

napi_value ResponseParserWrap::ExecuteCallback(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3] = {nullptr, nullptr, nullptr};
  void* data = nullptr;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, &data) != napi_ok || data == nullptr) return nullptr;
  return static_cast<ResponseParserWrap*>(data)->DoExecute(env, argc, argv);
}

napi_value ResponseParserWrap::DoExecute(napi_env env, size_t argc, napi_value* argv) {
  const char* usage = "execute(data: Uint8Array, offset, length): a slice of data, at most 2^31-1 bytes";
  if (parser_ == nullptr) {
    ThrowType(env, "parser not constructed");
    return nullptr;
  }
  if (argc < 3) {
    ThrowType(env, usage);
    return nullptr;
  }
  bool isTyped = false;
  if (napi_is_typedarray(env, argv[0], &isTyped) != napi_ok || !isTyped) {
    ThrowType(env, usage);
    return nullptr;
  }
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* base = nullptr;
  if (napi_get_typedarray_info(env, argv[0], &type, &length, &base, nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array) {
    ThrowType(env, usage);
    return nullptr;
  }
  int64_t off = 0, len = 0;
  if (!IntArg(env, argv[1], 0, static_cast<int64_t>(length), &off, usage) ||
      !IntArg(env, argv[2], 0, static_cast<int64_t>(length) - off, &len, usage)) {
    return nullptr;
  }
  if (len > INT32_MAX) {
    ThrowRange(env, usage);
    return nullptr;
  }
  const uint8_t* bytes = len == 0 ? nullptr : static_cast<const uint8_t*>(base) + off;
  static const uint8_t kEmpty = 0;
  return Int(env, parser_->Execute(bytes != nullptr ? bytes : &kEmpty, static_cast<size_t>(len)));
}

Napi::Value ResponseParserWrap::Finish(const Napi::CallbackInfo& info) {
  if (parser_ == nullptr) return info.Env().Undefined();
  return Napi::Value(info.Env(), Int(info.Env(), parser_->Finish()));
}

Napi::Value ResponseParserWrap::Expect(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  int64_t kind = 0;
  if (parser_ == nullptr || info.Length() < 1 ||
      !IntArg(env, info[0], http1::kRequestOther, http1::kRequestConnect, &kind, "expect(kind): 0, 1 or 2")) {
    if (!Pending(env)) ThrowType(env, "expect(kind): 0, 1 or 2");
    return Napi::Value();
  }
  return Napi::Boolean::New(env, parser_->Expect(static_cast<int32_t>(kind)));
}

Napi::Value ResponseParserWrap::PendingCount(const Napi::CallbackInfo& info) {
  if (parser_ == nullptr) return info.Env().Undefined();
  return Napi::Value(info.Env(), Int(info.Env(), static_cast<int32_t>(parser_->pending())));
}

Napi::Value ResponseParserWrap::Reset(const Napi::CallbackInfo& info) {
  if (parser_ != nullptr) parser_->Reset();
  return info.Env().Undefined();
}

Napi::Value ResponseParserWrap::GetOutput(const Napi::CallbackInfo& info) {
  if (output_.IsEmpty()) return info.Env().Undefined();
  return output_.Value();
}

Napi::Value ResponseParserWrap::GetStore(const Napi::CallbackInfo& info) {
  if (store_.IsEmpty()) return info.Env().Undefined();
  return store_.Value();
}

}  // namespace gateway
