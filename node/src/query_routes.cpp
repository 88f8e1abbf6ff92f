#include "query_routes.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "query_body.hpp"
#include "query_scoring.hpp"

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

http_response start(const query_routes_context& c, const http_request& request) {
  if (auto refused = c.refuse_unless_site(request)) return *refused;
  auto submission = parse_query_submission(request.body);
  if (!submission) {
    spdlog::info("event=query_rejected remote={} reason=\"{}\"", request.remote_address, submission.err().message);
    return error_response(submission.err());
  }
  auto id = c.book->open(submission->body.top_k);
  if (!id) {
    auto busy = error_response(id.err());
    busy.status = 429;
    busy.headers.emplace("Retry-After", std::string(1, '1'));
    return busy;
  }
  auto started = c.overlay->start_query(
      *id, canonical_json(submission->body), submission->timeout,
      [book = c.book, query = *id](const std::vector<dht::query_hit>& hits, const dht::query_progress& p) {
        book->record(query, hits, p);
      });
  if (!started) {
    c.book->cancel(*id);
    return error_response(started.err());
  }
  spdlog::info("event=query_started query={} measure={} top_k={} timeout_ms={} signature_bytes={}", *id,
               submission->body.measure, submission->body.top_k, submission->timeout.count(),
               submission->body.signature.size());
  auto location = std::string(queries_path) + "/" + *id;
  http_response r{202, "application/json", {{"Location", location}}, json{{"id", *id}, {"location", location}}.dump()};
  return r;
}

http_response poll(const query_routes_context& c, const http_request& request) {
  if (auto refused = c.refuse_unless_site(request)) return *refused;
  auto view = c.book->view(last_segment(request.target));
  if (!view) return error_response(fail(errc::not_found, "no such query (unknown, or finished and forgotten)"));
  json hits = json::array();
  for (const auto& h : view->hits) hits.push_back(hit_json(h));
  json body = {{"asked", view->progress.asked},
               {"answered", view->progress.answered},
               {"hedged", view->progress.hedged},
               {"done", view->progress.done},
               {"deadline_passed", view->progress.deadline_passed},
               {"hits", hits}};
  return http_response{200, "application/json", {}, body.dump(-1, ' ', false, json::error_handler_t::replace)};
}

}  // namespace

void add_query_routes(router& routes, query_routes_context context) {
  routes.add("POST", queries_path, [context](const http_request& r) { return start(context, r); });
  routes.add_prefix("GET", std::string(queries_path) + "/", [context](const http_request& r) { return poll(context, r); });
}

}  // namespace dm2::node
