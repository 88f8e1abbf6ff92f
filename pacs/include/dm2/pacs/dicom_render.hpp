// An instance's image as WADO-RS serves it apart from the instance (docs/dicomweb.md): a frame's
// pixels as stored, uncompressed (the frames resource), and a frame rendered to PNG or JPEG for
// people (the rendered resources and the desk's thumbnails), windowed and scaled by DCMTK's
// dcmimage. Pure functions of the bytes; thread-safe. The pixels are patient data: never log them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "dm2/result.hpp"

namespace dm2::pacs {

enum class image_format { png, jpeg };

struct render_settings {
  image_format format = image_format::jpeg;
  // Window center and width (in the modality's units, after its rescale); nullopt: the
  // instance's first Window Center/Width, else the frame's own minimum to maximum.
  std::optional<double> window_center, window_width;
  // Fit the image within these many columns and rows, its aspect kept, never enlarged; 0: as
  // stored.
  unsigned max_columns = 0, max_rows = 0;
  unsigned jpeg_quality = 90;  // 1..100
};

// The number of frames of the Part 10 file `dicom` (NumberOfFrames, 1 when absent). Errors:
// malformed_input (not DICOM, or no pixel data).
result<unsigned> frame_count(std::string_view dicom);

// The pixels of frame `frame` (0-based) of `dicom`, uncompressed, in little-endian order, as
// many bytes as Rows × Columns × SamplesPerPixel × BitsAllocated / 8. Errors: malformed_input
// (not DICOM, no pixel data), not_found (no such frame), too_large (a frame over 256 MiB),
// unsupported (a compression DCMTK cannot decode here).
result<std::string> frame_pixels(std::string_view dicom, unsigned frame);

// Frame `frame` (0-based) of `dicom` rendered as `how` says: 8 bits a sample, grey or RGB.
// Errors: malformed_input (not DICOM, no pixel data), not_found (no such frame), unsupported
// (an image dcmimage cannot render), internal (the encoder failed).
result<std::string> rendered_frame(std::string_view dicom, unsigned frame,
                                   const render_settings& how);

}  // namespace dm2::pacs
