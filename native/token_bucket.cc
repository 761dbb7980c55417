// Shared-memory token buckets: see token_bucket.h for the JS surface, the bucket math and the
// layout, and docs/plugins/rate-limit.md for the design. Built with -fno-exceptions and
// NAPI_DISABLE_CPP_EXCEPTIONS: every failure becomes a pending JS exception.
#include "token_bucket.h"

#include "napi_utf8.h"

#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <random>

namespace gateway {
namespace tb {

namespace {

constexpr char kMagic[8] = {'G', 'W', 'T', 'B', 'K', 'T', '1', '\0'};
constexpr uint32_t kVersion = 1;
constexpr uint64_t kK1 = 0x9E3779B97F4A7C15ull;
constexpr uint64_t kIdentitySeed = 0x243F6A8885A308D3ull;

inline uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

inline uint64_t Load(const uint64_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

// 16-byte compare-and-swap of {key, state}. On failure the current contents are written back
// to *key / *state (read atomically, as one 16-byte value). Lock-free on both targets: a plain
// instruction, so a process that dies mid-way leaves nothing held.
inline bool Cas16(Slot* s, uint64_t* key, uint64_t* state, uint64_t newKey, uint64_t newState) {
#if defined(__x86_64__)
  bool ok;
  __asm__ __volatile__("lock cmpxchg16b %1"
                       : "=@ccz"(ok), "+m"(*s), "+a"(*key), "+d"(*state)
                       : "b"(newKey), "c"(newState)
                       : "memory");
  return ok;
#elif defined(__aarch64__)
  using U128 = unsigned __int128;
  const U128 expected = (static_cast<U128>(*state) << 64) | *key;
  const U128 desired = (static_cast<U128>(newState) << 64) | newKey;
  const U128 prev = __sync_val_compare_and_swap(reinterpret_cast<U128*>(s), expected, desired);
  *key = static_cast<uint64_t>(prev);
  *state = static_cast<uint64_t>(prev >> 64);
  return prev == expected;
#else
#error "token buckets need a 16-byte compare-and-swap (x86-64 cmpxchg16b or aarch64)"
#endif
}

inline void Pause() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

inline uint64_t ClockTicks() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec)) * kTicksPerNs;
}

inline void CountRelaxed(uint64_t* counter) { __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED); }

}  // namespace

uint64_t NowTicks() { return ClockTicks(); }

uint64_t Mix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 33;
  return h;
}

// Keyed hash over bytes: 8-byte little-endian chunks (the last one zero-padded; the length is
// mixed in first, so padding cannot collide). Keyed with the segment's random secret, so
// clients cannot aim their keys at one window.
uint64_t HashBytes(uint64_t seed, const uint8_t* p, size_t n) {
  uint64_t h = seed ^ (static_cast<uint64_t>(n) * kK1);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t c = 0;
    for (int b = 7; b >= 0; b--) c = (c << 8) | p[i + b];
    h = Rotl(h ^ Mix64(c), 27) * kK1 + 0x52DCE729ull;
  }
  if (i < n) {
    uint64_t c = 0;
    for (size_t b = n; b-- > i;) c = (c << 8) | p[b];
    h = Rotl(h ^ Mix64(c), 27) * kK1 + 0x52DCE729ull;
  }
  return Mix64(h);
}

bool PolicyTicks(double rps, double burst, uint64_t* interval, uint64_t* tau) {
  if (!(rps > 0) || !std::isfinite(rps) || !(burst >= 1) || !(burst <= 9007199254740991.0) || std::floor(burst) != burst) {
    return false;
  }
  // Rounded up: the bucket never refills faster than configured (relative error < r / 1.6e10).
  double t = std::ceil(16e9 / rps);
  if (!(t < 4611686018427387904.0)) t = 4611686018427387904.0;  // 2^62
  uint64_t iv = static_cast<uint64_t>(t);
  if (iv == 0) iv = 1;
  const unsigned __int128 product = static_cast<unsigned __int128>(iv) * static_cast<uint64_t>(burst);
  *interval = iv;
  *tau = product > kMaxTicks ? kMaxTicks : static_cast<uint64_t>(product);
  return true;
}

