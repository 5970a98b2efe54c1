// Packed codec for the store's records (see codec.h). Field order is the format: append only, with a new version.
#include "store/codec.h"

namespace sipedge::store::codec {
namespace {
constexpr std::uint8_t kV1 = 1;
}

Writer& Writer::u64(std::uint64_t v) {
  while (v >= 0x80) {
    out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out_.push_back(static_cast<char>(v));
  return *this;
}

Writer& Writer::str(std::string_view s) {
  u64(s.size());
  out_.append(s);
  return *this;
}

std::uint8_t Reader::byte() {
  if (in_.empty()) return static_cast<std::uint8_t>(fail());
  auto b = static_cast<std::uint8_t>(in_.front());
  in_.remove_prefix(1);
  return b;
}

std::uint64_t Reader::u64() {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in_.empty()) return fail();
    auto b = static_cast<std::uint8_t>(in_.front());
    in_.remove_prefix(1);
    if (shift == 63 && (b & 0x7e) != 0) return fail();  // more than 64 bits
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return v;
  }
  return fail();
}

std::string Reader::str() {
  std::uint64_t n = u64();
  if (!ok_ || n > in_.size()) return (fail(), std::string());
  std::string s(in_.substr(0, n));
  in_.remove_prefix(n);
  return s;
}

std::uint16_t Reader::u16() {
  std::uint64_t v = u64();
  if (v > 0xffff) return static_cast<std::uint16_t>(fail());
  return static_cast<std::uint16_t>(v);
}

std::uint32_t Reader::u32() {
  std::uint64_t v = u64();
  if (v > 0xffffffffu) return static_cast<std::uint32_t>(fail());
  return static_cast<std::uint32_t>(v);
}

std::string encode(const IpLogEntry& e) {
  Writer w(kV1);
  w.str(e.tenant).str(e.user).str(e.ip).u64(e.port).str(e.transport).i64(e.firstSeen).i64(e.lastSeen);
  w.u64(e.count).str(e.event).str(e.hostname).str(e.region).str(e.isp);
  return w.take();
}

bool decode(std::string_view in, IpLogEntry* e) {
  Reader r(in);
  if (r.byte() != kV1) return false;
  e->tenant = r.str();
  e->user = r.str();
  e->ip = r.str();
  e->port = r.u16();
  e->transport = r.str();
  e->firstSeen = r.i64();
  e->lastSeen = r.i64();
  e->count = r.u32();
  e->event = r.str();
  e->hostname = r.str();
  e->region = r.str();
  e->isp = r.str();
  return r.done();
}

std::string encode(const DeviceRecord& d) {
  Writer w(kV1);
  w.str(d.tenant).str(d.user).str(d.instance).str(d.userAgent).str(d.brand).str(d.model).str(d.firmware);
  w.str(d.mac).str(d.ip).u64(d.port).str(d.transport).i64(d.firstSeen).i64(d.lastSeen).i64(d.expiresAt);
  return w.take();
}

bool decode(std::string_view in, DeviceRecord* d) {
  Reader r(in);
  if (r.byte() != kV1) return false;
  d->tenant = r.str();
  d->user = r.str();
  d->instance = r.str();
  d->userAgent = r.str();
  d->brand = r.str();
  d->model = r.str();
  d->firmware = r.str();
  d->mac = r.str();
  d->ip = r.str();
  d->port = r.u16();
  d->transport = r.str();
  d->firstSeen = r.i64();
  d->lastSeen = r.i64();
  d->expiresAt = r.i64();
  return r.done();
}

std::string encode(const ProvisionedDevice& p) {
  Writer w(kV1);
  w.str(p.mac).str(p.tenant).str(p.user).str(p.model).i64(p.addedAt);
  return w.take();
}

bool decode(std::string_view in, ProvisionedDevice* p) {
  Reader r(in);
  if (r.byte() != kV1) return false;
  p->mac = r.str();
  p->tenant = r.str();
  p->user = r.str();
  p->model = r.str();
  p->addedAt = r.i64();
  return r.done();
}

std::string encode(const CdrRecord& c) {
  Writer w(kV1);
  w.str(c.uniqueId).str(c.tenant).str(c.user).str(c.callerId).str(c.source).str(c.destination).str(c.context);
  w.str(c.srcChannel).str(c.dstChannel).str(c.lastApp).str(c.lastData).i64(c.start).i64(c.answer).i64(c.end);
  w.i64(c.billsec).u64(static_cast<std::uint8_t>(c.disposition)).flag(c.hiddenByUser).flag(c.legalHold);
  return w.take();
}

bool decode(std::string_view in, CdrRecord* c) {
  Reader r(in);
  if (r.byte() != kV1) return false;
  c->uniqueId = r.str();
  c->tenant = r.str();
  c->user = r.str();
  c->callerId = r.str();
  c->source = r.str();
  c->destination = r.str();
  c->context = r.str();
  c->srcChannel = r.str();
  c->dstChannel = r.str();
  c->lastApp = r.str();
  c->lastData = r.str();
  c->start = r.i64();
  c->answer = r.i64();
  c->end = r.i64();
  c->billsec = r.i64();
  std::uint64_t disp = r.u64();
  if (disp > static_cast<std::uint8_t>(Disposition::TimedOut)) return false;
  c->disposition = static_cast<Disposition>(disp);
  c->hiddenByUser = r.flag();
  c->legalHold = r.flag();
  return r.done();
}

std::string encode(const AuditRecord& a) {
  Writer w(kV1);
  w.i64(a.time).str(a.actor).str(a.operation).str(a.target).str(a.result);
  return w.take();
}

bool decode(std::string_view in, AuditRecord* a) {
  Reader r(in);
  if (r.byte() != kV1) return false;
  a->time = r.i64();
  a->actor = r.str();
  a->operation = r.str();
  a->target = r.str();
  a->result = r.str();
  return r.done();
}

}  // namespace sipedge::store::codec
