#include "grants.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "dm2/crypto/hash.hpp"
#include "dm2/storage/transaction.hpp"
#include "stored_json.hpp"

namespace dm2::node::access {
namespace {

using json = nlohmann::json;

bool grantable(data_class c) {
  return c == data_class::index_attributes || c == data_class::diagnoses || c == data_class::deidentified_image ||
         c == data_class::key_share;
}

bool is_lfn(std::string_view s) {
  return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

bool is_site_id(std::string_view s) {  // as a roster names sites ("" = this site)
  return s.size() <= 64 && s.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") == std::string_view::npos;
}

json to_json(const grant& g) {
  json classes = json::array();
  for (auto c : g.classes) classes.push_back(name_of(c));
  return {{"id", g.id},           {"grantor", g.grantor},       {"grantee", g.grantee},
          {"grantee_site", g.grantee_site}, {"issuer", g.issuer}, {"signed", g.signed_grant},
          {"lfns", g.lfns},       {"query", g.query},           {"classes", classes},
          {"purpose", name_of(g.why)}, {"created_at", g.created_at}, {"expires_at", g.expires_at},
          {"revoked", g.revoked}};
}

result<grant> from_json(std::string_view text) {
  auto j = parse_stored(text);
  if (!j) return std::move(j).err();
  try {
    grant g;
    g.id = j->at("id").get<std::string>();
    g.grantor = j->at("grantor").get<std::string>();
    g.grantee = j->at("grantee").get<std::string>();
    g.grantee_site = j->value("grantee_site", "");  // absent in grants stored before 2026-12-02
    g.issuer = j->value("issuer", "");
    g.signed_grant = j->value("signed", "");
    g.lfns = j->at("lfns").get<std::vector<std::string>>();
    g.query = j->at("query").get<std::string>();
    for (const auto& name : j->at("classes").get<std::vector<std::string>>())
      if (auto c = data_class_from(name)) g.classes.push_back(*c);
    auto p = purpose_from(j->at("purpose").get<std::string>());
    g.why = p ? *p : purpose::none;
    g.created_at = j->at("created_at").get<std::int64_t>();
    g.expires_at = j->at("expires_at").get<std::int64_t>();
    g.revoked = j->at("revoked").get<bool>();
    return g;
  } catch (const json::exception&) {
    return fail(errc::integrity_failure, "stored grant is malformed");
  }
}

}  // namespace

std::string_view grant_refusal(const grant& g, std::string_view user, std::string_view site, std::string_view lfn,
                               data_class c, purpose why, std::int64_t now) {
  if (g.grantee != user || g.grantee_site != site) return "other_user";
  if (g.revoked) return "revoked";
  if (now >= g.expires_at) return "expired";
  if (!g.covers(lfn, c)) return "not_covered";
  if (g.why != why) return "purpose";
  return "";
}

bool grant::covers(std::string_view lfn, data_class c) const {
  return std::find(lfns.begin(), lfns.end(), lfn) != lfns.end() &&
         std::find(classes.begin(), classes.end(), c) != classes.end();
}

status grant_store::put(const grant& g, storage::audit_event audit) {
  storage::transaction t;
  t.put(storage::family::accounts, "grant/" + g.id, to_json(g).dump());
  t.append_audit(std::move(audit));
  return db_.commit(std::move(t));
}

status grant_store::check(const grant& g) {
  if (!is_lfn(g.grantee) || !is_site_id(g.grantee_site) || !is_site_id(g.issuer))
    return fail(errc::invalid_argument, "a grantee is a 32-hex pseudonym, a site a roster id");
  if (g.lfns.empty() || g.lfns.size() > max_grant_lfns)
    return fail(errc::invalid_argument, "a grant names 1 to " + std::to_string(max_grant_lfns) + " LFNs");
  for (const auto& l : g.lfns)
    if (!is_lfn(l)) return fail(errc::invalid_argument, "an LFN is 32 lowercase hex digits");
  if (g.classes.empty()) return fail(errc::invalid_argument, "a grant names at least one data class");
  for (auto c : g.classes)
    if (!grantable(c))
      return fail(errc::invalid_argument, std::string(name_of(c)) + " cannot be granted (index_attributes, diagnoses, "
                                                                     "deidentified_image, key_share can)");
  if (g.expires_at <= g.created_at || g.expires_at - g.created_at > max_grant_lifetime_s)
    return fail(errc::invalid_argument, "a grant lasts 1 s to 90 days");
  return {};
}

result<grant> grant_store::create(grant g, storage::audit_event audit) {
  if (auto s = check(g); !s) return std::move(s).err();
  if (g.id.empty()) {
    g.id = crypto::to_hex(crypto::random_bytes(16));
  } else {
    auto taken = get(g.id);
    if (!taken) return std::move(taken).err();
    if (taken->has_value() || !is_lfn(g.id)) return fail(errc::conflict, "that grant id is taken or malformed");
  }
  g.revoked = false;
  audit.object = g.id;
  if (auto s = put(g, std::move(audit)); !s) return std::move(s).err();
  return g;
}

result<grant> grant_store::revoke(const std::string& id, storage::audit_event audit) {
  auto g = get(id);
  if (!g) return std::move(g).err();
  if (!g->has_value()) return fail(errc::not_found, "no such grant");
  auto out = std::move(**g);
  out.revoked = true;
  audit.object = out.id;
  if (auto s = put(out, std::move(audit)); !s) return std::move(s).err();
  return out;
}

result<std::optional<grant>> grant_store::get(const std::string& id) const {
  if (!is_lfn(id)) return std::optional<grant>{};  // ids have the LFN's shape
  auto stored = db_.get(storage::family::accounts, "grant/" + id);
  if (!stored) return std::move(stored).err();
  if (!stored->has_value()) return std::optional<grant>{};
  auto g = from_json(**stored);
  if (!g) return std::move(g).err();
  return std::optional<grant>{std::move(*g)};
}

result<std::vector<grant>> grant_store::list(const std::string& user_id) const {
  std::vector<grant> out;
  status inner;
  auto s = db_.for_each_value(storage::family::accounts, "grant/", [&](std::string_view, std::string_view value) {
    auto g = from_json(value);
    if (!g) {
      inner = std::move(g).err();
      return false;
    }
    if (user_id.empty() || g->grantor == user_id || g->grantee == user_id) out.push_back(std::move(*g));
    return true;
  });
  if (!s) return std::move(s).err();
  if (!inner) return std::move(inner).err();
  return out;
}

result<std::optional<grant>> grant_store::covering(const std::string& user_id, std::string_view lfn, data_class c,
                                                   std::int64_t now) const {
  auto all = list(user_id);
  if (!all) return std::move(all).err();
  for (auto& g : *all)
    if (g.grantee == user_id && g.grantee_site.empty() && g.live(now) && g.covers(lfn, c)) return std::optional<grant>{std::move(g)};
  return std::optional<grant>{};
}

}  // namespace dm2::node::access
