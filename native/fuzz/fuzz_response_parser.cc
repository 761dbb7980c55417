// Fuzz target for the HTTP/1.1 response parser (../http_response_parser.cc), built with
// -fsanitize=address,undefined and GATEWAY_PARSER_CHECKS (internal invariants abort).
//
// Two front ends share one oracle, CheckInput():
//   - libFuzzer (clang++ -fsanitize=fuzzer,...): LLVMFuzzerTestOneInput; the first 4 bytes of an
//     input choose the limits, request kinds and cut plan, the rest is the byte stream.
//   - standalone (g++, -DGATEWAY_STANDALONE_FUZZ): a seeded PRNG generates connections' byte
//     streams (valid responses, then mutations; plus token soup), optionally seeded from a corpus
//     directory, for a bounded time or number of executions. Prints the seed of a failing input.
//
// CheckInput() parses one input whole and with several cut plans (every cut for short inputs)
// through the same parser object (Reset() between runs), replays every event against the
// contract's invariants (slices inside the data, blocks inside the store with the right NUL
// structure, counts within the limits, sticky errors, pauses that make progress, upgrade offsets
// inside the data) and requires the normalized event stream to be identical for every plan.
// Any violation aborts, which both front ends report as a crash.
#include <dirent.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../http_response_parser.h"

