// What a pipeline stage decides about a message, and why. The reasons are counted per worker and exported by
// name (stats "verdicts"), so every answer sipedge makes itself and every drop can be explained.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

namespace sipedge::proxy {

enum class Action : std::uint8_t {
  Continue,  // on to the next stage; after the last one the message is forwarded
  Answer,    // ctx.reply holds a response for the sender (an ACK is never answered: it becomes a drop)
  Drop,      // nothing is sent
  HandOver,  // the transaction belongs to worker ctx.owner: its bytes go there and run the pipeline again
};

// Each reason with its exported name. Every non-Continue verdict has one.
#define SIPEDGE_REASONS(X)                                                 \
  X(None, "none")                                                          \
  X(Keepalive, "keepalive")                  /* CRLF or NUL keep-alive */  \
  X(TooLarge, "too_large")                   /* 513, size limits */        \
  X(Incomplete, "incomplete")                /* no empty line (400) */     \
  X(BadHeaderLine, "bad_header_line")        /* NUL, bare CR/LF (400) */   \
  X(Unparseable, "unparseable")              /* sofia refused it (400) */  \
  X(BadVersion, "bad_version")               /* 505 */                     \
  X(MissingHeader, "missing_header")         /* 400 */                     \
  X(BadRequestUri, "bad_request_uri")        /* 400 */                     \
  X(BadHeaderName, "bad_header_name")        /* 400 */                     \
  X(HeadersInUri, "headers_in_uri")          /* 400 */                     \
  X(BadContentLength, "bad_content_length")  /* 400 */                     \
  X(BadHeader, "bad_header")                 /* 400 */                     \
  X(CseqMismatch, "cseq_mismatch")           /* 400 */                     \
  X(UnsupportedScheme, "unsupported_scheme") /* 416 */                     \
  X(BadExtension, "bad_extension")           /* 420 Proxy-Require */       \
  X(OptionsAnswered, "options_answered")     /* 200 to OPTIONS for us */   \
  X(TooManyHops, "too_many_hops")            /* 483 */                     \
  X(Loop, "loop")                            /* 482 */                     \
  X(NoPbx, "no_pbx")                         /* 503 */                     \
  X(NotFound, "not_found")                   /* 404 */                     \
  X(Forbidden, "forbidden")                  /* 403: no open relay */      \
  X(Unresolvable, "unresolvable")            /* 478 */                     \
  X(InternalError, "internal_error")         /* 500 */                     \
  X(PingAnswer, "ping_answer")               /* our health ping's reply */ \
  X(BadResponse, "bad_response")             /* malformed response */      \
  X(NotOurs, "response_not_ours")            /* top Via is not ours */     \
  X(NoNextHop, "response_no_next_hop")       /* no usable next Via */      \
  X(HandOver, "hand_over")                   /* another worker's */        \
  X(EncodeFailed, "encode_failed")           /* sofia could not print */

enum class Reason : std::uint8_t {
#define SIPEDGE_REASON_ENUM(id, name) id,
  SIPEDGE_REASONS(SIPEDGE_REASON_ENUM)
#undef SIPEDGE_REASON_ENUM
};

inline constexpr std::string_view kReasonNames[] = {
#define SIPEDGE_REASON_NAME(id, name) name,
    SIPEDGE_REASONS(SIPEDGE_REASON_NAME)
#undef SIPEDGE_REASON_NAME
};

inline constexpr std::size_t kReasonCount = std::size(kReasonNames);
inline std::string_view reasonName(Reason r) {
  return kReasonNames[static_cast<std::size_t>(r)];
}

struct Verdict {
  Action action = Action::Continue;
  Reason reason = Reason::None;

  static constexpr Verdict next() { return {}; }
  static constexpr Verdict drop(Reason r) { return {Action::Drop, r}; }
  bool proceeds() const { return action == Action::Continue; }
};

}  // namespace sipedge::proxy
