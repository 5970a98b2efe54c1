#include "branch.h"

#include <charconv>
#include <cstring>

#include "context.h"
#include "sip_util.h"

namespace sipedge::proxy {

namespace {

template <typename T>
bool hexField(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

void Branch::appendTo(std::string& out) const {
  out += kPrefix;
  appendHex(out, worker, 2);
  appendHex(out, socket, 2);
  appendHex(out, transaction, 16);
  appendHex(out, loop, 8);
}

std::optional<Branch> Branch::parse(const char* b) {
  if (!b || std::strlen(b) != kLength || std::strncmp(b, kPrefix.data(), kPrefix.size()) != 0) return std::nullopt;
  std::string_view s(b + kPrefix.size(), kLength - kPrefix.size());
  Branch r;
  if (!hexField(s.substr(0, 2), r.worker) || !hexField(s.substr(2, 2), r.socket) ||
      !hexField(s.substr(4, 16), r.transaction) || !hexField(s.substr(20, 8), r.loop))
    return std::nullopt;
  return r;
}

void PingBranch::appendTo(std::string& out) const {
  out += kPrefix;
  appendHex(out, target, 2);
  appendHex(out, round, 8);
}

std::optional<PingBranch> PingBranch::parse(const char* b) {
  if (!looksLike(b) || std::strlen(b) != kLength) return std::nullopt;
  std::string_view s(b + kPrefix.size(), kLength - kPrefix.size());
  PingBranch r;
  if (!hexField(s.substr(0, 2), r.target) || !hexField(s.substr(2, 8), r.round)) return std::nullopt;
  return r;
}

std::uint64_t transactionHash(const sip_t* sip) {
  const sip_via_t* v = sip->sip_via;
  Fnv64 tx;
  if (v->v_branch && std::strncmp(v->v_branch, "z9hG4bK", 7) == 0) {
    tx.add(v->v_branch).add(v->v_host).add(v->v_port);
  } else {  // RFC 2543 peer: derive the transaction from what identifies it
    tx.add(sip->sip_call_id->i_id).add(sip->sip_from->a_tag);
    tx.add(static_cast<std::uint64_t>(sip->sip_cseq->cs_seq)).add(v->v_host).add(v->v_port);
  }
  return tx.value();
}

std::optional<Branch> ourVia(const sip_via_t* v, const LocalSockets& local) {
  if (!v) return std::nullopt;
  auto b = Branch::parse(v->v_branch);
  if (!b) return std::nullopt;
  boost::asio::ip::address a;
  auto port = v->v_port ? parsePort(v->v_port) : std::optional<std::uint16_t>(5060);
  if (!port || !v->v_host || !parseIp(v->v_host, a) || !local.isUs(a, *port)) return std::nullopt;
  return b;
}

}  // namespace sipedge::proxy
