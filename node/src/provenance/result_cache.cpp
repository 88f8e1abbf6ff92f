#include "result_cache.hpp"

#include <cstdio>

#include "dm2/crypto/hash.hpp"

namespace dm2::node {
namespace {

using storage::family;

std::string cache_key(const std::string& key) { return "cache/" + key; }
std::string record_key(const std::string& id) { return "prov/" + id; }
std::string age_key(std::int64_t ms, const std::string& id) {
  char at[17];
  std::snprintf(at, sizeof at, "%016llx", static_cast<unsigned long long>(ms < 0 ? 0 : ms));
  return "age/" + std::string(at) + "/" + id;
}

}  // namespace

result<std::unique_ptr<result_cache>> result_cache::open(storage::database& db, result_cache_limits limits) {
  std::size_t entries = 0;
  auto s = db.for_each_value(family::results, "age/", [&](std::string_view, std::string_view) {
    ++entries;
    return true;
  });
  if (!s) return std::move(s).err();
  return std::unique_ptr<result_cache>(new result_cache(db, limits, entries));
}

std::string result_cache::key_of(const std::string& name, const std::string& version, const std::string& query_sha256,
                                 const std::string& lfn, std::uint64_t series_version) {
  // Newline-separated: none of the parts can hold one (registry names, hex, a number).
  return crypto::to_hex(crypto::sha256("dm2 stage-2 result v1\n" + name + "\n" + version + "\n" + query_sha256 + "\n" +
                                       lfn + "\n" + std::to_string(series_version)));
}

result<std::optional<provenance_record>> result_cache::find(const std::string& id) const {
  auto stored = db_.get(family::results, record_key(id));
  if (!stored) return std::move(stored).err();
  if (!*stored) return std::optional<provenance_record>{};
  auto p = parse_provenance(**stored);
  if (!p || p->id != id) return fail(errc::integrity_failure, "a stored provenance record is not ours");
  return std::optional<provenance_record>{std::move(*p)};
}

result<std::optional<provenance_record>> result_cache::lookup(const std::string& key) const {
  auto id = db_.get(family::results, cache_key(key));
  if (!id) return std::move(id).err();
  if (!*id) return std::optional<provenance_record>{};
  return find(**id);
}

status result_cache::store(std::vector<computed>& scores, std::int64_t now_ms) {
  if (scores.empty()) return {};
  storage::transaction t;
  for (auto& [key, p] : scores) {
    p.id = crypto::to_hex(crypto::random_bytes(16));
    t.put(family::results, cache_key(key), p.id);
    t.put(family::results, record_key(p.id), encode_provenance(p));
    t.put(family::results, age_key(now_ms, p.id), key);
  }
  std::lock_guard lock(mutex_);
  if (auto s = db_.commit(std::move(t)); !s) return s;
  entries_ += scores.size();
  return prune(now_ms);
}

status result_cache::keep(const std::vector<provenance_record>& received, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  storage::transaction t;
  std::size_t added = 0;
  for (const auto& p : received) {
    auto stored = db_.get(family::results, record_key(p.id));
    if (!stored) return std::move(stored).err();
    if (*stored) continue;
    t.put(family::results, record_key(p.id), encode_provenance(p));
    t.put(family::results, age_key(now_ms, p.id), "");
    ++added;
  }
  if (t.empty()) return {};
  if (auto s = db_.commit(std::move(t)); !s) return s;
  entries_ += added;
  return prune(now_ms);
}

status result_cache::prune(std::int64_t now_ms) {
  const std::string too_old = age_key(now_ms - limits_.max_age.count(), "");
  std::size_t excess = entries_ > limits_.max_entries ? entries_ - limits_.max_entries : 0;
  storage::transaction t;
  std::size_t removed = 0;
  auto s = db_.for_each_value(family::results, "age/", [&](std::string_view key, std::string_view cached_under) {
    if (removed >= excess && std::string(key) >= too_old) return false;
    auto id = std::string(key.substr(key.rfind('/') + 1));
    t.erase(family::results, std::string(key));
    t.erase(family::results, record_key(id));
    if (!cached_under.empty()) {
      // The cache key points at this entry unless a later computation of the same key replaced it.
      auto current = db_.get(family::results, cache_key(std::string(cached_under)));
      if (current && *current && **current == id) t.erase(family::results, cache_key(std::string(cached_under)));
    }
    ++removed;
    return removed < 1024;  // a bounded commit; the rest goes at the next write
  });
  if (!s) return s;
  if (t.empty()) return {};
  if (auto c = db_.commit(std::move(t)); !c) return c;
  entries_ -= removed;
  return {};
}

std::size_t result_cache::size() const {
  std::lock_guard lock(mutex_);
  return entries_;
}

}  // namespace dm2::node
