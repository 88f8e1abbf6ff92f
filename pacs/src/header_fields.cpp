#include "dm2/pacs/header_fields.hpp"

#include "dcmtk_support.hpp"

namespace dm2::pacs {

result<std::map<std::string, std::string>> read_header_fields(const std::filesystem::path& file,
                                                              const std::vector<std::string>& keywords) {
  detail::init_dcmtk();
  std::vector<DcmTagKey> tags;
  for (const auto& k : keywords) {
    auto tag = detail::tag_of(k);
    if (!tag) return std::move(tag).err();
    tags.push_back(*tag);
  }
  DcmFileFormat ff;
  // Stop before the pixel data: only header attributes are wanted.
  OFCondition cond = ff.loadFileUntilTag(file.string().c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength,
                                         ERM_autoDetect, DCM_PixelData);
  if (cond.bad())
    return fail(errc::malformed_input, file.filename().string() + ": not readable as DICOM (" + cond.text() + ")");
  std::map<std::string, std::string> out;
  for (std::size_t i = 0; i < tags.size(); ++i) {
    OFString value;
    if (ff.getDataset()->findAndGetOFStringArray(tags[i], value).bad()) value.clear();
    std::string v(value.c_str());
    while (!v.empty() && (v.back() == ' ' || v.back() == '\0')) v.pop_back();
    out[keywords[i]] = std::move(v);
  }
  return out;
}

}  // namespace dm2::pacs
