// What produced one stage-2 score (issue 11 item 4; docs/similarity.md, "Provenance"): the
// registered algorithm (name, version, parameters), the query volume (its SHA-256), the input
// series (LFN and the version of its sealed volume), the site that computed it, when, and the
// query that first asked. Kept by the computing site with the score (result_cache.hpp) and
// returned with it, so that the home site can answer GET /v1/provenance/{id} too. Nothing
// nominative: LFNs are pseudonyms, the query volume is only named by its digest. Pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dm2/result.hpp"

namespace dm2::node {

struct provenance_record {
  std::string id;  // 32 lowercase hex digits (128 random bits)
  std::string algorithm, version;
  std::vector<std::pair<std::string, std::string>> parameters;  // fixed by the version
  std::string query_volume_sha256;  // 64 hex digits, of the wire form (similarity::query_volume_wire)
  std::uint64_t grid = 0;           // the query volume's grid (similarity::query_grid)
  std::string lfn;                  // the input series, 32 hex digits
  std::uint64_t series_version = 0;  // the version of its sealed volume
  double score = 0;
  std::string computed_by;           // site id
  std::int64_t computed_at_ms = 0;   // Unix time
  std::string first_query;           // the query id that first asked (32 hex digits)
};

// {"id","algorithm":{"name","version","parameters":{}},"query_volume":{"sha256","grid"},
//  "input":{"lfn","series_version"},"score","computed_by","computed_at_ms","first_query"}
std::string encode_provenance(const provenance_record& p);
// Errors: malformed_input (not that shape, an id, LFN, query id or digest not lowercase hex of
// its length, a name, version or site id not 1..64 of
// [A-Za-z0-9._-], a parameter not 1..128 printable ASCII characters, a score not finite).
result<provenance_record> parse_provenance(std::string_view json_text);

// True when `s` is a provenance id's form (32 lowercase hex digits).
bool is_provenance_id(std::string_view s);

}  // namespace dm2::node
