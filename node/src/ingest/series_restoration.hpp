// One re-assembly of an evicted series (docs/ingest.md, "Cache"), read while it runs: the
// re-assembly (restore_series, on a thread of its own) seals each file into a staging directory
// and says so here; readers wait for the file they need and open it, from the staging directory
// or, once the whole series is sealed and placed, from its <lfn>/<version> directory (a file
// opened before the move stays readable: only its directory is renamed). The series is placed
// only when complete; a failure wakes every reader with its error, so a reader never takes a
// series short of a file for a whole one. Thread-safe; shared by the re-assembly and its readers.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dm2/result.hpp"
#include "object_store.hpp"
#include "series_links.hpp"

namespace dm2::node {

class series_restoration : public std::enable_shared_from_this<series_restoration> {
 public:
  // Made with std::make_shared (files() hands out references to it).
  series_restoration(std::uint64_t version, series_manifest manifest)
      : version_(version), manifest_(std::move(manifest)) {}

  std::uint64_t version() const { return version_; }
  // Empty for a series ingested before manifests: its files are not known before the end.
  const series_manifest& manifest() const { return manifest_; }
  // The series' files from the manifest (names, sealed sizes), each opened through
  // open_when_sealed when read.
  std::vector<object_store::stored_file> files();

  // Readers. Waits until `name` is sealed, then opens it read-only (the caller closes the
  // descriptor). Errors: the re-assembly's (unavailable, conflict, ...), io_error.
  result<int> open_when_sealed(const std::string& name);
  // Waits until a first file is sealed or the re-assembly ended: what fails early (the PACS
  // down, another series there) fails before the caller answers anything.
  status started();
  // Waits for the end: the version placed, or the re-assembly's error.
  result<std::uint64_t> finished();

  // The re-assembly. Its files are sealed into `staging` (set before the first sealed()).
  void staging_at(std::filesystem::path staging);
  void sealed(const std::string& name);
  // Every file sealed: `move` places the series and returns its directory, under the lock that
  // opens take (no open sees the staging path after the rename); later opens read from there.
  // On error the re-assembly fails with it.
  status place(const std::function<result<std::filesystem::path>()>& move);
  void failed(error why);

 private:
  const std::uint64_t version_;
  const series_manifest manifest_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::filesystem::path dir_;  // staging, then placed
  std::set<std::string> sealed_;
  std::optional<error> failure_;
  bool placed_ = false;
};

}  // namespace dm2::node
