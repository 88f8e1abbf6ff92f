// Roster encoding, decoding, signing and lookups. The canonical form is what nlohmann::json
// writes for an object built from the struct: its objects are std::maps (keys sorted), dump()
// without indentation puts no spaces, and ensure_ascii escapes every non-ASCII character.
#include "dm2/crypto/roster.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <set>

#include "dm2/crypto/endpoint.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/signature.hpp"

namespace dm2::crypto {

namespace {

using json = nlohmann::json;

constexpr std::string_view signing_context{"dm2 roster v1\0", 14};
constexpr std::size_t max_json_depth = 4;  // document > roster > sites > site

bool in(char c, std::string_view set) { return set.find(c) != std::string_view::npos; }
bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool alnum(char c) { return lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

bool valid_site_id(std::string_view s) {
  if (s.empty() || s.size() > max_site_id_size || !lower_alnum(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return lower_alnum(c) || in(c, "._-"); });
}

bool valid_consortium(std::string_view s) {
  if (s.empty() || s.size() > max_consortium_size) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return alnum(c) || in(c, " ._-"); });
}

// Printable text: no ASCII control characters (UTF-8 validity is checked by the JSON writer).
bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > max_site_name_size) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u != 0x7f;
  });
}

bool valid_fingerprint(std::string_view s) {
  return s.size() == 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool valid_endpoint(std::string_view s) {
  return s.size() <= max_endpoint_size && parse_endpoint(s).ok();
}

std::string check_entry(const site_entry& e) {
  const std::string who = "site '" + e.site_id + "': ";
  if (!valid_site_id(e.site_id)) return "site id must be 1..64 of [a-z0-9._-], starting with a letter or digit";
  if (!valid_name(e.name)) return who + "name must be 1..128 bytes without control characters";
  if (!valid_fingerprint(e.certificate_sha256))
    return who + "certificate fingerprint must be 64 lowercase hex digits";
  if (e.dht_public_key.size() != 32) return who + "DHT key must be 32 bytes";
  if (e.sealing_public_key.size() != 32) return who + "sealing key must be 32 bytes";
  if (!valid_endpoint(e.https_endpoint)) return who + "https endpoint must be IP:port (IPv6 in brackets)";
  if (!valid_endpoint(e.dht_endpoint)) return who + "dht endpoint must be IP:port (IPv6 in brackets)";
  if (e.expires_at <= 0) return who + "expiry must be a positive time";
  return {};
}

// Everything encode and decode refuse alike; empty when `r` is fine.
std::string check_roster(const roster& r) {
  if (!valid_consortium(r.consortium)) return "consortium name must be 1..64 of [A-Za-z0-9 ._-]";
  if (r.issued_at < 0) return "issue time must not be negative";
  if (r.sites.size() > max_roster_sites) return "more than 1000 sites";
  std::set<std::string> ids, fingerprints, keys;
  for (const auto& e : r.sites) {
    if (auto problem = check_entry(e); !problem.empty()) return problem;
    if (!ids.insert(e.site_id).second) return "site id '" + e.site_id + "' listed twice";
    if (!fingerprints.insert(e.certificate_sha256).second)
      return "certificate of site '" + e.site_id + "' listed twice";
    // One key namespace: a key may not serve two sites, nor two purposes.
    if (!keys.insert(e.dht_public_key).second || !keys.insert(e.sealing_public_key).second)
      return "a key of site '" + e.site_id + "' is listed twice";
  }
  return {};
}

json to_json(const roster& r) {
  std::vector<const site_entry*> sorted;
  for (const auto& e : r.sites) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(),
            [](const site_entry* a, const site_entry* b) { return a->site_id < b->site_id; });
  json sites = json::array();
  for (const site_entry* e : sorted)
    sites.push_back(json{{"site_id", e->site_id},
                         {"name", e->name},
                         {"certificate_sha256", e->certificate_sha256},
                         {"dht_key", to_hex(e->dht_public_key)},
                         {"sealing_key", to_hex(e->sealing_public_key)},
                         {"https_endpoint", e->https_endpoint},
                         {"dht_endpoint", e->dht_endpoint},
                         {"expires_at", e->expires_at}});
  return json{{"consortium", r.consortium},
              {"version", r.version},
              {"issued_at", r.issued_at},
              {"sites", std::move(sites)}};
}

