#include "dm2/pacs/volume.hpp"

#include "dcmtk_support.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>

namespace dm2::pacs {
namespace {

using namespace detail;
using vec3 = std::array<double, 3>;

vec3 cross(const vec3& a, const vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
double dot(const vec3& a, const vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

// A file, or an instance held in memory (`path` empty).
struct source {
  std::filesystem::path path;
  std::string name;
  std::string_view part10;
};

std::string file_label(const source& s) { return s.path.empty() ? s.name : s.path.filename().string(); }

// Loads `s`, values longer than `max_read` left unread (a file's; one in memory is parsed whole).
OFCondition load(DcmFileFormat& ff, const source& s, Uint32 max_read = DCM_MaxReadLength) {
  return s.path.empty() ? parse_part10(ff, s.part10)
                        : ff.loadFile(s.path.string().c_str(), EXS_Unknown, EGL_noChange, max_read);
}

// Reads `n` decimal values of a DS attribute. Empty optional if absent or malformed.
std::optional<std::vector<double>> read_ds(DcmItem& item, const DcmTagKey& tag, unsigned n) {
  std::vector<double> out(n);
  for (unsigned i = 0; i < n; ++i) {
    Float64 v = 0;
    if (item.findAndGetFloat64(tag, v, i).bad() || !std::isfinite(v)) return std::nullopt;
    out[i] = v;
  }
  return out;
}

DcmItem* first_item(DcmItem& parent, const DcmTagKey& seq, unsigned long index = 0) {
  DcmItem* item = nullptr;
  if (parent.findAndGetSequenceItem(seq, item, static_cast<signed long>(index)).bad()) return nullptr;
  return item;
}

// A value found in the frame's functional group, else the shared group, else the top level.
DcmItem* functional(DcmItem* per_frame, DcmItem* shared, const DcmTagKey& macro) {
  if (per_frame != nullptr)
    if (DcmItem* m = first_item(*per_frame, macro)) return m;
  if (shared != nullptr)
    if (DcmItem* m = first_item(*shared, macro)) return m;
  return nullptr;
}

struct slice {
  std::size_t file = 0;   // index into `files`
  unsigned frame = 0;     // frame within the file
  std::optional<vec3> position;
  std::optional<std::array<double, 6>> orientation;
  double slope = 1, intercept = 0;
  long instance_number = 0;
  double sort_key = 0;
};

struct file_header {
  std::string series_uid;
  unsigned rows = 0, columns = 0, frames = 1;
  unsigned bits_allocated = 0, bits_stored = 0, high_bit = 0;
  bool is_signed = false;
  std::optional<std::array<double, 2>> pixel_spacing;
  std::optional<double> slice_step;  // SpacingBetweenSlices or SliceThickness
};

error bad(const source& p, const std::string& why) {
  return fail(errc::malformed_input, file_label(p) + ": " + why);
}

status read_header(const source& path, std::size_t index, file_header& h, std::vector<slice>& slices) {
  DcmFileFormat ff;
  OFCondition cond = load(ff, path, 4096);
  if (cond.bad()) return bad(path, std::string("not readable as DICOM (") + cond.text() + ")");
  DcmDataset& ds = *ff.getDataset();
  if (!ds.tagExists(DCM_PixelData)) return bad(path, "no pixel data");
  h.series_uid = get_string(ds, DCM_SeriesInstanceUID);
  Uint16 u = 0;
  if (ds.findAndGetUint16(DCM_Rows, u).bad() || u == 0) return bad(path, "no Rows");
  h.rows = u;
  if (ds.findAndGetUint16(DCM_Columns, u).bad() || u == 0) return bad(path, "no Columns");
  h.columns = u;
  Uint16 spp = 1;
  ds.findAndGetUint16(DCM_SamplesPerPixel, spp);
  if (spp != 1) return fail(errc::unsupported, file_label(path) + ": colour images are not assembled");
  if (ds.findAndGetUint16(DCM_BitsAllocated, u).bad()) return bad(path, "no BitsAllocated");
  h.bits_allocated = u;
  if (u != 8 && u != 16 && u != 32)
    return fail(errc::unsupported, file_label(path) + ": BitsAllocated " + std::to_string(u));
  h.bits_stored = ds.findAndGetUint16(DCM_BitsStored, u).good() ? u : h.bits_allocated;
  h.high_bit = ds.findAndGetUint16(DCM_HighBit, u).good() ? u : h.bits_stored - 1;
  if (h.bits_stored == 0 || h.bits_stored > h.bits_allocated || h.high_bit >= h.bits_allocated)
    return bad(path, "inconsistent BitsStored/HighBit");
  h.is_signed = ds.findAndGetUint16(DCM_PixelRepresentation, u).good() && u == 1;
  Sint32 frames = 1;
  if (ds.findAndGetSint32(DCM_NumberOfFrames, frames).good()) {
    if (frames < 1 || frames > 65535) return bad(path, "NumberOfFrames out of range");
  } else {
    frames = 1;
  }
  h.frames = static_cast<unsigned>(frames);

  DcmItem* shared = first_item(ds, DCM_SharedFunctionalGroupsSequence);
  std::optional<std::array<double, 6>> top_iop;
  if (auto v = read_ds(ds, DCM_ImageOrientationPatient, 6)) std::copy(v->begin(), v->end(), top_iop.emplace().begin());
  std::optional<vec3> top_ipp;
  if (auto v = read_ds(ds, DCM_ImagePositionPatient, 3)) std::copy(v->begin(), v->end(), top_ipp.emplace().begin());
  if (auto v = read_ds(ds, DCM_PixelSpacing, 2)) h.pixel_spacing = std::array<double, 2>{(*v)[0], (*v)[1]};
  if (auto v = read_ds(ds, DCM_SpacingBetweenSlices, 1)) h.slice_step = (*v)[0];
  else if (auto t = read_ds(ds, DCM_SliceThickness, 1)) h.slice_step = (*t)[0];
  double top_slope = 1, top_intercept = 0;
  if (auto v = read_ds(ds, DCM_RescaleSlope, 1)) top_slope = (*v)[0];
  else if (auto d = read_ds(ds, DcmTagKey(0x3004, 0x000E), 1)) top_slope = (*d)[0];  // DoseGridScaling
  if (auto v = read_ds(ds, DCM_RescaleIntercept, 1)) top_intercept = (*v)[0];
  Sint32 instance = 0;
  ds.findAndGetSint32(DCM_InstanceNumber, instance);
  auto grid = read_ds(ds, DCM_GridFrameOffsetVector, h.frames);

  for (unsigned f = 0; f < h.frames; ++f) {
    slice s;
    s.file = index;
    s.frame = f;
    s.instance_number = static_cast<long>(instance) * 65536 + f;
    s.slope = top_slope;
    s.intercept = top_intercept;
    s.orientation = top_iop;
    DcmItem* per_frame = first_item(ds, DCM_PerFrameFunctionalGroupsSequence, f);
    if (per_frame != nullptr || shared != nullptr) {
      if (DcmItem* m = functional(per_frame, shared, DCM_PlanePositionSequence))
        if (auto v = read_ds(*m, DCM_ImagePositionPatient, 3)) s.position = vec3{(*v)[0], (*v)[1], (*v)[2]};
      if (DcmItem* m = functional(per_frame, shared, DCM_PlaneOrientationSequence))
        if (auto v = read_ds(*m, DCM_ImageOrientationPatient, 6))
          std::copy(v->begin(), v->end(), s.orientation.emplace().begin());
      if (DcmItem* m = functional(per_frame, shared, DCM_PixelMeasuresSequence)) {
        if (auto v = read_ds(*m, DCM_PixelSpacing, 2)) h.pixel_spacing = std::array<double, 2>{(*v)[0], (*v)[1]};
        if (auto v = read_ds(*m, DCM_SpacingBetweenSlices, 1)) h.slice_step = (*v)[0];
      }
      if (DcmItem* m = functional(per_frame, shared, DCM_PixelValueTransformationSequence)) {
        if (auto v = read_ds(*m, DCM_RescaleSlope, 1)) s.slope = (*v)[0];
        if (auto v = read_ds(*m, DCM_RescaleIntercept, 1)) s.intercept = (*v)[0];
      }
    }
    if (!s.position && top_ipp && s.orientation) {
      // Classic multi-frame: frames stacked along the normal from the top-level position.
      const auto& o = *s.orientation;
      vec3 n = cross({o[0], o[1], o[2]}, {o[3], o[4], o[5]});
      double offset = grid ? (*grid)[f] : (h.frames > 1 ? f * h.slice_step.value_or(1.0) : 0.0);
      s.position = vec3{(*top_ipp)[0] + offset * n[0], (*top_ipp)[1] + offset * n[1],
                        (*top_ipp)[2] + offset * n[2]};
    }
    slices.push_back(s);
  }
  return {};
}

// Copies frame `frame` of the decoded pixel data into `out` (rows*columns floats).
status decode_frame(DcmDataset& ds, const file_header& h, unsigned frame, double slope,
                    double intercept, float* out, const source& path) {
  const std::size_t n = static_cast<std::size_t>(h.rows) * h.columns;
  const std::size_t first = n * frame;
  const unsigned shift = h.high_bit + 1 - h.bits_stored;
  auto convert = [&](auto raw) -> float {
    std::uint64_t v = static_cast<std::uint64_t>(raw) >> shift;
    const std::uint64_t mask = h.bits_stored >= 64 ? ~0ull : ((1ull << h.bits_stored) - 1);
    v &= mask;
    double value;
    if (h.is_signed && (v >> (h.bits_stored - 1)) & 1u)
      value = static_cast<double>(static_cast<std::int64_t>(v) - static_cast<std::int64_t>(1ull << h.bits_stored));
    else
      value = static_cast<double>(v);
    return static_cast<float>(value * slope + intercept);
  };
  unsigned long count = 0;
  if (h.bits_allocated == 8) {
    const Uint8* p = nullptr;
    if (ds.findAndGetUint8Array(DCM_PixelData, p, &count).bad() || p == nullptr)
      return bad(path, "pixel data cannot be read");
    if (count < first + n) return bad(path, "pixel data is shorter than Rows x Columns x frames");
    for (std::size_t i = 0; i < n; ++i) out[i] = convert(p[first + i]);
  } else if (h.bits_allocated == 16) {
    const Uint16* p = nullptr;
    if (ds.findAndGetUint16Array(DCM_PixelData, p, &count).bad() || p == nullptr)
      return bad(path, "pixel data cannot be read");
    if (count < first + n) return bad(path, "pixel data is shorter than Rows x Columns x frames");
    for (std::size_t i = 0; i < n; ++i) out[i] = convert(p[first + i]);
  } else {
    // 32-bit pixels (e.g. RT dose): DCMTK keeps them as OW/OB bytes; read them as 32-bit words.
    DcmElement* e = nullptr;
    if (ds.findAndGetElement(DCM_PixelData, e).bad() || e == nullptr)
      return bad(path, "pixel data cannot be read");
    Uint8* bytes = nullptr;
    if (e->getUint8Array(bytes).bad() || bytes == nullptr) {
      Uint16* words = nullptr;
      if (e->getUint16Array(words).bad() || words == nullptr) return bad(path, "pixel data cannot be read");
      bytes = reinterpret_cast<Uint8*>(words);
    }
    count = e->getLength() / 4;
    if (count < first + n) return bad(path, "pixel data is shorter than Rows x Columns x frames");
    for (std::size_t i = 0; i < n; ++i) {
      Uint32 v;
      std::memcpy(&v, bytes + 4 * (first + i), 4);
      out[i] = convert(v);
    }
  }
  return {};
}

}  // namespace

std::array<double, 16> volume::affine_lps() const {
  auto m = affine_ras;
  for (int c = 0; c < 4; ++c) {
    m[0 * 4 + c] = -m[0 * 4 + c];
    m[1 * 4 + c] = -m[1 * 4 + c];
  }
  return m;
}

namespace {

result<volume> assemble(const std::vector<source>& files, const assembly_options& options) {
  if (files.empty()) return fail(errc::invalid_argument, "no files to assemble");
  init_dcmtk();
  ensure_codecs_registered();
  std::vector<file_header> headers(files.size());
  std::vector<slice> slices;
  for (std::size_t i = 0; i < files.size(); ++i)
    if (auto s = read_header(files[i], i, headers[i], slices); !s) return s.err();

  // One series, one image size, one pixel spacing.
  const file_header& h0 = headers[0];
  for (std::size_t i = 1; i < files.size(); ++i) {
    const auto& h = headers[i];
    if (h.series_uid != h0.series_uid)
      return fail(errc::malformed_input, "mixed series: " + file_label(files[i]) +
                                             " belongs to another SeriesInstanceUID");
    if (h.rows != h0.rows || h.columns != h0.columns)
      return fail(errc::malformed_input, "mixed image sizes: " + file_label(files[i]) + " is " +
                                             std::to_string(h.columns) + "x" + std::to_string(h.rows));
    if (h.bits_allocated != h0.bits_allocated)
      return fail(errc::malformed_input, "mixed BitsAllocated in " + file_label(files[i]));
    if (h.pixel_spacing.has_value() != h0.pixel_spacing.has_value() ||
        (h.pixel_spacing && (std::abs((*h.pixel_spacing)[0] - (*h0.pixel_spacing)[0]) > 1e-4 ||
                             std::abs((*h.pixel_spacing)[1] - (*h0.pixel_spacing)[1]) > 1e-4)))
      return fail(errc::malformed_input, "mixed pixel spacing: " + file_label(files[i]));
  }
  const std::size_t plane = static_cast<std::size_t>(h0.rows) * h0.columns;
  if (plane * slices.size() > options.max_voxels)
    return fail(errc::too_large, "series would have " + std::to_string(plane * slices.size()) + " voxels");

  volume v;
  v.series_uid = h0.series_uid;
  const bool all_geometry = std::all_of(slices.begin(), slices.end(),
                                        [](const slice& s) { return s.position && s.orientation; });
  const bool some_geometry = std::any_of(slices.begin(), slices.end(),
                                         [](const slice& s) { return s.position || s.orientation; });
  if (!all_geometry && some_geometry)
    return fail(errc::malformed_input, "some slices lack ImagePositionPatient/ImageOrientationPatient");

  std::array<double, 6> iop = {1, 0, 0, 0, 1, 0};
  vec3 normal = {0, 0, 1};
  if (all_geometry) {
    iop = *slices[0].orientation;
    for (const auto& s : slices)
      for (int c = 0; c < 6; ++c)
        if (std::abs((*s.orientation)[c] - iop[c]) > options.orientation_tolerance)
          return fail(errc::malformed_input, "mixed orientation: " + file_label(files[s.file]) +
                                                 " has another ImageOrientationPatient");
    normal = cross({iop[0], iop[1], iop[2]}, {iop[3], iop[4], iop[5]});
    double len = std::sqrt(dot(normal, normal));
    if (len < 0.5) return fail(errc::malformed_input, "ImageOrientationPatient vectors are not orthonormal");
    for (auto& c : normal) c /= len;
    for (auto& s : slices) s.sort_key = dot(*s.position, normal);
    std::stable_sort(slices.begin(), slices.end(),
                     [](const slice& a, const slice& b) { return a.sort_key < b.sort_key; });
  } else {
    std::stable_sort(slices.begin(), slices.end(), [](const slice& a, const slice& b) {
      return a.instance_number < b.instance_number;
    });
    v.notes.push_back("no patient geometry: slices sorted by InstanceNumber, identity orientation");
  }

  // Slice steps: duplicates, gaps and uneven spacing.
  double step = h0.slice_step.value_or(1.0);
  if (all_geometry && slices.size() > 1) {
    std::vector<double> steps;
    for (std::size_t k = 1; k < slices.size(); ++k) steps.push_back(slices[k].sort_key - slices[k - 1].sort_key);
    for (std::size_t k = 0; k < steps.size(); ++k)
      if (steps[k] < 1e-3)
        return fail(errc::malformed_input, "duplicate slice position " + std::to_string(slices[k].sort_key) +
                                               " mm (" + file_label(files[slices[k].file]) + " and " +
                                               file_label(files[slices[k + 1].file]) + ")");
    std::vector<double> sorted = steps;
    std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
    step = sorted[sorted.size() / 2];
    for (std::size_t k = 0; k < steps.size(); ++k) {
      double ratio = steps[k] / step;
      if (std::abs(ratio - 1.0) <= options.spacing_tolerance) continue;
      double whole = std::round(ratio);
      if (whole >= 2 && std::abs(ratio - whole) <= options.spacing_tolerance * whole)
        return fail(errc::malformed_input,
                    "gap in series: " + std::to_string(static_cast<long>(whole) - 1) +
                        " slice(s) missing between positions " + std::to_string(slices[k].sort_key) +
                        " and " + std::to_string(slices[k + 1].sort_key) + " mm (after slice " +
                        std::to_string(k + 1) + " of " + std::to_string(slices.size()) + ")");
      return fail(errc::malformed_input, "uneven slice spacing: " + std::to_string(steps[k]) +
                                             " mm where the series steps " + std::to_string(step) + " mm");
    }
  }

  // Geometry. PixelSpacing is (row spacing = between rows, column spacing = between columns).
  const double dx = h0.pixel_spacing ? (*h0.pixel_spacing)[1] : 1.0;  // along i (columns)
  const double dy = h0.pixel_spacing ? (*h0.pixel_spacing)[0] : 1.0;  // along j (rows)
  if (!h0.pixel_spacing) v.notes.push_back("no PixelSpacing: 1 mm assumed");
  vec3 origin = all_geometry ? *slices.front().position : vec3{0, 0, 0};
  vec3 kvec = {normal[0] * step, normal[1] * step, normal[2] * step};
  if (all_geometry && slices.size() > 1) {
    const vec3& last = *slices.back().position;
    double n = static_cast<double>(slices.size() - 1);
    kvec = {(last[0] - origin[0]) / n, (last[1] - origin[1]) / n, (last[2] - origin[2]) / n};
  }
  v.dims = {h0.columns, h0.rows, slices.size()};
  v.spacing = {dx, dy, std::sqrt(dot(kvec, kvec))};
  std::array<double, 16> lps = {iop[0] * dx, iop[3] * dy, kvec[0], origin[0],
                                iop[1] * dx, iop[4] * dy, kvec[1], origin[1],
                                iop[2] * dx, iop[5] * dy, kvec[2], origin[2],
                                0,           0,           0,       1};
  v.affine_ras = lps;
  for (int c = 0; c < 4; ++c) {
    v.affine_ras[0 * 4 + c] = -lps[0 * 4 + c];
    v.affine_ras[1 * 4 + c] = -lps[1 * 4 + c];
  }

  // Pixels, file by file (a multi-frame file is decoded once for all its frames).
  v.voxels.resize(plane * slices.size());
  std::map<std::size_t, std::vector<std::size_t>> by_file;  // file -> positions k
  for (std::size_t k = 0; k < slices.size(); ++k) by_file[slices[k].file].push_back(k);
  std::vector<bool> listed(files.size(), false);
  for (const auto& s : slices)
    if (!listed[s.file]) {
      listed[s.file] = true;
      v.files.push_back(files[s.file].path.empty() ? files[s.file].name : files[s.file].path.string());
    }
  for (const auto& [file, ks] : by_file) {
    DcmFileFormat ff;
    const auto& path = files[file];
    OFCondition cond = load(ff, path);
    if (cond.bad()) return bad(path, std::string("not readable as DICOM (") + cond.text() + ")");
    DcmDataset& ds = *ff.getDataset();
    E_TransferSyntax xfer = ds.getOriginalXfer();
    if (DcmXfer(xfer).isEncapsulated()) {
      if (xfer == EXS_JPEG2000 || xfer == EXS_JPEG2000LosslessOnly || xfer == EXS_JPEG2000MulticomponentLosslessOnly ||
          xfer == EXS_JPEG2000Multicomponent)
        return fail(errc::unsupported, file_label(path) + ": JPEG 2000 cannot be decoded (no DCMTK codec)");
      cond = ds.chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
      if (cond.bad() || !ds.canWriteXfer(EXS_LittleEndianExplicit))
        return fail(errc::unsupported, file_label(path) + ": cannot decode " + DcmXfer(xfer).getXferName() +
                                           " (" + cond.text() + ")");
    }
    for (std::size_t k : ks) {
      const slice& s = slices[k];
      if (auto st = decode_frame(ds, headers[file], s.frame, s.slope, s.intercept, &v.voxels[k * plane], path); !st)
        return st.err();
    }
  }
  return v;
}

}  // namespace

result<volume> assemble_series(const std::vector<std::filesystem::path>& files, const assembly_options& options) {
  std::vector<source> sources;
  for (const auto& f : files) sources.push_back({f, {}, {}});
  return assemble(sources, options);
}

result<volume> assemble_series_in_memory(const std::vector<dicom_in_memory>& instances, const assembly_options& options) {
  std::vector<source> sources;
  for (const auto& i : instances) sources.push_back({{}, i.name, i.part10});
  return assemble(sources, options);
}

}  // namespace dm2::pacs
