#include "query_view_json.hpp"

#include <algorithm>

#include "../query_scoring.hpp"
#include "../similarity/signature.hpp"
#include "diagnosis_view.hpp"

namespace dm2::node {
namespace {

using json = nlohmann::json;

// A hit says which stage scored it and with what: stage 2's algorithm (name, version, the site
// that computed it on which version of the series, its provenance id), else stage 1's NCC of signatures; a stage-2
// candidate without a stage-2 score says why ("stage2_missing").
json hit_json(const ranked_hit& r, const stage_two_progress& two) {
  const auto& h = r.hit;
  json out = {{"lfn", h.lfn}, {"owner", h.owner}};
  json stage1 = h.score <= unscored ? json(nullptr) : json(h.score);
  if (r.stage_two && r.stage_two->score) {
    out["score"] = *r.stage_two->score;
    out["stage"] = 2;
    out["algorithm"] = {{"name", two.algorithm}, {"version", two.version}};
    out["computed_by"] = h.owner;
    out["series_version"] = r.stage_two->series_version;
    // GET /v1/provenance/{id} here or at the owner says what produced it; `reused`: from the
    // owner's result cache rather than computed for this query.
    if (r.stage_two->provenance) {
      out["provenance"] = r.stage_two->provenance->id;
      out["reused"] = r.stage_two->reused;
    }
  } else {
    out["score"] = stage1;
    out["stage"] = 1;
    out["algorithm"] = {{"name", "ncc"}, {"version", "1"}, {"signature", std::string(similarity::signature_version)}};
    if (r.stage_two) out["stage2_missing"] = r.stage_two->missing;
  }
  out["stage1_score"] = stage1;
  auto attributes = json::parse(h.summary, nullptr, false);
  if (!attributes.is_object()) attributes = json::object();
  // The diagnoses' codes ride in the summary beside the attributes (query_scoring.cpp).
  auto diagnoses = attributes["diagnoses"];
  attributes.erase("diagnoses");
  out["attributes"] = attributes;
  out["diagnoses"] = diagnoses.is_array() ? diagnoses : json::array();
  return out;
}

// A hit of this site's own series whose diagnoses have texts: the texts too, when the policy lets
// the poller read that series' diagnoses (each disclosure audited under the LFN, so the patient's
// access history shows it). Other sites' texts stay at their owners.
status add_own_texts(const route_context& c, const access::principal& who, const std::string& query_id,
                     const dht::query_hit& hit, json& out) {
  if (hit.owner != c.self_site() || !who.person) return {};
  auto record = local_record(c, hit.lfn);
  if (!record || std::none_of(record->diagnoses.begin(), record->diagnoses.end(),
                              [](const storage::diagnosis& d) { return d.has_text; }))
    return {};
  if (!access::decide(c.facts_for(who, access::data_class::diagnoses, access::action::read, hit.lfn, hit.owner)).allowed)
    return {};
  auto diagnoses = diagnoses_json(c, *record, true);
  if (!diagnoses) return std::move(diagnoses).err();
  if (auto s = c.audit->append({0, who.actor(), "diagnosis_read", hit.lfn, "allowed", "query=" + query_id}); !s) return s;
  out["diagnoses"] = std::move(*diagnoses);
  return {};
}


json stage_two_json(const stage_two_progress& s) {
  if (!s.planned) return nullptr;
  return {{"algorithm", {{"name", s.algorithm}, {"version", s.version}}},
          {"candidates", s.candidates},
          {"asked", s.asked},
          {"answered", s.answered},
          {"failed", s.failed},
          {"started", s.started},
          {"done", s.done}};
}

// Each asked site: answered; waiting; late (its replica holders were asked for its records);
// covered (the query completed without it, its records answered by their replica holders);
// missed (tree fan-out: not reached, and no second pass asked its records' holders); timed_out (the
// deadline passed without its answer); unheard (not asked: this site had just started and had not
// heard from it, overlay_service::start_when_settled).
json sites_json(const dht::query_progress& p) {
  auto has = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  json out = json::array();
  for (const auto& site : p.asked_sites) {
    const char* state = has(p.answered_sites, site) ? "answered"
                        : has(p.missed_sites, site) ? "missed"
                        : p.deadline_passed        ? "timed_out"
                        : p.done                   ? "covered"
                        : has(p.hedged_sites, site) ? "late"
                                                    : "waiting";
    out.push_back({{"site", site}, {"state", state}});
  }
  for (const auto& site : p.unheard_sites) out.push_back({{"site", site}, {"state", "unheard"}});
  return out;
}

}  // namespace

result<shown_query> show_query(const route_context& c, const access::principal& who, const std::string& id,
                               const query_view& view) {
  shown_query shown;
  json hits = json::array();
  for (const auto& h : view.hits) {
    if (access::decide(c.facts_for(who, access::data_class::index_attributes, access::action::read, h.hit.lfn,
                                   h.hit.owner))
            .allowed) {
      auto j = hit_json(h, view.stage_two);
      if (auto s = add_own_texts(c, who, id, h.hit, j); !s) return s.err();
      hits.push_back(std::move(j));
    } else {
      ++shown.withheld;
    }
  }
  shown.hits = hits.size();
  shown.body = {{"asked", view.progress.asked},
                {"withheld", shown.withheld},
                {"answered", view.progress.answered},
                {"hedged", view.progress.hedged},
                {"done", view.progress.done},
                {"deadline_passed", view.progress.deadline_passed},
                {"sites", sites_json(view.progress)},
                {"stage2", stage_two_json(view.stage_two)},
                {"hits", std::move(hits)}};
  return shown;
}

status audit_query_read(const route_context& c, const access::principal& who, const std::string& id,
                        const shown_query& shown, const std::string& how) {
  if (!who.person) return {};
  auto detail = "hits=" + std::to_string(shown.hits) + " withheld=" + std::to_string(shown.withheld);
  if (!how.empty()) detail += " via=" + how;
  return c.audit->append({0, who.actor(), "query_read", id, "allowed", detail});
}

}  // namespace dm2::node
