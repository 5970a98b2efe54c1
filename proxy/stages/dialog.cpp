// The dialog chain: what follows calls and registrations once the next hop is known.
#include <cstring>

#include "capture/worker_capture.h"
#include "proxy/dialog_table.h"
#include "proxy/sip_util.h"
#include "stages.h"

namespace sipedge::proxy {

namespace {

std::string str(const char* s) {
  return s ? std::string(s) : std::string();
}

std::string_view sv(const char* s) {
  return s ? std::string_view(s) : std::string_view();
}

// Into `out`, reusing its capacity.
void uriText(su_home_t* home, const url_t* u, std::string& out) {
  char buf[512];  // the common case, without an allocation in the message's home
  const issize_t n = url_e(buf, sizeof buf, u);
  if (n >= 0 && static_cast<std::size_t>(n) < sizeof buf) {
    out.assign(buf, static_cast<std::size_t>(n));
    return;
  }
  char* s = url_as_string(home, u);
  out.assign(s ? s : "");
  su_free(home, s);
}

void paramsText(const msg_param_t* params, std::string& out) {
  out.clear();
  for (int i = 0; params && params[i]; ++i) {
    out += ';';
    out += params[i];
  }
}

std::int64_t toInt(const char* s, std::int64_t fallback) {
  if (!s || !*s) return fallback;
  char* end = nullptr;
  long long v = std::strtoll(s, &end, 10);
  return end && *end == 0 && v >= 0 ? v : fallback;
}

// The Contact list into `out`, reusing the capacity of what `out` held (the answers' list is per worker).
void bindings(su_home_t* home, const sip_contact_t* m, std::vector<capture::ContactBinding>& out) {
  std::size_t n = 0;
  for (; m; m = m->m_next) {
    if (!m->m_url->url_type || m->m_url->url_scheme == nullptr) continue;
    if (out.size() <= n) out.emplace_back();
    capture::ContactBinding& b = out[n++];
    uriText(home, m->m_url, b.uri);
    b.expires = toInt(m->m_expires, -1);
    b.instance.clear();
    if (const char* inst = msg_params_find(m->m_params, "+sip.instance=")) {
      std::string_view v = inst;
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      b.instance.assign(v);
    }
    paramsText(m->m_params, b.params);
  }
  out.resize(n);
}

std::string userAgent(const sip_t* sip) {
  if (sip->sip_user_agent && sip->sip_user_agent->g_string) return sip->sip_user_agent->g_string;
  if (sip->sip_server && sip->sip_server->g_string) return sip->sip_server->g_string;
  return {};
}

std::string callerIdOf(const sip_from_t* f) {
  std::string id = str(f->a_url->url_user);
  if (f->a_display && *f->a_display) {
    std::string d = f->a_display;
    if (d.size() >= 2 && d.front() == '"' && d.back() == '"') d = d.substr(1, d.size() - 2);
    return "\"" + d + "\" <" + id + ">";
  }
  return id;
}

}  // namespace

Verdict DialogTracker::onRequest(Context& ctx) {
  DialogTable* table = ctx.env.dialogs;
  const sip_t* sip = ctx.m.sip();
  const sip_method_t method = sip->sip_request->rq_method;
  if (!table || method == sip_method_ack || method == sip_method_register) return Verdict::next();
  const char* callId = sip->sip_call_id->i_id;
  if (method == sip_method_invite && !sip->sip_to->a_tag) {
    std::string leg(zoneName(ctx.sourceZone));
    leg += "->";
    leg += zoneName(ctx.targetZone);
    ctx.dialog = table->open(callId, sv(sip->sip_from->a_tag), leg, ctx.nowMs(), ctx.dialogOpened);
    if (!ctx.dialog) ctx.env.counters.dialogsRefused.inc();
  } else {
    ctx.dialog = table->onRequest(sip->sip_request->rq_method_name, callId, sv(sip->sip_from->a_tag),
                                  sv(sip->sip_to->a_tag), ctx.nowMs());
  }
  ctx.env.counters.dialogsOpen.set(table->size());
  return Verdict::next();
}

Verdict DialogTracker::onResponse(Context& ctx) {
  DialogTable* table = ctx.env.dialogs;
  const sip_t* sip = ctx.m.sip();
  if (!table || sip->sip_cseq->cs_method != sip_method_invite) return Verdict::next();
  table->onInviteResponse(sip->sip_call_id->i_id, sv(sip->sip_from->a_tag), sv(sip->sip_to->a_tag), ctx.m.status(),
                          ctx.nowMs());
  ctx.dialog = table->find(sip->sip_call_id->i_id, sv(sip->sip_from->a_tag));
  ctx.env.counters.dialogsOpen.set(table->size());
  return Verdict::next();
}

Verdict CaptureTap::onRequest(Context& ctx) {
  capture::WorkerCapture* cap = ctx.env.capture;
  if (!cap || !ctx.target) return Verdict::next();
  sip_t* sip = ctx.m.sip();
  capture::Millis now = ctx.nowMs();
  switch (sip->sip_request->rq_method) {
    case sip_method_register: {
      if (ctx.sourceZone != Zone::Access || !sip->sip_to) break;
      capture::RegisterSeen r;
      r.time = now;
      r.callId = str(sip->sip_call_id->i_id);
      r.cseq = sip->sip_cseq->cs_seq;
      r.tenant = str(sip->sip_to->a_url->url_host);
      r.user = str(sip->sip_to->a_url->url_user);
      r.wildcard = sip->sip_contact && sip->sip_contact->m_url->url_type == url_any;
      if (!r.wildcard) bindings(ctx.m.home(), sip->sip_contact, r.contacts);
      r.expiresHeader = sip->sip_expires ? static_cast<std::int64_t>(sip->sip_expires->ex_delta) : -1;
      r.userAgent = userAgent(sip);
      r.srcIp = ipText(ctx.source.addr);
      r.srcPort = ctx.source.port;
      r.transport = std::string(conf::transportName(ctx.source.transport));
      if (r.contacts.empty() && !r.wildcard) break;  // a registration query changes nothing
      if (!cap->registrations.onRequest(std::move(r))) capture::WorkerCapture::bump(cap->untracked);
      break;
    }
    case sip_method_invite: {
      if (sip->sip_to->a_tag) break;  // in-dialog: the dialog table follows it
      if (!ctx.dialog) {
        capture::WorkerCapture::bump(cap->untracked);  // the dialog table is full
        break;
      }
      if (!ctx.dialogOpened) break;  // a retransmission
      capture::CallRequest c;
      c.time = now;
      bool outbound = ctx.targetZone == Zone::Access;  // the PBX calls a phone
      const url_t* ownerUri = outbound ? sip->sip_request->rq_url : sip->sip_from->a_url;
      if (outbound && !ownerUri->url_user) ownerUri = sip->sip_to->a_url;
      c.tenant = str(outbound ? sip->sip_to->a_url->url_host : sip->sip_from->a_url->url_host);
      c.owner = str(ownerUri->url_user);
      c.callerId = callerIdOf(sip->sip_from);
      c.source = str(sip->sip_from->a_url->url_user);
      c.destination = str(sip->sip_request->rq_url->url_user);
      if (c.destination.empty()) c.destination = str(sip->sip_to->a_url->url_user);
      c.context = ctx.dialog->leg;
      c.srcChannel = ctx.source.text();
      c.dstChannel = ctx.target->text();
      cap->calls.open(*ctx.dialog, c);
      break;
    }
    default:
      break;
  }
  return Verdict::next();
}

Verdict CaptureTap::onResponse(Context& ctx) {
  capture::WorkerCapture* cap = ctx.env.capture;
  if (!cap) return Verdict::next();
  sip_t* sip = ctx.m.sip();
  int status = ctx.m.status();
  if (status < 200) return Verdict::next();
  capture::Millis now = ctx.nowMs();
  if (sip->sip_cseq->cs_method == sip_method_register) {
    static thread_local capture::RegisterAnswered a;  // reused per worker: its strings keep their capacity
    a.time = now;
    a.callId.assign(sip->sip_call_id->i_id ? sip->sip_call_id->i_id : "");
    a.cseq = sip->sip_cseq->cs_seq;
    a.status = status;
    bindings(ctx.m.home(), sip->sip_contact, a.granted);
    a.expiresHeader = sip->sip_expires ? static_cast<std::int64_t>(sip->sip_expires->ex_delta) : -1;
    static thread_local std::vector<capture::RegistrationEvent> events;  // its capacity stays, per worker
    events.clear();
    cap->registrations.onResponse(a, events);
    for (auto& e : events) cap->emit(std::move(e));
    events.clear();
  }
  return Verdict::next();
}

}  // namespace sipedge::proxy
