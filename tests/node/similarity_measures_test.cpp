// The similarity measures (node/src/similarity/measures.hpp) against reference values computed
// independently by numpy (tests/node/similarity_reference.py, run on the same volumes written to
// a temporary folder), and the orderings theory predicts for shifted, noised and remapped copies.
#include "similarity/measures.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>

#include "similarity/registry.hpp"

namespace dm2::similarity {
namespace {

constexpr std::size_t n = 32;

// A smooth phantom: two blobs, a step edge and a ramp; `dx` shifts it along i (in voxels).
volume phantom(double dx = 0) {
  volume v;
  v.dims = {n, n, n};
  v.spacing = {1, 1, 1};
  v.affine_ras = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  v.voxels.resize(n * n * n);
  for (std::size_t k = 0; k < n; ++k)
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t i = 0; i < n; ++i) {
        double x = static_cast<double>(i) + dx, y = static_cast<double>(j),
               z = static_cast<double>(k);
        double value =
            100 *
                std::exp(-((x - 12) * (x - 12) + (y - 14) * (y - 14) + (z - 16) * (z - 16)) / 40) +
            60 * std::exp(-((x - 22) * (x - 22) + (y - 20) * (y - 20) + (z - 10) * (z - 10)) / 25) +
            (x > 16 ? 20 : 0) + 0.5 * y;
        v.voxels[(k * n + j) * n + i] = static_cast<float>(value);
      }
  return v;
}

double range_of(const volume& v) {
  auto [lo, hi] = std::minmax_element(v.voxels.begin(), v.voxels.end());
  return *hi - *lo;
}

volume noised(const volume& v, double fraction_of_range, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0, fraction_of_range * range_of(v));
  volume out = v;
  for (float& x : out.voxels) x = static_cast<float>(x + noise(rng));
  return out;
}

// exp of the intensity scaled to 0..4: strictly increasing and far from linear.
volume remapped(const volume& v) {
  double lo = *std::min_element(v.voxels.begin(), v.voxels.end()), range = range_of(v);
  volume out = v;
  for (float& x : out.voxels) x = static_cast<float>(std::exp((x - lo) / range * 4));
  return out;
}

struct scores {
  double ncc = 0, mi = 0, mi_reversed = 0, cr = 0;
};

scores ours(const volume& query, const volume& candidate) {
  scores s;
  s.ncc = normalised_cross_correlation(query, candidate).value();
  s.mi = mutual_information(query, candidate).value();
  s.mi_reversed = mutual_information(candidate, query).value();
  s.cr = correlation_ratio(query, candidate).value();
  return s;
}

void write_raw(const std::filesystem::path& path, const volume& v) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(v.voxels.data()),
            static_cast<std::streamsize>(v.voxels.size() * 4));
  ASSERT_TRUE(out.good());
}

