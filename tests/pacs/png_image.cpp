#include "png_image.hpp"

#include <zlib.h>

namespace dm2::test {
namespace {

std::uint32_t big_endian(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = v << 8 | static_cast<unsigned char>(s[at + i]);
  return v;
}

}  // namespace

std::optional<png_image> decode_png(const std::string& png) {
  if (png.size() < 33 || png.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0 || png.compare(12, 4, "IHDR") != 0)
    return std::nullopt;
  png_image image{big_endian(png, 16), big_endian(png, 20), 0};
  auto depth = static_cast<unsigned char>(png[24]), colour = static_cast<unsigned char>(png[25]);
  if (depth != 8 || (colour != 0 && colour != 2) || image.width == 0 || image.height == 0) return std::nullopt;
  image.channels = colour == 0 ? 1 : 3;
  std::string deflated;
  for (std::size_t at = 8; at + 12 <= png.size();) {
    auto length = big_endian(png, at);
    if (at + 12 + length > png.size()) return std::nullopt;
    if (png.compare(at + 4, 4, "IDAT") == 0) deflated += png.substr(at + 8, length);
    at += 12 + length;
  }
  // One byte more than the scanlines: inflating into it would show the data is longer.
  auto expected = std::size_t(image.height) * (1 + std::size_t(image.width) * image.channels);
  std::string scanlines(expected + 1, '\0');
  auto size = static_cast<uLongf>(scanlines.size());
  if (uncompress(reinterpret_cast<Bytef*>(scanlines.data()), &size, reinterpret_cast<const Bytef*>(deflated.data()),
                 static_cast<uLong>(deflated.size())) != Z_OK ||
      size != expected)
    return std::nullopt;
  return image;
}

}  // namespace dm2::test
