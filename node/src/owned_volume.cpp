#include "owned_volume.hpp"

#include <algorithm>

#include "dm2/crypto/stream.hpp"
#include "ingest/object_store.hpp"
#include "similarity/nifti_reader.hpp"

namespace dm2::node {

result<owned_volume> open_owned_volume(overlay_service& overlay, const ingest_service& ingest, const std::string& lfn) {
  static const std::string volume_file = "volume.nii.dm2s";
  auto key = overlay.owned_key(lfn);
  if (!key) return fail(errc::not_found, "this site owns no key for that series");
  auto sealed = ingest.read_sealed(lfn);
  if (!sealed) return std::move(sealed).err();
  auto file = std::find_if(sealed->files.begin(), sealed->files.end(), [](const auto& f) { return f.first == volume_file; });
  if (file == sealed->files.end()) return fail(errc::not_found, "the stored series has no volume");
  auto clear = crypto::stream_open(key->secret, file->second, object_store::associated_data(lfn, sealed->version, volume_file));
  std::fill(key->secret.begin(), key->secret.end(), '\0');
  if (!clear) return fail(errc::integrity_failure, "the stored volume does not open: " + clear.err().message);
  auto v = similarity::read_nifti(*clear);
  if (!v) return std::move(v).err();
  return owned_volume{sealed->version, std::move(*v)};
}

}  // namespace dm2::node
