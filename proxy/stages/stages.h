// The request and response stages of the standard pipeline, in the order they run. Each has one job.
#pragma once

#include "proxy/stage.h"

namespace sipedge::proxy {

// Rejects requests that lack mandatory headers or carry headers sofia could not parse (400), a malformed
// Request-URI (bad scheme, invalid IPv6 reference, control or non-ASCII bytes, escaped headers: 400), header
// names that are not tokens (400), a Content-Length other than the body's (400), a SIP version other than 2.0
// (505), an unknown URI scheme (416), a CSeq method that differs from the request line (400), or Proxy-Require
// options (420).
class RequestSanity final : public Stage {
 public:
  std::string_view name() const override { return "sanity"; }
  Verdict onRequest(Context& ctx) override;
};

// Records where the request really came from on the top Via: received= and rport= (RFC 3261 §18.2.1, RFC 3581).
class NatFixer final : public Stage {
 public:
  std::string_view name() const override { return "nat"; }
  Verdict onRequest(Context& ctx) override;
};

// Answers OPTIONS addressed to sipedge itself (phone keep-alives, monitoring) with 200.
class LocalResponder final : public Stage {
 public:
  std::string_view name() const override { return "local"; }
  Verdict onRequest(Context& ctx) override;
};

// Max-Forwards: adds 70 when absent, rejects 0 with 483, else decrements (RFC 3261 §16.3, §16.6).
class HopLimiter final : public Stage {
 public:
  std::string_view name() const override { return "maxfwd"; }
  Verdict onRequest(Context& ctx) override;
};

// Route pre-processing (RFC 3261 §16.4): undoes a strict router's rewrite of the Request-URI and removes the
// Route entries that name sipedge, keeping the `dst` they carry (the access peer's real address).
class RouteProcessor final : public Stage {
 public:
  std::string_view name() const override { return "route"; }
  Verdict onRequest(Context& ctx) override;
};

// Picks the next hop by zone: access/carrier → PBX, core → phone (via our Path/Record-Route), carrier, or the
// Route set. Replies 503 when no PBX is up and 404 when a destination cannot be reached.
class TargetSelector final : public Stage {
 public:
  std::string_view name() const override { return "target"; }
  Verdict onRequest(Context& ctx) override;
};

// Rejects a request that already passed through sipedge unchanged (482, RFC 3261 §16.3 step 4).
class LoopDetector final : public Stage {
 public:
  std::string_view name() const override { return "loop"; }
  Verdict onRequest(Context& ctx) override;
};

// Record-Route on dialog-creating requests (two entries when the request changes socket), Path on REGISTER
// from the access zone (RFC 3327), each carrying the access peer's real address in `dst`.
class RecordRouter final : public Stage {
 public:
  std::string_view name() const override { return "record-route"; }
  Verdict onRequest(Context& ctx) override;
};

// Responses: drops the unparseable ones and the ones whose top Via is not ours; removes our Via and finds
// where the next Via leads.
class ResponseRouter final : public Stage {
 public:
  std::string_view name() const override { return "response-route"; }
  Verdict onResponse(Context& ctx) override;
};

// Computes the branch for the Via sipedge adds to a forwarded request: deterministic, so retransmissions
// and CANCEL get the same one (RFC 3261 §16.11); it names the worker and inbound socket for the response.
std::string computeBranch(const Context& ctx);
// The loop-detection hash of RFC 3261 §16.6 step 8 over the request as it will be forwarded.
std::uint32_t loopHash(const SipMessage& m);

}  // namespace sipedge::proxy
