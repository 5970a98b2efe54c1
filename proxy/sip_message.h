// A parsed SIP message: sofia's msg_t/sip_t behind a small, owning handle, with the header edits stages make.
// Every edit marks what it changed, so serialize() prints that header again and copies the rest as received:
// stages never touch sofia's fragments (msg_fragment_clear) or cast between its header types.
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

  // ---- Known headers: `hc` is a sofia header class (sip_via_class, sip_route_class, and the extension classes
  // sofiaInit registers: sip_p_asserted_identity_class, sip_p_preferred_identity_class,
  // sip_remote_party_id_class; Privacy is built in). Values are parsed from text; false when sofia cannot.

  // The first header of class `hc`, or null.
  msg_header_t* find(msg_hclass_t* hc) const;
  // Before the others of its kind (Via, Record-Route, Path, ...).
  bool insert(msg_hclass_t* hc, std::string_view value);
  // Where sofia puts a header of its kind: after the others, but before them for the kinds that stack (Via,
  // Record-Route: use insert for those, to say so).
  bool add(msg_hclass_t* hc, std::string_view value);
  // Every header of class `hc` replaced by one with `value`.
  bool replace(msg_hclass_t* hc, std::string_view value);
  // Removes every header of class `hc`; returns how many there were.
  std::size_t remove(msg_hclass_t* hc);
  // Removes the first header of class `hc` (the top Via, the first Route); false when there is none.
  bool removeFirst(msg_hclass_t* hc);
  // Removes the one header `h` of this message.
  template <typename H>
  bool remove(H* h) {
    return h && msg_header_remove(msg(), pub(), reinterpret_cast<msg_header_t*>(h)) == 0;
  }

  // ---- Headers sofia does not know (History-Info, Diversion, ...), by name, case-insensitively.
  const sip_unknown_t* findUnknown(std::string_view name) const;
  bool addUnknown(std::string_view name, std::string_view value);
  std::size_t removeUnknown(std::string_view name);

  // ---- Edits inside one parsed header.
  // Sets parameter "name=value" (or a flag "name") on `h`, replacing one of the same name.
  template <typename H>
  bool setParam(H* h, std::string_view param) {
    return h && setParam(reinterpret_cast<msg_header_t*>(h), param);
  }
  // After a stage changed fields of `h` directly (mf_count, ...): prints it again.
  template <typename H>
  static void changed(H* h) {
    if (h) msg_fragment_clear(reinterpret_cast<msg_header_t*>(h)->sh_common);
  }
  // The Request-Line with Request-URI `u` (copied), same method and version.
  bool setRequestUri(const url_t* u);

 private:
  bool setParam(msg_header_t* h, std::string_view param);
  msg_pub_t* pub() const { return reinterpret_cast<msg_pub_t*>(sip_); }

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
