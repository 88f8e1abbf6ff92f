#include "dm2/pacs/dicom_json.hpp"

#include <dcmtk/config/osconfig.h>  // must come first with DCMTK
#include <dcmtk/dcmdata/dcjson.h>
#include <dcmtk/dcmdata/dcostrmb.h>

#include <sstream>

#include "dcmtk_support.hpp"

namespace dm2::pacs {
namespace {

// Bulk data (the pixel data) by reference, everything else inline.
struct bulk_by_uri final : DcmJsonFormatCompact {
  explicit bulk_by_uri(std::string uri) : DcmJsonFormatCompact(OFFalse), uri_(std::move(uri)) {}
  OFBool asBulkDataURI(const DcmTagKey& tag, OFString& uri) override {
    if (tag != DCM_PixelData && tag != DCM_FloatPixelData && tag != DCM_DoubleFloatPixelData)
      return OFFalse;
    uri = uri_.c_str();
    return OFTrue;
  }
  std::string uri_;
};

// Parses a Part 10 file held in memory, UIDs replaced.
result<std::unique_ptr<DcmFileFormat>> parsed(std::string_view dicom, const dicomweb_uids& uids) {
  auto read = detail::read_part10(dicom);
  if (!read) return std::move(read).err();
  auto ff = std::move(*read);
  auto* d = ff->getDataset();
  if (d->putAndInsertString(DCM_StudyInstanceUID, uids.study.c_str()).bad() ||
      d->putAndInsertString(DCM_SeriesInstanceUID, uids.series.c_str()).bad())
    return fail(errc::malformed_input, "a stored instance does not take its UIDs");
  return ff;
}

}  // namespace

result<std::string> dicom_json_of(std::string_view dicom, const dicomweb_uids& uids,
                                  const std::string& bulk_data_uri, std::string& sop_instance_uid) {
  auto ff = parsed(dicom, uids);
  if (!ff) return std::move(ff).err();
  auto* d = (*ff)->getDataset();
  OFString sop;
  sop_instance_uid = d->findAndGetOFString(DCM_SOPInstanceUID, sop).good() ? sop.c_str() : "";
  std::ostringstream out;
  bulk_by_uri format(bulk_data_uri);
  out << '{';  // DcmDataset writes the members only
  if (d->writeJson(out, format).bad())
    return fail(errc::malformed_input, "a stored instance has no DICOM JSON form");
  out << '}';
  return out.str();
}

result<std::string> sop_instance_uid_of(std::string_view dicom) {
  auto ff = detail::read_part10(dicom);
  if (!ff) return std::move(ff).err();
  return detail::get_string(*(*ff)->getDataset(), DCM_SOPInstanceUID);
}

result<std::string> with_uids(std::string_view dicom, const dicomweb_uids& uids) {
  auto ff = parsed(dicom, uids);
  if (!ff) return std::move(ff).err();
  auto xfer = (*ff)->getDataset()->getOriginalXfer();
  // Room for the file as read plus the two longer UIDs and their headers.
  std::string out(dicom.size() + uids.study.size() + uids.series.size() + 1024, '\0');
  DcmOutputBufferStream stream(out.data(), static_cast<offile_off_t>(out.size()));
  (*ff)->transferInit();
  OFCondition cond = (*ff)->write(stream, xfer, EET_ExplicitLength, nullptr);
  (*ff)->transferEnd();
  if (cond.bad())
    return fail(errc::internal, std::string("cannot write the instance: ") + cond.text());
  void* buffer = nullptr;
  offile_off_t written = 0;
  stream.flushBuffer(buffer, written);
  out.resize(static_cast<std::size_t>(written));
  return out;
}

}  // namespace dm2::pacs
