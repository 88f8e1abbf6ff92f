// The body a user's retrieval answers with (GET /v1/series/{lfn}): multipart/related, the
// DICOMweb (WADO-RS) form, one application/dicom part per de-identified instance in slice
// order. Thread-safe.
#pragma once

#include <string>
#include <vector>

namespace dm2::node {

struct multipart_body {
  std::string content_type;  // multipart/related; type="application/dicom"; boundary=...
  std::string body;
};

// `parts` are moved in and released part by part as the body grows (the series is never held
// twice in plaintext). The boundary is random, and checked not to occur in any part.
multipart_body multipart_related(std::vector<std::string> parts, const std::string& part_type);

}  // namespace dm2::node
