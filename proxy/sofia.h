// RAII around sofia-sip resources. A msg_t is owned by exactly one MsgPtr and never leaves the thread that made it.
#pragma once

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_extra.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/su.h>
#include <sofia-sip/url.h>

#include <memory>

namespace sipedge::proxy {

struct MsgDestroy {
  void operator()(msg_t* m) const noexcept { msg_destroy(m); }
};
// Sole owner of a sofia message (and everything allocated from its home).
using MsgPtr = std::unique_ptr<msg_t, MsgDestroy>;

// One-time global sofia set-up; call in main before any worker starts.
void sofiaInit();

}  // namespace sipedge::proxy
