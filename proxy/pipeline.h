// The forwarding pipeline: every message a worker receives runs through four chains, in this order.
//
//   ingress  the bytes and the parse: byte checks, sanity, NAT (the security gate goes here)
//   routing  local answers, hop limit, loops, route set, next hop, Record-Route/Path, our Via; or, for a
//            response, our Via and the next one
//   dialog   dialog table, CDRs (caller ID and media go here)
//   (the message is encoded into ctx.wire)
//   egress   the final bytes, per destination zone (the caller-ID guard and masking go here)
//
// The first verdict other than Continue ends the run. Pipeline::build (pipeline.cpp) is the one place the
// chains are put together, from the config; `sipedge --check-config FILE -v` prints them (describe()).
#pragma once

#include <array>
#include <string>

#include "stage.h"

namespace sipedge::proxy {

class Pipeline {
 public:
  static Pipeline build(const conf::Config& cfg);

  // Runs `ctx` through the chains. Continue means: forward ctx.wire from ctx.out to ctx.target. Answer means:
  // send ctx.reply back the way the message came.
  Verdict process(Context& ctx) const;

  // The chains and their stages in order, one chain per line.
  std::string describe() const;

  const Chain& ingress() const { return ingress_; }
  const Chain& routing() const { return routing_; }
  const Chain& dialog() const { return dialog_; }
  const Chain& egress(Zone z) const { return egress_[static_cast<std::size_t>(z)]; }

 private:
  Chain ingress_{"ingress"}, routing_{"routing"}, dialog_{"dialog"};
  std::array<Chain, 3> egress_{Chain("egress access"), Chain("egress core"), Chain("egress carrier")};
};

// Pipeline::build(cfg).describe(), for --check-config -v.
std::string describePipeline(const conf::Config& cfg);

}  // namespace sipedge::proxy
