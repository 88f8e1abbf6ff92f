#include "cross_site_grants.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

namespace dm2::node {

std::string owner_grant_refusal(const route_context& c, const std::string& id, std::string_view user,
                                std::string_view site, std::string_view lfn, access::data_class what,
                                access::purpose why) {
  auto g = c.access->grants().get(id);
  if (!g) return g.err().message;
  // A grant this site received from another is not this site's to vouch for.
  if (!g->has_value() || !(*g)->issuer.empty()) return "unknown";
  return std::string(access::grant_refusal(**g, user, site, lfn, what, why, c.access->now_s()));
}

bool cross_site_grant_live(const route_context& c, const access::assertion& a, std::string_view lfn,
                           access::data_class what, std::string_view owner_site) {
  std::string why_not;
  if (owner_site == c.self_site()) {
    why_not = owner_grant_refusal(c, a.grant, a.user, a.site, lfn, what, a.why);
  } else {
    auto path = "/v1/grants/" + a.grant + "/status?user=" + a.user + "&site=" + a.site + "&lfn=" + std::string(lfn) +
                "&class=" + std::string(access::name_of(what)) + "&purpose=" + std::string(access::name_of(a.why));
    auto r = c.call_peer(std::string(owner_site), "GET", path, {}, {}, std::chrono::seconds(5));
    auto j = r && r->status == 200 ? nlohmann::json::parse(r->body, nullptr, false) : nlohmann::json();
    if (j.is_object() && j.value("live", false)) return true;
    why_not = !r                  ? "owner unreachable: " + r.err().message
              : j.is_object()     ? j.value("reason", "not live")
                                  : "owner answered " + std::to_string(r->status);
  }
  if (why_not.empty()) return true;
  spdlog::info("event=cross_site_grant_refused grant={} user={}@{} lfn={} owner={} reason=\"{}\"", a.grant, a.user,
               a.site, lfn, owner_site, why_not);
  return false;
}

}  // namespace dm2::node
