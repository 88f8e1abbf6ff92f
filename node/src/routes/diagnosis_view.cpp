#include "diagnosis_view.hpp"

#include "../diagnoses/diagnosis_input.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/dht/storage_replica_store.hpp"

namespace dm2::node {

result<nlohmann::json> diagnoses_json(const route_context& c, const storage::index_record& r, bool with_texts) {
  auto out = nlohmann::json::array();
  const bool here = r.owner_site == c.self_site();
  const auto lfn = crypto::to_hex(r.lfn);
  for (std::size_t i = 0; i < r.diagnoses.size(); ++i) {
    const auto& d = r.diagnoses[i];
    std::optional<std::string> text;
    if (with_texts && here && d.has_text) {
      auto kept = c.texts.text(lfn, i + 1);
      if (!kept) return std::move(kept).err();
      text = std::move(*kept);
    }
    out.push_back(diagnosis_json(i + 1, d, text));
  }
  return out;
}

std::optional<storage::index_record> local_record(const route_context& c, const std::string& lfn) {
  auto copy = c.overlay->find(lfn);
  if (!copy) return std::nullopt;
  auto decoded = dht::decode_replica(*copy);
  if (!decoded) return std::nullopt;
  return std::move(*decoded);
}

}  // namespace dm2::node
