#include "query_scoring.hpp"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>

#include "dm2/dht/storage_replica_store.hpp"
#include "dm2/storage/index_record.hpp"
#include "dm2/storage/query.hpp"
#include "diagnoses/diagnosis_input.hpp"
#include "similarity/signature.hpp"

namespace dm2::node {
namespace {

// The hit's summary: the record's attributes and, when it has some, its diagnoses' codes (their
// texts stay at the owner).
std::string summary_of(const storage::index_record& r) {
  const auto& a = r.attributes;
  nlohmann::json j = {{"modality", a.modality},       {"body_part", a.body_part}, {"manufacturer", a.manufacturer},
                      {"study_date", a.study_date},   {"series_date", a.series_date}, {"sex", a.sex},
                      {"age_band", a.age_band}};
  for (std::size_t i = 0; i < r.diagnoses.size(); ++i) j["diagnoses"].push_back(diagnosis_json(i + 1, r.diagnoses[i]));
  // Attributes come from peers' records: never let a bad byte throw here.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::optional<std::vector<float>> signature_samples(std::string_view bytes) { return similarity::float_samples(bytes); }

std::optional<double> ncc(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.empty() || a.size() != b.size()) return std::nullopt;
  double mean_a = 0, mean_b = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return std::nullopt;
    mean_a += a[i];
    mean_b += b[i];
  }
  mean_a /= static_cast<double>(a.size());
  mean_b /= static_cast<double>(b.size());
  double cross = 0, var_a = 0, var_b = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    double da = a[i] - mean_a, db = b[i] - mean_b;
    cross += da * db;
    var_a += da * da;
    var_b += db * db;
  }
  if (!(var_a > 0) || !(var_b > 0)) return std::nullopt;
  double r = cross / std::sqrt(var_a * var_b);
  return std::clamp(r, -1.0, 1.0);  // rounding may step just outside
}

namespace {

std::shared_ptr<const query_body> parsed_body(const std::string& body) {
  auto parsed = parse_query_body(body);
  if (!parsed) {
    spdlog::warn("event=query_body_refused reason=\"{}\"", parsed.err().message);
    return nullptr;
  }
  return std::make_shared<const query_body>(std::move(*parsed));
}

dht::query_plan plan_for(std::shared_ptr<const query_body> query) {
  auto samples = std::make_shared<const std::vector<float>>(
      signature_samples(query->signature).value_or(std::vector<float>{}));
  dht::query_plan plan;
  plan.top_k = query->top_k;
  plan.score = [query, samples](const dht::record& r) -> std::optional<dht::query_hit> {
    auto decoded = dht::decode_replica(r);
    if (!decoded) return std::nullopt;  // not a well-formed index record: nothing to judge
    if (!storage::matches(*decoded, query->filters)) return std::nullopt;
    double score = unscored;
    if (!samples->empty())
      if (auto theirs = signature_samples(decoded->signature))
        score = ncc(*samples, *theirs).value_or(unscored);
    return dht::query_hit{r.lfn, r.owner, score, summary_of(*decoded)};
  };
  return plan;
}

}  // namespace

std::optional<dht::query_plan> plan_query(const std::string& body) {
  auto query = parsed_body(body);
  if (!query) return std::nullopt;
  return plan_for(std::move(query));
}

std::optional<dht::query_plan> plan_query(const std::string& body, const stage_one::stage_one_index& index,
                                          const dht::replica_store& store) {
  auto query = parsed_body(body);
  if (!query) return std::nullopt;
  auto plan = plan_for(query);
  // Candidates from the index, each read and scored as above: the same hits, fewer reads.
  plan.search = [query, score = plan.score, &index, &store](const dht::query_plan::owner_test& answers_for) {
    return index.search(*query, answers_for, query->top_k, [&](const std::string& lfn) -> std::optional<dht::query_hit> {
      auto r = store.get_record(lfn);
      if (!r) return std::nullopt;
      return score(*r);
    });
  };
  return plan;
}

}  // namespace dm2::node
