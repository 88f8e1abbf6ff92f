#include "diagnosis_texts.hpp"

#include <nlohmann/json.hpp>

namespace dm2::node {
namespace {

std::string key_of(const std::string& lfn, std::size_t n) { return "diagnosis/" + lfn + "/" + std::to_string(n); }

}  // namespace

void diagnosis_texts::put(storage::transaction& t, const std::string& lfn, std::size_t n, const std::string& text,
                          const std::string& author, std::int64_t now_ms) {
  nlohmann::json value = {{"text", text}, {"author", author}, {"recorded_at_ms", now_ms}};
  t.put(storage::family::nominative, key_of(lfn, n), value.dump());
}

result<std::optional<std::string>> diagnosis_texts::text(const std::string& lfn, std::size_t n) const {
  if (!db_) return std::optional<std::string>{};
  auto stored = db_->get(storage::family::nominative, key_of(lfn, n));
  if (!stored) return std::move(stored).err();
  if (!*stored) return std::optional<std::string>{};
  auto value = nlohmann::json::parse(**stored, nullptr, false);
  if (!value.is_object() || !value["text"].is_string())
    return fail(errc::integrity_failure, "a stored diagnosis text is not ours");
  return std::optional<std::string>{value["text"].get<std::string>()};
}

}  // namespace dm2::node
