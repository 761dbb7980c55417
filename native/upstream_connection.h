// The native upstream engine's connection: one HTTP/1.1 client connection to an upstream, on the
// worker's own libuv loop (napi_get_uv_event_loop), with the strict response parser
// (http_response_parser.h) used directly. The pool, the FIFO of waiting requests, DNS and the
// mapping to the gateway's upstream contract are in JS (src/upstream/native.ts); this file owns
// the socket, the timers, the request bytes and the response bytes.
//
// Everything runs on the thread of the JS environment that created the connection: there are
// no locks and no threads. Every call from libuv into JS goes through napi_make_callback with
// the connection's async context (napi_async_init), inside its own handle scope, so that
// process.nextTick and the microtask queue drain after each callback (the gateway's backpressure
// code relies on queueMicrotask). A JS method never calls back into JS synchronously: every
// event arrives from a libuv callback.
//
// JS API (see src/upstream/native.ts, which is the only user):
//   upstreamInit(): { scratch: ArrayBuffer, staging: ArrayBuffer }
//     per environment, shared by all its connections: an event's numbers are in `scratch`
//     (Int32, layout kS* below, valid during the callback only), its bytes in `staging` (valid
//     during the callback only: JS copies them) or, for small reads, in the current slab
//     (kSBase >= 0: JS slices them; a slab region is never written again).
//   new UpstreamConnection(owner: object, onEvent: function, idleMs: number)
//     onEvent.call(owner, event[, slab: ArrayBuffer | undefined[, readBuffer: Buffer]]) on every
//     event (kEv*), with the slab when it is a new one and, for a body read straight into a JS
//     Buffer (kSBase == kBaseReadBuffer), that Buffer; its return value matters for
//     kEvResponse and kEvInfo: false pauses reading (resume with readStart()).
//   c.connect(ip: string, port: number, connectTimeoutMs: number): number   0 or a libuv errno
//   c.send(head: Buffer, body: Buffer | null, dropList: Buffer | null): number, with headLen,
//          fieldCount, requestKind, flags, headersTimeoutMs, bodyTimeoutMs in the scratch (kSSend*)
//     head[0, headLen) is the request head (request line, fieldCount field lines, empty line),
//     checked here in one pass (kInvalid* when refused: nothing is sent); body is written after
//     it in the same write; flags kSendStream: a body follows through writeBody()/endBody(),
//     kSendChunked: with chunked framing; kSendPrepared: deliver the final head as one filtered,
//     serialized block (dropList: "name\0name\0..." lower-case names to remove as well), and
//     head[headLen, headLen + tailLen) (kSSendTailLen, kSendPrepared only) the lines that block
//     ends with ("name: value" joined by CRLF, checked here too; at most kMaxResponseTail bytes).
//     0 = sent (or queued).
//   c.writeBody(chunk: Buffer): number   1 = go on, 0 = wait for kEvDrain, < 0 = the connection
//     cannot take it (failed or closed: stop; the failure arrives as an event)
//   c.endBody(): number
//   c.readStart()                         after a callback returned false
//   c.close()                             closes now; no event after it
#ifndef GATEWAY_NATIVE_UPSTREAM_CONNECTION_H_
#define GATEWAY_NATIVE_UPSTREAM_CONNECTION_H_

#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <string>

#include "http_response_parser.h"

