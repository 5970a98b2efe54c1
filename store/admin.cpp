#include "admin.h"

#include <chrono>

#include "json.h"

namespace sipedge::store {

namespace {

using Json = nlohmann::ordered_json;

Millis nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Json fail(const std::string& why) {
  return {{"ok", false}, {"error", why}};
}

std::string field(const Json& r, const char* name) {
  auto it = r.find(name);
  if (it == r.end() || !it->is_string() || it->get<std::string>().empty())
    throw std::invalid_argument(std::string("missing \"") + name + "\"");
  return it->get<std::string>();
}

template <typename T>
Json rows(const std::vector<T>& v) {
  Json a = Json::array();
  for (auto& x : v) a.push_back(toJson(x));
  return a;
}

void audit(Store& s, const std::string& actor, const std::string& op, const std::string& target, bool ok) {
  Batch b;
  b.audit({nowMs(), actor, op, target, ok ? "ok" : "not found"});
  s.write(b);
}

}  // namespace

Json runAdmin(Store& s, const Json& req, const std::string& actor) {
  try {
    if (!req.is_object()) return fail("request must be a JSON object");
    std::string op = field(req, "op");
    if (op == "users") {
      Json a = Json::array();
      for (auto& [tenant, user] : s.users()) a.push_back({{"tenant", tenant}, {"user", user}});
      return {{"ok", true}, {"users", a}};
    }
    if (op == "iplog") return {{"ok", true}, {"ip_log", rows(s.ipLog(field(req, "tenant"), field(req, "user")))}};
    if (op == "devices") return {{"ok", true}, {"devices", rows(s.devices(field(req, "tenant"), field(req, "user")))}};
    if (op == "cdrs") {
      bool all = req.value("all", false);
      return {{"ok", true}, {"cdrs", rows(s.cdrs(field(req, "tenant"), field(req, "user"), all))}};
    }
    if (op == "export") {
      std::string tenant = field(req, "tenant"), user = field(req, "user");
      Json doc = Json::parse(s.exportUser(tenant, user));
      audit(s, actor, "export-user", user + "@" + tenant, true);
      return {{"ok", true}, {"export", doc}};
    }
    if (op == "erase") {
      std::string tenant = field(req, "tenant"), user = field(req, "user");
      std::size_t n = s.eraseUser(tenant, user, actor);  // audits itself
      return {{"ok", true}, {"removed", n}};
    }
    if (op == "hide" || op == "unhide") {
      std::string id = field(req, "id");
      bool ok = s.setCdrHidden(id, op == "hide");
      audit(s, actor, op + "-cdr", id, ok);
      return ok ? Json{{"ok", true}} : fail("no CDR with id " + id);
    }
    if (op == "hold" || op == "release") {
      std::string id = field(req, "id");
      bool ok = s.setCdrLegalHold(id, op == "hold");
      audit(s, actor, op == "hold" ? "legal-hold" : "legal-release", id, ok);
      return ok ? Json{{"ok", true}} : fail("no CDR with id " + id);
    }
    if (op == "provision-add") {
      ProvisionedDevice p;
      p.mac = field(req, "mac");
      p.tenant = field(req, "tenant");
      p.user = field(req, "user");
      p.model = req.value("model", "");
      p.addedAt = nowMs();
      bool ok = s.addProvisioned(p);
      audit(s, actor, "provision-add", p.mac, ok);
      return ok ? Json{{"ok", true}} : fail("'" + p.mac + "' is not a MAC address");
    }
    if (op == "provision-remove") {
      std::string mac = field(req, "mac");
      bool ok = s.removeProvisioned(mac);
      audit(s, actor, "provision-remove", mac, ok);
      return ok ? Json{{"ok", true}} : fail("no provisioned device " + mac);
    }
    if (op == "provisioned") return {{"ok", true}, {"provisioned", rows(s.provisioned())}};
    if (op == "audit") return {{"ok", true}, {"audit", rows(s.auditLog())}};
    if (op == "retention") {
      Json r = Json::object();
      const std::pair<const char*, Kind> kinds[] = {
          {"ip_log", Kind::IpLog}, {"devices", Kind::Device}, {"cdrs", Kind::Cdr}, {"audit", Kind::Audit}};
      for (auto& [name, k] : kinds) {
        auto age = s.oldestRecordAge(k);
        r[name] = age ? Json(*age) : Json(nullptr);
      }
      return {{"ok", true}, {"oldest_age_ms", r}};
    }
    return fail("unknown op '" + op + "'");
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}

}  // namespace sipedge::store