bool Table::ClaimPendingForTest(uint64_t h, uint64_t now) {
  const uint64_t base = h & mask_ & ~uint64_t{kWindow - 1};
  const uint32_t start = static_cast<uint32_t>(h) & (kWindow - 1);
  for (uint32_t j = 0; j < kWindow; j++) {
    Slot* s = &slots_[base + ((start + j) & (kWindow - 1))];
    uint64_t k = 0, st = 0;
    if (Load(&s->key) == 0 && Cas16(s, &k, &st, h, kPending | now)) return true;
  }
  return false;
}

// hot path: change with care. See token_bucket.h for the math; the protocol:
//  1. Scan the key's window. A published copy of h: CAS its state (the only write an admitted
//     request makes). A pending copy (another process is inserting h): wait until it is
//     published or undone, or undo it once expired.
//  2. Not there: claim the first empty slot as pending, then look at the window again. If
//     another copy of h exists (published, or pending at an earlier probe position), undo
//     ours and start over; a pending copy at a later position: wait for it. Else publish the
//     bucket as a full one minus this request. So at most one published copy of a key exists,
//     and every admission is one successful CAS on it: exact, whatever the interleaving.
//  3. No empty slot: empty the first idle one (full again, so nothing is lost), else evict the
//     bucket that will be full soonest (the least state lost), and go back to 2.
double Table::Take(const Policy& p, uint64_t h, uint64_t now, bool realClock, int32_t* event) {
  const uint64_t base = h & mask_ & ~uint64_t{kWindow - 1};
  const uint32_t start = static_cast<uint32_t>(h) & (kWindow - 1);
  int32_t how = kInserted;
  uint32_t waits = 0;
  // Waits for a pending slot to change; undoes it once expired. False: injected clock, so no
  // time can pass (the caller reports NaN).
  auto waitPending = [&](Slot* s, uint64_t key, uint64_t st) -> bool {
    const uint64_t claimed = st & ~kPending;
    for (;;) {
      const uint64_t cur = realClock ? ClockTicks() : now;
      if (cur > claimed && cur - claimed > kPendingExpiryTicks) {
        uint64_t ek = key, es = st;
        Cas16(s, &ek, &es, 0, 0);
        return true;
      }
      if (!realClock) return false;
      if (Load(&s->key) != key || Load(&s->state) != st) return true;
      if (++waits % 64 == 0) sched_yield();
      else Pause();
    }
  };
  for (;;) {
    Slot* empty = nullptr;
    uint64_t emptyState = 0;
    Slot* idle = nullptr;
    uint64_t idleKey = 0, idleState = 0;
    Slot* oldest = nullptr;
    uint64_t oldestKey = 0, oldestState = ~uint64_t{0};
    bool again = false;
    for (uint32_t j = 0; j < kWindow && !again; j++) {
      Slot* s = &slots_[base + ((start + j) & (kWindow - 1))];
      const uint64_t k = Load(&s->key);
      const uint64_t st = Load(&s->state);
      if (k == h) {
        if (st & kPending) {
          if (!waitPending(s, k, st)) return NAN;
          again = true;
          break;
        }
        uint64_t cur = st;
        for (;;) {
          const uint64_t full = cur > now ? cur : now;
          const uint64_t next = full + p.interval;
          if (next - now > p.tau) {
            // Refused: no write. cur was h's state if the slot still holds h.
            if (Load(&s->key) != h) break;
            *event = kFound;
            return -static_cast<double>(next - now - p.tau);
          }
          uint64_t ek = h, es = cur;
          if (Cas16(s, &ek, &es, h, next)) {
            *event = kFound;
            return static_cast<double>(next - now);
          }
          if (ek != h || (es & kPending)) break;  // re-keyed meanwhile: look again
          cur = es;
        }
        again = true;
        break;
      }
      if (k == 0) {
        if (empty == nullptr) {
          empty = s;
          emptyState = st;
        }
      } else if (st & kPending) {
        // Another key's insertion; abandoned ones count as idle.
        const uint64_t claimed = st & ~kPending;
        if (idle == nullptr && now > claimed && now - claimed > kPendingExpiryTicks) {
          idle = s;
          idleKey = k;
          idleState = st;
        }
      } else if (st <= now) {
        if (idle == nullptr) {
          idle = s;
          idleKey = k;
          idleState = st;
        }
      } else if (st < oldestState) {
        oldest = s;
        oldestKey = k;
        oldestState = st;
      }
    }
    if (again) continue;

    if (empty != nullptr) {
      const uint64_t pending = kPending | now;
      uint64_t ek = 0, es = emptyState;
      if (!Cas16(empty, &ek, &es, h, pending)) continue;
      const uint32_t mine = static_cast<uint32_t>(empty - &slots_[base]);
      const uint32_t minePos = (mine - start) & (kWindow - 1);
      for (;;) {
        // 0: no other copy; 1: another copy wins (published, or pending earlier in probe order);
        // 2: a pending copy later in probe order (its owner will undo it when it sees ours).
        int verdict = 0;
        Slot* other = nullptr;
        uint64_t otherState = 0;
        for (uint32_t j = 0; j < kWindow; j++) {
          if (j == minePos) continue;
          Slot* s = &slots_[base + ((start + j) & (kWindow - 1))];
          if (Load(&s->key) != h) continue;
          const uint64_t st = Load(&s->state);
          if (Load(&s->key) != h) continue;
          if (!(st & kPending) || j < minePos) {
            verdict = 1;
            break;
          }
          verdict = 2;
          other = s;
          otherState = st;
        }
        if (verdict == 0) {
          const uint64_t next = now + p.interval;  // a fresh bucket is full; burst >= 1 so T <= tau
          uint64_t pk = h, ps = pending;
          if (!Cas16(empty, &pk, &ps, h, next)) break;  // undone by someone who thought us dead
          CountRelaxed(&header_->inserts);
          *event = how;
          return static_cast<double>(next - now);
        }
        if (verdict == 2 && waitPending(other, h, otherState)) continue;
        uint64_t pk = h, ps = pending;
        Cas16(empty, &pk, &ps, 0, 0);  // undo ours (fails only if someone already did)
        if (verdict == 2) return NAN;  // injected clock: cannot wait
        break;
      }
      continue;
    }
    if (idle != nullptr) {
      uint64_t ek = idleKey, es = idleState;
      if (Cas16(idle, &ek, &es, 0, 0)) {
        CountRelaxed(&header_->reclaims);
        if (how == kInserted) how = kReclaimed;
      }
      continue;
    }
    if (oldest != nullptr) {
      uint64_t ek = oldestKey, es = oldestState;
      if (Cas16(oldest, &ek, &es, 0, 0)) {
        CountRelaxed(&header_->evictions);
        how = kEvicted;
      }
      continue;
    }
    // Every slot of the window is another key's insertion in progress: a moment.
    if (!realClock) return NAN;
    sched_yield();
  }
}

}  // namespace tb

