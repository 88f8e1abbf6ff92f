#include "db_cursor_store.hpp"

namespace dm2::node {
namespace {
constexpr const char* cursor_key = "sync/cursor";
}

result<std::optional<pacs::sync_cursor>> db_cursor_store::load() {
  auto stored = db_.get(storage::family::nominative, cursor_key);
  if (!stored) return std::move(stored).err();
  if (!*stored) return std::optional<pacs::sync_cursor>{};
  auto cursor = pacs::sync_cursor::decode(**stored);
  if (!cursor) return std::move(cursor).err();
  return std::optional<pacs::sync_cursor>{std::move(*cursor)};
}

status db_cursor_store::save(const pacs::sync_cursor& cursor) {
  return db_.put(storage::family::nominative, cursor_key, cursor.encode());
}

}  // namespace dm2::node
