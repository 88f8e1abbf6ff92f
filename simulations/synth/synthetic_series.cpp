#include "synthetic_series.hpp"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <cstdio>
#include <map>
#include <stdexcept>

namespace dm2::test {
namespace {

std::string new_uid() {
  char buf[100];
  dcmGenerateUniqueIdentifier(buf, SITE_INSTANCE_UID_ROOT);
  return buf;
}

std::string ds_list(std::initializer_list<double> values) {
  std::string out;
  char buf[32];
  for (double v : values) {
    std::snprintf(buf, sizeof buf, "%.10g", v);  // fits DS (16 chars)
    if (!out.empty()) out += '\\';
    out += buf;
  }
  return out;
}

void put(DcmItem& item, const DcmTagKey& tag, const std::string& value) {
  if (item.putAndInsertString(tag, value.c_str()).bad())
    throw std::runtime_error("cannot put " + std::string(tag.toString().c_str()));
}

}  // namespace

std::uint16_t synthetic_value(unsigned i, unsigned j, unsigned k) {
  return static_cast<std::uint16_t>((i + 3 * j + 101 * k) % 4096);
}

std::string storage_class_of(const std::string& modality) {
  static const std::map<std::string, const char*> classes = {
      {"CT", UID_CTImageStorage},
      {"MR", UID_MRImageStorage},
      {"CR", UID_ComputedRadiographyImageStorage},
      {"DX", UID_DigitalXRayImageStorageForPresentation},
      {"MG", UID_DigitalMammographyXRayImageStorageForPresentation},
      {"US", UID_UltrasoundImageStorage},
      {"XA", UID_XRayAngiographicImageStorage},
  };
  auto it = classes.find(modality);
  if (it == classes.end()) throw std::runtime_error("no synthetic SOP class for modality " + modality);
  return it->second;
}

synthetic_series write_synthetic_series(const std::filesystem::path& dir,
                                        const synthetic_options& o) {
  synthetic_series out;
  out.study_uid = o.study_uid.empty() ? new_uid() : o.study_uid;
  out.series_uid = o.series_uid.empty() ? new_uid() : o.series_uid;
  out.frame_of_reference_uid = new_uid();
  const auto& r = o.orientation;
  // normal = row x col
  const double n[3] = {r[1] * r[5] - r[2] * r[4], r[2] * r[3] - r[0] * r[5], r[0] * r[4] - r[1] * r[3]};
  const std::string sop_class = o.sop_class.empty() ? storage_class_of(o.modality) : o.sop_class;
  std::vector<Uint16> pixels(static_cast<std::size_t>(o.rows) * o.columns);
  for (unsigned k = 0; k < o.slices; ++k) {
    DcmFileFormat file;
    DcmDataset& ds = *file.getDataset();
    std::string sop = new_uid();
    put(ds, DCM_SpecificCharacterSet, "ISO_IR 100");
    put(ds, DCM_ImageType, "ORIGINAL\\PRIMARY\\AXIAL");
    put(ds, DCM_SOPClassUID, sop_class);
    put(ds, DCM_SOPInstanceUID, sop);
    put(ds, DCM_StudyDate, o.study_date);
    put(ds, DCM_SeriesDate, o.study_date);
    put(ds, DCM_AcquisitionDate, o.study_date);
    put(ds, DCM_ContentDate, o.study_date);
    put(ds, DCM_InstanceCreationDate, o.study_date);
    put(ds, DCM_StudyTime, "101500");
    put(ds, DCM_SeriesTime, "101700");
    put(ds, DCM_AcquisitionTime, "101701");
    put(ds, DCM_ContentTime, "101702");
    put(ds, DCM_AccessionNumber, o.accession);
    put(ds, DCM_Modality, o.modality);
    put(ds, DCM_Manufacturer, "DM2 Synthetic");
    put(ds, DCM_InstitutionName, o.institution);
    put(ds, DCM_InstitutionAddress, "1 rue du Test, Lyon");
    put(ds, DCM_ReferringPhysicianName, o.referring_physician);
    put(ds, DCM_StationName, "CT-ROOM-3");
    put(ds, DCM_StudyDescription, o.study_description);
    put(ds, DCM_SeriesDescription, o.series_description);
    if (!o.body_part.empty()) put(ds, DCM_BodyPartExamined, o.body_part);
    put(ds, DCM_OperatorsName, "TECH^ANNA");
    put(ds, DCM_PerformingPhysicianName, "WHO^JOHN");
    put(ds, DCM_PatientName, o.patient_name);
    put(ds, DCM_PatientID, o.patient_id);
    put(ds, DCM_PatientBirthDate, o.birth_date);
    put(ds, DCM_PatientSex, o.sex);
    put(ds, DCM_PatientAge, o.age);
    put(ds, DCM_PatientWeight, "61");
    put(ds, DCM_RETIRED_OtherPatientIDs, "OTHER-99");
    put(ds, DCM_PatientAddress, "2 avenue Privee, Lyon");
    put(ds, DCM_DeviceSerialNumber, "SN-4455");
    put(ds, DCM_SliceThickness, ds_list({o.slice_spacing}));
    put(ds, DCM_KVP, "120");
    put(ds, DCM_StudyInstanceUID, out.study_uid);
    put(ds, DCM_SeriesInstanceUID, out.series_uid);
    put(ds, DCM_StudyID, "S-1");
    put(ds, DCM_SeriesNumber, std::to_string(o.series_number));
    put(ds, DCM_InstanceNumber, std::to_string(k + 1));
    const double p[3] = {o.origin[0] + k * o.slice_spacing * n[0],
                         o.origin[1] + k * o.slice_spacing * n[1],
                         o.origin[2] + k * o.slice_spacing * n[2]};
    put(ds, DCM_ImagePositionPatient, ds_list({p[0], p[1], p[2]}));
    put(ds, DCM_ImageOrientationPatient, ds_list({r[0], r[1], r[2], r[3], r[4], r[5]}));
    put(ds, DCM_FrameOfReferenceUID, out.frame_of_reference_uid);
    put(ds, DCM_SliceLocation, ds_list({p[2]}));
    put(ds, DCM_SamplesPerPixel, "1");
    put(ds, DCM_PhotometricInterpretation, "MONOCHROME2");
    ds.putAndInsertUint16(DCM_Rows, static_cast<Uint16>(o.rows));
    ds.putAndInsertUint16(DCM_Columns, static_cast<Uint16>(o.columns));
    put(ds, DCM_PixelSpacing, ds_list({o.pixel_spacing[0], o.pixel_spacing[1]}));
    ds.putAndInsertUint16(DCM_BitsAllocated, 16);
    ds.putAndInsertUint16(DCM_BitsStored, 12);
    ds.putAndInsertUint16(DCM_HighBit, 11);
    ds.putAndInsertUint16(DCM_PixelRepresentation, 0);
    put(ds, DCM_RescaleIntercept, ds_list({o.rescale_intercept}));
    put(ds, DCM_RescaleSlope, "1");
    put(ds, DCM_WindowCenter, ds_list({o.window[0]}));
    put(ds, DCM_WindowWidth, ds_list({o.window[1]}));
    // A private block de-identification must drop.
    put(ds, DcmTagKey(0x0009, 0x0010), "ACME 1.1");
    if (ds.putAndInsertString(DcmTag(0x0009, 0x1001, EVR_LO), "secret vendor data").bad())
      throw std::runtime_error("cannot put private tag");
    for (unsigned j = 0; j < o.rows; ++j)
      for (unsigned i = 0; i < o.columns; ++i)
        pixels[static_cast<std::size_t>(j) * o.columns + i] = o.voxels ? o.voxels(i, j, k) : synthetic_value(i, j, k);
    if (ds.putAndInsertUint16Array(DCM_PixelData, pixels.data(), static_cast<unsigned long>(pixels.size())).bad())
      throw std::runtime_error("cannot put pixel data");
    E_TransferSyntax xfer = EXS_LittleEndianExplicit;
    if (!o.transfer_syntax.empty()) {
      xfer = DcmXfer(o.transfer_syntax.c_str()).getXfer();
      if (ds.chooseRepresentation(xfer, nullptr).bad() || !ds.canWriteXfer(xfer))
        throw std::runtime_error("cannot encode to " + o.transfer_syntax);
    }
    // Names that do not follow slice order, so tests cannot rely on them.
    char name[64];
    std::snprintf(name, sizeof name, "im%08x.dcm", static_cast<unsigned>((k * 2654435761u) ^ 0x5bd1e995u));
    auto path = dir / name;
    if (file.saveFile(path.string().c_str(), xfer).bad())
      throw std::runtime_error("cannot write " + path.string());
    out.files.push_back(path);
    out.sop_uids.push_back(sop);
  }
  return out;
}

void write_next_slice(const std::vector<std::filesystem::path>& files, const std::filesystem::path& out) {
  if (files.size() < 2) throw std::runtime_error("write_next_slice needs two slices to step from");
  auto load = [](const std::filesystem::path& f, DcmFileFormat& ff) {
    if (ff.loadFile(f.c_str()).bad()) throw std::runtime_error("cannot read " + f.string());
  };
  auto position = [&](const std::filesystem::path& f) {
    DcmFileFormat ff;
    load(f, ff);
    std::array<double, 3> p{};
    for (unsigned i = 0; i < 3; ++i)
      if (ff.getDataset()->findAndGetFloat64(DCM_ImagePositionPatient, p[i], i).bad())
        throw std::runtime_error("no ImagePositionPatient in " + f.string());
    return p;
  };
  const auto last = position(files.back()), before = position(files[files.size() - 2]);
  DcmFileFormat ff;
  load(files.back(), ff);
  auto& ds = *ff.getDataset();
  const auto sop = new_uid();
  put(ds, DCM_SOPInstanceUID, sop);
  put(*ff.getMetaInfo(), DCM_MediaStorageSOPInstanceUID, sop);
  put(ds, DCM_InstanceNumber, std::to_string(files.size() + 1));
  put(ds, DCM_ImagePositionPatient,
      ds_list({2 * last[0] - before[0], 2 * last[1] - before[1], 2 * last[2] - before[2]}));
  put(ds, DCM_SliceLocation, ds_list({2 * last[2] - before[2]}));
  if (ff.saveFile(out.c_str(), EXS_LittleEndianExplicit).bad()) throw std::runtime_error("cannot write " + out.string());
}

}  // namespace dm2::test