namespace {

using gateway::http1::Limits;
using gateway::http1::ResponseParser;
namespace h1 = gateway::http1;

[[noreturn]] void Die(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_response_parser: invariant violated: %s\n%s\n", what, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

#define CHECK(cond, detail)                  \
  do {                                       \
    if (!(cond)) Die(#cond, (detail));       \
  } while (0)

struct Setup {
  Limits limits;
  std::vector<int32_t> kinds;
};

// Feeds `in` cut at `cuts` through `p` (already Reset and given the kinds); returns the
// normalized event stream: one letter per event, body bytes merged, the outcome last.
std::string Run(ResponseParser& p, const int32_t* out, const uint8_t* store, size_t storeSize, const Setup& s,
                const std::vector<uint8_t>& in, const std::vector<size_t>& cuts) {
  std::string ev;
  bool inBody = false;
  auto closeBody = [&]() {
    if (inBody) ev += ']';
    inBody = false;
  };
  bool sawError = false;
  auto replay = [&](const uint8_t* data, size_t len, size_t consumed, int32_t status) {
    const int32_t n = out[0];
    CHECK(n >= 0 && static_cast<uint32_t>(n) <= ResponseParser::kEventInts, "event count");
    CHECK(static_cast<size_t>(out[1]) == consumed, "consumed");
    const int32_t* e = out + ResponseParser::kOutHeader;
    int32_t k = 0;
    while (k < n) {
      switch (e[k]) {
        case h1::kEvBegin:
          closeBody();
          ev += 'B';
          k += 1;
          break;
        case h1::kEvHead: {
          closeBody();
          const int32_t st = e[k + 1], minor = e[k + 2], flags = e[k + 3], hi = e[k + 4], lo = e[k + 5], kat = e[k + 6];
          const int32_t count = e[k + 7], bs = e[k + 8], bl = e[k + 9], rl = e[k + 10];
          CHECK(st >= 100 && st <= 599 && (minor == 0 || minor == 1), "status/minor");
          CHECK(hi == -1 ? lo == -1 : (hi >= 0 && hi < (1 << 21)), "content length");
          CHECK(kat >= -1, "keep-alive timeout");
          CHECK(count >= 0 && static_cast<uint32_t>(count) <= s.limits.maxHeaders, "header count");
          CHECK(bs >= 0 && bl >= 1 && static_cast<size_t>(bs) + static_cast<size_t>(bl) <= storeSize, "block bounds");
          CHECK(rl >= 0 && rl < bl && store[bs + rl] == 0 && store[bs + bl - 1] == 0, "block structure");
          CHECK(static_cast<uint32_t>(bl) <= s.limits.maxHeadSize, "block size");
          int nuls = 0;
          for (int32_t i = 0; i < bl; i++) nuls += store[bs + i] == 0;
          CHECK(nuls == 1 + 2 * count, "block NULs");
          char buf[96];
          std::snprintf(buf, sizeof buf, "H%d.%d.%d.%d.%u.%d.%d.", st, minor, flags, hi, static_cast<uint32_t>(lo), kat, count);
          ev += buf;
          ev.append(reinterpret_cast<const char*>(store + bs), static_cast<size_t>(bl));
          k += 11;
          break;
        }
        case h1::kEvBody: {
          const int32_t off = e[k + 1], len2 = e[k + 2];
          CHECK(off >= 0 && len2 > 0 && static_cast<size_t>(off) + static_cast<size_t>(len2) <= consumed, "body slice");
          if (!inBody) ev += "D[";
          inBody = true;
          ev.append(reinterpret_cast<const char*>(data + off), static_cast<size_t>(len2));
          k += 3;
          break;
        }
        case h1::kEvTrailers: {
          closeBody();
          const int32_t count = e[k + 1], bs = e[k + 2], bl = e[k + 3];
          CHECK(count >= 1 && static_cast<uint32_t>(count) <= s.limits.maxHeaders, "trailer count");
          CHECK(bs >= 0 && bl >= 2 && static_cast<size_t>(bs) + static_cast<size_t>(bl) <= storeSize, "trailer bounds");
          int nuls = 0;
          for (int32_t i = 0; i < bl; i++) nuls += store[bs + i] == 0;
          CHECK(nuls == 2 * count && store[bs + bl - 1] == 0, "trailer NULs");
          ev += 'T';
          ev.append(reinterpret_cast<const char*>(store + bs), static_cast<size_t>(bl));
          k += 4;
          break;
        }
        case h1::kEvComplete:
          closeBody();
          ev += 'C';
          k += 1;
          break;
        case h1::kEvError: {
          closeBody();
          CHECK(status == h1::kStatusError && !sawError && k + 4 == n, "error event last, once");
          sawError = true;
          char buf[64];
          std::snprintf(buf, sizeof buf, "E%d@%lld", e[k + 1],
                        static_cast<long long>((static_cast<uint64_t>(static_cast<uint32_t>(e[k + 2])) << 32) |
                                               static_cast<uint32_t>(e[k + 3])));
          ev += buf;
          k += 4;
          break;
        }
        default:
          Die("unknown event", std::to_string(e[k]));
      }
    }
    CHECK(k == n, "event record overrun");
    (void)len;
  };

  size_t fed = 0;
  std::vector<size_t> bounds;
  bounds.push_back(0);
  for (size_t c : cuts) bounds.push_back(c);
  bounds.push_back(in.size());
  for (size_t b = 0; b + 1 < bounds.size(); b++) {
    // Each piece in its own heap buffer, exactly sized: ASan sees any read past it.
    std::vector<uint8_t> piece(in.begin() + static_cast<long>(bounds[b]), in.begin() + static_cast<long>(bounds[b + 1]));
    const uint8_t* data = piece.empty() ? reinterpret_cast<const uint8_t*>("") : piece.data();
    size_t off = 0;
    for (;;) {
      const int32_t st = p.Execute(data + off, piece.size() - off);
      const size_t consumed = static_cast<size_t>(out[1]);
      CHECK(consumed <= piece.size() - off, "consumed past the data");
      replay(data + off, piece.size() - off, consumed, st);
      if (st == h1::kStatusPaused) {
        CHECK(consumed < piece.size() - off, "paused at the end");
        CHECK(consumed > 0 || out[0] > 0, "pause without progress");
        off += consumed;
        continue;
      }
      if (st == h1::kStatusOk) {
        CHECK(consumed == piece.size() - off, "OK without consuming everything");
        break;
      }
      closeBody();
      if (st == h1::kStatusUpgraded) {
        ev += "U@" + std::to_string(fed + off + consumed);
        // Later calls: upgraded again, nothing consumed, no events.
        CHECK(p.Execute(data, piece.size()) == h1::kStatusUpgraded && out[0] == 0 && out[1] == 0, "upgrade sticky");
        return ev;
      }
      CHECK(st == h1::kStatusError && sawError && p.error() != 0, "error status");
      CHECK(p.Execute(data, piece.size()) == h1::kStatusError && out[0] == 0 && out[1] == 0, "error sticky");
      CHECK(p.Finish() == h1::kStatusError && out[0] == 0, "error sticky at finish");
      return ev;
    }
    fed += piece.size();
  }
  const int32_t st = p.Finish();
  replay(nullptr, 0, 0, st);
  closeBody();
  CHECK(st == h1::kStatusOk || st == h1::kStatusError || st == h1::kStatusUpgraded, "finish status");
  ev += st == h1::kStatusError ? "!" : "F";
  return ev;
}

class Checker {
 public:
  // Checks one input under one setup: whole, and cut per `plans`.
  void Check(const Setup& s, const std::vector<uint8_t>& in, const std::vector<std::vector<size_t>>& plans) {
    Prepare(s);
    std::string whole;
    for (size_t i = 0; i < plans.size(); i++) {
      parser_->Reset();
      for (int32_t k : s.kinds) CHECK(parser_->Expect(k), "expect");
      const std::string got = Run(*parser_, out_.data(), store_.data(), store_.size(), s, in, plans[i]);
      if (i == 0) {
        whole = got;
      } else if (got != whole) {
        std::string detail = "split-dependent result for a " + std::to_string(in.size()) + "-byte input, cuts:";
        for (size_t c : plans[i]) detail += " " + std::to_string(c);
        Die("same events for every cut plan", detail);
      }
    }
    executions_ += plans.size();
  }
  uint64_t executions() const { return executions_; }

 private:
  void Prepare(const Setup& s) {
    if (parser_ != nullptr && s.limits.maxHeadSize == limits_.maxHeadSize && s.limits.maxHeaders == limits_.maxHeaders &&
        s.limits.maxChunkExtensionSize == limits_.maxChunkExtensionSize) {
      return;
    }
    limits_ = s.limits;
    out_.assign(ResponseParser::kOutInts, 0);
    store_.assign(ResponseParser::StoreSize(limits_), 0);
    CHECK(ResponseParser::ValidLimits(limits_), "limits");
    parser_.reset(new ResponseParser(limits_, out_.data(), store_.data()));
  }
  std::unique_ptr<ResponseParser> parser_;
  Limits limits_;
  std::vector<int32_t> out_;
  std::vector<uint8_t> store_;
  uint64_t executions_ = 0;
};

// splitmix64
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t Next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint32_t Int(uint32_t n) { return n == 0 ? 0 : static_cast<uint32_t>(Next() % n); }
  bool Chance(double p) { return static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0) < p; }
  template <typename T, size_t N>
  const T& Pick(const T (&xs)[N]) {
    return xs[Int(N)];
  }
};

std::vector<std::vector<size_t>> Plans(Rng& r, size_t n) {
  std::vector<std::vector<size_t>> plans;
  plans.emplace_back();  // whole
  if (n <= 1) return plans;
  if (n <= 160 && r.Chance(0.15)) {
    for (size_t k = 1; k < n; k++) plans.push_back({k});
    std::vector<size_t> every;
    for (size_t k = 1; k < n; k++) every.push_back(k);
    plans.push_back(every);
    return plans;
  }
  for (int i = 0, m = 2 + static_cast<int>(r.Int(4)); i < m; i++) {
    std::vector<size_t> cuts;
    size_t at = 0;
    for (int c = 0, cm = 1 + static_cast<int>(r.Int(8)); c < cm; c++) {
      at += 1 + r.Int(static_cast<uint32_t>(n < 64 ? n : 64));
      if (at >= n) break;
      cuts.push_back(at);
    }
    plans.push_back(cuts);
  }
  return plans;
}

Setup RandomSetup(Rng& r, int responses) {
  Setup s;
  if (r.Chance(0.3)) {
    s.limits.maxHeadSize = 16 + r.Int(400);
    s.limits.maxHeaders = r.Int(9);
    s.limits.maxChunkExtensionSize = r.Int(13);
  }
  for (int i = 0; i < responses + static_cast<int>(r.Int(2)); i++) {
    const uint32_t k = r.Int(20);
    s.kinds.push_back(k == 0 ? h1::kRequestHead : k == 1 ? h1::kRequestConnect : h1::kRequestOther);
  }
  return s;
}

#ifdef GATEWAY_STANDALONE_FUZZ
// ------------------------------------------------------------------------------------------
// Generator (standalone front end)

const char* const kNames[] = {"Content-Type", "X-A", "Set-Cookie", "content-length", "Content-Length", "Transfer-Encoding",
                              "transfer-encoding", "Connection", "Keep-Alive", "keep-alive", "Server", "x"};
const char* const kValues[] = {"text/plain", "", " a  b ", "\xe9t\xe9", "close", "keep-alive", "timeout=5, max=3", "chunked",
                               "gzip, chunked", "5", "0", "5, 5", "007", "99999999999999999999", "timeout=2147483648", "\t"};
const char* const kStatus[] = {"200 OK", "204 No Content", "304 Not Modified", "100 Continue", "103 Early Hints", "101 Switching",
                               "404 Not Found", "500 ", "200", "199 X", "201 Created"};
const char* const kExt[] = {"", "", "", ";a", ";a=b", " ; a = \"q\\\"x\"", ";n=1;m", "\t;x=\t\"y z\""};
const char* const kTokens[] = {"HTTP/1.1 ", "HTTP/1.0 ", "200", "101", "204", "304", "100", " OK", "\r\n", "\r\n\r\n", "\r", "\n",
                               ": ", ":", "Content-Length", "Transfer-Encoding", "chunked", "Connection", "close", "keep-alive",
                               "Keep-Alive", "timeout=", "0", "5", "ff", "FFFFFFFFFFFFFFFFF", ";", "=", "\"", "\\", ",", " ", "\t",
                               "\x00", "\x7f", "\xff", "abc"};
const uint8_t kInteresting[] = {0x0d, 0x0a, 0x00, 0x20, 0x09, 0x3a, 0x3b, 0x22, 0x5c, 0x2c, 0x3d, 0x30, 0x66, 0x78, 0x7f, 0x80, 0xff, 0x31, 0x48};

std::string Hex(size_t n, Rng& r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, r.Chance(0.3) ? "%zX" : "%zx", n);
  std::string s = buf;
  if (r.Chance(0.1)) s = std::string(r.Int(static_cast<uint32_t>(17 - s.size())), '0') + s;
  return s;
}

