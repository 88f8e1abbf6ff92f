// How an owning site hands the sealed files of a series to the requesting site
// (GET /v1/series/{lfn}/sealed): one body holding each stored file as it is on disk — still
// sealed under the series key, so the bundle is ciphertext only. Format (docs/api.md):
//   "dm2b" || 0x02 || count (u32 BE) || count × ( name size (u16 BE) || name || size (u64 BE) )
//   || the files' bytes, one after the other in the directory's order
// Names are object-store file names ([0-9a-z._], no '/'). The directory comes first so that the
// requesting site knows every file and size (its own answer's Content-Length) before any bytes.
// The owner streams it (bundle_stream: one file read at a time, Content-Length known up front,
// each file waited for while the series is being re-assembled: a failure then ends the body
// short); the requesting site decodes it as it arrives (bundle_decoder), strictly whatever the
// pieces it comes in. A bundle_stream serves one response; a bundle_decoder reads one body.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "../ingest/object_store.hpp"
#include "dm2/node/http_types.hpp"
#include "dm2/result.hpp"

namespace dm2::node {

class bundle_stream final : public body_source {
 public:
  explicit bundle_stream(std::vector<object_store::stored_file> files);
  std::optional<std::uint64_t> size() const override { return size_; }
  // The directory, then one file a piece. Errors: io_error (a file unreadable, or not of its
  // listed size).
  result<bool> next(std::string& piece) override;

 private:
  std::vector<object_store::stored_file> files_;
  std::uint64_t size_ = 0;
  std::size_t next_ = 0;
  bool started_ = false;
};

struct bundle_entry {
  std::string name;
  std::uint64_t size = 0;
  bool operator==(const bundle_entry&) const = default;
};

// A bundle fed in pieces split anywhere: `on_directory` gets the directory once it is complete,
// then `on_bytes(file, bytes)` each file's bytes in order as they come (a file in any number of
// calls, an empty one in none). The same bytes give the same calls and the same verdict
// whatever the split. Not thread-safe; spent after an error.
class bundle_decoder {
 public:
  using directory_sink = std::function<status(const std::vector<bundle_entry>& files)>;
  using bytes_sink = std::function<status(std::size_t file, std::string_view bytes)>;
  bundle_decoder(directory_sink on_directory, bytes_sink on_bytes);

  // Errors: malformed_input (bad magic or version, a bad file count or name, sizes that
  // overflow, bytes past the last file); whatever a sink returns.
  status feed(std::string_view in);
  // The body ended. Errors: malformed_input (it stopped inside the directory or a file).
  status finish() const;

 private:
  status read_directory();
  status read_files(std::string_view in);

  directory_sink on_directory_;
  bytes_sink on_bytes_;
  std::string head_;  // the directory's bytes while it is incomplete
  std::size_t parsed_ = 0;  // of head_
  std::uint64_t count_ = 0;
  bool counted_ = false, listed_ = false;
  std::vector<bundle_entry> files_;
  std::size_t file_ = 0;        // the file whose bytes come next
  std::uint64_t left_ = 0;      // of that file
  std::uint64_t remaining_ = 0; // of all the files
};

}  // namespace dm2::node