// numpy's values for each candidate against `query`, by name.
std::map<std::string, scores> reference(const volume& query,
                                        const std::map<std::string, volume>& candidates) {
  auto dir =
      std::filesystem::temp_directory_path() / ("dm2-similarity-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  write_raw(dir / "query.f32", query);
  for (const auto& [name, v] : candidates) write_raw(dir / (name + ".f32"), v);
  // Debian's interpreter, the one scripts/install-deps.sh gives numpy to (a PATH python3 may
  // be another one without it).
  std::string script = std::string(DM2_SOURCE_DIR) + "/tests/node/similarity_reference.py";
  std::string command = "/usr/bin/python3 '" + script + "' '" + dir.string() + "' " +
                        std::to_string(default_bins) + " 2>&1";
  std::string output;
  if (FILE* p = ::popen(command.c_str(), "r")) {
    char buf[4096];
    while (std::size_t got = std::fread(buf, 1, sizeof buf, p)) output.append(buf, got);
    EXPECT_EQ(::pclose(p), 0) << output;
  }
  std::filesystem::remove_all(dir);
  std::map<std::string, scores> out;
  std::istringstream lines(output);
  std::string name;
  scores s;
  while (lines >> name >> s.ncc >> s.mi >> s.mi_reversed >> s.cr) out[name] = s;
  EXPECT_EQ(out.size(), candidates.size()) << "numpy said: " << output;
  return out;
}

class measures : public ::testing::Test {
 protected:
  void SetUp() override {
    query = phantom();
    candidates = {{"identical", phantom()},
                  {"shift1", phantom(1)},
                  {"shift3", phantom(3)},
                  {"noise_low", noised(query, 0.02, 1)},
                  {"noise_high", noised(query, 0.10, 2)},
                  {"remap", remapped(query)}};
    for (const auto& [name, v] : candidates) s[name] = ours(query, v);
  }
  volume query;
  std::map<std::string, volume> candidates;
  std::map<std::string, scores> s;
};

TEST_F(measures, agree_with_numpy_to_1e_4) {
  auto ref = reference(query, candidates);
  for (const auto& [name, r] : ref) {
    SCOPED_TRACE(name);
    EXPECT_NEAR(s[name].ncc, r.ncc, 1e-4);
    EXPECT_NEAR(s[name].mi, r.mi, 1e-4);
    EXPECT_NEAR(s[name].mi_reversed, r.mi_reversed, 1e-4);
    EXPECT_NEAR(s[name].cr, r.cr, 1e-4);
  }
}

TEST_F(measures, an_identical_volume_scores_highest) {
  EXPECT_NEAR(s["identical"].ncc, 1.0, 1e-9);
  EXPECT_LE(s["identical"].mi, std::log(static_cast<double>(default_bins)) + 1e-9);
  for (const char* other : {"shift1", "shift3", "noise_low", "noise_high"}) {
    SCOPED_TRACE(other);
    EXPECT_GT(s["identical"].ncc, s[other].ncc);
    EXPECT_GT(s["identical"].mi, s[other].mi);
    EXPECT_GT(s["identical"].cr, s[other].cr);
  }
}

TEST_F(measures, more_shift_or_more_noise_scores_lower) {
  for (auto [near, far] : {std::pair{"shift1", "shift3"}, std::pair{"noise_low", "noise_high"}}) {
    SCOPED_TRACE(std::string(near) + " vs " + far);
    EXPECT_GT(s[near].ncc, s[far].ncc);
    EXPECT_GT(s[near].mi, s[far].mi);
    EXPECT_GT(s[near].cr, s[far].cr);
  }
}

// A strictly increasing remap leaves MI and CR where the identical copy is; NCC, which assumes a
// linear relation, falls below even the noised and shifted copies.
TEST_F(measures, mi_and_cr_ignore_a_monotonic_remap_where_ncc_does_not) {
  EXPECT_NEAR(s["remap"].mi, s["identical"].mi, 1e-3);
  EXPECT_NEAR(s["remap"].cr, s["identical"].cr, 1e-3);
  EXPECT_GT(s["remap"].mi, s["noise_low"].mi);
  EXPECT_GT(s["remap"].cr, s["noise_low"].cr);
  EXPECT_LT(s["remap"].ncc, 0.9);
  EXPECT_LT(s["remap"].ncc, s["noise_low"].ncc);
  EXPECT_LT(s["remap"].ncc, s["shift1"].ncc);
}

TEST_F(measures, mi_is_symmetric) {
  for (const auto& [name, x] : s) EXPECT_NEAR(x.mi, x.mi_reversed, 1e-9) << name;
}

TEST(measures_input, mismatched_grids_flat_volumes_and_bad_bins_are_refused) {
  volume a = phantom(), b = phantom();
  b.dims = {n, n * 2, n / 2};
  EXPECT_EQ(normalised_cross_correlation(a, b).err().code, errc::invalid_argument);
  EXPECT_EQ(mutual_information(a, b).err().code, errc::invalid_argument);
  EXPECT_EQ(correlation_ratio(a, b).err().code, errc::invalid_argument);
  volume flat = phantom();
  std::fill(flat.voxels.begin(), flat.voxels.end(), 3.0f);
  EXPECT_EQ(normalised_cross_correlation(a, flat).err().code, errc::invalid_argument);
  EXPECT_EQ(correlation_ratio(flat, a).err().code, errc::invalid_argument);
  EXPECT_NEAR(mutual_information(a, flat).value(), 0.0, 1e-12);  // a flat volume tells nothing
  EXPECT_EQ(mutual_information(a, a, 1).err().code, errc::invalid_argument);
  EXPECT_EQ(mutual_information(a, a, 257).err().code, errc::invalid_argument);
  volume short_one = phantom();
  short_one.voxels.pop_back();
  EXPECT_EQ(mutual_information(a, short_one).err().code, errc::malformed_input);
  volume with_nan = phantom();
  with_nan.voxels[5] = std::nanf("");
  EXPECT_EQ(normalised_cross_correlation(a, with_nan).err().code, errc::malformed_input);
}

TEST(measures_input, bins_by_rank_with_ties_and_signed_zeros_sharing_a_bin) {
  volume v;
  v.dims = {8, 1, 1};
  v.voxels = {3.0f, -0.0f, 0.0f, 1.0f, 1.0f, 2.0f, -5.0f, 7.0f};
  // Ranks (values strictly below): 6, 1, 1, 3, 3, 5, 0, 7; bin = rank * 4 / 8.
  auto b = bin_volume(v, 4);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->index, (std::vector<std::uint16_t>{3, 0, 0, 1, 1, 2, 0, 3}));
  EXPECT_EQ(b->bins, 4u);
  EXPECT_EQ(bin_volume(v, 1).err().code, errc::invalid_argument);
  auto other = bin_volume(v, 8);
  EXPECT_EQ(mutual_information(*b, *other).err().code, errc::invalid_argument);
}

