#include "assertion.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/signature.hpp"

namespace dm2::node::access {
namespace {

using json = nlohmann::json;

constexpr std::string_view context{"dm2-assertion-v1\0", 17};

bool is_hex_id(std::string_view s) {
  return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

bool is_site_id(std::string_view s) {
  return !s.empty() && s.size() <= 64 && s.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") == std::string_view::npos;
}

bool short_token(std::string_view s) {
  return s.size() <= 64 && s.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") == std::string_view::npos;
}

json body_of(const assertion& a) {
  json classes = json::array();
  for (auto c : a.classes) classes.push_back(name_of(c));
  return {{"v", 1},          {"basis", a.basis},     {"site", a.site},       {"user", a.user},         {"role", name_of(a.who)},
          {"purpose", name_of(a.why)}, {"grant", a.grant}, {"lfns", a.lfns},     {"classes", classes},
          {"query", a.query}, {"issued_at", a.issued_at}, {"expires_at", a.expires_at}, {"nonce", a.nonce}};
}

status check(const assertion& a) {
  if (!is_site_id(a.site)) return fail(errc::invalid_argument, "assertion site id");
  if (!is_hex_id(a.user)) return fail(errc::invalid_argument, "assertion user must be a 32-hex pseudonym");
  if (a.who == role::site_admin || a.who == role::site) return fail(errc::invalid_argument, "no assertion for that role");
  if (!short_token(a.grant) || !short_token(a.query)) return fail(errc::invalid_argument, "assertion grant or query id");
  if (!a.basis.empty() && a.basis != basis_care_team && a.basis != basis_own_record)
    return fail(errc::invalid_argument, "assertion basis: care_team, own_record or empty");
  if (a.lfns.size() > max_assertion_lfns) return fail(errc::invalid_argument, "too many LFNs in one assertion");
  for (const auto& l : a.lfns)
    if (!is_hex_id(l)) return fail(errc::invalid_argument, "assertion LFNs are 32 hex digits");
  if (!is_hex_id(a.nonce)) return fail(errc::invalid_argument, "assertion nonce");
  if (a.expires_at <= a.issued_at || a.expires_at - a.issued_at > max_assertion_lifetime_ms)
    return fail(errc::invalid_argument, "assertion lifetime out of range");
  return {};
}

// The strict inverse of body_of: every field present with its type, nothing else, canonical.
result<assertion> parse_body(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  auto bad = fail(errc::permission_denied, "malformed");
  if (!j.is_object() || j.size() != 13 || j.value("v", 0) != 1) return bad;
  try {
    assertion a;
    a.site = j.at("site").get<std::string>();
    a.user = j.at("user").get<std::string>();
    auto r = user_role_from(j.at("role").get<std::string>());
    auto p = purpose_from(j.at("purpose").get<std::string>());
    if (!r || !p) return bad;
    a.who = *r;
    a.why = *p;
    a.grant = j.at("grant").get<std::string>();
    a.basis = j.at("basis").get<std::string>();
    a.lfns = j.at("lfns").get<std::vector<std::string>>();
    for (const auto& name : j.at("classes").get<std::vector<std::string>>()) {
      auto c = data_class_from(name);
      if (!c) return bad;
      a.classes.push_back(*c);
    }
    a.query = j.at("query").get<std::string>();
    a.issued_at = j.at("issued_at").get<std::int64_t>();
    a.expires_at = j.at("expires_at").get<std::int64_t>();
    a.nonce = j.at("nonce").get<std::string>();
    if (!check(a) || body_of(a).dump() != text) return bad;
    return a;
  } catch (const json::exception&) {
    return bad;
  }
}

}  // namespace

bool assertion::covers(std::string_view lfn, data_class c) const {
  return std::find(lfns.begin(), lfns.end(), lfn) != lfns.end() &&
         std::find(classes.begin(), classes.end(), c) != classes.end();
}

result<std::string> sign_assertion(assertion a, std::string_view dht_key_pem, std::int64_t now_ms,
                                   std::int64_t lifetime_ms) {
  a.issued_at = now_ms;
  a.expires_at = now_ms + lifetime_ms;
  if (a.nonce.empty()) a.nonce = crypto::to_hex(crypto::random_bytes(16));
  if (auto s = check(a); !s) return std::move(s).err();
  auto body = body_of(a).dump();
  auto sig = crypto::sign(dht_key_pem, std::string(context) + body);
  if (!sig) return std::move(sig).err();
  return crypto::to_base64(body) + "." + crypto::to_base64(*sig);
}

assertion_verifier::assertion_verifier(key_lookup keys, wall_clock now, replay_settings settings)
    : keys_(std::move(keys)), now_(std::move(now)), replays_(settings) {}

result<assertion> assertion_verifier::verify(std::string_view peer_site, std::string_view wire) {
  auto refuse = [](const char* why) { return fail(errc::permission_denied, why); };
  if (wire.size() > max_assertion_bytes) return refuse("malformed");
  auto dot = wire.find('.');
  if (dot == std::string_view::npos) return refuse("malformed");
  auto body = crypto::from_base64(wire.substr(0, dot));
  auto sig = crypto::from_base64(wire.substr(dot + 1));
  if (!body || !sig) return refuse("malformed");
  auto a = parse_body(*body);
  if (!a) return std::move(a).err();
  auto key = keys_(a->site);
  if (!key) return refuse("not_a_member");
  if (!crypto::verify(*key, std::string(context) + *body, *sig)) return refuse("forged");
  // Checked after the signature: an unsigned claim of being another site is simply forged.
  if (a->site != peer_site) return refuse("wrong_site");
  auto now = now_();
  if (a->expires_at <= now) return refuse("expired");
  std::lock_guard lock(mutex_);
  if (auto why = replays_.admit(a->site, a->nonce, a->issued_at, now)) return refuse(why);
  return a;
}

}  // namespace dm2::node::access
