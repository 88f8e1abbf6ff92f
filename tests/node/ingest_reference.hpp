// What the ingest tests compare a site's work against: the [pacs] section that points a site at
// the test PACS, and the de-identified series exactly as the pipeline makes it (the PACS's copy
// by C-GET, in slice order, de-identified under the site's UID secret). Header-only.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/private_file.hpp"
#include "dm2/pacs/deidentify.hpp"
#include "dm2/pacs/pacs_settings.hpp"
#include "dm2/pacs/parallel_fetch.hpp"
#include "dm2/pacs/volume.hpp"

namespace dm2::test {

inline std::string pacs_toml(const pacs::pacs_settings& s, const std::string& extra = {}) {
  return "[pacs]\nhost = \"" + s.host + "\"\nport = " + std::to_string(s.port) +
         "\ncalled_ae_title = \"" + s.called_ae_title + "\"\ncalling_ae_title = \"" +
         s.calling_ae_title + "\"\nstore_port = " + std::to_string(s.store_port) +
         "\nassociations = 2\n" + extra;
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The de-identification options of the site whose identity directory is `identity_dir`.
inline pacs::deid_options site_deid_options(const std::filesystem::path& identity_dir) {
  pacs::deid_options deid;
  deid.uid_secret = crypto::hmac_sha256(*crypto::read_private_file(identity_dir / "storage.key"),
                                        "dm2 de-identification uid secret");
  return deid;
}

// The series' de-identified files, written under `work`, in slice order. Fails the test (and
// returns what it has) when the PACS or a step refuses.
inline std::vector<std::filesystem::path> deidentified_reference(
    const pacs::pacs_settings& pacs, const std::string& study_uid, const std::string& series_uid,
    const pacs::deid_options& deid, const std::filesystem::path& work) {
  std::vector<std::filesystem::path> out;
  auto got = work / ("got-" + series_uid);
  std::filesystem::create_directories(got);
  auto fetched = pacs::fetch_series(pacs, study_uid, series_uid, got);
  EXPECT_TRUE(fetched.ok()) << fetched.err().to_string();
  if (!fetched) return out;
  auto v = pacs::assemble_series(
      std::vector<std::filesystem::path>(fetched->files.begin(), fetched->files.end()));
  EXPECT_TRUE(v.ok()) << v.err().to_string();
  if (!v) return out;
  for (std::size_t k = 0; k < v->files.size(); ++k) {
    auto file = work / ("deid-" + series_uid + "-" + std::to_string(k));
    EXPECT_TRUE(pacs::deidentify_file(v->files[k], file, deid).ok());
    out.push_back(file);
  }
  return out;
}

}  // namespace dm2::test
