// The egress chain: stages that see each message as it will leave (ctx.wire), chosen by the destination zone.
#include "proxy/log.h"
#include "stages.h"

namespace sipedge::proxy {

namespace {

Verdict logWire(const Context& ctx) {
  if (log::enabled(conf::LogLevel::Debug))
    SE_DEBUG("w%u -> %s:\n%s", ctx.env.worker, ctx.target->text().c_str(), log::maskNumbers(ctx.wire).c_str());
  return Verdict::next();
}

}  // namespace

Verdict WireLog::onRequest(Context& ctx) {
  return logWire(ctx);
}
Verdict WireLog::onResponse(Context& ctx) {
  return logWire(ctx);
}

}  // namespace sipedge::proxy
