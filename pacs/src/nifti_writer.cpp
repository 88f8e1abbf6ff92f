#include "dm2/pacs/volume.hpp"

#include <nifti1_io.h>

#include <mutex>
#include <system_error>

namespace dm2::pacs {
namespace {
std::mutex nifti_mutex;  // nifti1_io keeps global state (debug level, ...)
}

status write_nifti(const volume& v, const std::filesystem::path& path) {
  if (v.voxels.empty() || v.voxels.size() != v.dims[0] * v.dims[1] * v.dims[2])
    return fail(errc::invalid_argument, "empty or inconsistent volume");
  if (path.extension() != ".nii") return fail(errc::invalid_argument, "NIfTI path must end in .nii");
  for (auto d : v.dims)
    if (d > 32767) return fail(errc::invalid_argument, "dimension too large for NIfTI-1");
  auto tmp = path;
  tmp.replace_filename(path.stem().string() + ".part.nii");

  std::lock_guard lock(nifti_mutex);
  nifti_set_debug_level(0);
  int dims[8] = {3, static_cast<int>(v.dims[0]), static_cast<int>(v.dims[1]), static_cast<int>(v.dims[2]), 1, 1, 1, 1};
  nifti_image* nim = nifti_make_new_nim(dims, NIFTI_TYPE_FLOAT32, 0);
  if (nim == nullptr) return fail(errc::internal, "nifti_make_new_nim failed");
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
  if (nifti_set_filenames(nim, tmp.string().c_str(), 0, 1) != 0) {
    nifti_image_free(nim);
    return fail(errc::io_error, "cannot set NIfTI file name");
  }
  free(nim->data);  // nifti_make_new_nim allocated zeros; write straight from our buffer
  nim->data = const_cast<float*>(v.voxels.data());
  nifti_image_write(nim);
  nim->data = nullptr;
  nifti_image_free(nim);

  std::error_code ec;
  const auto expected = 352 + v.voxels.size() * sizeof(float);
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

}  // namespace dm2::pacs
