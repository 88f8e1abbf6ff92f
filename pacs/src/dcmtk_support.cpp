#include "dcmtk_support.hpp"

#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcostrma.h>
#include <dcmtk/dcmdata/dcwcache.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>

#include <cassert>
#include <cstdlib>
#include <mutex>

namespace dm2::pacs::detail {
namespace {

// Cleans the decoders up at exit so leak checkers see a clean process.
struct codec_registration {
  codec_registration() {
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
  }
  ~codec_registration() {
    DcmRLEDecoderRegistration::cleanup();
    DJLSDecoderRegistration::cleanup();
    DJDecoderRegistration::cleanup();
  }
};

}  // namespace

void ensure_codecs_registered() { static codec_registration registration; }

void init_dcmtk() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("DM2_DCMTK_LOG") != nullptr) return;
    OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
  });
  // DCMTK leaves Nagle's algorithm on unless TCP_NODELAY is set in the environment; with it on,
  // every small DIMSE message waits for a delayed ACK (~40 ms) and a C-GET crawls.
  static std::once_flag nodelay;
  std::call_once(nodelay, [] { ::setenv("TCP_NODELAY", "1", 0); });
}

result<DcmTagKey> tag_of(const std::string& keyword) {
  const DcmDataDictionary& dict = dcmDataDict.rdlock();
  const DcmDictEntry* entry = dict.findEntry(keyword.c_str());
  DcmTagKey key;
  bool found = entry != nullptr;
  if (found) key = entry->getKey();
  dcmDataDict.rdunlock();
  if (!found) return fail(errc::invalid_argument, "unknown DICOM keyword '" + keyword + "'");
  return key;
}

std::string keyword_of(const DcmTagKey& tag) {
  DcmTag t(tag);
  const char* name = t.getTagName();
  if (name == nullptr || std::string(name) == DcmTag_ERROR_TagName)
    return std::string(tag.toString().c_str());
  return name;
}

namespace {

OFList<OFString> one_syntax(const char* ts) {
  OFList<OFString> one;
  one.push_back(ts);
  return one;
}

OFList<OFString> uncompressed_syntaxes() {
  OFList<OFString> uncompressed;
  uncompressed.push_back(UID_LittleEndianExplicitTransferSyntax);
  uncompressed.push_back(UID_LittleEndianImplicitTransferSyntax);
  uncompressed.push_back(UID_BigEndianExplicitTransferSyntax);
  return uncompressed;
}

}  // namespace

const std::vector<OFList<OFString>>& transfer_syntax_groups() {
  static const std::vector<OFList<OFString>> groups = [] {
    std::vector<OFList<OFString>> g{uncompressed_syntaxes()};
    for (const char* ts : {UID_JPEGProcess1TransferSyntax, UID_JPEGProcess2_4TransferSyntax,
                           UID_JPEGProcess14SV1TransferSyntax, UID_JPEGProcess14TransferSyntax,
                           UID_JPEGLSLosslessTransferSyntax, UID_JPEGLSLossyTransferSyntax,
                           UID_RLELosslessTransferSyntax, UID_DeflatedExplicitVRLittleEndianTransferSyntax,
                           UID_JPEG2000LosslessOnlyTransferSyntax})
      g.push_back(one_syntax(ts));
    return g;
  }();
  assert(groups.size() == transfer_syntax_group_count);
  return groups;
}

const std::vector<const char*>& fallback_sop_classes() {
  static const std::vector<const char*> classes = {
      UID_CTImageStorage,
      UID_EnhancedCTImageStorage,
      UID_MRImageStorage,
      UID_EnhancedMRImageStorage,
      UID_ComputedRadiographyImageStorage,
      UID_DigitalXRayImageStorageForPresentation,
      UID_DigitalXRayImageStorageForProcessing,
      UID_DigitalMammographyXRayImageStorageForPresentation,
      UID_UltrasoundImageStorage,
      UID_UltrasoundMultiframeImageStorage,
      UID_XRayAngiographicImageStorage,
      UID_XRayRadiofluoroscopicImageStorage,
      UID_PositronEmissionTomographyImageStorage,
      UID_NuclearMedicineImageStorage,
      UID_SecondaryCaptureImageStorage,
      UID_MultiframeGrayscaleWordSecondaryCaptureImageStorage,
      UID_MultiframeTrueColorSecondaryCaptureImageStorage,
      UID_RTDoseStorage,
  };
  return classes;
}

