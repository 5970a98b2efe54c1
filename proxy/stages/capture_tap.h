// The capture tap: copies registration and call facts off the forwarding path into the worker's capture queue
// (capture/). It copies plain values and returns; it never waits, never does I/O, never stops a message.
#pragma once

#include "proxy/stage.h"

namespace sipedge::proxy {

class CaptureTap final : public Stage {
 public:
  std::string_view name() const override { return "capture"; }
  Verdict onRequest(Context& ctx) override;
  Verdict onResponse(Context& ctx) override;
};

}  // namespace sipedge::proxy
