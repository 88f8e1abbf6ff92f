#include "registry.hpp"

#include <algorithm>
#include <memory>
#include <string>

#include "measures.hpp"

namespace dm2::similarity {
namespace {

measure_registry make_builtin() {
  const std::string bins = std::to_string(default_bins);
  measure_registry r;
  auto add = [&](measure m) { (void)r.add(std::move(m)); };  // distinct names: cannot fail
  add({"ncc",
       "1",
       "normalised cross-correlation (Pearson) of the voxel values, -1..1",
       {},
       [](const volume& q) -> result<scorer> {
         if (auto s = check_volume(q); !s) return std::move(s).err();
         return scorer([q](const volume& c) { return normalised_cross_correlation(q, c); });
       }});
  add({"mi",
       "1",
       "mutual information of the joint intensity histogram, in nats",
       {{"bins", bins},
        {"bin edges", "equal-frequency (by rank; equal values share a bin)"},
        {"binning", "nearest bin, no partial volume"},
        {"log", "natural"}},
       [](const volume& q) -> result<scorer> {
         auto binned = bin_volume(q, default_bins);
         if (!binned) return std::move(binned).err();
         return scorer([b = std::make_shared<const binned_volume>(std::move(*binned))](const volume& c) -> result<double> {
           auto candidate = bin_volume(c, default_bins);
           if (!candidate) return std::move(candidate).err();
           return mutual_information(*b, *candidate);
         });
       }});
  add({"cr",
       "1",
       "correlation ratio eta^2 (Roche et al. 1998), 0..1",
       {{"bins", bins},
        {"bin edges", "equal-frequency classes of the candidate (by rank)"},
        {"direction", "eta^2(query | candidate)"}},
       [](const volume& q) -> result<scorer> {
         if (auto s = check_volume(q); !s) return std::move(s).err();
         return scorer([q](const volume& c) { return correlation_ratio(q, c, default_bins); });
       }});
  return r;
}

std::string known_names(const std::vector<measure>& all) {
  std::vector<std::string_view> names;
  std::string out;
  for (const auto& m : all) {
    if (std::find(names.begin(), names.end(), m.name) != names.end()) continue;
    names.push_back(m.name);
    out += (out.empty() ? "" : ", ") + m.name;
  }
  return out;
}

}  // namespace

result<double> measure::compute(const volume& query, const volume& candidate) const {
  auto score = prepare(query);
  if (!score) return std::move(score).err();
  return (*score)(candidate);
}

const measure_registry& measure_registry::builtin() {
  static const measure_registry r = make_builtin();
  return r;
}

status measure_registry::add(measure m) {
  if (m.name.empty() || m.version.empty() || !m.prepare)
    return fail(errc::invalid_argument, "a measure needs a name, a version and a function");
  for (const auto& have : measures_)
    if (have.name == m.name && have.version == m.version)
      return fail(errc::conflict,
                  "measure " + m.name + " version " + m.version + " is registered already");
  measures_.push_back(std::move(m));
  return {};
}

result<const measure*> measure_registry::find(std::string_view name,
                                              std::string_view version) const {
  const measure* newest = nullptr;
  std::string versions;
  for (const auto& m : measures_) {
    if (m.name != name) continue;
    if (!version.empty() && m.version == version) return &m;
    newest = &m;
    versions += (versions.empty() ? "" : ", ") + m.version;
  }
  if (!newest)
    return fail(errc::invalid_argument, "unknown measure \"" + std::string(name) +
                                            "\" (known: " + known_names(measures_) + ")");
  if (!version.empty())
    return fail(errc::invalid_argument, "measure " + std::string(name) + " has no version \"" +
                                            std::string(version) + "\" (has: " + versions + ")");
  return newest;
}

}  // namespace dm2::similarity
