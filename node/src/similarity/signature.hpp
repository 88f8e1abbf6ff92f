// A record's similarity signature: a small, fixed-size descriptor of a volume that stage 1 of a
// query ranks by NCC (node/src/query_scoring.hpp). docs/similarity.md says why this one.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "volume.hpp"

namespace dm2::similarity {

inline constexpr std::size_t signature_grid = 8;  // 8 x 8 x 8 cells
inline constexpr std::size_t signature_size =
    signature_grid * signature_grid * signature_grid;                    // 512 floats
inline constexpr std::size_t signature_bytes_size = signature_size * 4;  // 2 KiB in a record
// The version of the descriptor: a signature is only comparable with one of the same version.
inline constexpr std::string_view signature_version = "grid8-mean-z/1";

// The signature of `v`: its normalised volume (resample.hpp: 64^3 over the RAS+ bounding box,
// trilinear, z-score) averaged over 8x8x8 blocks into 8^3 cells, then z-scored again, in
// i-fastest order (i -> Right, j -> Anterior, k -> Superior). 512 finite floats, mean 0 and
// standard deviation 1 (all zero for a flat volume). Deterministic.
// Errors: malformed_input (check_volume: bad dims, non-finite voxel, singular affine).
// Pure; thread-safe. Costs one 64^3 resample (resample.hpp).
result<std::vector<float>> signature_of(const volume& v);

// The signature as a record carries it (index_record::signature): little-endian IEEE-754 float32
// samples, what query_scoring's signature_samples reads back. Pure.
std::string signature_bytes(const std::vector<float>& signature);
// The inverse: little-endian float32 samples back. Nullopt when the size is not a whole number
// of samples. Pure.
std::optional<std::vector<float>> float_samples(std::string_view bytes);

}  // namespace dm2::similarity
