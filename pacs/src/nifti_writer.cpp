#include "dm2/pacs/volume.hpp"

#include <nifti1_io.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <system_error>

namespace dm2::pacs {
namespace {
std::mutex nifti_mutex;  // nifti1_io keeps global state (debug level, ...)

struct nim_deleter {
  void operator()(nifti_image* nim) const {
    nim->data = nullptr;  // ours (the volume's voxels), or freed already
    nifti_image_free(nim);
  }
};
using nim_ptr = std::unique_ptr<nifti_image, nim_deleter>;

// The library's image for `v`, named `path` (single .nii file), its data pointing at the
// volume's voxels. Call under nifti_mutex.
result<nim_ptr> make_nim(const volume& v, const std::filesystem::path& path) {
  if (v.voxels.empty() || v.voxels.size() != v.dims[0] * v.dims[1] * v.dims[2])
    return fail(errc::invalid_argument, "empty or inconsistent volume");
  for (auto d : v.dims)
    if (d > 32767) return fail(errc::invalid_argument, "dimension too large for NIfTI-1");
  nifti_set_debug_level(0);
  int dims[8] = {3, static_cast<int>(v.dims[0]), static_cast<int>(v.dims[1]), static_cast<int>(v.dims[2]), 1, 1, 1, 1};
  nim_ptr nim(nifti_make_new_nim(dims, NIFTI_TYPE_FLOAT32, 0));
  if (!nim) return fail(errc::internal, "nifti_make_new_nim failed");
  free(nim->data);  // nifti_make_new_nim allocated zeros; ours are used instead
  nim->data = const_cast<float*>(v.voxels.data());
  nim->dx = nim->pixdim[1] = static_cast<float>(v.spacing[0]);
  nim->dy = nim->pixdim[2] = static_cast<float>(v.spacing[1]);
  nim->dz = nim->pixdim[3] = static_cast<float>(v.spacing[2]);
  nim->xyz_units = NIFTI_UNITS_MM;
  mat44 m;
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) m.m[r][c] = static_cast<float>(v.affine_ras[r * 4 + c]);
  nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
  nim->sto_xyz = m;
  nim->sto_ijk = nifti_mat44_inverse(m);
  nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
  nifti_mat44_to_quatern(m, &nim->quatern_b, &nim->quatern_c, &nim->quatern_d, &nim->qoffset_x,
                         &nim->qoffset_y, &nim->qoffset_z, nullptr, nullptr, nullptr, &nim->qfac);
  nim->qto_xyz = nifti_quatern_to_mat44(nim->quatern_b, nim->quatern_c, nim->quatern_d, nim->qoffset_x,
                                        nim->qoffset_y, nim->qoffset_z, nim->dx, nim->dy, nim->dz, nim->qfac);
  nim->qto_ijk = nifti_mat44_inverse(nim->qto_xyz);
  std::snprintf(nim->descrip, sizeof nim->descrip, "dm2 assembled series");
  if (nifti_set_filenames(nim.get(), path.string().c_str(), 0, 1) != 0)
    return fail(errc::io_error, "cannot set NIfTI file name");
  return nim;
}

// The header and the 4-byte extension flag that precede the voxels.
constexpr std::size_t header_bytes = 352;
}  // namespace

status write_nifti(const volume& v, const std::filesystem::path& path) {
  if (path.extension() != ".nii") return fail(errc::invalid_argument, "NIfTI path must end in .nii");
  auto tmp = path;
  tmp.replace_filename(path.stem().string() + ".part.nii");
  {
    std::lock_guard lock(nifti_mutex);
    auto nim = make_nim(v, tmp);
    if (!nim) return std::move(nim).err();
    nifti_image_write(nim->get());
  }
  std::error_code ec;
  const auto expected = header_bytes + v.voxels.size() * sizeof(float);
  if (std::filesystem::file_size(tmp, ec) != expected || ec) {
    std::filesystem::remove(tmp, ec);
    return fail(errc::io_error, "writing the NIfTI file failed");
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return fail(errc::io_error, "cannot rename the NIfTI file into place: " + ec.message());
  }
  return {};
}

result<std::string> nifti_header(const volume& v) {
  std::lock_guard lock(nifti_mutex);
  auto nim = make_nim(v, "volume.nii");  // the name sets the single-file type, nothing is written
  if (!nim) return std::move(nim).err();
  // What nifti_image_write writes before the data: the data's offset set from the type, the
  // header converted from the image, then the extension flag (all zero: no extensions).
  nifti_set_iname_offset(nim->get());
  nifti_1_header h = nifti_convert_nim2nhdr(nim->get());
  std::string out(header_bytes, '\0');
  static_assert(sizeof h == 348);
  std::memcpy(out.data(), &h, sizeof h);
  return out;
}

std::string_view voxel_bytes(const volume& v) {
  return {reinterpret_cast<const char*>(v.voxels.data()), v.voxels.size() * sizeof(float)};
}

}  // namespace dm2::pacs