// ---------------------------------------------------------------------------------------------
// N-API
// ---------------------------------------------------------------------------------------------

namespace {

constexpr size_t kStackKey = 512;

void ThrowType(Napi::Env env, const std::string& msg) { Napi::TypeError::New(env, msg).ThrowAsJavaScriptException(); }
void ThrowError(Napi::Env env, const std::string& msg) { Napi::Error::New(env, msg).ThrowAsJavaScriptException(); }

bool ReadName(const Napi::CallbackInfo& info, std::string* name) {
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowType(info.Env(), "segment name must be a string");
    return false;
  }
  *name = info[0].As<Napi::String>().Utf8Value();
  if (!ShmSegment::ValidName(*name)) {
    ThrowType(info.Env(), "invalid segment name (expected \"/\" then 1-200 of [A-Za-z0-9._-])");
    return false;
  }
  return true;
}

}  // namespace

Napi::Object TokenBuckets::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "TokenBuckets",
                                    {
                                        StaticMethod<&TokenBuckets::Unlink>("unlink"),
                                        InstanceMethod<&TokenBuckets::PolicyMethod>("policy"),
                                        InstanceMethod<&TokenBuckets::TakeAtForTest>("takeAtForTest"),
                                        InstanceMethod<&TokenBuckets::ClaimPendingForTest>("claimPendingForTest"),
                                        InstanceMethod<&TokenBuckets::Stats>("stats"),
                                        InstanceMethod<&TokenBuckets::Close>("close"),
                                        InstanceAccessor<&TokenBuckets::GetOutput>("output"),
                                        InstanceAccessor<&TokenBuckets::GetSecret>("secret"),
                                        InstanceAccessor<&TokenBuckets::GetName>("name"),
                                    });
  if (env.IsExceptionPending()) return exports;
  exports.Set("TokenBuckets", ctor);
  return exports;
}

