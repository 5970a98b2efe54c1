// RequestBuilder (UAC) and ResponseBuilder (UAS): render SIP messages straight into send-batch buffers.
//
// Everything that does not change per message (addresses, domain, SDP) is fixed at construction; per
// message only numbers and views are written, so building costs a few memcpy calls and no allocation.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "buf_writer.hpp"
#include "dialog.hpp"
#include "mini_parser.hpp"
#include "txn_key.hpp"

namespace sipbench {

struct UacIdentity {
  std::string local_ip;        // for SDP
  std::string local_hostport;  // Via sent-by and Contact, "ip:port" of this worker's socket
  std::string domain;          // Request-URI / From / To domain
  std::string callee;          // user part of INVITE and OPTIONS Request-URI
  std::string user_prefix = "user";
  uint32_t expires = 3600;
  // Differs between runs, so a Call-ID is never reused even when a later run gets the same ephemeral
  // port (a proxy may still hold state for the earlier dialog).
  uint32_t run_id = 0;
};

class RequestBuilder {
 public:
  explicit RequestBuilder(UacIdentity id);

  void invite(BufWriter& w, const TxnKey& k, uint64_t user) const;
  void registration(BufWriter& w, const TxnKey& k, uint64_t user) const;
  void options(BufWriter& w, const TxnKey& k, uint64_t user) const;
  // ACK for a 2xx: a new transaction inside the dialog (k.phase == Ack).
  void ack2xx(BufWriter& w, const TxnKey& k, uint64_t user, const Dialog& d) const;
  void bye(BufWriter& w, const TxnKey& k, uint64_t user, const Dialog& d) const;
  // ACK for a non-2xx final response: same branch as the INVITE (k.phase == Invite), To from the response.
  void ackFailure(BufWriter& w, const TxnKey& k, uint64_t user, std::string_view response_to) const;

  std::string_view inviteUri() const { return callee_uri_; }

 private:
  void via(BufWriter& w, const TxnKey& k) const;
  void from(BufWriter& w, const TxnKey& k, uint64_t user) const;
  void callId(BufWriter& w, const TxnKey& k) const;
  void userUri(BufWriter& w, uint64_t user) const;

  UacIdentity id_;
  std::string callee_uri_;  // sip:callee@domain
  std::string sdp_;
};

struct UasIdentity {
  std::string local_ip;
  std::string contact;  // "<sip:uas@ip:port>"
};

// What to put in a response besides the mandatory echoed headers.
struct ResponseSpec {
  int code = 200;
  std::string_view reason = "OK";
  bool add_tag = true;        // add a To tag when the request has none (not for 100 Trying)
  bool record_route = false;  // copy Record-Route (dialog-creating responses, RFC 3261 §12.1.1)
  bool contact = false;       // our Contact (dialog-creating responses)
  bool sdp = false;           // answer SDP
  bool registrar = false;     // echo Contact bindings with expires and Path (RFC 3327 §5.3)
  Method cseq_method = Method::Unknown;  // override the CSeq method (the 487 that answers a CANCEL)
};

class ResponseBuilder {
 public:
  explicit ResponseBuilder(UasIdentity id);
  void build(BufWriter& w, const SipMessage& req, const ResponseSpec& spec) const;

 private:
  void registrarContacts(BufWriter& w, const SipMessage& req) const;

  UasIdentity id_;
  std::string sdp_;
};

// The To tag a UAS adds: a hash of Call-ID and From tag, so every retransmission and every response of
// the same transaction carries the same tag without any state.
uint64_t stableTag(std::string_view call_id, std::string_view from_tag);

}  // namespace sipbench
