// Stage 2 of a query by image, at the home site and at each owner (docs/similarity.md, "Stages").
// The home site sends the query volume to the owners of the best stage-1 candidates over mutual
// TLS — with the user's signed assertion (index attributes of those LFNs, the query id) for a
// signed-in user, as the site itself for its operator — and merges the scores into the query
// book; its own candidates it scores in place. An owner that does not answer before the deadline
// leaves its candidates with their stage-1 score, flagged. Thread-safe (blocking calls).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "access/principal.hpp"
#include "routes/route_context.hpp"
#include "similarity/registry.hpp"
#include "stage_two.hpp"

namespace dm2::node {

struct stage_two_job {
  std::string query_id;
  const similarity::measure* measure = nullptr;  // from the builtin registry (static)
  std::string volume;                            // similarity::query_volume_wire form
  std::chrono::steady_clock::time_point deadline;
  access::principal who;  // the querier (a person: assertions; the operator: the site's certificate)
};

// Runs stage 2 of a query whose stage 1 is done (query_book::record returned true), then marks
// the query done. Blocks until every owner answered or failed (at most until the deadline).
void run_stage_two(const route_context& c, const stage_two_job& job);

// The query as an owner sees it: its id, the query volume's wire form and that volume read back.
struct owner_query {
  std::string id;
  std::string wire;  // similarity::query_volume_wire form: its SHA-256 keys the result cache
  similarity::volume volume;
};

// An owner's scores for `lfns` against the query volume: each LFN must be owned here and
// readable by `who` under the policy (index attributes, audited as "similarity_score"), else its
// outcome says "not_owned" or "refused". A score already in the result cache for this measure
// version, query volume and series version is reused without opening the series (counted
// dm2_stage_two_scores_total{source="cached"}); one computed is stored with its provenance
// ({source="computed"}). Every score carries its provenance unless it could not be stored (logged).
std::vector<stage_two_score> score_owned_candidates(const route_context& c, const access::principal& who,
                                                    const similarity::measure& m, const owner_query& q,
                                                    const std::vector<std::string>& lfns);

}  // namespace dm2::node
