#include "series_links.hpp"

#include <nlohmann/json.hpp>

#include "dm2/crypto/aead.hpp"
#include "dm2/crypto/hash.hpp"

namespace dm2::node {
using json = nlohmann::json;

std::string series_links::lookup_key(const std::string& series_uid) const {
  return "series/" + crypto::to_hex(crypto::hmac_sha256(key_, "dm2 series link v1" + series_uid));
}

std::string series_links::patient_ref(const std::string& patient_id) const {
  return crypto::to_hex(crypto::hmac_sha256(key_, "dm2 patient ref v1" + patient_id)).substr(0, 32);
}

result<std::optional<series_lookup>> series_links::find(const std::string& series_uid) const {
  auto stored = db_.get(storage::family::nominative, lookup_key(series_uid));
  if (!stored) return std::move(stored).err();
  if (!*stored) return std::optional<series_lookup>{};
  auto j = json::parse(**stored, nullptr, false);
  if (!j.is_object() || !j["lfn"].is_string() || !j["version"].is_number_unsigned() ||
      !j["instances"].is_number_unsigned() || !j["fingerprint"].is_string())
    return fail(errc::malformed_input, "a stored series lookup does not decode");
  return std::optional<series_lookup>{series_lookup{j["lfn"].get<std::string>(), j["version"].get<std::uint64_t>(),
                                                    j["instances"].get<std::uint64_t>(),
                                                    j["fingerprint"].get<std::string>()}};
}

void series_links::put_lookup(storage::transaction& t, const std::string& series_uid, const series_lookup& l) const {
  json j = {{"lfn", l.lfn_hex}, {"version", l.version}, {"instances", l.instances}, {"fingerprint", l.fingerprint}};
  t.put(storage::family::nominative, lookup_key(series_uid), j.dump());
}

status series_links::put_link(storage::transaction& t, const std::string& lfn_hex, const std::string& series_key,
                              const nominative_link& link) const {
  json j = {{"patient_id", link.patient_id},         {"patient_name", link.patient_name},
            {"accession_number", link.accession_number}, {"study_uid", link.study_uid},
            {"series_uid", link.series_uid},         {"removed", link.removed_json}};
  if (!link.manifest.instances.empty())
    j["manifest"] = {{"instances", link.manifest.instances}, {"volume_bytes", link.manifest.volume_bytes}};
  auto sealed = crypto::aead_seal(series_key, j.dump(), "dm2 nominative link " + lfn_hex);
  if (!sealed) return std::move(sealed).err();
  t.put(storage::family::nominative, "link/" + lfn_hex, std::move(*sealed));
  return {};
}

result<std::optional<nominative_link>> series_links::read_link(const std::string& lfn_hex,
                                                               const std::string& series_key) const {
  auto stored = db_.get(storage::family::nominative, "link/" + lfn_hex);
  if (!stored) return std::move(stored).err();
  if (!*stored) return std::optional<nominative_link>{};
  auto plain = crypto::aead_open(series_key, **stored, "dm2 nominative link " + lfn_hex);
  if (!plain) return std::move(plain).err();
  auto j = json::parse(*plain, nullptr, false);
  if (!j.is_object()) return fail(errc::malformed_input, "a stored nominative link does not decode");
  series_manifest manifest;
  if (const auto& m = j["manifest"]; m.is_object()) {
    const auto& instances = m["instances"];
    bool good = instances.is_array() && m["volume_bytes"].is_number_unsigned();
    for (std::size_t i = 0; good && i < instances.size(); ++i)
      good = instances[i].is_array() && instances[i].size() == 2 && instances[i][0].is_string() &&
             instances[i][1].is_number_unsigned();
    if (!good) return fail(errc::malformed_input, "a stored nominative link's manifest does not decode");
    manifest = {instances.get<std::vector<std::pair<std::string, std::uint64_t>>>(), m["volume_bytes"].get<std::uint64_t>()};
  }
  return std::optional<nominative_link>{nominative_link{j.value("patient_id", ""), j.value("patient_name", ""),
                                                        j.value("accession_number", ""), j.value("study_uid", ""),
                                                        j.value("series_uid", ""), j.value("removed", ""),
                                                        std::move(manifest)}};
}

}  // namespace dm2::node