const std::vector<OFList<OFString>>& fallback_transfer_syntax_groups() {
  static const std::vector<OFList<OFString>> groups = {
      uncompressed_syntaxes(),
      one_syntax(UID_JPEGProcess1TransferSyntax),
      one_syntax(UID_JPEGProcess14SV1TransferSyntax),
      one_syntax(UID_JPEGLSLosslessTransferSyntax),
      one_syntax(UID_RLELosslessTransferSyntax),
      one_syntax(UID_JPEG2000LosslessOnlyTransferSyntax),
  };
  assert(groups.size() == fallback_transfer_syntax_group_count);
  return groups;
}

std::vector<const char*> all_storage_sop_classes() {
  return {dcmAllStorageSOPClassUIDs, dcmAllStorageSOPClassUIDs + numberOfDcmAllStorageSOPClassUIDs};
}

std::string sop_class_name(const std::string& uid) { return dcmFindNameOfUID(uid.c_str(), uid.c_str()); }

OFList<OFString> all_transfer_syntaxes() {
  OFList<OFString> all;
  const auto& groups = transfer_syntax_groups();
  for (std::size_t i = 1; i < groups.size(); ++i)
    for (const auto& ts : groups[i]) all.push_back(ts);
  all.push_back(UID_JPEG2000TransferSyntax);
  for (const auto& ts : groups[0]) all.push_back(ts);
  return all;
}

bool is_valid_uid(const std::string& uid) {
  if (uid.empty() || uid.size() > 64) return false;
  if (uid.front() == '.' || uid.back() == '.') return false;
  char prev = '.';
  for (char c : uid) {
    if (c == '.') {
      if (prev == '.') return false;
    } else if (c < '0' || c > '9') {
      return false;
    }
    prev = c;
  }
  return true;
}

OFCondition parse_part10(DcmFileFormat& ff, std::string_view dicom) {
  DcmInputBufferStream in;
  in.setBuffer(dicom.data(), static_cast<offile_off_t>(dicom.size()));
  in.setEos();
  ff.transferInit();
  OFCondition cond = ff.read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
  ff.transferEnd();
  return cond;
}

result<std::unique_ptr<DcmFileFormat>> read_part10(std::string_view dicom) {
  init_dcmtk();
  auto ff = std::make_unique<DcmFileFormat>();
  OFCondition cond = parse_part10(*ff, dicom);
  if (cond.bad())
    return fail(errc::malformed_input,
                std::string("a stored instance is not readable as DICOM (") + cond.text() + ")");
  return ff;
}

namespace {

// DcmOutputFileStream's counterpart into a std::string: the consumer takes every byte at once,
// so DCMTK never suspends a write (as it does on a fixed-size DcmOutputBufferStream).
class string_consumer final : public DcmConsumer {
 public:
  explicit string_consumer(std::string& out) : out_(out) {}
  OFBool good() const override { return OFTrue; }
  OFCondition status() const override { return EC_Normal; }
  OFBool isFlushed() const override { return OFTrue; }
  offile_off_t avail() const override { return OFstatic_cast(offile_off_t, 1) << 30; }
  offile_off_t write(const void* buf, offile_off_t length) override {
    out_.append(static_cast<const char*>(buf), static_cast<std::size_t>(length));
    return length;
  }
  void flush() override {}

 private:
  std::string& out_;
};

class string_output_stream final : public DcmOutputStream {
 public:
  explicit string_output_stream(std::string& out) : DcmOutputStream(&consumer_), consumer_(out) {}
  ~string_output_stream() override { flush(); }  // ends a deflated stream, as a file stream does

 private:
  string_consumer consumer_;
};

}  // namespace

status write_part10(DcmFileFormat& ff, E_TransferSyntax xfer, std::string& out) {
  out.clear();
  OFCondition cond;
  {
    string_output_stream stream(out);
    DcmWriteCache cache;
    ff.transferInit();
    cond = ff.write(stream, xfer, EET_UndefinedLength, &cache, EGL_recalcGL, EPD_noChange, 0, 0, 0, EWM_createNewMeta);
    ff.transferEnd();
  }
  if (cond.bad()) return fail(errc::internal, std::string("cannot encode a DICOM object: ") + cond.text());
  return {};
}

std::string get_string(DcmItem& item, const DcmTagKey& tag, unsigned long pos) {
  OFString value;
  if (item.findAndGetOFString(tag, value, pos).bad()) return {};
  return std::string(value.c_str());
}

std::string get_all_strings(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).bad()) return {};
  return std::string(value.c_str());
}

}  // namespace dm2::pacs::detail
