// Patients see who read their data (docs/api.md, "GET /v1/me/accesses"; docs/security.md):
//   GET /v1/me/accesses   a signed-in patient: the audit entries about his series, every site's
//   GET /v1/audit-entries a site's own entries about the LFNs of a user's assertion (between sites),
//                         or about one LFN for a user of this site whom the policy allows
// The home site (the owner of the patient's series, the only one that links them to him) finds
// his LFNs, reads its own audit chain and asks every other site, with one assertion naming those
// LFNs and the audit_entries class, vouching for his own records. Each site answers for its own
// chain only, decides with the policy per LFN and audits its answer.
#include <spdlog/spdlog.h>

#include <future>
#include <nlohmann/json.hpp>
#include <set>

#include "dm2/crypto/hash.hpp"
#include "dm2/storage/index_record.hpp"
#include "owned_series.hpp"
#include "routes.hpp"
#include "series_retrieval.hpp"

namespace dm2::node {
namespace {

using json = nlohmann::json;

constexpr std::size_t max_entries_per_site = 1000;

json entry_json(const std::string& site, const storage::audit_entry& e) {
  return {{"site", site},
          {"sequence", e.sequence},
          {"time_ms", e.event.time_ms},
          {"actor", e.event.actor},
          {"action", e.event.action},
          {"lfn", e.event.object},
          {"decision", e.event.decision},
          {"detail", e.event.detail}};
}

// The series this site owns that belong to patient `ref` (their nominative links), at most
// max_assertion_lfns.
std::vector<std::string> series_of(const route_context& c, const std::string& ref) {
  std::vector<std::string> out;
  for (const auto& r : owned_series_where(c, [&](const std::string& lfn) { return c.patient_of(lfn) == ref; },
                                          access::max_assertion_lfns))
    out.push_back(r.lfn);
  return out;
}

// The entries of another site, asked with the patient's assertion; nullopt when it did not answer.
std::optional<json> entries_from(const route_context& c, const std::string& site,
                                 const std::string& wire) {
  auto r = c.ask_peer(site, "/v1/audit-entries", wire);
  if (!r || r->status != 200) {
    spdlog::info("event=audit_entries_not_given site={} reason=\"{}\"", site,
                 r ? std::to_string(r->status) : r.err().message);
    return std::nullopt;
  }
  auto j = json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j["entries"].is_array()) return std::nullopt;
  json out = json::array();
  // Each site speaks for itself: an entry naming another site, or an LFN not asked, is dropped.
  for (auto& e : j["entries"])
    if (e.is_object() && e.value("site", "") == site) out.push_back(std::move(e));
  return out;
}

http_response my_accesses(const route_context& c, const http_request& request) {
  auto p = c.authenticate(request);
  if (!p) return error_response(p.err());
  auto who = std::move(*p);
  if (who.who != access::role::patient || who.asserted || who.patient_ref.empty()) {
    (void)c.audit->append({0, who.actor(), "accesses_read", "me", "refused: not_a_patient", ""});
    return error_response(
        fail(errc::permission_denied, "this lists the accesses to a signed-in patient's own data"));
  }
  auto lfns = series_of(c, who.patient_ref);
  // The LFNs are his by construction (his link); the policy still decides, and it is audited.
  auto f = c.facts_for(who, access::data_class::audit_entries, access::action::read, "", "");
  f.self = true;
  if (auto no = c.authorize(who, f, "accesses_read", "me")) return *no;

  std::set<std::string> wanted(lfns.begin(), lfns.end());
  json entries = json::array();
  json unreachable = json::array();
  auto local = c.audit->about(wanted, max_entries_per_site);
  if (!local) return error_response(local.err());
  for (const auto& e : *local) entries.push_back(entry_json(c.self_site(), e));
  if (!lfns.empty()) {
    access::assertion a;
    a.site = c.self_site();
    a.user = who.id;
    a.who = access::role::patient;
    a.why = access::purpose::none;
    a.basis = access::basis_own_record;
    a.lfns = lfns;
    a.classes = {access::data_class::audit_entries};
    auto wire = access::sign_assertion(std::move(a), c.identity->dht_key_pem, c.access->now_ms());
    if (!wire) return error_response(wire.err());
    std::vector<std::pair<std::string, std::future<std::optional<json>>>> asked;
    for (const auto& peer : c.members->peers())
      asked.emplace_back(peer.site_id,
                         std::async(std::launch::async, [&c, site = peer.site_id, &wire] {
                           return entries_from(c, site, *wire);
                         }));
    for (auto& [site, answer] : asked) {
      auto got = answer.get();
      if (!got) {
        unreachable.push_back(site);
        continue;
      }
      for (auto& e : *got)
        if (wanted.count(e.value("lfn", ""))) entries.push_back(std::move(e));
    }
  }
  std::stable_sort(entries.begin(), entries.end(), [](const json& x, const json& y) {
    return x.value("time_ms", 0LL) < y.value("time_ms", 0LL);
  });
  json body = {{"series", lfns.size()}, {"entries", entries}, {"sites_unreachable", unreachable}};
  return http_response{200, "application/json", {}, body.dump()};
}

// This site's entries about LFNs, each decided (and audited) on its own: another site's user
// under his site's assertion names them in it; a user of this site (or its operator) names one
// with ?lfn= (the policy lets a site admin read his site's chain, a patient his own record's).
http_response audit_entries(const route_context& c, const http_request& request) {
  auto p = c.authenticate(request);
  if (!p) return error_response(p.err());
  auto who = std::move(*p);
  if (!who.asserted && who.who == access::role::site) {
    (void)c.audit->append({0, who.actor(), "audit_entries_read", "", "refused: no_assertion", ""});
    return error_response(fail(errc::permission_denied,
                               "audit entries go to another site, against its user's assertion"));
  }
  std::vector<std::string> asked;
  if (who.asserted) {
    asked = who.asserted->lfns;
  } else {
    auto lfn = query_of(request.target)["lfn"];
    auto raw = crypto::from_hex(lfn);
    if (!raw || raw->size() != storage::lfn_size || crypto::to_hex(*raw) != lfn)
      return error_response(fail(errc::invalid_argument, "give ?lfn=<32 lowercase hex digits>"));
    asked = {lfn};
  }
  std::set<std::string> allowed;
  std::optional<http_response> refusal;  // the first; answered when no LFN is allowed
  for (const auto& lfn : asked) {
    auto f = c.facts_for(who, access::data_class::audit_entries, access::action::read, lfn, owner_of(c, lfn));
    auto refused = c.authorize(who, f, "audit_entries_read", lfn);
    if (!refused) allowed.insert(lfn);
    else if (!refusal) refusal = std::move(refused);
  }
  if (allowed.empty() && refusal) return *refusal;
  auto found = c.audit->about(allowed, max_entries_per_site);
  if (!found) return error_response(found.err());
  json entries = json::array();
  for (const auto& e : *found) entries.push_back(entry_json(c.self_site(), e));
  return http_response{200, "application/json", {}, json{{"entries", entries}}.dump()};
}

}  // namespace

void add_access_history_routes(router& routes, const route_context& c) {
  routes.add("GET", "/v1/me/accesses", [c](const http_request& r) { return my_accesses(c, r); });
  routes.add("GET", "/v1/audit-entries",
             [c](const http_request& r) { return audit_entries(c, r); });
}

}  // namespace dm2::node
