// N-API binding of the HTTP/1.1 response parser (http_response_parser.h). Wrapped by
// src/native/http-response-parser.ts, not meant to be used directly:
//   new ResponseParser(maxHeadSize, maxHeaders, maxChunkExtensionSize)   RangeError when invalid
//   p.output: ArrayBuffer        Int32: ResponseParser's output area (events, consumed, error)
//   p.store: ArrayBuffer         the head / trailer block store
//   p.execute(u8, offset, length): number   a Status; own property (no napi_unwrap per call)
//   p.finish(): number           a Status
//   p.expect(kind): boolean      false when kMaxPending requests are outstanding
//   p.pending(): number          outstanding requests
//   p.reset()
// Only integers and buffers cross the boundary; every napi_status is checked.
#ifndef GATEWAY_NATIVE_HTTP_RESPONSE_PARSER_NAPI_H_
#define GATEWAY_NATIVE_HTTP_RESPONSE_PARSER_NAPI_H_

#include <napi.h>

#include <memory>

#include "http_response_parser.h"

namespace gateway {

class ResponseParserWrap : public Napi::ObjectWrap<ResponseParserWrap> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports);
  explicit ResponseParserWrap(const Napi::CallbackInfo& info);

 private:
  static napi_value ExecuteCallback(napi_env env, napi_callback_info info);
  napi_value DoExecute(napi_env env, size_t argc, napi_value* argv);
  Napi::Value Finish(const Napi::CallbackInfo& info);
  Napi::Value Expect(const Napi::CallbackInfo& info);
  Napi::Value PendingCount(const Napi::CallbackInfo& info);
  Napi::Value Reset(const Napi::CallbackInfo& info);
  Napi::Value GetOutput(const Napi::CallbackInfo& info);
  Napi::Value GetStore(const Napi::CallbackInfo& info);

  std::unique_ptr<http1::ResponseParser> parser_;
  Napi::Reference<Napi::ArrayBuffer> output_;
  Napi::Reference<Napi::ArrayBuffer> store_;
};

}  // namespace gateway

#endif  // GATEWAY_NATIVE_HTTP_RESPONSE_PARSER_NAPI_H_