TokenBuckets::TokenBuckets(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TokenBuckets>(info) {
  Napi::Env env = info.Env();
  if (!ReadName(info, &name_)) return;
  std::string error;
  if (info.Length() >= 2 && !info[1].IsUndefined()) {
    // Create.
    if (!info[1].IsNumber()) { ThrowType(env, "capacity must be a number"); return; }
    const double want = info[1].As<Napi::Number>().DoubleValue();
    if (!(want >= 1) || !(want <= static_cast<double>(tb::kMaxCapacity)) || std::floor(want) != want) {
      { ThrowType(env, "capacity must be an integer from 1 to 268435456"); return; }
    }
    uint64_t cap = tb::kMinCapacity;
    while (cap < static_cast<uint64_t>(want)) cap <<= 1;
    const size_t size = sizeof(tb::Header) + cap * sizeof(tb::Slot);
    if (!segment_.Create(name_, size, &error)) { ThrowError(env, error); return; }
    auto* h = static_cast<tb::Header*>(segment_.data());
    std::memcpy(h->magic, tb::kMagic, sizeof(h->magic));
    h->version = tb::kVersion;
    h->headerBytes = sizeof(tb::Header);
    h->capacity = cap;
    std::random_device rd;  // getrandom() on Linux
    h->secret = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    h->creatorPid = static_cast<uint64_t>(getpid());
  } else {
    if (!segment_.Open(name_, &error)) { ThrowError(env, error); return; }
    const auto* h = static_cast<const tb::Header*>(segment_.data());
    const bool ok = segment_.size() >= sizeof(tb::Header) && std::memcmp(h->magic, tb::kMagic, sizeof(h->magic)) == 0 &&
                    h->version == tb::kVersion && h->headerBytes == sizeof(tb::Header) &&
                    h->capacity >= tb::kMinCapacity && (h->capacity & (h->capacity - 1)) == 0 &&
                    segment_.size() == sizeof(tb::Header) + h->capacity * sizeof(tb::Slot);
    if (!ok) {
      segment_.Close();
      { ThrowError(env, "shared memory segment " + name_ + " is not a token-bucket table of this version"); return; }
    }
  }
  table_.Attach(segment_.data());

  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, 4 * sizeof(int32_t));
  if (env.IsExceptionPending()) return;
  out_ = static_cast<int32_t*>(ab.Data());
  std::memset(out_, 0, 4 * sizeof(int32_t));
  output_ = Napi::Persistent(ab);

  // `take` is an own property whose data pointer is this object (no napi_unwrap per call, as
  // for Router.match); the function holds the wrapper through a non-configurable property.
  napi_value self = info.This();
  napi_value fn = nullptr;
  napi_property_descriptor owner = {"table", nullptr, nullptr, nullptr, nullptr, self, napi_default, nullptr};
  if (napi_create_function(env, "take", NAPI_AUTO_LENGTH, TakeCallback, this, &fn) != napi_ok ||
      napi_define_properties(env, fn, 1, &owner) != napi_ok) {
    { ThrowError(env, "could not create take()"); return; }
  }
  napi_property_descriptor prop = {"take", nullptr, nullptr, nullptr, nullptr, fn, napi_default, nullptr};
  if (napi_define_properties(env, self, 1, &prop) != napi_ok) { ThrowError(env, "could not define take()"); return; }
}

