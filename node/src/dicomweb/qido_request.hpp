// A QIDO-RS search (PS3.18 10.6) as dm2 can answer it from the index (docs/dicomweb.md,
// "QIDO-RS"): the query string parsed strictly into the index filter the overlay query carries,
// a UID list, paging and the fields asked for. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "dm2/result.hpp"
#include "dm2/storage/query.hpp"

namespace dm2::node::dicomweb {

enum class qido_level { study, series, instance };

struct qido_limits {
  static constexpr std::size_t default_limit = 100;
  static constexpr std::size_t max_results =
      1000;                                     // offset + limit: the overlay query's top_k bound
  static constexpr std::size_t max_uids = 100;  // in a UID list
};

struct qido_request {
  qido_level level = qido_level::study;
  storage::index_filter filter;  // `limit` unused
  std::optional<std::set<std::string>>
      lfns;  // from StudyInstanceUID / SeriesInstanceUID (and the path)
  std::size_t limit = qido_limits::default_limit;
  std::size_t offset = 0;
  // Warning header values (PS3.18 8.3.4.x): parameters accepted but not applied.
  std::vector<std::string> warnings;
};

// Parses the query string of `target` for a search at `level`. `path_study` and `path_series`
// are the UIDs named in the path (".../studies/{uid}/series"); "" when none. A path UID that
// is not one of dm2's (dicom_uids.hpp) matches nothing: lfns is then the empty set.
// Keys: StudyInstanceUID, SeriesInstanceUID (UID lists), StudyDate, SeriesDate (DA, ranges),
// ModalitiesInStudy, Modality, BodyPartExamined, PatientSex (CS), Manufacturer (LO), by keyword
// or tag; "*" or an empty value matches all; limit, offset, includefield, fuzzymatching.
// Errors: invalid_argument naming the first bad parameter (an unknown or unsupported key, a key
// the index does not hold, a wildcard other than a lone "*", a bad UID or date, limit outside
// 1..1000, offset + limit over 1000, a repeated key, a bad percent-encoding).
result<qido_request> parse_qido(std::string_view target, qido_level level,
                                std::string_view path_study = {},
                                std::string_view path_series = {});

}  // namespace dm2::node::dicomweb
