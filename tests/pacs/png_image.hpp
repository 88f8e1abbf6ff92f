// A PNG as a test reads it back: its header, and whether its image data inflates (zlib) to
// exactly the scanlines that header announces. Enough to tell a real, whole PNG of a given size
// from anything else, without an image library.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace dm2::test {

struct png_image {
  std::uint32_t width = 0, height = 0;
  unsigned channels = 0;  // 1 grey, 3 RGB (the colour types dcmimage writes)
};

// nullopt: not a PNG, a chunk cut short, an 8-bit grey or RGB image it is not, or image data
// that does not inflate to height x (1 + width x channels) bytes.
std::optional<png_image> decode_png(const std::string& png);

}  // namespace dm2::test