namespace gateway {
namespace upstream {

// Events (the argument of onEvent). Keep in sync with src/upstream/native.ts.
enum Event : int32_t {
  kEvConnected = 1,
  kEvResponse = 2,  // a batch: [head] [body bytes] [complete], flags in kSFlags
  kEvInfo = 3,      // an interim head (1xx other than 100 and 101)
  kEvError = 4,     // the connection is closed (by the engine); kSErrKind / kSErrCode say why
  kEvDrain = 5,     // request-body writes went below the low-water mark
};

// Scratch slots (Int32).
enum Slot : int32_t {
  kSFlags = 0,
  kSStatus = 1,
  kSFieldCount = 2,
  kSTotal = 3,      // bytes of staging used by this event
  kSBodyStart = 4,
  kSBodyLength = 5,
  kSErrKind = 6,
  kSErrCode = 7,
  kSReused = 8,     // the failed request went out on a reused connection, no response byte came
  kSWaited = 9,     // a headers timeout that ran out before the connection was up
  kSClHi = 10,      // the final head's Content-Length = hi * 2^32 + (uint32)lo; -1/-1 when absent
  kSClLo = 11,
  kSFirstLength = 12,   // prepared head: length of the first name (-1: no header left)
  kSPreparedLength = 13,  // prepared head: bytes of the lines at kPreparedRoom past the event's base
  kSBase = 14,      // where the event's bytes are: slab offset (>= 0: slices), -1: staging (copy),
                    // -2 (kBaseReadBuffer): the JS read buffer passed with the event (a body slice)
  kSReadBufferFree = 15,  // set to 1 by JS in a kBaseReadBuffer event: the handler kept nothing of
                          // the slice, so the next read of this response may go into the same Buffer
  kSFields = 16,    // per field: name start, name end, value start, value end (staging offsets)
};

enum BatchFlag : int32_t {
  kFHead = 1,
  kFBody = 2,
  kFComplete = 4,
  kFReusable = 8,
  kFPrepared = 16,  // the head is a prepared block (kSFirstLength, kSPreparedLength), not fields
};

enum ErrKind : int32_t {
  kKindConnect = 1,
  kKindReset = 2,
  kKindTimeout = 3,
  kKindProtocol = 4,
  kKindIdle = 5,  // no request was running: an idle connection went away (or timed out idle)
};

// Codes that are not libuv errnos (those are negative).
enum ErrCode : int32_t {
  kCodeConnectTimeout = 1,
  kCodeHeadersTimeout = 2,
  kCodeBodyTimeout = 3,
  kCodeClosedBeforeResponse = 4,  // EOF, no byte of a response
  kCodeClosedMidResponse = 5,     // EOF inside a response
  kCodeIdleTimeout = 6,
  kCodeUnsolicited = 7,           // bytes while no request was running
  kCodeUpgrade = 100,             // 101 / CONNECT tunnel: not supported by this engine (yet)
  // protocol: the ParseError code (1..29)
};

enum SendFlag : int32_t {
  kSendStream = 1,
  kSendChunked = 2,
  kSendPrepared = 4,  // prepare the final head: filtered, serialized (see src/upstream/dispatch.ts)
};

// send() refusals (the request bytes break HTTP/1.1 or what the engine supports).
enum Invalid : int32_t {
  kInvalidRequestLine = -1,
  kInvalidFieldName = -2,
  kInvalidFieldValue = -3,
  kInvalidFieldCount = -4,  // a CR/LF inside a value made more (or fewer) lines than fields
  kInvalidForbiddenField = -5,  // transfer-encoding, upgrade, keep-alive, expect, bad connection
  kInvalidTail = -6,            // the response tail is not header lines the gateway may add
  kInvalidState = -10,          // closed, or a request is already running
};

constexpr size_t kReadSize = 64 * 1024;
constexpr int32_t kBaseReadBuffer = -2;
constexpr size_t kDirectReadMin = 32 * 1024;  // a body read this long is handed to JS as is
constexpr uint32_t kMaxHeadSize = 16384;
constexpr uint32_t kMaxFields = 1024;
// send()'s numbers, written into the scratch by JS before the call (a number argument costs an
// N-API type check and conversion each): head length, field count, kind, flags, headers and body
// timeouts (ms). After every event slot, so a send() made inside an event callback clobbers none.
constexpr int32_t kSSend = kSFields + 4 * static_cast<int32_t>(kMaxFields);
enum SendSlot : int32_t {
  kSSendHeadLen = kSSend,
  kSSendFields = kSSend + 1,
  kSSendKind = kSSend + 2,
  kSSendFlags = kSSend + 3,
  kSSendHeadersMs = kSSend + 4,
  kSSendBodyMs = kSSend + 5,
  kSSendTailLen = kSSend + 6,  // bytes after the head in the same buffer: the response tail (kSendPrepared only)
};
constexpr int32_t kScratchInts = kSSend + 8;
// Bytes left free in front of a prepared head's lines, where JS puts the status line and its CRLF,
// so that the whole head goes to uWS as one view in one writeStatus (src/upstream/native.ts).
constexpr size_t kPreparedRoom = 48;
// The most a prepared head's tail may hold: lines the gateway adds to every answer (its request id
// and Via), appended natively so the head with them is still one writeStatus.
constexpr size_t kMaxResponseTail = 256;
constexpr size_t kStagingSize = kReadSize + kMaxHeadSize + kPreparedRoom + kMaxResponseTail + 64;
constexpr size_t kHighWater = 64 * 1024;
constexpr size_t kSlabSize = 256 * 1024;
constexpr size_t kSlabRead = 16 * 1024;                  // reads up to this go to the slab
constexpr size_t kSlabBatch = kSlabRead + kMaxHeadSize + kPreparedRoom + kMaxResponseTail + 64;  // the most one such batch takes
constexpr size_t kLowWater = 16 * 1024;

// Per JS environment (napi instance data).
struct Shared {
  int32_t* scratch = nullptr;
  uint8_t* staging = nullptr;
  napi_ref scratchRef = nullptr;
  napi_ref stagingRef = nullptr;
  uint8_t readBuf[kReadSize];
  // The slab (see BeginBatch): an ArrayBuffer JS slices without copying, written once, front to back.
  uint8_t* slab = nullptr;
  size_t slabSize = 0;
  size_t slabCursor = 0;
  napi_ref slabRef = nullptr;
  bool slabChanged = false;
};

class UpstreamConnection : public Napi::ObjectWrap<UpstreamConnection> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit UpstreamConnection(const Napi::CallbackInfo& info);
  ~UpstreamConnection() override;

