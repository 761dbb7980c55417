// Token buckets in shared memory: one table in a POSIX shm segment (shm.h), mapped by the
// primary and every worker, updated lock-free with 16-byte compare-and-swap. The pure-TS oracle
// is src/native/reference/token-buckets.ts; both must give identical answers
// (test/native/token-buckets.test.ts). The design is in docs/plugins/rate-limit.md.
//
// JS surface (wrapped by src/native/token-buckets.ts, not meant to be used directly):
//   new TokenBuckets(name, capacity)       creates the segment (fails if the name exists);
//                                          capacity is rounded up to a power of two >= 16
//   new TokenBuckets(name)                 maps an existing segment
//   TokenBuckets.unlink(name): boolean     removes the name (mappings stay valid)
//   t.policy(identity, rps, burst): number policy id (same identity -> same id and same buckets)
//   t.take(policyId, key): number          own property (no napi_unwrap); see Take() below
//   t.takeAtForTest(policyId, key, nowNs)  the same with an injected clock
//   t.claimPendingForTest(policyId, key, nowNs)  leaves an insertion half done (a "crash")
//   t.output: ArrayBuffer                  Int32 [0]: event of the last take (kEvent*)
//   t.secret: string                       the segment's hash secret (hex), for the oracle
//   t.stats(): object                      capacity, live/pending slots, insert/reclaim/evict counts
//   t.close()                              unmaps; later calls throw
//
// Bucket math (GCRA form of a token bucket). Time is in ticks of 1/16 ns on CLOCK_MONOTONIC
// (one clock for every process on the machine). A policy of r requests/s and burst b has
//   interval T = ceil(16e9 / r) ticks per token, tau = b * T   (both capped at 2^62),
// and a bucket stores one 64-bit number, its "full-at" time F: the bucket holds
// b - max(0, F - now) / T tokens (fixed point with T steps per token). take():
//   F' = max(F, now) + T;  admitted iff F' - now <= tau, and then F := F'.
// A bucket that is full (F <= now) is indistinguishable from one that does not exist, which is
// what makes idle slots free to reuse.
//
// Table layout: a 128-byte header, then `capacity` 16-byte slots {key, state}. A key is a
// 64-bit keyed hash of (policy identity, key string), never 0 (0 = empty slot). A key lives in
// the 16-slot window at (hash & mask & ~15), probed from (hash & 15); lookups scan the whole
// window. state is F, or kPending | claim time while an insertion is being checked.
#ifndef GATEWAY_NATIVE_TOKEN_BUCKET_H_
#define GATEWAY_NATIVE_TOKEN_BUCKET_H_

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "shm.h"

namespace gateway {

// Keep in sync with src/native/reference/token-buckets.ts.
namespace tb {

constexpr uint64_t kTicksPerNs = 16;
constexpr uint64_t kMaxTicks = uint64_t{1} << 62;
constexpr uint32_t kWindow = 16;
constexpr uint64_t kPending = uint64_t{1} << 63;
// A pending insertion older than this is abandoned (its process died or was stopped) and may be
// undone by anyone; a live inserter finishes in well under a microsecond.
constexpr uint64_t kPendingExpiryTicks = 100ull * 1000 * 1000 * kTicksPerNs;  // 100 ms
constexpr uint64_t kMinCapacity = kWindow;
constexpr uint64_t kMaxCapacity = uint64_t{1} << 28;  // 4 GiB of slots

enum Event : int32_t { kFound = 0, kInserted = 1, kReclaimed = 2, kEvicted = 3 };

struct Header {
  char magic[8];  // "GWTBKT1"
  uint32_t version;
  uint32_t headerBytes;
  uint64_t capacity;
  uint64_t secret;
  uint64_t creatorPid;
  uint64_t reserved0[3];
  // Second cache line: shared counters (relaxed atomics, insertion paths only).
  uint64_t inserts;
  uint64_t reclaims;
  uint64_t evictions;
  uint64_t reserved1[5];
};
static_assert(sizeof(Header) == 128, "header is two cache lines");

struct alignas(16) Slot {
  uint64_t key;
  uint64_t state;
};

struct Policy {
  uint64_t seed;      // hash seed: keyed by the segment secret and the identity
  uint64_t interval;  // T
  uint64_t tau;       // burst * T
};

uint64_t HashBytes(uint64_t seed, const uint8_t* p, size_t n);
// CLOCK_MONOTONIC in ticks (1/16 ns).
uint64_t NowTicks();
uint64_t Mix64(uint64_t h);
// T and tau for a policy (false if rps or burst is out of range).
bool PolicyTicks(double rps, double burst, uint64_t* interval, uint64_t* tau);

// The table over a mapped segment. Thread- and process-safe; never blocks on another process
// except for the short wait described at kPendingExpiryTicks.
class Table {
 public:
  void Attach(void* base) {
    header_ = static_cast<Header*>(base);
    slots_ = reinterpret_cast<Slot*>(static_cast<char*>(base) + sizeof(Header));
    mask_ = header_->capacity - 1;
  }
  // Result of a take: > 0 admitted, the bucket's debt F' - now in ticks; < 0 refused, minus
  // the ticks until one token is back; NaN only with an injected clock when another insertion
  // of the same key is pending and not expired (a real clock would wait).
  double Take(const Policy& p, uint64_t h, uint64_t now, bool realClock, int32_t* event);
  // Test hook: claims an empty slot for h as pending, and stops there (as if the process died).
  bool ClaimPendingForTest(uint64_t h, uint64_t now);
  Header* header() const { return header_; }
  Slot* slots() const { return slots_; }

 private:
  Header* header_ = nullptr;
  Slot* slots_ = nullptr;
  uint64_t mask_ = 0;
};

}  // namespace tb

class TokenBuckets : public Napi::ObjectWrap<TokenBuckets> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports);
  explicit TokenBuckets(const Napi::CallbackInfo& info);
  ~TokenBuckets() override = default;

 private:
  static Napi::Value Unlink(const Napi::CallbackInfo& info);
  static napi_value TakeCallback(napi_env env, napi_callback_info info);
  Napi::Value PolicyMethod(const Napi::CallbackInfo& info);
  Napi::Value TakeAtForTest(const Napi::CallbackInfo& info);
  Napi::Value ClaimPendingForTest(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetOutput(const Napi::CallbackInfo& info);
  Napi::Value GetSecret(const Napi::CallbackInfo& info);
  Napi::Value GetName(const Napi::CallbackInfo& info);

  // Reads (policyId, key) arguments and hashes the key; false with a pending exception.
  bool KeyArgs(napi_env env, napi_value policyArg, napi_value keyArg, const tb::Policy** policy, uint64_t* hash);
  bool CheckOpen(napi_env env);

  ShmSegment segment_;
  tb::Table table_;
  std::string name_;
  std::vector<tb::Policy> policies_;
  std::unordered_map<std::string, uint32_t> policyIds_;
  std::string keyBuf_;
  int32_t* out_ = nullptr;
  Napi::Reference<Napi::ArrayBuffer> output_;
};

}  // namespace gateway

#endif  // GATEWAY_NATIVE_TOKEN_BUCKET_H_
