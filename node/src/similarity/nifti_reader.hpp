// A strict NIfTI-1 reader from memory: what a site's sealed volume.nii.dm2s opens to (written by
// pacs::write_nifti) and, later, what a client may upload as a query volume — untrusted bytes, so
// every header field is checked before any voxel is read. docs/similarity.md.
#pragma once

#include <cstddef>
#include <string_view>

#include "volume.hpp"

namespace dm2::similarity {

struct nifti_limits {
  std::size_t max_voxels = std::size_t{1} << 28;  // 1 GiB of float32 once converted
};

// Single-file NIfTI-1 (".nii": magic "n+1"), little-endian, 3-D (or 4-D with one volume), data
// type uint8, int16, uint16, int32, float32 or float64; scl_slope/scl_inter applied when the
// slope is non-zero; the affine from the sform (sform_code > 0), else the pixdim diagonal. The
// result has no series UID and no file names.
// Errors: malformed_input (short, wrong magic or header size, big-endian, bad dims, bitpix not
// the data type's, vox_offset outside the bytes, fewer bytes than the voxels need, non-finite
// values, a singular affine), unsupported (another data type), too_large (over limits).
// Pure; thread-safe.
result<volume> read_nifti(std::string_view bytes, const nifti_limits& limits = {});

}  // namespace dm2::similarity
