#include "query_stage_two.hpp"

#include <spdlog/spdlog.h>

#include <future>
#include <map>

#include "access/assertion.hpp"
#include "similarity/query_volume.hpp"

namespace dm2::node {
namespace {

using steady = std::chrono::steady_clock;

std::vector<stage_two_score> all_missing(const std::vector<std::string>& lfns, const std::string& why) {
  std::vector<stage_two_score> out;
  for (const auto& l : lfns) out.push_back({l, std::nullopt, 0, why});
  return out;
}

// The assertion a signed-in user's stage-2 request carries to one owner: these LFNs' index
// attributes, for this query. Empty for the site's operator (no user: the site asks as itself).
result<std::string> stage_two_assertion(const route_context& c, const access::principal& who,
                                        const std::string& query_id, const std::vector<std::string>& lfns) {
  if (!who.person) return std::string();
  access::assertion a;
  a.site = c.self_site();
  a.user = who.id;
  a.who = who.who;
  a.why = c.facts_for(who, access::data_class::index_attributes, access::action::read, "", "").why;
  for (const auto& l : lfns) {
    auto g = c.access->grants().covering(who.id, l, access::data_class::index_attributes, c.access->now_s());
    if (g && g->has_value()) {
      a.grant = (*g)->id;
      break;
    }
  }
  a.lfns = lfns;
  a.classes = {access::data_class::index_attributes};
  a.query = query_id;
  return access::sign_assertion(std::move(a), c.identity->dht_key_pem, c.access->now_ms());
}

// One owner's outcome: (answered, scores).
std::pair<bool, std::vector<stage_two_score>> ask_owner(const route_context& c, const stage_two_job& job,
                                                        const std::string& owner, const std::vector<std::string>& lfns) {
  const auto& m = *job.measure;
  if (owner == c.self_site()) {
    auto query = similarity::query_volume_from_wire(job.volume);
    if (!query) return {false, all_missing(lfns, "failed")};
    return {true, score_owned_candidates(c, job.who, m, *query, lfns)};
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(job.deadline - steady::now());
  if (left.count() <= 0) return {false, all_missing(lfns, "deadline")};
  auto wire = stage_two_assertion(c, job.who, job.query_id, lfns);
  if (!wire) {
    spdlog::warn("event=stage2_assertion_failed query={} reason=\"{}\"", job.query_id, wire.err().message);
    return {false, all_missing(lfns, "failed")};
  }
  auto body = encode_stage_two_request({job.query_id, m.name, m.version, job.volume, lfns});
  auto r = c.call_peer(owner, "POST", stage_two_path, body, *wire, left);
  if (!r) {
    spdlog::info("event=stage2_owner_unavailable query={} owner={} reason=\"{}\"", job.query_id, owner, r.err().message);
    return {false, all_missing(lfns, r.err().code == errc::timeout ? "timeout" : "owner_unavailable")};
  }
  auto answer = r->status == 200 ? parse_stage_two_answer(r->body) : result<stage_two_answer>(fail(errc::unavailable, ""));
  if (!answer || answer->site != owner || answer->algorithm != m.name || answer->version != m.version) {
    spdlog::info("event=stage2_owner_refused query={} owner={} status={}", job.query_id, owner, r->status);
    return {false, all_missing(lfns, r->status == 403 ? "refused" : "failed")};
  }
  return {true, std::move(answer->scores)};
}

}  // namespace

std::vector<stage_two_score> score_owned_candidates(const route_context& c, const access::principal& who,
                                                    const similarity::measure& m, const similarity::volume& query,
                                                    const std::vector<std::string>& lfns) {
  std::vector<stage_two_score> out;
  const auto self = c.self_site();
  for (const auto& lfn : lfns) {
    if (c.overlay->owned_version(lfn) == 0) {
      out.push_back({lfn, std::nullopt, 0, "not_owned"});
      continue;
    }
    auto f = c.facts_for(who, access::data_class::index_attributes, access::action::read, lfn, self);
    if (c.authorize(who, f, "similarity_score", lfn)) {
      out.push_back({lfn, std::nullopt, 0, "refused"});
      continue;
    }
    out.push_back(score_owned_series(*c.overlay, *c.ingest, m, query, lfn));
  }
  return out;
}

void run_stage_two(const route_context& c, const stage_two_job& job) {
  auto started = steady::now();
  auto candidates = c.queries->start_stage_two(job.query_id, job.measure->name, job.measure->version);
  std::map<std::string, std::vector<std::string>> by_owner;
  for (const auto& h : candidates) by_owner[h.owner].push_back(h.lfn);
  std::vector<std::pair<std::string, std::future<std::pair<bool, std::vector<stage_two_score>>>>> asked;
  for (const auto& owned : by_owner)  // not a structured binding: clang 14 cannot capture one
    asked.emplace_back(owned.first, std::async(std::launch::async, [&c, &job, &owned] {
                         return ask_owner(c, job, owned.first, owned.second);
                       }));
  std::size_t scored = 0;
  for (auto& [owner, f] : asked) {
    auto [answered, scores] = f.get();
    for (const auto& s : scores) scored += s.score.has_value();
    c.queries->record_stage_two(job.query_id, owner, answered, scores);
  }
  c.queries->finish_stage_two(job.query_id);
  spdlog::info("event=stage2_done query={} measure={}/{} candidates={} owners={} scored={} ms={}", job.query_id,
               job.measure->name, job.measure->version, candidates.size(), by_owner.size(), scored,
               std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started).count());
}

}  // namespace dm2::node