bool TokenBuckets::CheckOpen(napi_env env) {
  if (segment_.data() != nullptr) return true;
  napi_throw_error(env, nullptr, "token-bucket table is closed");
  return false;
}

bool TokenBuckets::KeyArgs(napi_env env, napi_value policyArg, napi_value keyArg, const tb::Policy** policy,
                           uint64_t* hash) {
  if (!CheckOpen(env)) return false;
  uint32_t id = 0;
  if (napi_get_value_uint32(env, policyArg, &id) != napi_ok || id >= policies_.size()) {
    napi_throw_type_error(env, nullptr, "unknown policy id");
    return false;
  }
  char stack[kStackKey];
  const char* key = nullptr;
  size_t len = 0;
  if (!ReadUtf8(env, keyArg, stack, sizeof(stack), &keyBuf_, &key, &len)) {
    napi_throw_type_error(env, nullptr, "key must be a string");
    return false;
  }
  const uint8_t* bytes = reinterpret_cast<const uint8_t*>(key);
  *policy = &policies_[id];
  uint64_t h = tb::HashBytes((*policy)->seed, bytes, len);
  *hash = h == 0 ? 1 : h;
  return true;
}

// hot path: take(policyId, key).
napi_value TokenBuckets::TakeCallback(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  void* data = nullptr;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, &data) != napi_ok) return nullptr;
  auto* self = static_cast<TokenBuckets*>(data);
  if (argc < 2) {
    napi_throw_type_error(env, nullptr, "take(policyId, key)");
    return nullptr;
  }
  const tb::Policy* policy = nullptr;
  uint64_t hash = 0;
  if (!self->KeyArgs(env, argv[0], argv[1], &policy, &hash)) return nullptr;
  const double r = self->table_.Take(*policy, hash, tb::NowTicks(), true, &self->out_[0]);
  napi_value result = nullptr;
  napi_create_double(env, r, &result);
  return result;
}

Napi::Value TokenBuckets::TakeAtForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[2].IsNumber()) {
    ThrowType(env, "takeAtForTest(policyId, key, nowNs)");
    return env.Undefined();
  }
  const tb::Policy* policy = nullptr;
  uint64_t hash = 0;
  if (!KeyArgs(env, info[0], info[1], &policy, &hash)) return env.Undefined();
  const double nowNs = info[2].As<Napi::Number>().DoubleValue();
  if (!(nowNs >= 0) || !(nowNs <= 9007199254740991.0 / tb::kTicksPerNs)) {
    ThrowType(env, "nowNs must be a non-negative integer below 2^53 / 16");
    return env.Undefined();
  }
  const uint64_t now = static_cast<uint64_t>(nowNs) * tb::kTicksPerNs;
  return Napi::Number::New(env, table_.Take(*policy, hash, now, false, &out_[0]));
}

Napi::Value TokenBuckets::ClaimPendingForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[2].IsNumber()) {
    ThrowType(env, "claimPendingForTest(policyId, key, nowNs)");
    return env.Undefined();
  }
  const tb::Policy* policy = nullptr;
  uint64_t hash = 0;
  if (!KeyArgs(env, info[0], info[1], &policy, &hash)) return env.Undefined();
  const uint64_t now = static_cast<uint64_t>(info[2].As<Napi::Number>().DoubleValue()) * tb::kTicksPerNs;
  return Napi::Boolean::New(env, table_.ClaimPendingForTest(hash, now));
}

