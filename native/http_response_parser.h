// Strict, incremental HTTP/1.1 response parser: the product implementation of the contract in
// src/native/http-response-parser-types.ts (read that first: every rule and corner case, and
// how each is resolved, is written there). The pure-TS oracle is
// src/native/reference/http-response-parser.ts; both must produce the same event streams
// (test/native/http-response-parser-diff.test.ts) and native/fuzz/ runs this file alone under
// ASan + UBSan.
//
// This class has no N-API dependency (the binding is http_response_parser_napi.cc). It owns no
// memory: the caller gives it an output area of kOutInts int32 and a block store of
// StoreSize(limits) bytes, and it allocates nothing, ever.
//
// Output area (int32): [0] event ints written by the last call, [1] bytes consumed by it,
// [2] the sticky error code, [3] reserved, then event records from kOutHeader on:
//   kEvBegin      [1]
//   kEvHead       [2, status, minor, flags, clHi, clLo, keepAliveTimeout, headerCount,
//                  blockStart, blockLen, reasonLen]   content length = clHi * 2^32 + (uint32)clLo,
//                                                      clHi = clLo = -1 when unknown
//   kEvBody       [3, offset, length]                  offset into the data given to Execute
//   kEvTrailers   [4, count, blockStart, blockLen]
//   kEvComplete   [5]
//   kEvError      [6, code, posHi, posLo]              stream position = posHi * 2^32 + (uint32)posLo
//
// Block store: the head's reason phrase and fields are copied, compacted, into the store as
//   reason \0 (name \0 value \0)*        (values OWS-trimmed; trailers: (name \0 value \0)*)
// which is unambiguous because none of them may contain NUL. A block stays valid until the next
// Execute/Finish/Reset call. A head or trailer section opens only when at least maxHeadSize bytes
// of the store are free (its block is never longer than its bytes on the wire), and a step runs
// only when kMaxStepInts event ints are free; otherwise Execute returns kStatusPaused having
// consumed a prefix: the caller reads the events and calls again with the rest. The store is
// 2 * maxHeadSize, so a call never pauses before its first head, and heads far below the limit
// (the usual case) share one call. A section cut by the end of the data stays in the store (moved
// to its start on the next call).
#ifndef GATEWAY_NATIVE_HTTP_RESPONSE_PARSER_H_
#define GATEWAY_NATIVE_HTTP_RESPONSE_PARSER_H_

#include <cstddef>
#include <cstdint>

namespace gateway {
namespace http1 {

// Keep in sync with src/native/http-response-parser-types.ts.
enum ParseError : int32_t {
  kErrNone = 0,
  kErrUnsolicitedResponse = 1,
  kErrInvalidVersion = 2,
  kErrInvalidStatus = 3,
  kErrInvalidReason = 4,
  kErrBareCr = 5,
  kErrBareLf = 6,
  kErrInvalidHeaderName = 7,
  kErrInvalidHeaderValue = 8,
  kErrObsFold = 9,
  kErrHeadTooLarge = 10,
  kErrTooManyHeaders = 11,
  kErrInvalidContentLength = 12,
  kErrContentLengthOverflow = 13,
  kErrContentLengthMismatch = 14,
  kErrInvalidTransferEncoding = 15,
  kErrTransferEncodingNotChunked = 16,
  kErrTransferEncodingWithContentLength = 17,
  kErrTransferEncodingInHttp10 = 18,
  kErrInvalidChunkSize = 19,
  kErrChunkSizeOverflow = 20,
  kErrInvalidChunkExtension = 21,
  kErrChunkExtensionTooLong = 22,
  kErrInvalidChunkEnd = 23,
  kErrTrailersTooLarge = 24,
  kErrTooManyTrailers = 25,
  kErrUnexpectedEof = 26,
  kErrNoResponse = 27,
  kErrDataAfterClose = 28,
  kErrDataAfterFinish = 29,
};

enum Event : int32_t {
  kEvBegin = 1,
  kEvHead = 2,
  kEvBody = 3,
  kEvTrailers = 4,
  kEvComplete = 5,
  kEvError = 6,
};

enum Status : int32_t {
  kStatusOk = 0,
  kStatusPaused = 1,
  kStatusUpgraded = 2,
  kStatusError = -1,
};

enum RequestKind : int32_t {
  kRequestOther = 0,
  kRequestHead = 1,
  kRequestConnect = 2,
};

enum Flags : int32_t {
  kFlagInformational = 1,
  kFlagKeepAlive = 2,
  kFlagChunked = 4,
  kFlagNoBody = 8,
  kFlagUpgrade = 16,
  kFlagCloseDelimited = 32,
};

struct Limits {
  uint32_t maxHeadSize = 16384;
  uint32_t maxHeaders = 100;
  uint32_t maxChunkExtensionSize = 1024;
};

class ResponseParser {
 public:
  static constexpr uint32_t kOutHeader = 4;
  static constexpr uint32_t kEventInts = 1024;
  static constexpr uint32_t kOutInts = kOutHeader + kEventInts;
  static constexpr uint32_t kMaxStepInts = 16;  // the most one step can emit (head + complete)
  static constexpr uint32_t kMaxPending = 64;
  static constexpr uint32_t kMinHeadSize = 16;
  static constexpr uint32_t kMaxHeadSize = 16u * 1024 * 1024;
  static constexpr uint32_t kMaxHeaders = 65535;
  static constexpr uint32_t kMaxChunkExtensionSize = 1024u * 1024;
  static constexpr uint64_t kMaxLength = (uint64_t{1} << 53) - 1;
  static constexpr uint32_t kMaxChunkDigits = 16;

