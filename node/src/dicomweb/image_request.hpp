// What a WADO-RS image resource asks for (docs/dicomweb.md, "Frames and rendered images"): the
// frame numbers of a frames path, the media type a frames or rendered request accepts, and the
// rendered resources' query parameters (window, quality, viewport). Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dm2/pacs/dicom_render.hpp"
#include "dm2/result.hpp"

namespace dm2::node::dicomweb {

struct image_limits {
  static constexpr std::size_t max_frames = 1000;  // numbers in one frame list
  static constexpr unsigned max_viewport = 4096;   // columns or rows
};

// The frame list of ".../frames/{list}": comma-separated frame numbers (1-based, as in the
// path), each once, at most max_frames. Errors: invalid_argument.
result<std::vector<unsigned>> parse_frame_list(std::string_view list);

// Whether an Accept header (absent: "") takes the frames answer: multipart/related of
// application/octet-stream parts in Explicit VR Little Endian's uncompressed form. Errors:
// unsupported (answered 406): another media type or transfer syntax.
status frames_acceptable(std::string_view accept);

struct rendered_request {
  pacs::render_settings settings;
  std::string media_type;  // "image/jpeg" or "image/png"
};

// A rendered request: the media type, the first of image/jpeg and image/png the Accept header
// names (q-values are not weighed; absent, "*/*" or "image/*": image/jpeg, the standard's
// default), and the query parameters window=<center>,<width>[,linear], quality=<1..100>,
// viewport=<columns>,<rows> (the image fit within, aspect kept, never enlarged). Errors:
// unsupported (answered 406: no media type here), invalid_argument (a parameter malformed,
// unknown or given twice, a window function other than linear, a width under 1).
result<rendered_request> parse_rendered(std::string_view target, std::string_view accept);

}  // namespace dm2::node::dicomweb