TEST(measure_registry, lists_and_finds_the_builtin_measures_by_name_and_version) {
  const auto& r = measure_registry::builtin();
  std::vector<std::string> names;
  for (const auto& m : r.list()) {
    names.push_back(m.name + "/" + m.version);
    EXPECT_FALSE(m.description.empty());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"ncc/1", "mi/1", "cr/1"}));
  auto mi = r.find("mi");
  ASSERT_TRUE(mi.ok());
  EXPECT_EQ((*mi)->version, "1");
  EXPECT_EQ((*mi)->parameters.front(), (std::pair<std::string, std::string>{"bins", "32"}));
  volume a = phantom(), b = phantom(2);
  EXPECT_DOUBLE_EQ((*mi)->compute(a, b).value(), mutual_information(a, b).value());
  EXPECT_DOUBLE_EQ((*r.find("cr", "1"))->compute(a, b).value(), correlation_ratio(a, b).value());
  EXPECT_DOUBLE_EQ((*r.find("ncc"))->compute(a, b).value(),
                   normalised_cross_correlation(a, b).value());
  // A query prepared once (stage 2: once per request) scores each candidate exactly as the pair.
  volume c = phantom(3);
  for (const auto& m : r.list()) {
    auto score = m.prepare(a);
    ASSERT_TRUE(score.ok()) << m.name;
    EXPECT_EQ((*score)(b).value(), m.compute(a, b).value()) << m.name;
    EXPECT_EQ((*score)(c).value(), m.compute(a, c).value()) << m.name;
  }
  volume flat = phantom();
  std::fill(flat.voxels.begin(), flat.voxels.end(), 1.0f);
  EXPECT_EQ((*r.find("cr"))->prepare(a).value()(flat).ok(), true);
  EXPECT_EQ((*r.find("cr"))->prepare(flat).value()(a).err().code, errc::invalid_argument);
  volume short_one = phantom();
  short_one.voxels.pop_back();
  EXPECT_EQ((*mi)->prepare(short_one).err().code, errc::malformed_input);
  EXPECT_EQ((*mi)->prepare(a).value()(short_one).err().code, errc::malformed_input);

  auto unknown = r.find("ssd");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.err().code, errc::invalid_argument);
  EXPECT_NE(unknown.err().message.find("ncc, mi, cr"), std::string::npos) << unknown.err().message;
  auto version = r.find("mi", "7");
  ASSERT_FALSE(version.ok());
  EXPECT_EQ(version.err().code, errc::invalid_argument);
}

TEST(measure_registry, refuses_duplicates_and_incomplete_measures_and_finds_the_newest) {
  measure_registry r;
  auto constant = [](double x) {
    return [x](const volume&) -> result<scorer> { return scorer([x](const volume&) -> result<double> { return x; }); };
  };
  ASSERT_TRUE(r.add({"m", "1", "first", {}, constant(1)}).ok());
  EXPECT_EQ(r.add({"m", "1", "again", {}, constant(2)}).err().code, errc::conflict);
  EXPECT_EQ(r.add({"", "1", "", {}, constant(2)}).err().code, errc::invalid_argument);
  EXPECT_EQ(r.add({"m", "", "", {}, constant(2)}).err().code, errc::invalid_argument);
  EXPECT_EQ(r.add({"m", "3", "", {}, nullptr}).err().code, errc::invalid_argument);
  ASSERT_TRUE(r.add({"m", "2", "second", {}, constant(2)}).ok());
  volume v = phantom();
  EXPECT_EQ((*r.find("m"))->compute(v, v).value(), 2);
  EXPECT_EQ((*r.find("m", "1"))->compute(v, v).value(), 1);
  EXPECT_NE(r.find("m", "9").err().message.find("1, 2"), std::string::npos);
}

}  // namespace
}  // namespace dm2::similarity
