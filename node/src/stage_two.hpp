// Stage 2 of a query by image (docs/similarity.md, "Stages"), the part both ends share: the
// request the home site POSTs to an owner (/v1/similarity/scores), the owner's answer, and how an
// owner scores one of its series against the query volume with a registered measure. The owner
// opens its own sealed volume (owned_volume.hpp), resamples it to the query grid and returns a
// number: images never leave it. Pure functions and one scorer; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dm2/result.hpp"
#include "ingest/ingest_service.hpp"
#include "overlay_service.hpp"
#include "provenance/provenance_record.hpp"
#include "similarity/registry.hpp"

namespace dm2::node {

inline constexpr std::size_t max_stage_two_lfns = 100;  // = access::max_assertion_lfns
inline constexpr const char* stage_two_path = "/v1/similarity/scores";
inline constexpr const char* stage_two_content_type = "application/vnd.dm2.stage2";
inline constexpr std::size_t max_stage_two_header = 16 * 1024;  // 100 LFNs and the rest: ~3.7 KB

struct stage_two_request {
  std::string query_id;  // the home site's query id (audit), 32 hex digits
  std::string measure;   // a registered name
  std::string version;   // its version ("" = the owner's newest; the home site always names one)
  std::string volume;    // the query volume, similarity::query_volume_wire form
  std::vector<std::string> lfns;  // the candidates this owner is asked for (1..max_stage_two_lfns)
};

// Binary, so that the owner reads the 128 KiB volume as it is rather than lexing base64 in JSON:
//   "DMS2", the header's length n (uint32 little-endian, 1..max_stage_two_header),
//   n bytes of JSON {"query","measure","version","grid","lfns":[...]},
//   the volume: exactly similarity::query_volume_bytes bytes (query_volume_wire form).
std::string encode_stage_two_request(const stage_two_request& r);
// Errors: malformed_input (no "DMS2", a header length out of range, a body that is not exactly
// 8 + n + query_volume_bytes bytes, a header that is not a JSON object), invalid_argument naming
// the field (unknown field, wrong type, a query id or an LFN not 32 lowercase hex digits, a
// measure or version not 1..32 of [a-z0-9._-], no LFN or too many, a grid other than
// similarity::query_grid).
result<stage_two_request> parse_stage_two_request(std::string_view body);

// One candidate's outcome: a score, or why there is none.
struct stage_two_score {
  std::string lfn;
  std::optional<double> score;
  std::uint64_t series_version = 0;  // the version of the owner's series it was computed on
  std::string missing;  // when no score: "not_owned", "refused", "no_volume", "failed", and at
                        // the home site "owner_unavailable", "timeout", "deadline"
  // What produced the score (result_cache.hpp); none when it could not be stored.
  std::optional<provenance_record> provenance;
  bool reused = false;  // taken from the result cache, not computed for this query
};
stage_two_score missing_score(const std::string& lfn, const std::string& why);

// The owner's answer: {"site","algorithm":{"name","version"},"scores":[{"lfn","score","series_version",
// "provenance":{encode_provenance},"reused"}|{"lfn","missing"}]}.
std::string encode_stage_two_answer(const std::string& site, const similarity::measure& m,
                                    const std::vector<stage_two_score>& scores);
struct stage_two_answer {
  std::string site, algorithm, version;
  std::vector<stage_two_score> scores;
};
// Errors: malformed_input (not the shape above). A score whose provenance is malformed or does
// not match it (another LFN, series version, algorithm, version, score or site) keeps its score
// without a provenance.
result<stage_two_answer> parse_stage_two_answer(std::string_view json_text);

// Scores the owned series `lfn` with `score` (measure `m` prepared for the query volume): opens
// it, resamples it to the query grid, scores it. Failures are the outcome's `missing` (logged
// without anything nominative), never an error.
stage_two_score score_owned_series(overlay_service& overlay, const ingest_service& ingest, const similarity::measure& m,
                                   const similarity::scorer& score, const std::string& lfn);

}  // namespace dm2::node
