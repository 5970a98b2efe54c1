// The stages of the standard pipeline, grouped by the chain they belong to; proxy/pipeline.cpp puts them in
// order. Each has one job and is tested on its own on raw messages (tests/unit/stages_test.cpp).
#pragma once

#include "proxy/stage.h"

namespace sipedge::proxy {

// ------------------------------------------------------------------------------------------------ ingress

// Before the parse: drops CRLF/NUL keep-alives; 513 over the size limits; 400 for a datagram without the empty
// line after its headers (truncated, RFC 3261 §7) or with raw NUL or bare CR/LF in the header block (they can
// smuggle headers past other parsers: never forwarded).
class ByteGuard final : public Stage {
 public:
  std::string_view name() const override { return "bytes"; }
  Verdict onReceived(Context& ctx) override;
};

// Parses the bytes with sofia into ctx.m; 400 (or a drop, for what is no request) when it cannot.
class Parser final : public Stage {
 public:
  std::string_view name() const override { return "parse"; }
  Verdict onReceived(Context& ctx) override;
};

// Rejects requests that lack mandatory headers or carry headers sofia could not parse (400), a malformed
// Request-URI (bad scheme, invalid IPv6 reference, control or non-ASCII bytes, escaped headers: 400), header
// names that are not tokens (400), a Content-Length other than the body's (400), a SIP version other than 2.0
// (505), an unknown URI scheme (416), a CSeq method that differs from the request line (400), or Proxy-Require
// options (420). Drops responses without the mandatory headers, with a bad status line or an unparseable header.
class Sanity final : public Stage {
 public:
  std::string_view name() const override { return "sanity"; }
  Verdict onRequest(Context& ctx) override;
  Verdict onResponse(Context& ctx) override;
};

// Records where the request really came from on the top Via: received= and rport= (RFC 3261 §18.2.1, RFC 3581).
class NatFixer final : public Stage {
 public:
  std::string_view name() const override { return "nat"; }
  Verdict onRequest(Context& ctx) override;
};

// ------------------------------------------------------------------------------------------------ routing

// Responses to the PBX health pings of worker 0 (ctx.env.health): consumed here, never forwarded.
class PingAnswers final : public Stage {
 public:
  std::string_view name() const override { return "ping-answers"; }
  Verdict onResponse(Context& ctx) override;
};

// Route pre-processing (RFC 3261 §16.4): undoes a strict router's rewrite of the Request-URI and removes the
// Route entries that name sipedge, keeping the `dst` they carry (the access peer's real address) in ctx.routeDst.
class RouteProcessor final : public Stage {
 public:
  std::string_view name() const override { return "route"; }
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

// Rejects a request that already passed through sipedge unchanged (482, RFC 3261 §16.3 step 4); sets
// ctx.loopHash for the branch.
class LoopDetector final : public Stage {
 public:
  std::string_view name() const override { return "loop"; }
  Verdict onRequest(Context& ctx) override;
};

// Picks the next hop by zone: access/carrier → PBX, core → phone (via our Path/Record-Route), carrier, or the
// Route set. Replies 503 when no PBX is up and 404 when a destination cannot be reached.
class TargetSelector final : public Stage {
 public:
  std::string_view name() const override { return "target"; }
  Verdict onRequest(Context& ctx) override;
};

// Record-Route on dialog-creating requests (two entries when the request changes socket), Path on REGISTER
// from the access zone (RFC 3327), each carrying the access peer's real address in a sealed `dst`.
class RecordRouter final : public Stage {
 public:
  std::string_view name() const override { return "record-route"; }
  Verdict onRequest(Context& ctx) override;
};

// Adds sipedge's own Via with its branch (proxy/branch.h: worker, inbound socket, transaction, ctx.loopHash).
class ViaAdder final : public Stage {
 public:
  std::string_view name() const override { return "via"; }
  Verdict onRequest(Context& ctx) override;
};

// Responses: drops the ones whose top Via is not ours, hands the ones of another worker's transaction over,
// removes our Via and finds where the next Via leads.
class ResponseRouter final : public Stage {
 public:
  std::string_view name() const override { return "response-route"; }
  Verdict onResponse(Context& ctx) override;
};

// ------------------------------------------------------------------------------------------------ dialog

// Follows INVITE dialogs in the worker's dialog table (proxy/dialog_table.h): the initial INVITE opens one
// (ctx.dialog, ctx.dialogOpened), responses move it to early or confirmed or end it, CANCEL and BYE update or end
// it. Sets ctx.dialog for the stages after it.
class DialogTracker final : public Stage {
 public:
  std::string_view name() const override { return "dialogs"; }
  Verdict onRequest(Context& ctx) override;
  Verdict onResponse(Context& ctx) override;
};

// The capture tap: copies registration and call facts off the forwarding path into the worker's capture queue
// (capture/). It copies plain values and returns; it never waits, never does I/O, never stops a message.
class CaptureTap final : public Stage {
 public:
  std::string_view name() const override { return "capture"; }
  Verdict onRequest(Context& ctx) override;
  Verdict onResponse(Context& ctx) override;
};

// ------------------------------------------------------------------------------------------------ egress

// With debug logging on: each message as it leaves, numbers and names masked unless the operator allowed clear
// text (privacy P6).
class WireLog final : public Stage {
 public:
  std::string_view name() const override { return "wire-log"; }
  Verdict onRequest(Context& ctx) override;
  Verdict onResponse(Context& ctx) override;
};

// The loop-detection hash of RFC 3261 §16.6 step 8 over the request as it will be forwarded.
std::uint32_t loopHash(const SipMessage& m);

}  // namespace sipedge::proxy
