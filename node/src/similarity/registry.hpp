// The measures a site runs on its data, each a registered algorithm with a name and a version, so
// that every score can say exactly what computed it (issue 11, item 3). docs/similarity.md.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "volume.hpp"

namespace dm2::similarity {

// Scores candidates against the query it was prepared for.
using scorer = std::function<result<double>(const volume& candidate)>;

struct measure {
  std::string name;     // "ncc", "mi", "cr"
  std::string version;  // changes whenever the same inputs could give another number
  std::string description;
  std::vector<std::pair<std::string, std::string>> parameters;  // fixed by the version
  // Derives what the measure needs of the query alone (MI: its bins) once, for every candidate
  // of a stage-2 request. Errors: the measure's (measures.hpp), for the query.
  std::function<result<scorer>(const volume& query)> prepare;

  // One pair: prepare(query), then the candidate.
  result<double> compute(const volume& query, const volume& candidate) const;
};

// Not thread-safe while being filled; const use from several threads at once is safe.
class measure_registry {
 public:
  // ncc 1, mi 1 (32 bins), cr 1 (32 bins), as measures.hpp defines them. Built once.
  static const measure_registry& builtin();

  // Errors: invalid_argument (empty name or version, no function), conflict (that name and
  // version are registered already).
  status add(measure m);

  // The measure `name` at `version`; an empty version means the newest one registered.
  // Errors: invalid_argument (unknown name, or unknown version of a known name; the message
  // lists what is known).
  result<const measure*> find(std::string_view name, std::string_view version = {}) const;

  // Every measure, in the order registered.
  const std::vector<measure>& list() const { return measures_; }

 private:
  std::vector<measure> measures_;
};

}  // namespace dm2::similarity
