// Similarity at this site (docs/api.md, "Similarity"; docs/similarity.md):
//   GET  /v1/algorithms           the registered measures this site runs (name, version, ...)
//   POST /v1/similarity/scores    stage 2 of another site's query by image: that site sends its
//                                 query volume and the candidates this site owns; this site opens
//                                 its own volumes, computes the measure, returns scores only
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "../query_stage_two.hpp"
#include "../similarity/query_volume.hpp"
#include "../similarity/signature.hpp"
#include "routes.hpp"

namespace dm2::node {
namespace {

using json = nlohmann::json;

// Any authenticated caller: the list says what runs here, nothing about data.
http_response list_algorithms(const route_context& c, const http_request& request) {
  if (auto who = c.authenticate(request); !who) return error_response(who.err());
  json list = json::array();
  for (const auto& m : similarity::measure_registry::builtin().list()) {
    json parameters = json::object();
    for (const auto& [key, value] : m.parameters) parameters[key] = value;
    list.push_back({{"name", m.name}, {"version", m.version}, {"description", m.description},
                    {"parameters", parameters}, {"stage", 2}});
  }
  json body = {{"site", c.self_site()},
               {"algorithms", list},
               {"stage1", {{"name", "ncc"}, {"version", "1"}, {"signature", std::string(similarity::signature_version)}}},
               {"query_grid", similarity::query_grid}};
  return http_response{200, "application/json", {}, body.dump()};
}

// Another roster member (with its user's assertion, or as itself for its operator's query).
http_response score(const route_context& c, const http_request& request) {
  auto who = c.authenticate(request);
  if (!who) return error_response(who.err());
  if (who->home_site == c.self_site())
    return error_response(fail(errc::permission_denied, "stage 2 is asked by another consortium site"));
  auto type = request.headers.find("content-type");
  if (type == request.headers.end() || type->second != stage_two_content_type)
    return error_response(fail(errc::unsupported, std::string("the stage-2 request is ") + stage_two_content_type));
  auto r = parse_stage_two_request(request.body);
  if (!r) return error_response(r.err());
  auto m = similarity::measure_registry::builtin().find(r->measure, r->version);
  if (!m) return error_response(m.err());
  auto query = similarity::query_volume_from_wire(r->volume);
  if (!query) return error_response(query.err());
  if (who->asserted && who->asserted->query != r->query_id)
    return error_response(fail(errc::permission_denied, "the assertion is for another query"));
  // The scoring runs on stage 2's own threads, not on this request worker; when as many requests
  // wait for them as configured, the next is refused at once.
  http_response later;
  later.deferred = [c, who = std::move(*who), m = *m, q = std::make_shared<owner_query>(owner_query{
                                                          r->query_id, std::move(r->volume), std::move(*query)}),
                    lfns = std::move(r->lfns)](http_response::reply_function reply) {
    auto shared_reply = std::make_shared<http_response::reply_function>(std::move(reply));
    bool queued = c.stage_two_scoring->submit([c, who, m, q, lfns, shared_reply] {
      auto scores = score_owned_candidates(c, who, *m, *q, lfns);
      spdlog::info("event=stage2_scored query={} from={} measure={}/{} lfns={}", q->id, who.home_site, m->name,
                   m->version, lfns.size());
      (*shared_reply)(http_response{200, "application/json", {}, encode_stage_two_answer(c.self_site(), *m, scores)});
    });
    if (queued) return;
    spdlog::warn("event=stage2_refused query={} from={} reason=overloaded", q->id, who.home_site);
    auto busy = error_response(fail(errc::unavailable, "stage 2 is busy at this site; its scores are missing"));
    busy.headers.emplace("Retry-After", "1");
    (*shared_reply)(std::move(busy));
  };
  return later;
}

}  // namespace

void add_similarity_routes(router& routes, const route_context& c) {
  routes.add("GET", "/v1/algorithms", [c](const http_request& r) { return list_algorithms(c, r); });
  routes.add("POST", stage_two_path, [c](const http_request& r) { return score(c, r); });
}

}  // namespace dm2::node
