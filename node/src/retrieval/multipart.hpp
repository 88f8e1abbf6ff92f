// The framing of a user's retrieval (GET /v1/series/{lfn}): multipart/related, the DICOMweb
// (WADO-RS) form, one application/dicom part per de-identified instance in slice order, each
// with its Content-Length. Written part by part as the series is opened (series_answer), so the
// parts are not known when the boundary is chosen: it is 128 random bits, which no part holds
// but by a chance of about size × 2^-128. Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dm2::node {

struct multipart_framing {
  std::string boundary;  // "dm2-" + 32 random hex digits
  std::string part_type;

  static multipart_framing random(std::string part_type);
  std::string content_type() const;  // multipart/related; type="..."; boundary=...
  // What precedes a part of `size` bytes; a part is followed by part_end().
  std::string part_start(std::uint64_t size) const;
  static constexpr std::string_view part_end = "\r\n";
  std::string closing() const;  // after the last part
};

}  // namespace dm2::node
