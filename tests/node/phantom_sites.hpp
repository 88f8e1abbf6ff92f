// Sites that each ingest their own real PACS (dcmqrscp in a private network namespace) filled
// with the demo's heart MR phantoms (64², simulations/synth): the set-up of the multi-process
// similarity and diagnosis tests. Not thread-safe.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ingest_reference.hpp"
#include "pacs_server_fixture.hpp"
#include "phantom.hpp"
#include "process_consortium.hpp"

namespace dm2::test {

struct planted_series {
  int site;
  std::uint64_t seed, variant;  // the patient; 0, or a near-duplicate of him
  std::string study_date;       // unique: how a test finds each series' LFN among the hits
};

// Starts a dcmqrscp for every site named in `plan` (kept in `servers`), uploads its series,
// creates and starts `options.sites` dm2d processes under `dir`, and waits until each site with a
// PACS has ingested its series. Returns the DICOM files of each series by study date. Fails the
// calling test (check HasFailure) when a step fails.
inline std::map<std::string, std::vector<std::filesystem::path>> start_phantom_sites(
    const std::filesystem::path& dir, consortium_options options, const std::vector<planted_series>& plan,
    std::map<int, std::unique_ptr<pacs_server>>& servers, std::unique_ptr<process_consortium>& sites) {
  namespace fs = std::filesystem;
  using json = nlohmann::json;
  std::map<std::string, std::vector<fs::path>> files;
  std::map<int, int> per_site;
  for (const auto& p : plan) ++per_site[p.site];
  for (const auto& [site, count] : per_site) {
    auto pacs_dir = dir / ("pacs-" + std::to_string(site));
    fs::create_directories(pacs_dir);
    servers[site] = std::make_unique<dcmqrscp_server>(pacs_dir);
    EXPECT_EQ(servers[site]->start(), "");
    options.site_toml[site] = pacs_toml(servers[site]->settings());
  }
  int n = 0;
  for (const auto& p : plan) {
    synth::phantom_options o;
    o.kind = synth::study_kind::heart_mr;
    o.seed = p.seed;
    o.variant = p.variant;
    o.size = 64;
    o.study_date = p.study_date;
    auto out = dir / "series" / std::to_string(++n);
    fs::create_directories(out);
    auto written = synth::write_phantom_series(out, o);
    EXPECT_EQ(servers[p.site]->upload(written.files), "");
    files[p.study_date] = written.files;
  }
  auto created = process_consortium::create(dir / "consortium", options);
  if (!created) {
    ADD_FAILURE() << created.err().message;
    return files;
  }
  sites = std::move(*created);
  if (auto s = sites->start_all(); !s) {
    ADD_FAILURE() << s.err().message;
    return files;
  }
  for (const auto& [site, count] : per_site)
    EXPECT_TRUE(eventually(
        [&, site = site, count = count] {
          auto r = sites->request(site, "GET", "/v1/ingest", "", site);
          auto j = r ? json::parse(r->body, nullptr, false) : json();
          return j.is_object() && j["current_run"].is_null() && j["last_run"].is_object() &&
                 j["last_run"].value("state", "") == "done" && j["last_run"]["counts"].value("series_indexed", 0) == count;
        },
        std::chrono::seconds(120)))
        << "site " << site << " did not ingest its " << count << " series";
  return files;
}

}  // namespace dm2::test
