// How an owning site hands the sealed files of a series to the requesting site
// (GET /v1/series/{lfn}/sealed): one body holding each stored file as it is on disk — still
// sealed under the series key, so the bundle is ciphertext only. Format (docs/api.md):
//   "dm2b" || 0x01 || count (u32 BE) || count × ( name size (u16 BE) || name || size (u64 BE) ||
//   bytes )
// Names are object-store file names ([0-9a-z._], no '/'). Decoding is strict. Thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dm2/result.hpp"

namespace dm2::node {

using bundle_files = std::vector<std::pair<std::string, std::string>>;  // (name, bytes)

std::string encode_bundle(const bundle_files& files);
// Errors: malformed_input (bad magic or version, a truncated entry, a bad name, trailing bytes).
result<bundle_files> decode_bundle(std::string_view bytes);

}  // namespace dm2::node
