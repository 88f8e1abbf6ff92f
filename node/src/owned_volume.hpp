// The NIfTI volume of a series this site owns, opened in memory with the site's owned series key
// (the key the ingest sealed it with; docs/ingest.md): what query-by-image and stage 2 compute
// on. Nothing is written; the key and plaintext stay in this call. Thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "ingest/ingest_service.hpp"
#include "overlay_service.hpp"
#include "similarity/volume.hpp"

namespace dm2::node {

struct owned_volume {
  std::uint64_t series_version = 0;  // the committed version it was read from
  similarity::volume volume;
};

// Errors: not_found (this site does not own the series, or its stored version has no volume),
// integrity_failure (the sealed volume does not open with the key), io_error, and those of
// similarity::read_nifti.
result<owned_volume> open_owned_volume(overlay_service& overlay, const ingest_service& ingest, const std::string& lfn_hex);

}  // namespace dm2::node
