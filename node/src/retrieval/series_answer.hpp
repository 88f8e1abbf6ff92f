// The answer to a user's retrieval (GET /v1/series/{lfn}), streamed: the sealed files are read
// (from disk, or as they arrive from another owner) and opened one at a time under the rebuilt
// key, as the server asks for the next piece, so the node holds one file (sealed and opened) and
// the couple of pieces the server queues, never the series. Two forms:
//  - dicom: multipart/related (multipart.hpp), one piece per instance: its part header, the
//    instance opened whole (stream_open's authentication complete before a byte of it leaves),
//    and the closing boundary after the last;
//  - nifti: the volume, in pieces of about 1 MiB as its chunks authenticate. Its truncation is
//    known only at the end: then the response stops short of its Content-Length (the client
//    sees an incomplete body), as for any failure mid-way.
// The Content-Length is known before the first piece: each plaintext size follows from the
// sealed size and the chunk size in the file's header (or, for a file still being re-assembled
// or arriving from another owner, the object store's: a file that then opens to another size
// ends the answer short). The key is wiped after the last file
// and when the answer is dropped. Not thread-safe (one response; body_source).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dm2/node/http_types.hpp"
#include "multipart.hpp"
#include "sealed_handoff.hpp"

namespace dm2::node {

struct sealed_file {
  std::string name;            // object-store name: 000000.dcm.dm2s ..., volume.nii.dm2s
  std::uint64_t size = 0;      // sealed bytes
  std::filesystem::path path;  // read from here when its turn comes, unless
  // it is being re-assembled (object_store::stored_file::open_when_sealed): opened through this
  // when its turn comes; or
  std::function<result<int>()> open_when_sealed;
  // it arrives from another owner (owner_bundle.hpp), the answer's files one after the other
  // through this hand-off. These two are sealed with the object store's chunk size.
  std::shared_ptr<sealed_handoff> arriving;
};

// instances: one piece per instance, the instance alone (no framing), for the node's own use
// (DICOMweb metadata, docs/dicomweb.md); its content type is application/dicom.
enum class series_form { dicom, nifti, instances };

// Whether a stored file is one of `form`'s: the volume for nifti, the instances for the others.
bool in_form(std::string_view name, series_form form);

class series_answer final : public body_source {
 public:
  // `files` are the form's files (the instances in slice order, or the volume alone), sealed
  // with associated data `<lfn>/<version>/<name>`. `on_end(files, bytes)` runs after the last
  // piece. Errors: not_found (no file), integrity_failure (a file's size or header is not a
  // sealed stream's), io_error.
  static result<std::shared_ptr<series_answer>> open(std::string key, std::string lfn, std::uint64_t version,
                                                     std::vector<sealed_file> files, series_form form,
                                                     std::function<void(std::size_t, std::uint64_t)> on_end);
  ~series_answer() override;

  std::string content_type() const;
  std::size_t parts() const { return files_.size(); }
  std::optional<std::uint64_t> size() const override { return total_; }
  result<bool> next(std::string& piece) override;

 private:
  series_answer() = default;
  result<bool> next_instance(std::string& piece);
  result<bool> next_volume_block(std::string& piece);
  status read_sealed(const sealed_file& f, std::string& out) const;
  void wipe_key();

  std::string key_, lfn_;
  std::uint64_t version_ = 0;
  std::vector<sealed_file> files_;
  std::vector<std::uint64_t> plain_sizes_;
  series_form form_ = series_form::dicom;
  multipart_framing framing_;
  std::uint64_t total_ = 0, sent_ = 0;
  std::size_t next_file_ = 0;
  std::string sealed_;  // the file being opened (reused)
  struct volume_reader;
  std::unique_ptr<volume_reader> volume_;
  std::function<void(std::size_t, std::uint64_t)> on_end_;
};

}  // namespace dm2::node