std::string Response(Rng& r) {
  std::string s;
  if (r.Chance(0.15)) s += "HTTP/1.1 100 Continue\r\n\r\n";
  s += r.Chance(0.1) ? "HTTP/1.0 " : "HTTP/1.1 ";
  s += r.Pick(kStatus);
  s += "\r\n";
  for (uint32_t n = r.Int(r.Chance(0.1) ? 12 : 4); n > 0; n--) {
    s += r.Pick(kNames);
    s += ":";
    if (r.Chance(0.3)) s += " ";
    s += r.Pick(kValues);
    s += "\r\n";
  }
  std::string body;
  for (uint32_t n = r.Int(r.Chance(0.05) ? 3000 : 60); n > 0; n--) body += static_cast<char>(r.Chance(0.8) ? 'a' + r.Int(26) : r.Int(256));
  const uint32_t framing = r.Int(3);
  if (framing == 0) {
    s += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  } else if (framing == 1) {
    s += "Transfer-Encoding: chunked\r\n\r\n";
    size_t at = 0;
    while (at < body.size()) {
      size_t n = 1 + r.Int(static_cast<uint32_t>(body.size() - at < 40 ? body.size() - at : 40));
      s += Hex(n, r) + r.Pick(kExt) + "\r\n" + body.substr(at, n) + "\r\n";
      at += n;
    }
    s += std::string("0") + r.Pick(kExt) + "\r\n";
    if (r.Chance(0.3)) s += "Checksum: abc\r\n";
    s += "\r\n";
  } else {
    s += "\r\n" + body;
  }
  return s;
}

