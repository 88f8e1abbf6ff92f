#include "dm2/pacs/deidentify.hpp"

#include "dcmtk_support.hpp"

#include <dcmtk/dcmdata/dcjson.h>
#include <dcmtk/dcmdata/dcostrmb.h>

#include <chrono>
#include <cstdio>
#include <sstream>
#include <unordered_map>

#include "dm2/crypto/hash.hpp"

namespace dm2::pacs {
namespace {

using namespace detail;

struct rule_index {
  std::unordered_map<std::uint32_t, const deid_rule*> exact;
  std::vector<const deid_rule*> masked;
  rule_index() {
    for (const auto& r : basic_profile_table()) {
      if (r.group_mask == 0xFFFF && r.element_mask == 0xFFFF)
        exact[(std::uint32_t{r.group} << 16) | r.element] = &r;
      else
        masked.push_back(&r);
    }
  }
  const deid_rule* find(const DcmTagKey& t) const {
    auto it = exact.find((std::uint32_t{t.getGroup()} << 16) | t.getElement());
    if (it != exact.end()) return it->second;
    for (const auto* r : masked)
      if ((t.getGroup() & r->group_mask) == r->group && (t.getElement() & r->element_mask) == r->element)
        return r;
    return nullptr;
  }
};

const rule_index& rules() {
  static const rule_index index;
  return index;
}

bool is_string_vr(DcmEVR vr) {
  switch (vr) {
    case EVR_AE: case EVR_AS: case EVR_CS: case EVR_DA: case EVR_DS: case EVR_DT: case EVR_IS:
    case EVR_LO: case EVR_LT: case EVR_PN: case EVR_SH: case EVR_ST: case EVR_TM: case EVR_UC:
    case EVR_UI: case EVR_UR: case EVR_UT:
      return true;
    default:
      return false;
  }
}

// YYYYMMDD moved by `days`; other shapes are emptied (a malformed date is not worth keeping).
std::string shift_date(const std::string& date, int days) {
  if (date.size() < 8) return "";
  int y = 0;
  unsigned m = 0, d = 0;
  if (std::sscanf(date.c_str(), "%4d%2u%2u", &y, &m, &d) != 3) return "";
  std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}};
  if (!ymd.ok()) return "";
  std::chrono::year_month_day moved{std::chrono::sys_days{ymd} + std::chrono::days{days}};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d%02u%02u", static_cast<int>(moved.year()),
                static_cast<unsigned>(moved.month()), static_cast<unsigned>(moved.day()));
  return buf + date.substr(8);  // DT keeps its time part
}

std::string dummy_for(DcmEVR vr) {
  switch (vr) {
    case EVR_DA: return "19000101";
    case EVR_TM: return "000000";
    case EVR_DT: return "19000101000000";
    case EVR_AS: return "000Y";
    case EVR_IS: case EVR_DS: return "0";
    case EVR_US: case EVR_SS: case EVR_UL: case EVR_SL: case EVR_FL: case EVR_FD: return "0";
    default: return "ANONYMIZED";
  }
}

struct context {
  const deid_options& options;
  DcmDataset removed;  // originals of what changed, top-level elements only
};

