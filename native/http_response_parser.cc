// HTTP/1.1 response parser: see http_response_parser.h for the output layout and
// src/native/http-response-parser-types.ts for the contract. No exceptions, no allocation, no
// N-API: this file is also compiled alone by native/fuzz/ under ASan + UBSan.
#include "http_response_parser.h"

#include <cstdlib>
#include <cstring>

// The fuzz build defines GATEWAY_PARSER_CHECKS: internal invariants abort instead of being
// trusted (the invariants are proved in comments; the fuzzer checks the proofs).
#ifdef GATEWAY_PARSER_CHECKS
#define PARSER_CHECK(cond) \
  do {                     \
    if (!(cond)) std::abort(); \
  } while (0)
#else
#define PARSER_CHECK(cond) \
  do {                     \
  } while (0)
#endif

namespace gateway {
namespace http1 {

namespace {

enum : uint8_t {
  kTchar = 1,   // RFC 9110 tchar
  kField = 2,   // field-value / reason byte: HTAB, SP, VCHAR, obs-text
  kHex = 4,
  kQdtext = 8,  // HTAB, SP, 0x21, 0x23-0x5B, 0x5D-0x7E, obs-text
  kOws = 16,    // SP, HTAB
};

struct ClassTable {
  uint8_t c[256];
};

constexpr ClassTable MakeClassTable() {
  ClassTable t{};
  for (int b = 0; b < 256; b++) {
    uint8_t v = 0;
    const bool digit = b >= '0' && b <= '9';
    const bool alpha = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z');
    bool tch = digit || alpha;
    switch (b) {
      case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
      case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        tch = true;
        break;
      default:
        break;
    }
    if (tch) v |= kTchar;
    if (b == '\t' || (b >= 0x20 && b != 0x7f)) v |= kField;
    if (digit || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F')) v |= kHex;
    if (b == '\t' || b == ' ' || b == 0x21 || (b >= 0x23 && b <= 0x5b) || (b >= 0x5d && b <= 0x7e) || b >= 0x80) {
      v |= kQdtext;
    }
    if (b == ' ' || b == '\t') v |= kOws;
    t.c[b] = v;
  }
  return t;
}

constexpr ClassTable kClass = MakeClassTable();

inline bool Is(uint8_t b, uint8_t cls) { return (kClass.c[b] & cls) != 0; }

inline uint8_t Lower(uint8_t b) { return (b >= 'A' && b <= 'Z') ? static_cast<uint8_t>(b + 32) : b; }

// s[0, n) equals the lower-case literal `lit` ignoring ASCII case.
bool EqualsLower(const uint8_t* s, size_t n, const char* lit) {
  const size_t m = std::strlen(lit);
  if (n != m) return false;
  for (size_t i = 0; i < n; i++) {
    if (Lower(s[i]) != static_cast<uint8_t>(lit[i])) return false;
  }
  return true;
}

inline uint32_t HexValue(uint8_t b) {
  if (b <= '9') return b - '0';
  return static_cast<uint32_t>(Lower(b) - 'a' + 10);
}

// One comma-separated list element of v[0, n) starting at *i: [*s, *e) trimmed of OWS; *i moves
// past the comma. Returns false when there is no element left.
bool NextElement(const uint8_t* v, size_t n, size_t* i, size_t* s, size_t* e, bool* last) {
  if (*i > n) return false;
  size_t a = *i;
  size_t c = a;
  while (c < n && v[c] != ',') c++;
  size_t b = c;
  while (a < b && Is(v[a], kOws)) a++;
  while (b > a && Is(v[b - 1], kOws)) b--;
  *s = a;
  *e = b;
  *last = c >= n;
  *i = c + 1;
  return true;
}

}  // namespace

bool ResponseParser::ValidLimits(const Limits& l) {
  return l.maxHeadSize >= kMinHeadSize && l.maxHeadSize <= kMaxHeadSize && l.maxHeaders <= kMaxHeaders &&
         l.maxChunkExtensionSize <= kMaxChunkExtensionSize;
}

ResponseParser::ResponseParser(const Limits& limits, int32_t* out, uint8_t* store)
    : limits_(limits), out_(out), ev_(out + kOutHeader), store_(store), storeCap_(StoreSize(limits)) {
  std::memset(out_, 0, kOutInts * sizeof(int32_t));
  Reset();
}

void ResponseParser::Reset() {
  state_ = kIdle;
  error_ = kErrNone;
  total_ = 0;
  fifoHead_ = 0;
  fifoCount_ = 0;
  pos_ = 0;
  secStart_ = 0;
  blk_ = 0;
  secOpen_ = false;
  inTrailers_ = false;
  interim_ = false;
  evLen_ = 0;
  out_[0] = 0;
  out_[1] = 0;
  out_[2] = 0;
}

bool ResponseParser::Expect(int32_t kind) {
  if (fifoCount_ >= kMaxPending) return false;
  if (kind != kRequestHead && kind != kRequestConnect) kind = kRequestOther;
  fifo_[(fifoHead_ + fifoCount_) % kMaxPending] = static_cast<uint8_t>(kind);
  fifoCount_++;
  return true;
}

bool ResponseParser::Emit1(int32_t a) {
  PARSER_CHECK(evLen_ + 1 <= kEventInts);
  ev_[evLen_++] = a;
  return true;
}

bool ResponseParser::Fail(int32_t code, uint64_t position) {
  error_ = code;
  state_ = kError;
  secOpen_ = false;
  PARSER_CHECK(evLen_ + 4 <= kEventInts);
  int32_t* e = ev_ + evLen_;
  e[0] = kEvError;
  e[1] = code;
  e[2] = static_cast<int32_t>(position >> 32);
  e[3] = static_cast<int32_t>(static_cast<uint32_t>(position));
  evLen_ += 4;
  return false;
}

void ResponseParser::EmitHead(int32_t flags, int64_t cl, int32_t kat) {
  PARSER_CHECK(evLen_ + 11 <= kEventInts);
  int32_t* e = ev_ + evLen_;
  e[0] = kEvHead;
  e[1] = status_;
  e[2] = minor_;
  e[3] = flags;
  if (cl < 0) {
    e[4] = -1;
    e[5] = -1;
  } else {
    e[4] = static_cast<int32_t>(static_cast<uint64_t>(cl) >> 32);
    e[5] = static_cast<int32_t>(static_cast<uint32_t>(cl));
  }
  e[6] = kat;
  e[7] = static_cast<int32_t>(fieldCount_);
  e[8] = static_cast<int32_t>(secStart_);
  e[9] = static_cast<int32_t>(blk_);
  e[10] = static_cast<int32_t>(reasonLen_);
  evLen_ += 11;
}

// A head or trailer section starts: it needs maxHeadSize free bytes in the store (its block is
// never longer than its bytes on the wire, which the limit bounds). False: pause first.
bool ResponseParser::OpenSection(bool trailers) {
  if (storeCap_ - pos_ < limits_.maxHeadSize) return false;
  secStart_ = pos_;
  blk_ = 0;
  secOpen_ = true;
  inTrailers_ = trailers;
  sectionBytes_ = 0;
  fieldCount_ = 0;
  special_ = kNotSpecial;
  if (!trailers) {
    idx_ = 0;
    status_ = 0;
    minor_ = 0;
    reasonLen_ = 0;
    hasCl_ = false;
    cl_ = 0;
    clRefStart_ = 0;
    clRefLen_ = 0;
    hasTe_ = false;
    teChunked_ = false;
    connClose_ = false;
    connKeepAlive_ = false;
    katDecided_ = false;
    kat_ = -1;
    keepAlive_ = false;
  }
  return true;
}

bool ResponseParser::ParseContentLength(const uint8_t* v, size_t n, uint64_t lfPos) {
  size_t i = 0, s = 0, e = 0;
  bool last = false;
  while (NextElement(v, n, &i, &s, &e, &last)) {
    if (s == e) return Fail(kErrInvalidContentLength, lfPos);
    for (size_t k = s; k < e; k++) {
      if (v[k] < '0' || v[k] > '9') return Fail(kErrInvalidContentLength, lfPos);
    }
    uint64_t value = 0;
    for (size_t k = s; k < e; k++) {
      const uint64_t d = v[k] - '0';
      if (value > (kMaxLength - d) / 10) return Fail(kErrContentLengthOverflow, lfPos);
      value = value * 10 + d;
    }
    const uint32_t off = static_cast<uint32_t>((v + s) - Block());
    const uint32_t len = static_cast<uint32_t>(e - s);
    if (!hasCl_) {
      hasCl_ = true;
      cl_ = value;
      clRefStart_ = off;
      clRefLen_ = len;
    } else if (len != clRefLen_ || std::memcmp(Block() + clRefStart_, v + s, len) != 0) {
      return Fail(kErrContentLengthMismatch, lfPos);
    }
    if (last) break;
  }
  return true;
}

bool ResponseParser::ParseTransferEncoding(const uint8_t* v, size_t n, uint64_t lfPos) {
  hasTe_ = true;
  size_t i = 0, s = 0, e = 0;
  bool last = false;
  while (NextElement(v, n, &i, &s, &e, &last)) {
    if (s == e) return Fail(kErrInvalidTransferEncoding, lfPos);
    for (size_t k = s; k < e; k++) {
      if (!Is(v[k], kTchar)) return Fail(kErrInvalidTransferEncoding, lfPos);
    }
    if (teChunked_) return Fail(kErrInvalidTransferEncoding, lfPos);  // a coding after chunked
    if (EqualsLower(v + s, e - s, "chunked")) teChunked_ = true;
    if (last) break;
  }
  return true;
}

void ResponseParser::ParseConnection(const uint8_t* v, size_t n) {
  size_t i = 0, s = 0, e = 0;
  bool last = false;
  while (NextElement(v, n, &i, &s, &e, &last)) {
    if (EqualsLower(v + s, e - s, "close")) connClose_ = true;
    if (EqualsLower(v + s, e - s, "keep-alive")) connKeepAlive_ = true;
    if (last) break;
  }
}

void ResponseParser::ParseKeepAlive(const uint8_t* v, size_t n) {
  size_t i = 0, s = 0, e = 0;
  bool last = false;
  while (!katDecided_ && NextElement(v, n, &i, &s, &e, &last)) {
    if (e - s >= 8 && EqualsLower(v + s, 8, "timeout=")) {
      katDecided_ = true;
      const size_t ds = s + 8;
      if (e - ds < 1 || e - ds > 10) break;
      uint64_t value = 0;
      bool ok = true;
      for (size_t k = ds; k < e; k++) {
        if (v[k] < '0' || v[k] > '9') {
          ok = false;
          break;
        }
        value = value * 10 + (v[k] - '0');
      }
      if (ok && value <= 0x7fffffffu) kat_ = static_cast<int32_t>(value);
      break;
    }
    if (last) break;
  }
}

// The LF of a field line: the framing fields are interpreted (head only).
bool ResponseParser::FieldLineDone(uint64_t lfPos) {
  const Special sp = special_;
  special_ = kNotSpecial;
  if (inTrailers_ || sp == kNotSpecial) return true;
  const uint8_t* v = Block() + valueStart_;
  const size_t n = valueEnd_ - valueStart_;
  switch (sp) {
    case kContentLength:
      return ParseContentLength(v, n, lfPos);
    case kTransferEncoding:
      return ParseTransferEncoding(v, n, lfPos);
    case kConnection:
      ParseConnection(v, n);
      return true;
    case kKeepAlive:
      ParseKeepAlive(v, n);
      return true;
    default:
      return true;
  }
}

void ResponseParser::MessageDone() {
  Emit1(kEvComplete);
  state_ = keepAlive_ ? kIdle : kClosed;
}

// The LF of the head's empty line. *status becomes kStatusUpgraded when parsing must stop.
bool ResponseParser::HeadDone(const uint8_t* p, const uint8_t* data, int32_t* status) {
  const uint64_t lfPos = total_ + static_cast<uint64_t>(p - data);
  if (hasTe_) {
    if (minor_ == 0) return Fail(kErrTransferEncodingInHttp10, lfPos);
    if (hasCl_) return Fail(kErrTransferEncodingWithContentLength, lfPos);
    if (!teChunked_) return Fail(kErrTransferEncodingNotChunked, lfPos);
  }
  secOpen_ = false;
  pos_ = secStart_ + blk_;
  PARSER_CHECK(fifoCount_ > 0);
  const int32_t kind = fifo_[fifoHead_];
  if (status_ < 200 && status_ != 101) {
    EmitHead(kFlagInformational | kFlagNoBody, -1, -1);
    Emit1(kEvComplete);
    state_ = kIdle;
    interim_ = true;
    return true;
  }
  interim_ = false;
  fifoHead_ = (fifoHead_ + 1) % kMaxPending;
  fifoCount_--;
  const int64_t cl = hasCl_ ? static_cast<int64_t>(cl_) : -1;
  if (status_ == 101 || (kind == kRequestConnect && status_ >= 200 && status_ < 300)) {
    EmitHead(kFlagUpgrade | kFlagNoBody, cl, kat_);
    Emit1(kEvComplete);
    state_ = kUpgraded;
    *status = kStatusUpgraded;
    return true;
  }
  keepAlive_ = minor_ == 1 ? !connClose_ : (connKeepAlive_ && !connClose_);
  const int32_t ka = keepAlive_ ? kFlagKeepAlive : 0;
  if (kind == kRequestHead || status_ == 204 || status_ == 304) {
    EmitHead(kFlagNoBody | ka, cl, kat_);
    MessageDone();
  } else if (hasTe_) {
    EmitHead(kFlagChunked | ka, cl, kat_);
    state_ = kChunkSizeStart;
    chunkDigits_ = 0;
    extLen_ = 0;
    remaining_ = 0;
  } else if (hasCl_) {
    EmitHead(ka, cl, kat_);
    if (cl_ == 0) {
      MessageDone();
    } else {
      remaining_ = cl_;
      state_ = kBodyFixed;
    }
  } else {
    keepAlive_ = false;
    EmitHead(kFlagCloseDelimited, cl, kat_);
    state_ = kBodyClose;
  }
  return true;
}

int32_t ResponseParser::Execute(const uint8_t* data, size_t len) {
  evLen_ = 0;
  // The blocks of the previous call are dead; a section cut by its end moves to the front.
  if (secOpen_) {
    if (secStart_ != 0) std::memmove(store_, store_ + secStart_, blk_);
    secStart_ = 0;
  }
  pos_ = 0;

  const uint8_t* p = data;
  const uint8_t* const end = data + len;
  int32_t status = kStatusOk;
  auto at = [&](const uint8_t* q) { return total_ + static_cast<uint64_t>(q - data); };
  const uint32_t maxHead = limits_.maxHeadSize;

  switch (state_) {
    case kError:
      status = kStatusError;
      p = end;
      break;
    case kUpgraded:
      status = kStatusUpgraded;
      p = end;
      break;
    default:
      break;
  }
  const uint8_t* stop = status == kStatusOk ? nullptr : data;  // consumed = 0 for those two

  while (status == kStatusOk && p < end) {
    if (evLen_ + kMaxStepInts > kEventInts) {
      status = kStatusPaused;
      break;
    }
    const uint8_t b = *p;
    bool ok = true;

    if (state_ >= kVersion && state_ <= kSectionEndLf) {
      // Head and trailer sections: every byte counts towards the limit, checked first.
      if (++sectionBytes_ > maxHead) {
        Fail(inTrailers_ ? kErrTrailersTooLarge : kErrHeadTooLarge, at(p));
        status = kStatusError;
        break;
      }
      PARSER_CHECK(blk_ <= sectionBytes_ && secStart_ + maxHead <= storeCap_);
      uint8_t* blk = Block();
      if (state_ == kStatusLf || state_ == kLineLf || state_ == kSectionEndLf) {
        if (b != '\n') {
          Fail(kErrBareCr, at(p));
          status = kStatusError;
          break;
        }
        if (state_ == kStatusLf) {
          state_ = kLineStart;
        } else if (state_ == kLineLf) {
          ok = FieldLineDone(at(p));
          state_ = ok ? kLineStart : kError;
        } else if (inTrailers_) {
          secOpen_ = false;
          pos_ = secStart_ + blk_;
          if (fieldCount_ > 0) {
            int32_t* e = ev_ + evLen_;
            e[0] = kEvTrailers;
            e[1] = static_cast<int32_t>(fieldCount_);
            e[2] = static_cast<int32_t>(secStart_);
            e[3] = static_cast<int32_t>(blk_);
            evLen_ += 4;
          }
          MessageDone();
        } else {
          ok = HeadDone(p, data, &status);
        }
        if (!ok) {
          status = kStatusError;
          break;
        }
        p++;
        continue;
      }
      if (b == '\n') {
        Fail(kErrBareLf, at(p));
        status = kStatusError;
        break;
      }
      switch (state_) {
        case kVersion: {
          static const char kPrefix[] = "HTTP/1.";
          if (idx_ < 7) {
            ok = b == static_cast<uint8_t>(kPrefix[idx_]);
            idx_++;
          } else if (idx_ == 7) {
            ok = b == '0' || b == '1';
            minor_ = b - '0';
            idx_++;
          } else {
            ok = b == ' ';
            state_ = kStatusCode;
            idx_ = 0;
          }
          if (!ok) {
            Fail(kErrInvalidVersion, at(p));
            break;
          }
          p++;
          break;
        }
        case kStatusCode:
          ok = idx_ == 0 ? (b >= '1' && b <= '5') : (b >= '0' && b <= '9');
          if (!ok) {
            Fail(kErrInvalidStatus, at(p));
            break;
          }
          status_ = status_ * 10 + (b - '0');
          if (++idx_ == 3) state_ = kAfterStatus;
          p++;
          break;
        case kAfterStatus:
          if (b == ' ') {
            state_ = kReason;
          } else if (b == '\r') {
            reasonLen_ = 0;
            blk[blk_++] = 0;
            state_ = kStatusLf;
          } else {
            ok = Fail(kErrInvalidStatus, at(p));
            break;
          }
          p++;
          break;
        case kReason: {
          if (Is(b, kField)) {
            // p[0] is counted; up to maxHead - sectionBytes_ more fit under the limit.
            const size_t room = static_cast<size_t>(maxHead - sectionBytes_) + 1;
            const size_t avail = static_cast<size_t>(end - p);
            const size_t n = avail < room ? avail : room;
            size_t i = 0;
            while (i < n && Is(p[i], kField)) {
              blk[blk_ + i] = p[i];
              i++;
            }
            blk_ += static_cast<uint32_t>(i);
            sectionBytes_ += static_cast<uint32_t>(i - 1);
            p += i;
          } else if (b == '\r') {
            reasonLen_ = blk_;
            blk[blk_++] = 0;
            state_ = kStatusLf;
            p++;
          } else {
            ok = Fail(kErrInvalidReason, at(p));
          }
          break;
        }
        case kLineStart:
          if (b == '\r') {
            state_ = kSectionEndLf;
          } else if (Is(b, kTchar)) {
            if (fieldCount_ >= limits_.maxHeaders) {
              ok = Fail(inTrailers_ ? kErrTooManyTrailers : kErrTooManyHeaders, at(p));
              break;
            }
            fieldCount_++;
            nameStart_ = blk_;
            blk[blk_++] = b;
            state_ = kName;
          } else if (Is(b, kOws)) {
            ok = Fail(kErrObsFold, at(p));
            break;
          } else {
            ok = Fail(kErrInvalidHeaderName, at(p));
            break;
          }
          p++;
          break;
        case kName: {
          if (Is(b, kTchar)) {
            const size_t room = static_cast<size_t>(maxHead - sectionBytes_) + 1;
            const size_t avail = static_cast<size_t>(end - p);
            const size_t n = avail < room ? avail : room;
            size_t i = 0;
            while (i < n && Is(p[i], kTchar)) {
              blk[blk_ + i] = p[i];
              i++;
            }
            blk_ += static_cast<uint32_t>(i);
            sectionBytes_ += static_cast<uint32_t>(i - 1);
            p += i;
          } else if (b == ':') {
            const uint8_t* name = blk + nameStart_;
            const size_t nameLen = blk_ - nameStart_;
            special_ = kNotSpecial;
            if (!inTrailers_) {
              if (EqualsLower(name, nameLen, "content-length")) special_ = kContentLength;
              else if (EqualsLower(name, nameLen, "transfer-encoding")) special_ = kTransferEncoding;
              else if (EqualsLower(name, nameLen, "connection")) special_ = kConnection;
              else if (EqualsLower(name, nameLen, "keep-alive")) special_ = kKeepAlive;
            }
            blk[blk_++] = 0;
            valueStart_ = valueEnd_ = blk_;
            state_ = kValueOws;
            p++;
          } else {
            ok = Fail(kErrInvalidHeaderName, at(p));
          }
          break;
        }
        case kValueOws:
          if (Is(b, kOws)) {
            p++;
          } else if (b == '\r') {
            blk[blk_++] = 0;
            state_ = kLineLf;
            p++;
          } else if (Is(b, kField)) {
            blk[blk_++] = b;
            valueEnd_ = blk_;
            state_ = kValue;
            p++;
          } else {
            ok = Fail(kErrInvalidHeaderValue, at(p));
          }
          break;
        case kValue: {
          if (Is(b, kField)) {
            const size_t room = static_cast<size_t>(maxHead - sectionBytes_) + 1;
            const size_t avail = static_cast<size_t>(end - p);
            const size_t n = avail < room ? avail : room;
            size_t i = 0;
            uint32_t w = blk_;
            uint32_t lastEnd = valueEnd_;
            while (i < n) {
              const uint8_t c = p[i];
              if (!Is(c, kField)) break;
              blk[w++] = c;
              if (!Is(c, kOws)) lastEnd = w;
              i++;
            }
            blk_ = w;
            valueEnd_ = lastEnd;
            sectionBytes_ += static_cast<uint32_t>(i - 1);
            p += i;
          } else if (b == '\r') {
            blk_ = valueEnd_;  // trailing OWS removed
            blk[blk_++] = 0;
            state_ = kLineLf;
            p++;
          } else {
            ok = Fail(kErrInvalidHeaderValue, at(p));
          }
          break;
        }
        default:
          PARSER_CHECK(false);
          break;
      }
      if (!ok) {
        status = kStatusError;
        break;
      }
      continue;
    }

    switch (state_) {
      case kIdle:
        if (fifoCount_ == 0) {
          ok = Fail(kErrUnsolicitedResponse, at(p));
          break;
        }
        if (!OpenSection(false)) {
          status = kStatusPaused;
          break;
        }
        Emit1(kEvBegin);
        state_ = kVersion;
        break;  // the same byte again, as the first of the status line
      case kClosed:
        ok = Fail(kErrDataAfterClose, at(p));
        break;
      case kFinished:
        ok = Fail(kErrDataAfterFinish, at(p));
        break;
      case kBodyFixed:
      case kChunkData: {
        const size_t avail = static_cast<size_t>(end - p);
        const size_t n = remaining_ < avail ? static_cast<size_t>(remaining_) : avail;
        int32_t* e = ev_ + evLen_;
        e[0] = kEvBody;
        e[1] = static_cast<int32_t>(p - data);
        e[2] = static_cast<int32_t>(n);
        evLen_ += 3;
        p += n;
        remaining_ -= n;
        if (remaining_ == 0) {
          if (state_ == kBodyFixed) MessageDone();
          else state_ = kChunkDataCr;
        }
        break;
      }
      case kBodyClose: {
        int32_t* e = ev_ + evLen_;
        e[0] = kEvBody;
        e[1] = static_cast<int32_t>(p - data);
        e[2] = static_cast<int32_t>(end - p);
        evLen_ += 3;
        p = end;
        break;
      }
      case kChunkDataCr:
        if (b != '\r') {
          ok = Fail(kErrInvalidChunkEnd, at(p));
          break;
        }
        state_ = kChunkDataLf;
        p++;
        break;
      case kChunkDataLf:
        if (b != '\n') {
          ok = Fail(kErrInvalidChunkEnd, at(p));
          break;
        }
        state_ = kChunkSizeStart;
        chunkDigits_ = 0;
        extLen_ = 0;
        remaining_ = 0;
        p++;
        break;
      case kChunkSizeLf:
        if (b != '\n') {
          ok = Fail(kErrBareCr, at(p));
          break;
        }
        state_ = remaining_ == 0 ? kTrailersStart : kChunkData;
        p++;
        break;
      case kTrailersStart:
        if (!OpenSection(true)) {
          status = kStatusPaused;
          break;
        }
        state_ = kLineStart;
        break;  // the same byte again, as the first of the trailer section
      default: {
        // Chunk-size line: kChunkSizeStart, kChunkSize and the extension states.
        if (b == '\n') {
          ok = Fail(kErrBareLf, at(p));
          break;
        }
        if (state_ == kChunkSizeStart) {
          if (!Is(b, kHex)) {
            ok = Fail(kErrInvalidChunkSize, at(p));
            break;
          }
          remaining_ = HexValue(b);
          chunkDigits_ = 1;
          state_ = kChunkSize;
          p++;
          break;
        }
        if (state_ == kChunkSize) {
          if (Is(b, kHex)) {
            if (chunkDigits_ >= kMaxChunkDigits) {
              ok = Fail(kErrChunkSizeOverflow, at(p));
              break;
            }
            const uint64_t v = remaining_ * 16 + HexValue(b);
            if (v > kMaxLength) {
              ok = Fail(kErrChunkSizeOverflow, at(p));
              break;
            }
            remaining_ = v;
            chunkDigits_++;
          } else if (b == '\r') {
            state_ = kChunkSizeLf;
          } else if (b == ';' || Is(b, kOws)) {
            if (++extLen_ > limits_.maxChunkExtensionSize) {
              ok = Fail(kErrChunkExtensionTooLong, at(p));
              break;
            }
            state_ = b == ';' ? kExtNameStart : kExtBwsSemi;
          } else {
            ok = Fail(kErrInvalidChunkSize, at(p));
            break;
          }
          p++;
          break;
        }
        // Extensions.
        if (b == '\r') {
          if (state_ == kExtName || state_ == kExtToken || state_ == kExtAfterQuoted) {
            state_ = kChunkSizeLf;
            p++;
          } else {
            ok = Fail(kErrInvalidChunkExtension, at(p));
          }
          break;
        }
        if (++extLen_ > limits_.maxChunkExtensionSize) {
          ok = Fail(kErrChunkExtensionTooLong, at(p));
          break;
        }
        State next = kError;
        const bool ows = Is(b, kOws);
        switch (state_) {
          case kExtBwsSemi:
            next = ows ? kExtBwsSemi : b == ';' ? kExtNameStart : kError;
            break;
          case kExtNameStart:
            next = ows ? kExtNameStart : Is(b, kTchar) ? kExtName : kError;
            break;
          case kExtName:
            next = Is(b, kTchar) ? kExtName : ows ? kExtAfterName : b == '=' ? kExtValueStart : b == ';' ? kExtNameStart : kError;
            break;
          case kExtAfterName:
            next = ows ? kExtAfterName : b == '=' ? kExtValueStart : b == ';' ? kExtNameStart : kError;
            break;
          case kExtValueStart:
            next = ows ? kExtValueStart : b == '"' ? kExtQuoted : Is(b, kTchar) ? kExtToken : kError;
            break;
          case kExtToken:
            next = Is(b, kTchar) ? kExtToken : ows ? kExtBwsSemi : b == ';' ? kExtNameStart : kError;
            break;
          case kExtQuoted:
            next = b == '"' ? kExtAfterQuoted : b == '\\' ? kExtQuotedPair : Is(b, kQdtext) ? kExtQuoted : kError;
            break;
          case kExtQuotedPair:
            next = Is(b, kField) ? kExtQuoted : kError;
            break;
          case kExtAfterQuoted:
            next = ows ? kExtBwsSemi : b == ';' ? kExtNameStart : kError;
            break;
          default:
            PARSER_CHECK(false);
            break;
        }
        if (next == kError) {
          ok = Fail(kErrInvalidChunkExtension, at(p));
          break;
        }
        state_ = next;
        p++;
        break;
      }
    }
    if (!ok) status = kStatusError;
  }

  const uint8_t* consumedEnd = stop != nullptr ? stop : p;
  const size_t consumed = static_cast<size_t>(consumedEnd - data);
  out_[0] = static_cast<int32_t>(evLen_);
  out_[1] = static_cast<int32_t>(consumed);
  out_[2] = error_;
  total_ += consumed;
  return status;
}

int32_t ResponseParser::Finish() {
  evLen_ = 0;
  if (!secOpen_) pos_ = 0;
  int32_t status = kStatusOk;
  switch (state_) {
    case kError:
      status = kStatusError;
      break;
    case kUpgraded:
    case kFinished:
      break;
    case kIdle:
      if (fifoCount_ > 0) {
        // After an interim head the request has had part of its response.
        Fail(interim_ ? kErrUnexpectedEof : kErrNoResponse, total_);
        status = kStatusError;
      } else {
        state_ = kFinished;
      }
      break;
    case kClosed:
      state_ = kFinished;
      break;
    case kBodyClose:
      Emit1(kEvComplete);
      state_ = kFinished;
      break;
    default:
      Fail(kErrUnexpectedEof, total_);
      status = kStatusError;
      break;
  }
  out_[0] = static_cast<int32_t>(evLen_);
  out_[1] = 0;
  out_[2] = error_;
  return status;
}

}  // namespace http1
}  // namespace gateway
