#include "signed_grant.hpp"

#include <nlohmann/json.hpp>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/signature.hpp"

namespace dm2::node::access {
namespace {

using json = nlohmann::json;

constexpr std::string_view context{"dm2-grant-v1\0", 13};

json body_of(const grant& g, std::string_view site) {
  json classes = json::array();
  for (auto c : g.classes) classes.push_back(name_of(c));
  return {{"v", 1},         {"site", site},         {"id", g.id},         {"grantor", g.grantor},
          {"grantee", g.grantee}, {"grantee_site", g.grantee_site}, {"lfns", g.lfns}, {"classes", classes},
          {"purpose", name_of(g.why)}, {"expires_at", g.expires_at}};
}

status check(const grant& g, std::string_view site) {
  grant bounded = g;
  bounded.created_at = g.expires_at - 1;  // the lifetime is the store's business, not the wire's
  if (auto s = grant_store::check(bounded); !s) return s;
  if (g.id.size() != 32 || g.id.find_first_not_of("0123456789abcdef") != std::string::npos ||
      g.grantor.size() != 32 || g.grantor.find_first_not_of("0123456789abcdef") != std::string::npos)
    return fail(errc::invalid_argument, "a signed grant's id and grantor are 32 hex digits");
  if (g.grantee_site.empty() || site.empty() || site.size() > 64 || g.grantee_site == site)
    return fail(errc::invalid_argument, "a signed grant goes from its owner to a user of another site");
  return {};
}

}  // namespace

result<std::string> sign_grant(const grant& g, std::string_view site, std::string_view dht_key_pem) {
  if (auto s = check(g, site); !s) return std::move(s).err();
  auto body = body_of(g, site).dump();
  auto sig = crypto::sign(dht_key_pem, std::string(context) + body);
  if (!sig) return std::move(sig).err();
  return crypto::to_base64(body) + "." + crypto::to_base64(*sig);
}

result<verified_grant> verify_grant(std::string_view wire,
                                    const std::function<result<std::string>(std::string_view site)>& key_of) {
  auto refuse = [](const char* why) { return fail(errc::permission_denied, why); };
  if (wire.size() > max_signed_grant_bytes) return refuse("malformed");
  auto dot = wire.find('.');
  if (dot == std::string_view::npos) return refuse("malformed");
  auto body = crypto::from_base64(wire.substr(0, dot));
  auto sig = crypto::from_base64(wire.substr(dot + 1));
  if (!body || !sig) return refuse("malformed");
  auto j = json::parse(*body, nullptr, false);
  if (!j.is_object() || j.size() != 10 || j.value("v", 0) != 1) return refuse("malformed");
  verified_grant out;
  try {
    auto& g = out.g;
    out.site = j.at("site").get<std::string>();
    g.id = j.at("id").get<std::string>();
    g.grantor = j.at("grantor").get<std::string>();
    g.grantee = j.at("grantee").get<std::string>();
    g.grantee_site = j.at("grantee_site").get<std::string>();
    g.lfns = j.at("lfns").get<std::vector<std::string>>();
    for (const auto& name : j.at("classes").get<std::vector<std::string>>()) {
      auto c = data_class_from(name);
      if (!c) return refuse("malformed");
      g.classes.push_back(*c);
    }
    auto p = purpose_from(j.at("purpose").get<std::string>());
    if (!p) return refuse("malformed");
    g.why = *p;
    g.expires_at = j.at("expires_at").get<std::int64_t>();
  } catch (const json::exception&) {
    return refuse("malformed");
  }
  if (!check(out.g, out.site) || body_of(out.g, out.site).dump() != *body) return refuse("malformed");
  auto key = key_of(out.site);
  if (!key) return refuse("not_a_member");
  if (!crypto::verify(*key, std::string(context) + *body, *sig)) return refuse("forged");
  return out;
}

}  // namespace dm2::node::access
