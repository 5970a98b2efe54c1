// A parsed SIP message: sofia's msg_t/sip_t behind a small, owning handle.
#pragma once

#include <string>
#include <string_view>

#include "sofia.h"

namespace sipedge::proxy {

class SipMessage {
 public:
  SipMessage() = default;
  // Parses one complete message (a UDP datagram or one framed TCP message). The bytes are copied.
  static SipMessage parse(const char* data, std::size_t len);

  bool valid() const { return msg_ != nullptr && sip_ != nullptr; }
  bool isRequest() const { return valid() && sip_->sip_request != nullptr; }
  bool isResponse() const { return valid() && sip_->sip_status != nullptr; }

  msg_t* msg() const { return msg_.get(); }
  sip_t* sip() const { return sip_; }
  su_home_t* home() const { return msg_home(msg_.get()); }

  sip_method_t method() const { return isRequest() ? sip_->sip_request->rq_method : sip_->sip_cseq->cs_method; }
  int status() const { return isResponse() ? sip_->sip_status->st_status : 0; }

  // Encodes the message; unchanged headers are copied as received. Returns false if sofia cannot encode it.
  bool serialize(std::string& out);

  // Prepends a header parsed from text (e.g. "Via", "SIP/2.0/UDP ..."). Returns false on a parse failure.
  bool insert(msg_hclass_t* hc, const std::string& value);

 private:
  MsgPtr msg_;
  sip_t* sip_ = nullptr;
};

// Builds a response to `req` with the mandatory headers copied (Via, From, To, Call-ID, CSeq), a To tag when
// the request had none, and Content-Length 0. `extra` is raw header lines ("Name: value\r\n") to add.
std::string makeResponse(const SipMessage& req, int status, std::string_view phrase, std::string_view extra = {},
                         std::string_view toTag = "se");

// Same, when sofia could not parse the message: copies the raw header lines it can find (RFC 3261 §8.2.6.1).
// Returns an empty string when the bytes do not look like a request at all.
std::string makeRawResponse(std::string_view raw, int status, std::string_view phrase);

}  // namespace sipedge::proxy
