// How a site scores its records for a similarity query (docs/overlay.md, "Queries in the node"):
// each record payload is an encoded storage::index_record; the query's filters select, and NCC
// between the query's signature and the record's ranks. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dm2/dht/query_fanout.hpp"
#include "query_body.hpp"
#include "stage_one/stage_one_index.hpp"

namespace dm2::node {

// The score of a hit that has no similarity score: the query has no signature, or the record
// has none or one of another length. Below any NCC (-1..1), so such hits rank after every scored
// one (then by LFN); the API shows it as "score": null.
inline constexpr double unscored = -2.0;

// A signature as numbers: little-endian IEEE-754 float32 samples. Nullopt when the size is not a
// whole number of samples.
std::optional<std::vector<float>> signature_samples(std::string_view bytes);

// Normalized cross-correlation of two equal-length sample vectors, in [-1, 1]. Nullopt when the
// lengths differ, either is empty, has a non-finite sample or has zero variance (a flat image
// correlates with nothing).
std::optional<double> ncc(const std::vector<float>& a, const std::vector<float>& b);

// The plan a site runs for `body` (a canonical query body): records that fail to decode or to
// match the filters are skipped; a hit carries the record's searchable attributes as JSON in
// `summary`. Nullopt (logged) when the body does not parse.
std::optional<dht::query_plan> plan_query(const std::string& body);
// The same plan with a search (dht::query_plan::search): candidates from the site's stage-1
// index, each read from `store` and scored as above, so the hits are the same. Both are used on
// the thread that runs the plan (the overlay service's) and must outlive it.
std::optional<dht::query_plan> plan_query(const std::string& body, const stage_one::stage_one_index& index,
                                          const dht::replica_store& store);

}  // namespace dm2::node