  static bool ValidLimits(const Limits& l);
  static size_t StoreSize(const Limits& l) { return 2 * static_cast<size_t>(l.maxHeadSize); }

  // `limits` must be valid; `out` holds kOutInts, `store` StoreSize(limits) bytes; both must
  // outlive the parser.
  ResponseParser(const Limits& limits, int32_t* out, uint8_t* store);

  void Reset();
  // Registers a request; false if kMaxPending are outstanding.
  bool Expect(int32_t kind);
  // Parses data[0, len): returns a Status, fills the output area.
  int32_t Execute(const uint8_t* data, size_t len);
  // End of stream.
  int32_t Finish();

  int32_t error() const { return error_; }
  uint32_t pending() const { return fifoCount_; }
  uint64_t position() const { return total_; }

 private:
  enum State : uint8_t {
    kIdle,
    kClosed,
    kFinished,
    kUpgraded,
    kError,
    // status line
    kVersion,
    kStatusCode,
    kAfterStatus,
    kReason,
    kStatusLf,
    // field lines (head and trailers)
    kLineStart,
    kName,
    kValueOws,
    kValue,
    kLineLf,
    kSectionEndLf,
    // bodies
    kBodyFixed,
    kBodyClose,
    kChunkSizeStart,
    kChunkSize,
    kExtBwsSemi,     // BWS after the size or a value, before ";"
    kExtNameStart,   // after ";": BWS or the name
    kExtName,
    kExtAfterName,   // BWS after a name: "=", ";" or more BWS
    kExtValueStart,  // after "=": BWS, DQUOTE or a token
    kExtToken,
    kExtQuoted,
    kExtQuotedPair,
    kExtAfterQuoted,
    kChunkSizeLf,
    kChunkData,
    kChunkDataCr,
    kChunkDataLf,
    kTrailersStart,
  };
  enum Special : uint8_t { kNotSpecial, kContentLength, kTransferEncoding, kConnection, kKeepAlive };

  // Each returns false after Fail().
  bool Fail(int32_t code, uint64_t position);
  bool OpenSection(bool trailers);
  bool FieldLineDone(uint64_t lfPos);
  bool HeadDone(const uint8_t* p, const uint8_t* data, int32_t* status);
  void MessageDone();
  bool Emit1(int32_t a);
  void EmitHead(int32_t flags, int64_t cl, int32_t kat);

  bool ParseContentLength(const uint8_t* v, size_t n, uint64_t lfPos);
  bool ParseTransferEncoding(const uint8_t* v, size_t n, uint64_t lfPos);
  void ParseConnection(const uint8_t* v, size_t n);
  void ParseKeepAlive(const uint8_t* v, size_t n);

  uint8_t* Block() { return store_ + secStart_; }

  Limits limits_;
  int32_t* out_;
  int32_t* ev_;  // out_ + kOutHeader
  uint32_t evLen_ = 0;
  uint8_t* store_;
  size_t storeCap_;

  State state_ = kIdle;
  int32_t error_ = kErrNone;
  uint64_t total_ = 0;  // bytes consumed before the current call

  // Outstanding requests (ring).
  uint8_t fifo_[kMaxPending];
  uint32_t fifoHead_ = 0;
  uint32_t fifoCount_ = 0;

  // Store: [secStart_, secStart_ + blk_) is the open section's block so far.
  size_t pos_ = 0;  // end of the blocks of this call (sections closed in this call)
  size_t secStart_ = 0;
  uint32_t blk_ = 0;
  bool secOpen_ = false;

  // Current head / trailer section.
  bool inTrailers_ = false;
  uint32_t sectionBytes_ = 0;
  uint32_t fieldCount_ = 0;
  uint32_t idx_ = 0;  // position in "HTTP/1.x " or the status code
  int32_t status_ = 0;
  int32_t minor_ = 0;
  uint32_t reasonLen_ = 0;
  uint32_t nameStart_ = 0;  // block offsets
  uint32_t valueStart_ = 0;
  uint32_t valueEnd_ = 0;
  Special special_ = kNotSpecial;
  bool hasCl_ = false;
  uint64_t cl_ = 0;
  uint32_t clRefStart_ = 0;  // block offset/length of the first Content-Length element
  uint32_t clRefLen_ = 0;
  bool hasTe_ = false;
  bool teChunked_ = false;
  bool connClose_ = false;
  bool connKeepAlive_ = false;
  bool katDecided_ = false;
  int32_t kat_ = -1;
  bool keepAlive_ = false;  // of the final response being read
  bool interim_ = false;    // an interim head answered the oldest outstanding request

  // Body.
  uint64_t remaining_ = 0;
  uint32_t chunkDigits_ = 0;
  uint32_t extLen_ = 0;
};

}  // namespace http1
}  // namespace gateway

#endif  // GATEWAY_NATIVE_HTTP_RESPONSE_PARSER_H_
