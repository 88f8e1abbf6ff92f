// The site's encrypted object store on local disk (docs/ingest.md): <dir>/<lfn>/<version>/
// holds one sealed stream per de-identified DICOM file (000000.dcm.dm2s ... in slice order) and
// the sealed NIfTI volume (volume.nii.dm2s), each a crypto stream (sealed from a file or from
// memory) under the series key with "<lfn>/<version>/<name>" as associated data (a file moved
// to another series or name does not open). A series is written into a staging directory (<dir>/.staging-<random>), its files
// made durable at once (one syncfs(2) of the file system rather than one fsync per file), then
// renamed into place and the parent directories synced — before the commit that names it. Whatever no commit names (a failed series, a crash between rename and commit) is
// removed by sweep() at start. A re-assembled series (a cache miss: the PACS still holds it) is
// placed without any sync, marked as such inside its directory; sweep() removes it at start too,
// so a crash never leaves a torn copy to serve (the next read re-assembles it). Thread-safe (no shared state beyond the file system; one
// staging directory per series).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dm2/result.hpp"

namespace dm2::node {

class object_store {
 public:
  // Creates <dir> (0700) if absent. Errors: io_error.
  static result<object_store> open(std::filesystem::path dir);

  struct staging {
    std::filesystem::path dir;
    std::uint64_t bytes = 0;  // sealed bytes written so far
  };
  // Errors: io_error.
  result<staging> stage() const;
  // Seals `plaintext_file` as `name` into the staging directory. Errors: those of
  // crypto::stream_seal_file.
  status seal_into(staging& s, const std::string& name, const std::string& key, const std::string& lfn_hex,
                   std::uint64_t version, const std::filesystem::path& plaintext_file) const;
  // The same for plaintext held in memory, the concatenation of `parts` (e.g. a NIfTI header
  // and the voxels, not copied together): only the sealed file is written, block by block (one
  // 1 MiB block of sealed bytes held at a time). Errors: those of crypto::stream_sealer, io_error.
  status seal_bytes_into(staging& s, const std::string& name, const std::string& key, const std::string& lfn_hex,
                         std::uint64_t version, std::initializer_list<std::string_view> parts) const;
  // Moves the staged series to <dir>/<lfn>/<version> (replacing a leftover there) and syncs.
  // Errors: io_error.
  status place(const staging& s, const std::string& lfn_hex, std::uint64_t version) const;
  // The same without syncing, for a series that can be fetched again (re-assembled from the
  // PACS): the sync would flush its sealed bytes (and the rest of the file system's dirty data)
  // while the reader waits. Marked unsynced; sweep() removes it at start. Errors: io_error.
  status place_unsynced(const staging& s, const std::string& lfn_hex, std::uint64_t version) const;
  void discard(const staging& s) const noexcept;
  void remove(const std::string& lfn_hex, std::uint64_t version) const noexcept;
  // Removes staging directories, every <lfn>/<version> placed unsynced, and every one that
  // `committed` does not name as the committed version; returns how many directories went.
  std::size_t sweep(const std::function<bool(const std::string& lfn_hex, std::uint64_t version)>& committed) const;
  // The newest <lfn>/<version> placed here with version <= `at_most` (the record's version: a
  // record version raised without new content, e.g. by a diagnosis, keeps the older files).
  std::optional<std::uint64_t> newest_version(const std::string& lfn_hex, std::uint64_t at_most) const;

  // The sealed files of a committed series in name order: DICOM files in slice order, then
  // volume.nii.dm2s; read by the caller one at a time (a series is not held whole).
  // Errors: not_found (no such series here), io_error.
  struct stored_file {
    std::string name;
    std::filesystem::path path;
    std::uint64_t size = 0;  // sealed bytes
    // Set while the series is being re-assembled (ingest_service::reading): waits until the
    // file is sealed and opens it; `path` is then empty. Read through open_stored().
    std::function<result<int>()> open_when_sealed;
  };
  // Opens a stored file read-only (the caller closes it), waiting for it while it is being
  // re-assembled. Errors: io_error, and those of the re-assembly.
  static result<int> open_stored(const stored_file& f);
  // The names of a series' sealed files: each instance by its slice, and the volume.
  static std::string instance_name(std::size_t slice);
  static constexpr const char* volume_name = "volume.nii.dm2s";
  result<std::vector<stored_file>> list_series(const std::string& lfn_hex, std::uint64_t version) const;

  // Every placed <lfn>/<version> directory (after sweep(): the committed ones), its sealed
  // bytes and when it was last read (touch()) or placed.
  struct placed_series {
    std::string lfn_hex;
    std::uint64_t version = 0;
    std::uint64_t bytes = 0;
    std::filesystem::file_time_type last_read;
  };
  std::vector<placed_series> placed() const;
  // The sealed bytes of a placed series (0 when absent).
  std::uint64_t series_bytes(const std::string& lfn_hex, std::uint64_t version) const;
  // Records a read of a placed series (its directory's modification time: the cache's order
  // survives a restart).
  void touch(const std::string& lfn_hex, std::uint64_t version) const noexcept;

  std::filesystem::path series_dir(const std::string& lfn_hex, std::uint64_t version) const;
  // The associated data a stored file is sealed with.
  static std::string associated_data(const std::string& lfn_hex, std::uint64_t version, const std::string& name);

 private:
  explicit object_store(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path dir_;
};

}  // namespace dm2::node
