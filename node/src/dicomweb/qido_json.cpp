#include "qido_json.hpp"

#include <algorithm>

#include "dicom_uids.hpp"

namespace dm2::node::dicomweb {
namespace {

using json = nlohmann::json;

json element(const char* vr, const std::string& value) {
  json e = {{"vr", vr}};
  if (!value.empty()) e["Value"] = json::array({value});
  return e;
}

json number(const char* vr, long long value) {
  return {{"vr", vr}, {"Value", json::array({value})}};
}

// A string attribute from a peer's record: kept when it is a string of printable ASCII without
// DICOM's value separator (CS, LO, DA); "" otherwise, which shows the attribute empty.
std::string text_of(const json& attributes, const char* name) {
  auto it = attributes.find(name);
  if (it == attributes.end() || !it->is_string()) return {};
  const auto& s = it->get_ref<const std::string&>();
  bool clean =
      std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f && c != '\\'; });
  return clean && s.size() <= 64 ? s : std::string{};
}

void add_study(json& out, const std::string& lfn, const json& a, const std::string& base_url) {
  auto modality = text_of(a, "modality");
  out["00080005"] = element("CS", "ISO_IR 192");
  out["00080020"] = element("DA", text_of(a, "study_date"));
  out["00080030"] = element("TM", "");
  out["00080050"] = element("SH", "");
  out["00080056"] = element("CS", "ONLINE");
  out["00080061"] = element("CS", modality);
  out["00080090"] = element("PN", "");
  out["00100010"] = element("PN", "");
  out["00100020"] = element("LO", "");
  out["00100030"] = element("DA", "");
  out["00100040"] = element("CS", text_of(a, "sex"));
  out["0020000D"] = element("UI", study_uid_of(lfn));
  out["00200010"] = element("SH", "");
  out["00201206"] = number("IS", 1);
  out["00081190"] = element("UR", base_url + "/studies/" + study_uid_of(lfn));
}

void add_series(json& out, const std::string& lfn, const json& a, const std::string& base_url) {
  out["00080060"] = element("CS", text_of(a, "modality"));
  out["00080021"] = element("DA", text_of(a, "series_date"));
  out["00080070"] = element("LO", text_of(a, "manufacturer"));
  out["00180015"] = element("CS", text_of(a, "body_part"));
  out["0020000E"] = element("UI", series_uid_of(lfn));
  out["00200011"] = element("IS", "");
  out["00081190"] =
      element("UR", base_url + "/studies/" + study_uid_of(lfn) + "/series/" + series_uid_of(lfn));
}

// dm2's private block (group 0009, creator "DM2 1"): what the index says beyond DICOM.
void add_private(json& out, const std::string& lfn, const std::string& owner, const json& a) {
  out["00090010"] = element("LO", "DM2 1");
  out["00091001"] = element("LO", lfn);
  out["00091002"] = element("LO", owner.size() <= 64 ? owner : std::string{});
  out["00091003"] = element("LO", text_of(a, "age_band"));
  json codes = json::array();
  if (auto d = a.find("diagnoses"); d != a.end() && d->is_array())
    for (const auto& diagnosis : *d)
      if (diagnosis.is_object() && diagnosis.contains("code")) {
        auto code = text_of(diagnosis, "code");
        if (!code.empty()) codes.push_back(code);
      }
  out["00091004"] = {{"vr", "LO"}};
  if (!codes.empty()) out["00091004"]["Value"] = codes;
}

}  // namespace

json qido_result(qido_level level, const std::string& lfn, const std::string& owner,
                 const json& attributes, const std::string& base_url) {
  json out = json::object();
  const json& a = attributes.is_object() ? attributes : json::object();
  add_study(out, lfn, a, base_url);
  if (level != qido_level::study) {
    add_series(out, lfn, a, base_url);
    out.erase("00080061");
    out.erase("00201206");
    out.erase("00080056");
  }
  add_private(out, lfn, owner, a);
  return out;  // nlohmann's object keeps the tags in order, as PS3.18 F.2.1 asks
}

void add_patient_names(json& result, const patient_names& names) {
  result["00100010"] = {{"vr", "PN"}};
  if (!names.name.empty()) result["00100010"]["Value"] = json::array({{{"Alphabetic", names.name}}});
  result["00100020"] = element("LO", names.id);
  result["00080050"] = element("SH", names.accession);
}

}  // namespace dm2::node::dicomweb