std::string remap_values(const std::string& secret, const std::string& joined) {
  std::string out;
  std::size_t start = 0;
  while (true) {
    std::size_t end = joined.find('\\', start);
    std::string one = joined.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!out.empty() || start > 0) out += '\\';
    if (!one.empty()) out += remap_uid(secret, one);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

bool clean_item(DcmItem& item, context& ctx, bool top_level);

// Applies the profile to one element; returns true if it changed (or must be removed: *remove).
bool clean_element(DcmElement* e, context& ctx, bool& remove) {
  remove = false;
  const DcmTag& tag = e->getTag();
  const DcmEVR vr = e->ident();
  if (tag.isPrivate()) {
    remove = true;
    return true;
  }
  if (tag.getGroup() == 0x0002) return false;  // meta header is rebuilt on write
  const deid_rule* rule = rules().find(tag);
  if (rule == nullptr) {
    if (vr == EVR_SQ) {
      bool changed = false;
      auto* sq = static_cast<DcmSequenceOfItems*>(e);
      for (unsigned long i = 0; i < sq->card(); ++i) changed |= clean_item(*sq->getItem(i), ctx, false);
      return changed;
    }
    return false;
  }
  const bool shift = ctx.options.dates == date_mode::shift;
  if (shift && (vr == EVR_DA || vr == EVR_DT)) {
    OFString v;
    e->getOFStringArray(v);
    std::string joined = v.c_str(), out;
    std::size_t start = 0;
    while (true) {
      std::size_t end = joined.find('\\', start);
      if (start > 0) out += '\\';
      out += shift_date(joined.substr(start, end == std::string::npos ? std::string::npos : end - start),
                        ctx.options.shift_days);
      if (end == std::string::npos) break;
      start = end + 1;
    }
    e->putString(out.c_str());
    return true;
  }
  if (shift && vr == EVR_TM) return false;  // times carry no date: kept with shifted dates

  switch (rule->action) {
    case 'X':
      remove = true;
      return true;
    case 'Z':
      if (vr == EVR_SQ) {
        static_cast<DcmSequenceOfItems*>(e)->clear();
      } else {
        e->clear();
      }
      return true;
    case 'D':
      if (vr == EVR_SQ) {
        static_cast<DcmSequenceOfItems*>(e)->clear();
      } else if (vr == EVR_UI) {
        OFString v;
        e->getOFStringArray(v);
        e->putString(remap_values(ctx.options.uid_secret, v.c_str()).c_str());
      } else if (is_string_vr(vr) || vr == EVR_US || vr == EVR_SS || vr == EVR_UL || vr == EVR_SL ||
                 vr == EVR_FL || vr == EVR_FD) {
        e->putString(dummy_for(vr).c_str());
      } else {
        e->clear();
      }
      return true;
    case 'U':
    default:
      if (vr == EVR_SQ) {
        bool changed = false;
        auto* sq = static_cast<DcmSequenceOfItems*>(e);
        for (unsigned long i = 0; i < sq->card(); ++i) changed |= clean_item(*sq->getItem(i), ctx, false);
        return changed;
      }
      if (vr == EVR_UI) {
        OFString v;
        e->getOFStringArray(v);
        e->putString(remap_values(ctx.options.uid_secret, v.c_str()).c_str());
        return true;
      }
      e->clear();
      return true;
  }
}

bool clean_item(DcmItem& item, context& ctx, bool top_level) {
  bool changed = false;
  for (unsigned long n = item.card(); n-- > 0;) {
    DcmElement* e = item.getElement(n);
    if (e == nullptr) continue;
    // Keep the original of a top-level element before touching it: it goes to the record.
    DcmElement* original = top_level ? static_cast<DcmElement*>(e->clone()) : nullptr;
    bool remove = false;
    bool element_changed = clean_element(e, ctx, remove);
    if (element_changed && original != nullptr) {
      if (ctx.removed.insert(original, OFTrue).bad()) delete original;
      original = nullptr;
    }
    delete original;
    if (remove) delete item.remove(e);
    changed |= element_changed;
  }
  return changed;
}

void mark_deidentified(DcmDataset& ds, const deid_options& o) {
  ds.putAndInsertString(DCM_PatientIdentityRemoved, "YES");
  std::string method = "DICOM PS3.15 E.1.1 Basic Application Level Confidentiality Profile";
  if (o.dates == date_mode::shift) method += " + Modified Dates";
  method += " (dm2)";
  ds.putAndInsertString(DCM_DeidentificationMethod, method.substr(0, 64).c_str());
  auto add_code = [&ds](long index, const char* value, const char* meaning) {
    DcmItem* code = nullptr;
    if (ds.findOrCreateSequenceItem(DCM_DeidentificationMethodCodeSequence, code, index).good() && code) {
      code->putAndInsertString(DCM_CodeValue, value);
      code->putAndInsertString(DCM_CodingSchemeDesignator, "DCM");
      code->putAndInsertString(DCM_CodeMeaning, meaning);
    }
  };
  ds.findAndDeleteElement(DCM_DeidentificationMethodCodeSequence);
  add_code(0, "113100", "Basic Application Confidentiality Profile");
  if (o.dates == date_mode::shift) {
    add_code(1, "113107", "Retain Longitudinal Temporal Information Modified Dates Option");
    ds.putAndInsertString(DCM_LongitudinalTemporalInformationModified, "MODIFIED");
  } else {
    ds.putAndInsertString(DCM_LongitudinalTemporalInformationModified, "REMOVED");
  }
  if (!o.patient_pseudonym.empty()) {
    ds.putAndInsertString(DCM_PatientName, o.patient_pseudonym.c_str());
    ds.putAndInsertString(DCM_PatientID, o.patient_pseudonym.c_str());
  }
}

status check(const deid_options& o) {
  if (o.uid_secret.size() < 16)
    return fail(errc::invalid_argument, "de-identification needs a UID secret of at least 16 bytes");
  init_dcmtk();
  return {};
}

// De-identifies the loaded `ff` (`label` names it in errors).
result<deid_result> run(DcmFileFormat& ff, const std::string& label, const deid_options& o) {
  DcmDataset& ds = *ff.getDataset();
  if (get_string(ds, DCM_SOPInstanceUID).empty())
    return fail(errc::malformed_input, label + ": no SOPInstanceUID");
  // Load everything now: elements left on disk cannot be compared or cloned reliably.
  ds.loadAllDataIntoMemory();
  context ctx{o, {}};
  clean_item(ds, ctx, true);
  mark_deidentified(ds, o);
  // Rebuilt on write from the dataset (new SOP Instance UID, our implementation UID); drops
  // source AE titles and private meta information.
  ff.getMetaInfo()->clear();
  deid_result out;
  out.sop_instance_uid = get_string(ds, DCM_SOPInstanceUID);
  std::ostringstream json;
  DcmJsonFormatCompact format(OFFalse);
  json << '{';
  if (ctx.removed.writeJson(json, format).bad())
    return fail(errc::internal, "cannot write the nominative record as JSON");
  json << '}';
  out.nominative_json = json.str();
  return out;
}

result<deid_result> run_on_file(DcmFileFormat& ff, const std::filesystem::path& in, const deid_options& o) {
  if (auto s = check(o); !s) return s.err();
  OFCondition cond = ff.loadFile(in.string().c_str());
  if (cond.bad())
    return fail(errc::malformed_input, in.filename().string() + ": not readable as DICOM (" + cond.text() + ")");
  return run(ff, in.filename().string(), o);
}

}  // namespace

