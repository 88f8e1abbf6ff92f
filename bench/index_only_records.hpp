// Index-only records for the similarity bench at hospital scale (docs/similarity.md, "Benchmark"):
// records with attributes and a signature but no image, written through a site's real owner
// path (POST /v1/records as the site's operator: the node signs, stores, audits and replicates
// each one, and its stage-1 index takes it), so that stage 1 ranks 1,000 records a site while
// only the few real series stage 2 reaches are ingested. Their signatures are random unit-variance
// vectors: unrelated to any anatomy, so a real heart series' signature is nearer the query's and
// stage 1 ranks the real candidates first on the merits. Header-only.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "dm2/crypto/hash.hpp"
#include "dm2/node/https_client.hpp"
#include "similarity/signature.hpp"

namespace dm2::bench {

// What tells them apart from the ingested series (a query can filter on it).
inline constexpr const char* index_only_manufacturer = "DM2 BENCH INDEX-ONLY";

// Writes `count` index-only records to the site behind `to` (a connection with the site's own
// certificate); "" or why the first refused write was refused.
inline std::string write_index_only_records(node::https_connection& to, int count, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> signature(similarity::signature_size);
  for (int i = 0; i < count; ++i) {
    std::string lfn(16, '\0');
    for (auto& b : lfn) b = static_cast<char>(rng());
    for (auto& x : signature) x = normal(rng);
    char date[9];
    std::snprintf(date, sizeof date, "%04d%02d%02d", 1990 + i % 10, 1 + i % 12, 1 + i % 28);
    nlohmann::json body = {{"lfn", crypto::to_hex(lfn)},
                           {"attributes",
                            {{"modality", "MR"},
                             {"body_part", "HEART"},
                             {"manufacturer", index_only_manufacturer},
                             {"study_date", date},
                             {"series_date", date}}},
                           {"signature_hex", crypto::to_hex(similarity::signature_bytes(signature))}};
    auto r = to.request("POST", "/v1/records", body.dump());
    if (!r) return r.err().to_string();
    if (r->status != 201) return "POST /v1/records " + std::to_string(r->status) + ": " + r->body;
  }
  return "";
}

}  // namespace dm2::bench
