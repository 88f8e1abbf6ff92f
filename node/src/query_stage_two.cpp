#include "query_stage_two.hpp"

#include <spdlog/spdlog.h>

#include <future>
#include <map>

#include "access/assertion.hpp"
#include "dm2/crypto/hash.hpp"
#include "similarity/query_volume.hpp"

namespace dm2::node {
namespace {

using steady = std::chrono::steady_clock;

std::vector<stage_two_score> all_missing(const std::vector<std::string>& lfns, const std::string& why) {
  std::vector<stage_two_score> out;
  for (const auto& l : lfns) out.push_back(missing_score(l, why));
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

// The home site's copy of what the owners said produced their scores, so that GET
// /v1/provenance/{id} answers here too (routes/provenance_routes.cpp): one commit a query. A copy
// that cannot be stored is logged: the scores stand, the owners still answer for them.
void keep_owner_provenance(const route_context& c, const std::string& query_id, const std::vector<provenance_record>& received) {
  if (!c.results || received.empty()) return;
  if (auto kept = c.results->keep(received, c.access->now_ms()); !kept)
    spdlog::warn("event=provenance_keep_failed query={} reason=\"{}\"", query_id, kept.err().message);
}

// A score of `lfn` for `q` from the result cache, when one is stored for the series' current
// sealed version; nullopt otherwise (a miss, or a series evicted from disk: computed again).
std::optional<stage_two_score> cached_score(const route_context& c, const similarity::measure& m, const std::string& digest,
                                            const std::string& lfn) {
  auto version = c.results ? c.ingest->sealed_version(lfn) : std::optional<std::uint64_t>{};
  if (!version) return std::nullopt;
  auto found = c.results->lookup(result_cache::key_of(m.name, m.version, digest, lfn, *version));
  if (!found || !*found) {
    if (!found) spdlog::warn("event=result_cache_unreadable lfn={} reason=\"{}\"", lfn, found.err().message);
    return std::nullopt;
  }
  auto s = missing_score(lfn, "");
  s.score = (*found)->score;
  s.series_version = *version;
  s.provenance = std::move(**found);
  s.reused = true;
  return s;
}

// The provenance of a score of `lfn` just computed for `q` (stored by the caller with the rest of
// its request's).
provenance_record provenance_of(const route_context& c, const similarity::measure& m, const owner_query& q,
                                const std::string& digest, const stage_two_score& s) {
  provenance_record p;
  p.algorithm = m.name;
  p.version = m.version;
  p.parameters = m.parameters;
  p.query_volume_sha256 = digest;
  p.grid = similarity::query_grid;
  p.lfn = s.lfn;
  p.series_version = s.series_version;
  p.score = *s.score;
  p.computed_by = c.self_site();
  p.computed_at_ms = c.access->now_ms();
  p.first_query = q.id;
  return p;
}

// One owner's outcome: (answered, scores).
std::pair<bool, std::vector<stage_two_score>> ask_owner(const route_context& c, const stage_two_job& job,
                                                        const std::string& owner, const std::vector<std::string>& lfns) {
  const auto& m = *job.measure;
  if (owner == c.self_site()) {
    auto query = similarity::query_volume_from_wire(job.volume);
    if (!query) return {false, all_missing(lfns, "failed")};
    return {true, score_owned_candidates(c, job.who, m, {job.query_id, job.volume, std::move(*query)}, lfns)};
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(job.deadline - steady::now());
  if (left.count() <= 0) return {false, all_missing(lfns, "deadline")};
  auto wire = stage_two_assertion(c, job.who, job.query_id, lfns);
  if (!wire) {
    spdlog::warn("event=stage2_assertion_failed query={} reason=\"{}\"", job.query_id, wire.err().message);
    return {false, all_missing(lfns, "failed")};
  }
  auto body = encode_stage_two_request({job.query_id, m.name, m.version, job.volume, lfns});
  auto r = c.call_peer(owner, "POST", stage_two_path, body, *wire, left, stage_two_content_type);
  if (!r) {
    spdlog::info("event=stage2_owner_unavailable query={} owner={} reason=\"{}\"", job.query_id, owner, r.err().message);
    return {false, all_missing(lfns, r.err().code == errc::timeout ? "timeout" : "owner_unavailable")};
  }
  auto answer = r->status == 200 ? parse_stage_two_answer(r->body) : result<stage_two_answer>(fail(errc::unavailable, ""));
  if (!answer || answer->site != owner || answer->algorithm != m.name || answer->version != m.version) {
    spdlog::info("event=stage2_owner_refused query={} owner={} status={}", job.query_id, owner, r->status);
    return {false, all_missing(lfns, r->status == 403 ? "refused" : r->status == 503 ? "owner_busy" : "failed")};
  }
  return {true, std::move(answer->scores)};
}

}  // namespace

std::vector<stage_two_score> score_owned_candidates(const route_context& c, const access::principal& who,
                                                    const similarity::measure& m, const owner_query& q,
                                                    const std::vector<std::string>& lfns) {
  std::vector<stage_two_score> out;
  const auto self = c.self_site();
  // The policy's decision on each owned candidate, all audited in one synced commit before any
  // is read: one disk sync a request rather than one a candidate.
  std::vector<std::size_t> allowed;  // positions in `out`
  std::vector<storage::audit_event> decisions;
  for (const auto& lfn : lfns) {
    out.push_back(missing_score(lfn, "not_owned"));
    if (c.overlay->owned_version(lfn) == 0) continue;
    auto [d, entry] = c.decide(who, c.facts_for(who, access::data_class::index_attributes, access::action::read, lfn, self),
                               "similarity_score", lfn);
    decisions.push_back(std::move(entry));
    out.back().missing = "refused";
    if (d.allowed) allowed.push_back(out.size() - 1);
  }
  if (auto audited = c.audit->append_all(std::move(decisions)); !audited) {
    for (auto i : allowed) out[i].missing = "failed";  // nothing read without its audit entry
    return out;
  }
  const auto digest = crypto::to_hex(crypto::sha256(q.wire));
  // What the measure derives from the query (MI's bins), once for all of this request's
  // candidates, and only if one misses the cache.
  std::optional<result<similarity::scorer>> prepared;
  std::vector<result_cache::computed> computed;  // stored together below
  std::vector<std::size_t> computed_at;          // their positions in `out`
  for (auto i : allowed) {
    const auto& lfn = out[i].lfn;
    auto cached = cached_score(c, m, digest, lfn);
    if (cached) {
      out[i] = std::move(*cached);
      c.stats->increment("dm2_stage_two_scores_total", "source=\"cached\"");
      continue;
    }
    if (!prepared) {
      prepared = m.prepare(q.volume);
      if (!*prepared)
        spdlog::warn("event=stage2_query_unusable query={} measure={}/{} reason=\"{}\"", q.id, m.name, m.version,
                     prepared->err().message);
    }
    if (!*prepared) {
      out[i].missing = "failed";
      continue;
    }
    out[i] = score_owned_series(*c.overlay, *c.ingest, m, **prepared, lfn);
    if (!out[i].score) continue;
    c.stats->increment("dm2_stage_two_scores_total", "source=\"computed\"");
    if (!c.results) continue;
    computed.push_back({result_cache::key_of(m.name, m.version, digest, lfn, out[i].series_version),
                        provenance_of(c, m, q, digest, out[i])});
    computed_at.push_back(i);
  }
  // The request's new scores and their provenance in one synced commit, before the answer: a
  // score answered is a score stored.
  if (!c.results || computed.empty()) return out;
  if (auto stored = c.results->store(computed, c.access->now_ms()); !stored) {
    spdlog::warn("event=result_cache_store_failed query={} scores={} reason=\"{}\"", q.id, computed.size(),
                 stored.err().message);
    return out;
  }
  for (std::size_t k = 0; k < computed.size(); ++k) out[computed_at[k]].provenance = std::move(computed[k].record);
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
  std::vector<provenance_record> from_owners;
  for (auto& [owner, f] : asked) {
    auto [answered, scores] = f.get();
    for (const auto& s : scores) {
      scored += s.score.has_value();
      if (s.provenance && owner != c.self_site()) from_owners.push_back(*s.provenance);
    }
    c.queries->record_stage_two(job.query_id, owner, answered, scores);
  }
  keep_owner_provenance(c, job.query_id, from_owners);
  c.queries->finish_stage_two(job.query_id);
  spdlog::info("event=stage2_done query={} measure={}/{} candidates={} owners={} scored={} ms={}", job.query_id,
               job.measure->name, job.measure->version, candidates.size(), by_owner.size(), scored,
               std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started).count());
}

}  // namespace dm2::node
