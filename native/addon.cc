// gateway_native: the gateway's own addon. This file only registers the classes; each lives in
// its own translation unit (router.cc, token_bucket.cc + shm.cc, uws_head.cc, uws_quiet.cc, shared_state.cc, api_key_digests.cc,
// http_response_parser.cc + http_response_parser_napi.cc, upstream_connection.cc).
#include <napi.h>

#include "http_response_parser_napi.h"
#include "router.h"
#include "token_bucket.h"

namespace gateway {
void InitUwsHead(napi_env env, napi_value exports);
void InitUwsQuiet(napi_env env, napi_value exports);
void InitSharedState(napi_env env, napi_value exports);
void InitApiKeyDigests(Napi::Env env, Napi::Object exports);
namespace upstream {
void InitUpstream(Napi::Env env, Napi::Object exports);
}
}

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  gateway::Router::Init(env, exports);
  gateway::TokenBuckets::Init(env, exports);
  gateway::InitUwsHead(env, exports);
  gateway::InitUwsQuiet(env, exports);
  gateway::InitSharedState(env, exports);
  gateway::InitApiKeyDigests(env, exports);
  gateway::ResponseParserWrap::Init(env, exports);
  gateway::upstream::InitUpstream(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(gateway_native, Init)
