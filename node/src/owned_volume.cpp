#include "owned_volume.hpp"

#include <algorithm>
#include <fstream>

#include "dm2/crypto/stream.hpp"
#include "ingest/object_store.hpp"
#include "similarity/nifti_reader.hpp"

namespace dm2::node {

result<owned_volume> open_owned_volume(overlay_service& overlay, const ingest_service& ingest, const std::string& lfn) {
  static const std::string volume_file = "volume.nii.dm2s";
  auto key = overlay.owned_key(lfn);
  if (!key) return fail(errc::not_found, "this site owns no key for that series");
  auto stored = ingest.stored(lfn);
  if (!stored) return std::move(stored).err();
  auto file = std::find_if(stored->files.begin(), stored->files.end(), [](const auto& f) { return f.name == volume_file; });
  if (file == stored->files.end()) return fail(errc::not_found, "the stored series has no volume");
  // Only the volume is read (the DICOM files stay on disk), and opened in memory: no plaintext file.
  std::ifstream in(file->path, std::ios::binary);
  if (!in) return fail(errc::io_error, "cannot open the stored volume");
  std::string sealed(file->size, '\0');  // one read of the size the store recorded
  if (!in.read(sealed.data(), static_cast<std::streamsize>(sealed.size())) || in.peek() != std::ifstream::traits_type::eof())
    return fail(errc::io_error, "cannot read the stored volume whole");
  auto clear = crypto::stream_open(key->secret, sealed, object_store::associated_data(lfn, stored->version, volume_file));
  std::fill(key->secret.begin(), key->secret.end(), '\0');
  if (!clear) return fail(errc::integrity_failure, "the stored volume does not open: " + clear.err().message);
  auto v = similarity::read_nifti(*clear);
  if (!v) return std::move(v).err();
  return owned_volume{stored->version, std::move(*v)};
}

}  // namespace dm2::node
