// API-key lookup for the apiKey plugin (src/plugins/api-key/index.ts): the SHA-256 digests of the
// consumers' keys (the config holds only those) in an open-addressing table, and one call that
// hashes a presented key and finds its digest. In JS the same took crypto.hash's binding, a hex
// string of 64 characters and a Map lookup that hashes that string again: ~1.8 us of a request
// on the load suite's `plugins` route, against one N-API call here.
//
// SHA-256 is OpenSSL's low-level functions, the copy inside Node (its symbols are exported for
// addons on every Node this project supports): the same bytes crypto.hash hashes, the UTF-8 of
// the JS string.
// The lookup compares digests, never keys, and the whole 32 bytes with CRYPTO_memcmp: its timing
// tells nothing about a stored key (as the Map of hex digests did not).
//
// JS surface (wrapped by src/native/api-key-digests.ts):
//   apiKeyDigests(digests: Buffer): { find(key: string): number, size: number }
//     digests: n * 32 bytes; find returns the index of the key's digest among them, or -1.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <napi.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "napi_utf8.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace gateway {
namespace {

constexpr size_t kDigest = 32;
// Keys up to this many UTF-8 bytes are read onto the stack; longer ones (a header value may be
// kilobytes) into a heap buffer.
constexpr size_t kStackKey = 512;

struct DigestTable {
  std::vector<uint8_t> digests;  // n * 32
  std::vector<int32_t> slots;    // power of two, -1 = empty; index into digests
  uint64_t mask = 0;
  std::string longKey;
};

uint64_t SlotOf(const uint8_t* digest) {
  uint64_t h;
  std::memcpy(&h, digest, sizeof(h));  // a SHA-256 digest is uniform already
  return h;
}

int32_t Find(const DigestTable& t, const uint8_t* digest) {
  if (t.slots.empty()) return -1;
  for (uint64_t i = SlotOf(digest) & t.mask;; i = (i + 1) & t.mask) {
    const int32_t at = t.slots[i];
    if (at < 0) return -1;
    if (CRYPTO_memcmp(&t.digests[static_cast<size_t>(at) * kDigest], digest, kDigest) == 0) return at;
  }
}

// hot path: find(key).
napi_value FindCallback(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg = nullptr;
  void* data = nullptr;
  if (napi_get_cb_info(env, info, &argc, &arg, nullptr, &data) != napi_ok) return nullptr;
  auto* t = static_cast<DigestTable*>(data);
  char stack[kStackKey];
  const char* bytes = nullptr;
  size_t len = 0;
  if (argc < 1 || !ReadUtf8(env, arg, stack, sizeof(stack), &t->longKey, &bytes, &len)) {
    napi_throw_type_error(env, nullptr, "find(key: string)");
    return nullptr;
  }
  // The low-level calls, not SHA256(): in OpenSSL 3 that one goes through EVP_Q_digest, which
  // looks the algorithm up (a hash table under a read lock) on every call (perf: more time in
  // the lookup than in the hashing).
  uint8_t digest[kDigest];
  SHA256_CTX sha;
  SHA256_Init(&sha);
  SHA256_Update(&sha, bytes, len);
  SHA256_Final(digest, &sha);
  napi_value result = nullptr;
  napi_create_int32(env, Find(*t, digest), &result);
  return result;
}

void Finalize(napi_env, void* data, void*) { delete static_cast<DigestTable*>(data); }

Napi::Value ApiKeyDigests(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBuffer()) {
    Napi::TypeError::New(env, "apiKeyDigests(digests: Buffer)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto buf = info[0].As<Napi::Buffer<uint8_t>>();
  if (buf.Length() % kDigest != 0 || buf.Length() / kDigest > INT32_MAX / 4) {
    Napi::TypeError::New(env, "digests must be a whole number of 32-byte SHA-256 digests").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* t = new DigestTable();
  t->digests.assign(buf.Data(), buf.Data() + buf.Length());
  const size_t n = buf.Length() / kDigest;
  if (n > 0) {
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;  // at most half full: probes stay short
    t->slots.assign(cap, -1);
    t->mask = cap - 1;
    for (size_t k = 0; k < n; k++) {
      const uint8_t* d = &t->digests[k * kDigest];
      if (Find(*t, d) >= 0) continue;  // a duplicate: the first keeps its index
      uint64_t i = SlotOf(d) & t->mask;
      while (t->slots[i] >= 0) i = (i + 1) & t->mask;
      t->slots[i] = static_cast<int32_t>(k);
    }
  }
  Napi::Object out = Napi::Object::New(env);
  // The table lives as long as `find` does (its finalizer frees it), wherever find is kept.
  napi_value find = nullptr;
  if (napi_create_function(env, "find", NAPI_AUTO_LENGTH, FindCallback, t, &find) != napi_ok ||
      napi_add_finalizer(env, find, t, Finalize, nullptr, nullptr) != napi_ok) {
    delete t;
    Napi::Error::New(env, "apiKeyDigests: cannot create the table").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  out.Set("find", Napi::Value(env, find));
  out.Set("size", Napi::Number::New(env, static_cast<double>(n)));
  return out;
}

}  // namespace

void InitApiKeyDigests(Napi::Env env, Napi::Object exports) {
  exports.Set("apiKeyDigests", Napi::Function::New<ApiKeyDigests>(env, "apiKeyDigests"));
}

}  // namespace gateway
