
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "../query_body.hpp"
#include "../query_scoring.hpp"
#include "dm2/dht/storage_replica_store.hpp"
#include "routes.hpp"

namespace dm2::node {
namespace {

using json = nlohmann::json;

constexpr const char* queries_path = "/v1/queries";

json hit_json(const dht::query_hit& h) {
  json out = {{"lfn", h.lfn}, {"owner", h.owner}};
  out["score"] = h.score <= unscored ? json(nullptr) : json(h.score);
  auto attributes = json::parse(h.summary, nullptr, false);
  out["attributes"] = attributes.is_object() ? attributes : json::object();
  return out;
}

// A query by one of this site's own series: its record's similarity signature, from the local
// copy. Errors: not_found (no such record here, or another site's), invalid_argument (the record
// has no usable signature).
result<std::string> own_signature(const route_context& c, const std::string& lfn) {
  auto self = c.members->self();
  auto copy = c.overlay->find(lfn);
  auto record = copy ? dht::decode_replica(*copy) : result<storage::index_record>(fail(errc::not_found, ""));
  if (!self || !record || record->owner_site != self->site_id)
    return fail(errc::not_found, "lfn: this site owns no record with that lfn");
  const auto& s = record->signature;
  if (s.empty() || s.size() % 4 != 0 || s.size() > query_limits::max_signature_bytes)
    return fail(errc::invalid_argument, "lfn: that record has no usable similarity signature");
  return s;
}

// Who may start a query: a role that could read some hit's index attributes at all (the policy
// asked with every condition met). Which hits a user then sees is decided per hit at poll time.
http_response start(const route_context& c, const http_request& request) {
  auto who = c.authenticate(request);
  if (!who) return error_response(who.err());
  auto f = c.facts_for(*who, access::data_class::index_attributes, access::action::read, "", "");
  f.care_team = f.grant = true;
  f.self = who->who == access::role::patient;
  if (auto refused = c.authorize(*who, f, "query_start", "queries")) return *refused;
  auto submission = parse_query_submission(request.body);
  if (!submission) {
    spdlog::info("event=query_rejected remote={} reason=\"{}\"", request.remote_address, submission.err().message);
    return error_response(submission.err());
  }
  if (who->person) {
    // Sites learn who asks by pseudonym and why, inside the signed body; never a name.
    submission->body.user = who->id;
    submission->body.purpose = access::name_of(f.why);
  }
  if (!submission->lfn.empty()) {
    auto signature = own_signature(c, submission->lfn);
    if (!signature) return error_response(signature.err());
    submission->body.signature = std::move(*signature);
  }
  auto id = c.queries->open(submission->body.top_k);
  if (!id) {
    auto busy = error_response(id.err());
    busy.status = 429;
    busy.headers.emplace("Retry-After", std::string(1, '1'));
    return busy;
  }
  auto started = c.overlay->start_query(
      *id, canonical_json(submission->body), submission->timeout,
      [book = c.queries, query = *id](const std::vector<dht::query_hit>& hits, const dht::query_progress& p) {
        book->record(query, hits, p);
      });
  if (!started) {
    c.queries->cancel(*id);
    return error_response(started.err());
  }
  spdlog::info("event=query_started query={} measure={} top_k={} timeout_ms={} signature_bytes={}", *id,
               submission->body.measure, submission->body.top_k, submission->timeout.count(),
               submission->body.signature.size());
  auto location = std::string(queries_path) + "/" + *id;
  http_response r{202, "application/json", {{"Location", location}}, json{{"id", *id}, {"location", location}}.dump()};
  return r;
}

// The hits so far, each one shown only if the policy lets the poller read its index attributes
// (a researcher sees the hits his grants cover); the poll is audited with the count withheld.
http_response poll(const route_context& c, const http_request& request) {
  auto who = c.authenticate(request);
  if (!who) return error_response(who.err());
  auto id = last_segment(request.target);
  auto view = c.queries->view(id);
  if (!view) return error_response(fail(errc::not_found, "no such query (unknown, or finished and forgotten)"));
  json hits = json::array();
  std::size_t withheld = 0;
  for (const auto& h : view->hits) {
    if (access::decide(c.facts_for(*who, access::data_class::index_attributes, access::action::read, h.lfn, h.owner)).allowed)
      hits.push_back(hit_json(h));
    else
      ++withheld;
  }
  if (who->person) {
    auto detail = "hits=" + std::to_string(hits.size()) + " withheld=" + std::to_string(withheld);
    if (auto s = c.audit->append({0, who->actor(), "query_read", id, "allowed", detail}); !s) return error_response(s.err());
  }
  json body = {{"asked", view->progress.asked},
               {"withheld", withheld},
               {"answered", view->progress.answered},
               {"hedged", view->progress.hedged},
               {"done", view->progress.done},
               {"deadline_passed", view->progress.deadline_passed},
               {"hits", hits}};
  return http_response{200, "application/json", {}, body.dump(-1, ' ', false, json::error_handler_t::replace)};
}

}  // namespace

void add_query_routes(router& routes, const route_context& c) {
  routes.add("POST", queries_path, [c](const http_request& r) { return start(c, r); });
  routes.add_prefix("GET", std::string(queries_path) + "/", [c](const http_request& r) { return poll(c, r); });
}

}  // namespace dm2::node
