// quietStderr(on): while on, this process's fd 2 writes to /dev/null.
//
// For one call into uWebSockets.js 20.57.0 that must be made outside cork() and that then writes a
// warning line to std::cerr every time: res.upgrade() of an asynchronous WebSocket upgrade. Made
// inside res.cork(), as uWS would have it, the upgrade can close the new WebSocket right after its
// 101 (uWS's HttpResponse::cork mistakes a socket reallocated in place for the response it was;
// src/worker/actions/websocket.ts has the whole story), so the gateway upgrades uncorked, and that
// line would land in the worker's JSON log once per upgrade. uWS.js links its own libstdc++
// statically, so its std::cerr cannot be reached from here; its fd can.
//
// The window is one synchronous JS call on the main thread; nothing else of the gateway writes to
// stderr meanwhile (its log is written by this thread; worker threads' stderr is relayed through
// it). The original stderr is duplicated once and kept for the process's life, so each toggle is
// one dup2().
//
// JS: quietStderr(on: boolean): number   0, or the errno of a failed dup/dup2/open (stderr left as it was)
#include <node_api.h>

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace gateway {
namespace {

int savedStderr = -1;
int devNull = -1;

napi_value QuietStderr(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  bool on = false;
  if (argc < 1 || napi_get_value_bool(env, argv[0], &on) != napi_ok) {
    napi_throw_type_error(env, nullptr, "quietStderr(on: boolean)");
    return nullptr;
  }
  int err = 0;
  if (on) {
    if (devNull < 0) devNull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (savedStderr < 0 && devNull >= 0) savedStderr = fcntl(2, F_DUPFD_CLOEXEC, 3);
    if (devNull < 0 || savedStderr < 0 || dup2(devNull, 2) < 0) err = errno;
  } else if (savedStderr >= 0) {
    while (dup2(savedStderr, 2) < 0) {
      if (errno != EINTR) {
        err = errno;
        break;
      }
    }
  }
  napi_value result;
  napi_create_int32(env, err, &result);
  return result;
}

}  // namespace

void InitUwsQuiet(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "quietStderr", NAPI_AUTO_LENGTH, QuietStderr, nullptr, &fn);
  napi_set_named_property(env, exports, "quietStderr", fn);
}

}  // namespace gateway