result<std::string> dump(const json& j) {
  try {
    return j.dump(-1, ' ', true, json::error_handler_t::strict);
  } catch (const json::exception&) {
    return fail(errc::invalid_argument, "roster text is not valid UTF-8");
  }
}

// ---- decoding helpers: every one refuses a wrong type instead of converting --------------

bool has_exactly(const json& j, std::initializer_list<const char*> keys) {
  if (!j.is_object() || j.size() != keys.size()) return false;
  return std::all_of(keys.begin(), keys.end(), [&](const char* k) { return j.contains(k); });
}

std::optional<std::string> get_string(const json& j, const char* key) {
  const json& v = j.at(key);
  if (!v.is_string()) return std::nullopt;
  return v.get<std::string>();
}

std::optional<std::int64_t> get_int(const json& j, const char* key) {
  const json& v = j.at(key);
  if (v.is_number_unsigned()) {
    auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
    return static_cast<std::int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<std::int64_t>();
  return std::nullopt;
}

std::optional<std::string> get_hex_key(const json& j, const char* key) {
  auto s = get_string(j, key);
  if (!s || s->size() != 64 || !valid_fingerprint(*s)) return std::nullopt;  // lowercase hex
  return *from_hex(*s);
}

// Nesting deeper than a roster can be is refused before parsing.
bool depth_ok(std::string_view text) {
  std::size_t depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_json_depth) return false;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return true;
}

result<json> parse(std::string_view text) {
  if (text.size() > max_roster_document_size) return fail(errc::too_large, "roster larger than 1 MiB");
  if (!depth_ok(text)) return fail(errc::malformed_input, "roster nested too deeply");
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return fail(errc::malformed_input, "roster is not valid JSON");
  return j;
}

result<roster> from_json(const json& j) {
  auto bad = [](std::string what) { return fail(errc::malformed_input, "roster: " + what); };
  if (!has_exactly(j, {"consortium", "version", "issued_at", "sites"}))
    return bad("expected exactly consortium, version, issued_at, sites");
  roster r;
  auto consortium = get_string(j, "consortium");
  auto issued = get_int(j, "issued_at");
  const json& version = j.at("version");
  const json& sites = j.at("sites");
  if (!consortium || !issued || !version.is_number_unsigned() || !sites.is_array())
    return bad("a field has the wrong type");
  r.consortium = *consortium;
  r.issued_at = *issued;
  r.version = version.get<std::uint64_t>();
  if (sites.size() > max_roster_sites) return bad("more than 1000 sites");
  for (const json& s : sites) {
    if (!has_exactly(s, {"site_id", "name", "certificate_sha256", "dht_key", "sealing_key",
                         "https_endpoint", "dht_endpoint", "expires_at"}))
      return bad("a site entry has missing or unknown fields");
    site_entry e;
    auto id = get_string(s, "site_id"), name = get_string(s, "name"),
         fp = get_string(s, "certificate_sha256"), https = get_string(s, "https_endpoint"),
         dht = get_string(s, "dht_endpoint"), dht_key = get_hex_key(s, "dht_key"),
         seal_key = get_hex_key(s, "sealing_key");
    auto expires = get_int(s, "expires_at");
    if (!id || !name || !fp || !https || !dht || !dht_key || !seal_key || !expires)
      return bad("a site field has the wrong type or size");
    e.site_id = *id;
    e.name = *name;
    e.certificate_sha256 = *fp;
    e.dht_public_key = *dht_key;
    e.sealing_public_key = *seal_key;
    e.https_endpoint = *https;
    e.dht_endpoint = *dht;
    e.expires_at = *expires;
    r.sites.push_back(std::move(e));
  }
  if (auto problem = check_roster(r); !problem.empty()) return bad(problem);
  return r;
}

std::string signed_message(std::string_view body) {
  std::string m(signing_context);
  m += body;
  return m;
}

result<site_entry> find_if_current(const roster& r, std::int64_t now, auto&& match) {
  for (const auto& e : r.sites)
    if (match(e)) {
      if (e.expires_at <= now) return fail(errc::permission_denied, "site '" + e.site_id + "' has expired");
      return e;
    }
  return fail(errc::permission_denied, "site is not on the roster");
}

}  // namespace

