#include "pipeline.h"

#include "stages/stages.h"

namespace sipedge::proxy {

Pipeline Pipeline::build(const conf::Config& cfg) {
  Pipeline p;
  p.ingress_.add(std::make_unique<ByteGuard>());
  p.ingress_.add(std::make_unique<Parser>());
  p.ingress_.add(std::make_unique<Sanity>());
  p.ingress_.add(std::make_unique<NatFixer>());

  p.routing_.add(std::make_unique<PingAnswers>());
  p.routing_.add(std::make_unique<RouteProcessor>());
  p.routing_.add(std::make_unique<LocalResponder>());
  p.routing_.add(std::make_unique<HopLimiter>());
  p.routing_.add(std::make_unique<LoopDetector>());
  p.routing_.add(std::make_unique<TargetSelector>());
  p.routing_.add(std::make_unique<RecordRouter>());
  p.routing_.add(std::make_unique<ViaAdder>());
  p.routing_.add(std::make_unique<ResponseRouter>());

  p.dialog_.add(std::make_unique<DialogTracker>());
  if (cfg.captureEnabled) p.dialog_.add(std::make_unique<CaptureTap>());

  for (auto& egress : p.egress_)
    if (cfg.logLevel == conf::LogLevel::Debug) egress.add(std::make_unique<WireLog>());
  return p;
}

Verdict Pipeline::process(Context& ctx) const {
  Verdict v = ingress_.received(ctx);
  if (v.proceeds()) v = ingress_.message(ctx);
  if (v.proceeds()) v = routing_.message(ctx);
  if (v.proceeds()) v = dialog_.message(ctx);
  if (v.proceeds() && !ctx.m.serialize(ctx.wire)) {
    ctx.env.counters.sendErrors.inc();
    ctx.env.counters.verdicts[static_cast<std::size_t>(Reason::EncodeFailed)].inc();
    v = Verdict::drop(Reason::EncodeFailed);
  }
  if (v.proceeds()) v = egress(ctx.targetZone).message(ctx);
  // ACK never gets a response (RFC 3261 §17.1.1.3): what a stage would have answered is dropped.
  if (v.action == Action::Answer && ctx.m.isRequest() && ctx.m.method() == sip_method_ack) v.action = Action::Drop;
  return v;
}

std::string Pipeline::describe() const {
  std::string out;
  auto line = [&](const Chain& c) {
    out += c.name();
    out += ':';
    if (c.stages().empty()) out += " (none)";
    for (const auto& s : c.stages()) {
      out += ' ';
      out += s->name();
    }
    out += '\n';
  };
  line(ingress_);
  line(routing_);
  line(dialog_);
  out += "encode\n";
  for (const auto& e : egress_) line(e);
  return out;
}

std::string describePipeline(const conf::Config& cfg) {
  return Pipeline::build(cfg).describe();
}

}  // namespace sipedge::proxy