std::string remap_uid(std::string_view secret, std::string_view uid) {
  const std::string mac = crypto::hmac_sha256(secret, uid);
  // 128-bit big-endian integer -> decimal by repeated division (no __int128 needed).
  std::uint8_t n[16];
  for (int i = 0; i < 16; ++i) n[i] = static_cast<std::uint8_t>(mac[static_cast<std::size_t>(i)]);
  std::string digits;
  bool zero = false;
  while (!zero) {
    unsigned rem = 0;
    zero = true;
    for (auto& byte : n) {
      unsigned cur = (rem << 8) | byte;
      byte = static_cast<std::uint8_t>(cur / 10);
      rem = cur % 10;
      if (byte != 0) zero = false;
    }
    digits.insert(digits.begin(), static_cast<char>('0' + rem));
  }
  return "2.25." + digits;
}

result<deid_result> deidentify_file(const std::filesystem::path& in, const std::filesystem::path& out,
                                    const deid_options& options) {
  DcmFileFormat ff;
  auto r = run_on_file(ff, in, options);
  if (!r) return r;
  auto tmp = out;
  tmp += ".part";
  const E_TransferSyntax xfer = ff.getDataset()->getOriginalXfer();
  OFCondition cond = ff.saveFile(tmp.string().c_str(), xfer);
  std::error_code ec;
  if (cond.bad()) {
    std::filesystem::remove(tmp, ec);
    return fail(errc::io_error, std::string("cannot write the de-identified file: ") + cond.text());
  }
  std::filesystem::rename(tmp, out, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return fail(errc::io_error, "cannot rename the de-identified file into place: " + ec.message());
  }
  return r;
}

result<deid_result> deidentify_to_memory(const std::filesystem::path& in, const deid_options& options,
                                         std::string& dicom_bytes) {
  DcmFileFormat ff;
  auto r = run_on_file(ff, in, options);
  if (!r) return r;
  E_TransferSyntax xfer = ff.getDataset()->getOriginalXfer();
  // A deflated stream needs its compressor finished, which a memory buffer written in chunks
  // does not do: such files come out as explicit VR little endian instead.
  if (xfer == EXS_DeflatedLittleEndianExplicit) xfer = EXS_LittleEndianExplicit;
  std::vector<char> buffer(1 << 20);
  DcmOutputBufferStream stream(buffer.data(), buffer.size());
  dicom_bytes.clear();
  ff.transferInit();
  OFCondition cond;
  do {
    cond = ff.write(stream, xfer, EET_ExplicitLength, nullptr);
    void* chunk = nullptr;
    offile_off_t length = 0;
    stream.flushBuffer(chunk, length);
    dicom_bytes.append(static_cast<const char*>(chunk), static_cast<std::size_t>(length));
  } while (cond == EC_StreamNotifyClient);
  ff.transferEnd();
  if (cond.bad()) return fail(errc::internal, std::string("cannot encode the de-identified file: ") + cond.text());
  return r;
}

result<deid_result> deidentify_part10(std::string_view in, const deid_options& options, std::string& dicom_bytes) {
  if (auto s = check(options); !s) return s.err();
  auto ff = read_part10(in);
  if (!ff) return fail(errc::malformed_input, "a received instance is not readable as DICOM: " + ff.err().message);
  auto r = run(**ff, "a received instance", options);
  if (!r) return r;
  if (auto s = write_part10(**ff, (*ff)->getDataset()->getOriginalXfer(), dicom_bytes); !s) return s.err();
  return r;
}

}  // namespace dm2::pacs
