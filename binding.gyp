{
  "targets": [
    {
      # The gateway's own addon: radix-tree router, shared-memory token buckets and endpoint state,
      # the uWS head inspector, the HTTP/1.1 response parser, the native upstream engine's connection,
      # the API-key digest table.
      "target_name": "gateway_native",
      "sources": ["native/addon.cc", "native/router.cc", "native/token_bucket.cc", "native/shm.cc", "native/uws_head.cc", "native/uws_quiet.cc",
                  "native/shared_state.cc", "native/http_response_parser.cc", "native/http_response_parser_napi.cc",
                  "native/upstream_connection.cc", "native/api_key_digests.cc"],
      "include_dirs": ["<!@(node -p \"require('node-addon-api').include\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti"]
    },
    {
      # glibc < 2.38 compatibility for the prebuilt uWebSockets.js binary (see native/compat/README.md).
      # A self-registering N-API module: a plain shared library is unloaded again by process.dlopen.
      "target_name": "uws_glibc_compat",
      "sources": ["native/compat/isoc23_shim.c"],
      "cflags": ["-O2"]
    }
  ]
}
