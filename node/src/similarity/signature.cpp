#include "signature.hpp"

#include <bit>
#include <cstdint>

#include "resample.hpp"

namespace dm2::similarity {
namespace {

constexpr std::size_t source_grid = 64;
constexpr std::size_t block = source_grid / signature_grid;

}  // namespace

result<std::vector<float>> signature_of(const volume& v) {
  auto normalised = normalised_volume(v, {source_grid, intensity_normalisation::z_score});
  if (!normalised) return std::move(normalised).err();
  volume cells;
  cells.dims = {signature_grid, signature_grid, signature_grid};
  cells.voxels.assign(signature_size, 0.0f);
  std::vector<double> sums(signature_size, 0.0);
  for (std::size_t k = 0; k < source_grid; ++k)
    for (std::size_t j = 0; j < source_grid; ++j)
      for (std::size_t i = 0; i < source_grid; ++i)
        sums[((k / block) * signature_grid + j / block) * signature_grid + i / block] +=
            normalised->at(i, j, k);
  for (std::size_t c = 0; c < signature_size; ++c)
    cells.voxels[c] = static_cast<float>(sums[c] / static_cast<double>(block * block * block));
  normalise_intensity(cells, intensity_normalisation::z_score);
  return std::move(cells.voxels);
}

std::string signature_bytes(const std::vector<float>& signature) {
  std::string out(signature.size() * 4, '\0');
  for (std::size_t i = 0; i < signature.size(); ++i) {
    auto bits = std::bit_cast<std::uint32_t>(signature[i]);
    for (std::size_t b = 0; b < 4; ++b) out[4 * i + b] = static_cast<char>(bits >> (8 * b) & 0xff);
  }
  return out;
}

std::optional<std::vector<float>> float_samples(std::string_view bytes) {
  if (bytes.size() % 4 != 0) return std::nullopt;
  std::vector<float> out(bytes.size() / 4);
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::uint32_t bits = 0;
    for (int b = 3; b >= 0; --b) bits = bits << 8 | static_cast<std::uint8_t>(bytes[4 * i + static_cast<std::size_t>(b)]);
    out[i] = std::bit_cast<float>(bits);
  }
  return out;
}

}  // namespace dm2::similarity