// ------------------------------------------------------------------------------ encoding ----

result<std::string> encode_roster(const roster& r) {
  if (auto problem = check_roster(r); !problem.empty()) return fail(errc::invalid_argument, problem);
  return dump(to_json(r));
}

result<roster> decode_roster(std::string_view body) {
  auto j = parse(body);
  if (!j) return std::move(j).err();
  auto r = from_json(*j);
  if (!r) return r;
  auto again = encode_roster(*r);
  if (!again || *again != body) return fail(errc::malformed_input, "roster is not in canonical form");
  return r;
}

result<std::string> roster_hash(const roster& r) {
  auto body = encode_roster(r);
  if (!body) return std::move(body).err();
  return sha256(*body);
}

result<std::string> encode_roster_document(const roster_document& d) {
  if (!d.signature.empty() && d.signature.size() != ed25519_signature_size)
    return fail(errc::invalid_argument, "roster signature must be 64 bytes");
  if (auto problem = check_roster(d.body); !problem.empty()) return fail(errc::invalid_argument, problem);
  auto text = dump(json{{"roster", to_json(d.body)}, {"signature", to_hex(d.signature)}});
  if (!text) return text;
  *text += '\n';
  return text;
}

result<roster_document> decode_roster_document(std::string_view document) {
  auto j = parse(document);
  if (!j) return std::move(j).err();
  if (!has_exactly(*j, {"roster", "signature"}))
    return fail(errc::malformed_input, "roster document: expected exactly roster and signature");
  auto body = from_json(j->at("roster"));
  if (!body) return std::move(body).err();
  auto sig_hex = get_string(*j, "signature");
  if (!sig_hex || (!sig_hex->empty() && (sig_hex->size() != 128)))
    return fail(errc::malformed_input, "roster signature must be empty or 128 hex digits");
  auto sig = from_hex(*sig_hex);
  if (!sig) return fail(errc::malformed_input, "roster signature is not hex");
  roster_document d{std::move(*body), std::move(*sig)};
  auto again = encode_roster_document(d);
  if (!again || *again != document)
    return fail(errc::malformed_input, "roster document is not in canonical form");
  return d;
}

result<std::string> sign_roster(const roster& r, std::string_view consortium_key_pem) {
  auto body = encode_roster(r);
  if (!body) return std::move(body).err();
  auto sig = sign(consortium_key_pem, signed_message(*body));
  if (!sig) return std::move(sig).err();
  return encode_roster_document({r, std::move(*sig)});
}

result<roster> verify_roster(std::string_view document, std::string_view consortium_public_key) {
  auto d = decode_roster_document(document);
  if (!d) return std::move(d).err();
  if (d->signature.empty()) return fail(errc::integrity_failure, "roster is an unsigned draft");
  auto body = encode_roster(d->body);
  if (!body) return std::move(body).err();
  if (auto s = verify(consortium_public_key, signed_message(*body), d->signature); !s)
    return fail(s.err().code == errc::integrity_failure ? errc::integrity_failure : s.err().code,
                "roster signature: " + s.err().message);
  return std::move(d->body);
}

// ------------------------------------------------------------------------------- lookups ----

result<site_entry> find_site_by_id(const roster& r, std::string_view site_id, std::int64_t now) {
  return find_if_current(r, now, [&](const site_entry& e) { return e.site_id == site_id; });
}

result<site_entry> find_site_by_fingerprint(const roster& r, std::string_view sha256_hex,
                                            std::int64_t now) {
  return find_if_current(r, now, [&](const site_entry& e) { return e.certificate_sha256 == sha256_hex; });
}

result<site_entry> find_site_by_dht_key(const roster& r, std::string_view dht_public_key,
                                        std::int64_t now) {
  return find_if_current(r, now, [&](const site_entry& e) { return e.dht_public_key == dht_public_key; });
}

status verify_member_signature(const roster& r, std::string_view dht_public_key,
                               std::string_view message, std::string_view signature,
                               std::int64_t now) {
  auto site = find_site_by_dht_key(r, dht_public_key, now);
  if (!site) return std::move(site).err();
  return verify(dht_public_key, message, signature);
}

}  // namespace dm2::crypto
