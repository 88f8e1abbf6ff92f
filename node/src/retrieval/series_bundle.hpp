// How an owning site hands the sealed files of a series to the requesting site
// (GET /v1/series/{lfn}/sealed): one body holding each stored file as it is on disk — still
// sealed under the series key, so the bundle is ciphertext only. Format (docs/api.md):
//   "dm2b" || 0x01 || count (u32 BE) || count × ( name size (u16 BE) || name || size (u64 BE) ||
//   bytes )
// Names are object-store file names ([0-9a-z._], no '/'). Decoding is strict. The owner streams
// it (bundle_stream: one file read at a time, Content-Length known up front, each file waited
// for while the series is being re-assembled: a failure then ends the body short); the requesting
// site reads it whole (its HTTPS client's body limit, 1 GiB) before it opens anything.
// decode_bundle is thread-safe; a bundle_stream serves one response.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../ingest/object_store.hpp"
#include "dm2/node/http_types.hpp"
#include "dm2/result.hpp"

namespace dm2::node {

using bundle_files = std::vector<std::pair<std::string, std::string>>;  // (name, bytes)

class bundle_stream final : public body_source {
 public:
  explicit bundle_stream(std::vector<object_store::stored_file> files);
  std::optional<std::uint64_t> size() const override { return size_; }
  // Errors: io_error (a file unreadable, or not of its listed size).
  result<bool> next(std::string& piece) override;

 private:
  std::vector<object_store::stored_file> files_;
  std::uint64_t size_ = 0;
  std::size_t next_ = 0;
  bool started_ = false;
};

// Errors: malformed_input (bad magic or version, a truncated entry, a bad name, trailing bytes).
result<bundle_files> decode_bundle(std::string_view bytes);

}  // namespace dm2::node
