#include "nifti_reader.hpp"

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

namespace dm2::similarity {
namespace {

constexpr std::size_t header_size = 348;

template <class T>
T field(std::string_view b, std::size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof v);  // the host is little-endian (checked in read_nifti)
  return v;
}

error bad(const std::string& why) { return error{errc::malformed_input, "not a usable NIfTI-1 volume: " + why}; }

// Bytes per voxel of a supported data type, or 0.
std::size_t voxel_bytes(std::int16_t datatype) {
  switch (datatype) {
    case 2: return 1;    // uint8
    case 4: return 2;    // int16
    case 512: return 2;  // uint16
    case 8: return 4;    // int32
    case 16: return 4;   // float32
    case 64: return 8;   // float64
    default: return 0;
  }
}

double voxel_at(const char* p, std::int16_t datatype) {
  auto get = [p]<class T>(T) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return static_cast<double>(v);
  };
  switch (datatype) {
    case 2: return get(std::uint8_t{});
    case 4: return get(std::int16_t{});
    case 512: return get(std::uint16_t{});
    case 8: return get(std::int32_t{});
    case 16: return get(float{});
    default: return get(double{});
  }
}

}  // namespace

result<volume> read_nifti(std::string_view b, const nifti_limits& limits) {
  static_assert(std::endian::native == std::endian::little, "the reader assumes a little-endian host");
  if (b.size() < header_size + 4) return bad("shorter than a header");
  if (field<std::int32_t>(b, 0) != static_cast<std::int32_t>(header_size))
    return bad("sizeof_hdr is not 348 (or the file is big-endian)");
  if (std::memcmp(b.data() + 344, "n+1\0", 4) != 0) return bad("magic is not \"n+1\" (single-file NIfTI-1)");
  auto rank = field<std::int16_t>(b, 40);
  if (rank < 3 || rank > 4) return bad("must have 3 dimensions (or 4 with one volume)");
  volume v;
  std::size_t n = 1;
  for (int d = 0; d < rank; ++d) {
    auto size = field<std::int16_t>(b, 42 + 2 * static_cast<std::size_t>(d));
    if (size < 1) return bad("a dimension is not positive");
    if (d == 3 && size != 1) return bad("4-D with more than one volume");
    if (d < 3) v.dims[static_cast<std::size_t>(d)] = static_cast<std::size_t>(size);
    n *= static_cast<std::size_t>(size);
    if (n > limits.max_voxels)
      return fail(errc::too_large, "NIfTI volume over " + std::to_string(limits.max_voxels) + " voxels");
  }
  auto datatype = field<std::int16_t>(b, 70);
  auto size = voxel_bytes(datatype);
  if (size == 0) return fail(errc::unsupported, "NIfTI data type " + std::to_string(datatype) + " is not supported");
  if (field<std::int16_t>(b, 72) != static_cast<std::int16_t>(8 * size)) return bad("bitpix does not match the data type");
  auto offset_f = field<float>(b, 108);
  if (!std::isfinite(offset_f) || offset_f < 352 || offset_f > static_cast<float>(b.size()))
    return bad("vox_offset outside the file");
  auto offset = static_cast<std::size_t>(offset_f);
  if ((b.size() - offset) / size < n) return bad("fewer bytes than the dimensions need");
  double slope = field<float>(b, 112), inter = field<float>(b, 116);
  if (!std::isfinite(slope) || !std::isfinite(inter)) return bad("non-finite scl_slope or scl_inter");
  if (slope == 0) {  // NIfTI: slope 0 means no scaling
    slope = 1;
    inter = 0;
  }

  for (std::size_t d = 0; d < 3; ++d) v.spacing[d] = std::abs(field<float>(b, 80 + 4 * d));
  v.affine_ras = {};
  v.affine_ras[15] = 1;
  if (field<std::int16_t>(b, 254) > 0) {
    for (std::size_t r = 0; r < 3; ++r)
      for (std::size_t c = 0; c < 4; ++c) v.affine_ras[r * 4 + c] = field<float>(b, 280 + 16 * r + 4 * c);
  } else {
    for (std::size_t d = 0; d < 3; ++d) v.affine_ras[d * 5] = v.spacing[d] > 0 ? v.spacing[d] : 1.0;
  }

  v.voxels.resize(n);
  const char* p = b.data() + offset;
  for (std::size_t i = 0; i < n; ++i, p += size)
    v.voxels[i] = static_cast<float>(voxel_at(p, datatype) * slope + inter);
  if (auto s = check_volume(v, true); !s) return bad(s.err().message);
  return v;
}

}  // namespace dm2::similarity