 private:
  enum TimerMode : uint8_t { kTimerNone, kTimerHeaders, kTimerBody, kTimerIdle };
  struct WriteReq;

  Napi::Value Connect(const Napi::CallbackInfo& info);
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value WriteBody(const Napi::CallbackInfo& info);
  Napi::Value EndBody(const Napi::CallbackInfo& info);
  Napi::Value ReadStart(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  static void OnConnect(uv_connect_t* req, int status);
  static void OnAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void OnWrite(uv_write_t* req, int status);
  static void OnTimer(uv_timer_t* t);
  static void OnConnectTimer(uv_timer_t* t);
  static void OnHandleClosed(uv_handle_t* h);
  static void OnEnvCleanup(void* arg);

  void Feed(const uint8_t* data, size_t n);
  void ReleaseReadBuffer();
  void BeginBatch(size_t n);
  void EndBatch();
  bool EnsureSlab();
  void OnEof();
  // Reads the parser's events of the last Execute/Finish; false if the connection closed meanwhile.
  bool TakeEvents(const uint8_t* data);
  void StageFields(const uint8_t* block, int32_t blockLen, int32_t reasonLen, int32_t count);
  void StagePrepared(const uint8_t* block, int32_t blockLen, int32_t reasonLen, int32_t count);
  bool TakeTail(const uint8_t* p, size_t n);
  bool Dropped(const uint8_t* name, size_t n, const uint8_t* const* tokens, const size_t* tokenLens, int nt) const;
  void Flush();
  void Fail(int32_t kind, int32_t code, bool reused = false, bool waited = false);
  void Shutdown();
  bool Call(int32_t event);
  void Write(const uv_buf_t* bufs, unsigned n);
  size_t Queued() const;
  void StartTimer(TimerMode mode, uint64_t ms);
  void StopTimer();

  napi_env env_ = nullptr;
  Shared* shared_ = nullptr;
  napi_ref owner_ = nullptr;
  napi_ref callback_ = nullptr;
  napi_async_context async_ = nullptr;

  uv_tcp_t tcp_;
  uv_timer_t timer_;
  uv_timer_t connectTimer_;
  uv_connect_t connectReq_;
  int openHandles_ = 0;

  int32_t* out_ = nullptr;
  uint8_t* store_ = nullptr;
  http1::ResponseParser* parser_ = nullptr;

  uint64_t idleMs_ = 0;
  uint64_t bodyTimeoutMs_ = 0;
  TimerMode timerMode_ = kTimerNone;
  uint64_t deadline_ = 0;   // uv_now() time at which timerMode_ runs out
  bool timerArmed_ = false;
  uint64_t armedFor_ = 0;   // when the armed uv timer fires

  bool closed_ = false;
  bool connectStarted_ = false;
  bool connected_ = false;
  bool inflight_ = false;
  bool gotBytes_ = false;
  bool reused_ = false;
  bool bodyEnded_ = true;
  bool chunked_ = false;
  bool headSeen_ = false;
  bool interim_ = false;
  bool keepAlive_ = false;
  int32_t keepAliveTimeout_ = -1;
  bool paused_ = false;
  bool writeFailed_ = false;
  bool needDrain_ = false;
  bool refd_ = false;
  bool inCall_ = false;        // inside the kEvResponse callback
  bool resumeInCall_ = false;  // readStart() was called during it
  uint32_t served_ = 0;
  size_t writeQueued_ = 0;
  std::string pendingOut_;  // written before connect() was called
  bool prepared_ = false;
  std::string dropList_;    // "name\0name\0..." of the request being answered
  std::string tail_;        // lines appended to the prepared head ("name: value" joined by CRLF), checked
  int32_t tailFirst_ = -1;  // length of its first name
  int32_t clHi_ = -1;
  int32_t clLo_ = -1;
  int32_t firstLen_ = -1;
  int32_t preparedLen_ = 0;

  // A JS Buffer the next body read goes into (see OnAlloc), and whether the current read is in it.
  napi_ref readRef_ = nullptr;
  uint8_t* readData_ = nullptr;
  bool directRead_ = false;
  // The last direct read's Buffer was let go of by JS (kSReadBufferFree): reused for the next read.
  bool readBufferFree_ = false;
  size_t execOffset_ = 0;  // of the slice given to the parser, in the read
  // The batch being built from one read.
  bool bDirect_ = false;   // the batch is one body run in the JS read buffer
  size_t bDirectLen_ = 0;
  uint8_t* batch_ = nullptr;
  int32_t batchBase_ = -1;
  int32_t bFlags_ = 0;
  int32_t bStatus_ = 0;
  int32_t bFields_ = 0;
  size_t bLen_ = 0;
  size_t bBodyStart_ = 0;
  bool bError_ = false;
  int32_t bErrorCode_ = 0;
};

}  // namespace upstream
}  // namespace gateway

#endif  // GATEWAY_NATIVE_UPSTREAM_CONNECTION_H_