void Mutate(Rng& r, std::vector<uint8_t>& b) {
  for (uint32_t n = 1 + r.Int(4); n > 0; n--) {
    const size_t at = r.Int(static_cast<uint32_t>(b.size() + 1));
    const uint8_t byte = r.Chance(0.7) ? r.Pick(kInteresting) : static_cast<uint8_t>(r.Int(256));
    const uint32_t op = r.Int(100);
    if (op < 35 && at < b.size()) {
      b[at] = byte;
    } else if (op < 60) {
      b.insert(b.begin() + static_cast<long>(at), byte);
    } else if (op < 75 && at < b.size()) {
      b.erase(b.begin() + static_cast<long>(at), b.begin() + static_cast<long>(std::min(b.size(), at + 1 + r.Int(3))));
    } else if (op < 88 && at < b.size()) {
      const size_t len = std::min(b.size() - at, static_cast<size_t>(1 + r.Int(10)));
      std::vector<uint8_t> dup(b.begin() + static_cast<long>(at), b.begin() + static_cast<long>(at + len));
      b.insert(b.begin() + static_cast<long>(at), dup.begin(), dup.end());
    } else if (op < 95) {
      b.resize(std::min(b.size(), at));
    } else {
      const char* t = r.Pick(kTokens);
      b.insert(b.begin() + static_cast<long>(at), t, t + std::strlen(t));
    }
  }
}

