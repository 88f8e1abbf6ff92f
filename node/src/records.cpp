#include "records.hpp"

#include <array>
#include <utility>

#include "dm2/crypto/hash.hpp"
#include "diagnoses/diagnosis_input.hpp"
#include "dm2/crypto/signature.hpp"

namespace dm2::node {
namespace {

using attribute_field = std::pair<const char*, std::string storage::index_attributes::*>;
constexpr std::array<attribute_field, 7> attribute_fields = {{
    {"modality", &storage::index_attributes::modality},
    {"body_part", &storage::index_attributes::body_part},
    {"manufacturer", &storage::index_attributes::manufacturer},
    {"study_date", &storage::index_attributes::study_date},
    {"series_date", &storage::index_attributes::series_date},
    {"sex", &storage::index_attributes::sex},
    {"age_band", &storage::index_attributes::age_band},
}};

error bad(const std::string& why) { return fail(errc::malformed_input, why); }

}  // namespace

result<storage::index_record> parse_ingest(std::string_view body) {
  auto json = nlohmann::json::parse(body, nullptr, false);
  if (!json.is_object()) return bad("the body must be a JSON object");
  storage::index_record r;
  for (const auto& [key, value] : json.items()) {
    if (key == "lfn") {
      if (!value.is_string()) return bad("lfn must be a string");
      auto raw = crypto::from_hex(value.get<std::string>());
      if (!raw || raw->size() != storage::lfn_size) return bad("lfn must be 32 hex digits");
      r.lfn = std::move(*raw);
    } else if (key == "signature_hex") {
      if (!value.is_string()) return bad("signature_hex must be a string");
      auto raw = crypto::from_hex(value.get<std::string>());
      if (!raw) return bad("signature_hex must be hex");
      r.signature = std::move(*raw);
    } else if (key == "attributes") {
      if (!value.is_object()) return bad("attributes must be an object");
      for (const auto& item : value.items()) {
        // Not a structured binding: clang 14 cannot capture one in the lambda below.
        const auto& name = item.key();
        const auto& v = item.value();
        auto field = std::find_if(attribute_fields.begin(), attribute_fields.end(),
                                  [&name](const attribute_field& f) { return name == f.first; });
        if (field == attribute_fields.end()) return bad("unknown attribute " + name);
        if (!v.is_string()) return bad("attribute " + name + " must be a string");
        r.attributes.*(field->second) = v.get<std::string>();
      }
    } else {
      return bad("unknown field " + key);
    }
  }
  if (r.lfn.empty()) return bad("lfn is required");
  // The rest of validate() (sizes, dates, characters) before anything is signed or stored;
  // owner and version are placeholders the node replaces.
  auto probe = r;
  probe.owner_site.push_back('x');  // (not = "x": GCC 12 reports a false -Wrestrict)
  if (auto s = storage::validate(probe); !s) return std::move(s).err();
  return r;
}

nlohmann::json record_json(const storage::index_record& r) {
  nlohmann::json attributes = nlohmann::json::object();
  for (const auto& [name, member] : attribute_fields) attributes[name] = r.attributes.*member;
  auto diagnoses = nlohmann::json::array();  // codes only: texts stay with the owner
  for (std::size_t i = 0; i < r.diagnoses.size(); ++i) diagnoses.push_back(diagnosis_json(i + 1, r.diagnoses[i]));
  return {{"lfn", crypto::to_hex(r.lfn)},
          {"version", r.version},
          {"owner", r.owner_site},
          {"attributes", attributes},
          {"diagnoses", diagnoses},
          {"signature_size", r.signature.size()},
          {"owner_signature_size", r.owner_signature.size()}};
}

status sign_record(storage::index_record& r, std::string_view dht_key_pem) {
  r.owner_signature.clear();
  auto signature = crypto::sign(dht_key_pem, storage::signed_payload(r));
  if (!signature) return std::move(signature).err();
  r.owner_signature = std::move(*signature);
  return {};
}

dht::storage_replica_store::verifier roster_verifier(const consortium& members) {
  return [&members](const storage::index_record& r) {
    auto owner = members.member_by_id(r.owner_site);
    return owner && crypto::verify(owner->dht_public_key, storage::signed_payload(r), r.owner_signature).ok();
  };
}

}  // namespace dm2::node