Napi::Value TokenBuckets::PolicyMethod(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber()) {
    ThrowType(env, "policy(identity: string, requestsPerSecond: number, burst: number)");
    return env.Undefined();
  }
  const std::string identity = info[0].As<Napi::String>().Utf8Value();
  const double rps = info[1].As<Napi::Number>().DoubleValue();
  const double burst = info[2].As<Napi::Number>().DoubleValue();
  uint64_t interval = 0, tau = 0;
  if (!tb::PolicyTicks(rps, burst, &interval, &tau)) {
    ThrowType(env, "requestsPerSecond must be a finite number > 0 and burst an integer >= 1");
    return env.Undefined();
  }
  // The identity names the policy's buckets, so it must carry rps and burst (the caller builds it).
  auto it = policyIds_.find(identity);
  if (it != policyIds_.end()) {
    const tb::Policy& p = policies_[it->second];
    if (p.interval != interval || p.tau != tau) {
      ThrowType(env, "policy identity reused with another rate or burst");
      return env.Undefined();
    }
    return Napi::Number::New(env, it->second);
  }
  const auto* h = static_cast<const tb::Header*>(segment_.data());
  const uint64_t idHash =
      tb::HashBytes(0x243F6A8885A308D3ull, reinterpret_cast<const uint8_t*>(identity.data()), identity.size());
  policies_.push_back({tb::Mix64(h->secret ^ idHash), interval, tau});
  const uint32_t id = static_cast<uint32_t>(policies_.size() - 1);
  policyIds_.emplace(identity, id);
  return Napi::Number::New(env, id);
}

Napi::Value TokenBuckets::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  const tb::Header* h = table_.header();
  uint64_t live = 0, pending = 0;
  const tb::Slot* slots = table_.slots();
  for (uint64_t i = 0; i < h->capacity; i++) {
    if (__atomic_load_n(&slots[i].key, __ATOMIC_RELAXED) == 0) continue;
    if (__atomic_load_n(&slots[i].state, __ATOMIC_RELAXED) & tb::kPending) pending++;
    else live++;
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("capacity", Napi::Number::New(env, static_cast<double>(h->capacity)));
  o.Set("bytes", Napi::Number::New(env, static_cast<double>(segment_.size())));
  o.Set("live", Napi::Number::New(env, static_cast<double>(live)));
  o.Set("pending", Napi::Number::New(env, static_cast<double>(pending)));
  o.Set("inserts", Napi::Number::New(env, static_cast<double>(__atomic_load_n(&h->inserts, __ATOMIC_RELAXED))));
  o.Set("reclaims", Napi::Number::New(env, static_cast<double>(__atomic_load_n(&h->reclaims, __ATOMIC_RELAXED))));
  o.Set("evictions", Napi::Number::New(env, static_cast<double>(__atomic_load_n(&h->evictions, __ATOMIC_RELAXED))));
  o.Set("creatorPid", Napi::Number::New(env, static_cast<double>(h->creatorPid)));
  return o;
}

Napi::Value TokenBuckets::Close(const Napi::CallbackInfo& info) {
  segment_.Close();
  return info.Env().Undefined();
}

Napi::Value TokenBuckets::GetOutput(const Napi::CallbackInfo& info) { return output_.Value(); }

Napi::Value TokenBuckets::GetSecret(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  char hex[17];
  const uint64_t s = table_.header()->secret;
  for (int i = 0; i < 16; i++) hex[i] = "0123456789abcdef"[(s >> (60 - 4 * i)) & 15];
  hex[16] = '\0';
  return Napi::String::New(env, hex);
}

Napi::Value TokenBuckets::GetName(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), name_); }

Napi::Value TokenBuckets::Unlink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ReadName(info, &name)) return env.Undefined();
  std::string error;
  if (!ShmSegment::Unlink(name, &error)) {
    ThrowError(env, error);
    return env.Undefined();
  }
  return Napi::Boolean::New(env, true);
}

}  // namespace gateway