std::vector<uint8_t> Generate(Rng& r, const std::vector<std::vector<uint8_t>>& corpus, int* responses) {
  std::vector<uint8_t> b;
  *responses = 1;
  const uint32_t mode = r.Int(100);
  if (!corpus.empty() && mode < 25) {
    b = corpus[r.Int(static_cast<uint32_t>(corpus.size()))];
    *responses = 1 + static_cast<int>(r.Int(3));
  } else if (mode < 35) {
    for (uint32_t n = 1 + r.Int(30); n > 0; n--) {
      const char* t = r.Pick(kTokens);
      b.insert(b.end(), t, t + std::strlen(t));
    }
    *responses = 1 + static_cast<int>(r.Int(3));
  } else {
    std::string s;
    *responses = 1 + static_cast<int>(r.Chance(0.3) ? r.Int(3) : 0);
    for (int i = 0; i < *responses; i++) s += Response(r);
    b.assign(s.begin(), s.end());
  }
  if (r.Chance(0.6)) Mutate(r, b);
  return b;
}
#endif  // GATEWAY_STANDALONE_FUZZ

}  // namespace

// libFuzzer entry: 4 option bytes, then the stream.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Checker checker;
  if (size < 4) return 0;
  Rng r((static_cast<uint64_t>(data[0]) << 24) | (static_cast<uint64_t>(data[1]) << 16) | (data[2] << 8) | data[3]);
  std::vector<uint8_t> in(data + 4, data + size);
  const Setup s = RandomSetup(r, 1 + static_cast<int>(data[0] % 3));
  checker.Check(s, in, Plans(r, in.size()));
  return 0;
}

#ifdef GATEWAY_STANDALONE_FUZZ
int main(int argc, char** argv) {
  // fuzz_response_parser [--seconds N] [--runs N] [--seed N] [--corpus DIR]
  double seconds = 20;
  uint64_t runs = 0;
  uint64_t seed = 0x5eed;
  const char* corpusDir = nullptr;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
    else if (std::strcmp(argv[i], "--runs") == 0) runs = std::strtoull(argv[i + 1], nullptr, 10);
    else if (std::strcmp(argv[i], "--seed") == 0) seed = std::strtoull(argv[i + 1], nullptr, 10);
    else if (std::strcmp(argv[i], "--corpus") == 0) corpusDir = argv[i + 1];
  }
  std::vector<std::vector<uint8_t>> corpus;
  if (corpusDir != nullptr) {
    if (DIR* d = opendir(corpusDir)) {
      while (dirent* ent = readdir(d)) {
        if (ent->d_name[0] == '.') continue;
        const std::string path = std::string(corpusDir) + "/" + ent->d_name;
        if (FILE* f = std::fopen(path.c_str(), "rb")) {
          std::vector<uint8_t> bytes;
          uint8_t buf[4096];
          size_t n = 0;
          while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.insert(bytes.end(), buf, buf + n);
          std::fclose(f);
          corpus.push_back(bytes);
        }
      }
      closedir(d);
    }
  }
  Checker checker;
  // Corpus files first, unmutated, under the default limits.
  for (const auto& c : corpus) {
    Rng r(seed);
    Setup s;
    s.kinds = {h1::kRequestOther, h1::kRequestOther, h1::kRequestOther};
    checker.Check(s, c, Plans(r, c.size()));
  }
  const auto start = std::chrono::steady_clock::now();
  uint64_t inputs = 0;
  uint64_t bytes = 0;
  for (uint64_t i = 0;; i++) {
    if (runs != 0 ? i >= runs
                  : ((i & 63) == 0 && std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >= seconds)) {
      break;
    }
    const uint64_t inputSeed = seed * 0x100000001B3ull + i;
    Rng r(inputSeed);
    int responses = 1;
    std::vector<uint8_t> in = Generate(r, corpus, &responses);
    const Setup s = RandomSetup(r, responses);
    // On a crash this line is the last one printed: rerun with --seed/--runs to reproduce.
    if (std::getenv("FUZZ_TRACE") != nullptr) std::fprintf(stderr, "input %llu\n", static_cast<unsigned long long>(i));
    checker.Check(s, in, Plans(r, in.size()));
    inputs++;
    bytes += in.size();
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("fuzz_response_parser: ok: %llu inputs (%llu bytes), %llu executions, %zu corpus files, seed %llu, %.1f s\n",
              static_cast<unsigned long long>(inputs), static_cast<unsigned long long>(bytes),
              static_cast<unsigned long long>(checker.executions()), corpus.size(), static_cast<unsigned long long>(seed), elapsed);
  return 0;
}
#endif
