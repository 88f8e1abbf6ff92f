#include "item_table.hpp"

#include <spdlog/spdlog.h>

#include "dm2/storage/database.hpp"

namespace dm2::dht {

namespace {
constexpr std::string_view index_key = "index";  // concatenated 20-byte targets
std::string item_key(const std::string& target) { return "i" + target; }
}  // namespace

std::string encode_item(const stored_item& item) {
  std::string out;
  auto seq = static_cast<std::uint64_t>(item.seq);
  for (int i = 7; i >= 0; --i) out += static_cast<char>((seq >> (8 * i)) & 0xff);
  out += item.public_key;
  out += item.signature;
  out += static_cast<char>(item.salt.size());
  out += item.salt;
  out += item.value;
  return out;
}

result<stored_item> decode_item(std::string_view bytes) {
  if (bytes.size() < 8 + 32 + 64 + 1) return fail(errc::malformed_input, "DHT item too short");
  stored_item item;
  std::uint64_t seq = 0;
  for (int i = 0; i < 8; ++i) seq = (seq << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  item.seq = static_cast<std::int64_t>(seq);
  item.public_key = std::string(bytes.substr(8, 32));
  item.signature = std::string(bytes.substr(40, 64));
  std::size_t salt_len = static_cast<unsigned char>(bytes[104]);
  if (bytes.size() < 105 + salt_len) return fail(errc::malformed_input, "DHT item salt cut short");
  item.salt = std::string(bytes.substr(105, salt_len));
  item.value = std::string(bytes.substr(105 + salt_len));
  return item;
}

item_table::item_table(item_limits limits, std::shared_ptr<admission> policy, storage::database* db)
    : limits_(limits), policy_(std::move(policy)), db_(db) {}

result<std::shared_ptr<item_table>> item_table::open(item_limits limits,
                                                     std::shared_ptr<admission> policy,
                                                     storage::database* db) {
  std::shared_ptr<item_table> t(new item_table(limits, std::move(policy), db));
  if (db) {
    auto index = db->get(storage::family::dht_items, index_key);
    if (!index) return std::move(index).err();
    if (*index) {
      const std::string& targets = **index;
      if (targets.size() % 20 != 0) return fail(errc::malformed_input, "DHT item index corrupt");
      for (std::size_t i = 0; i < targets.size(); i += 20) {
        auto target = targets.substr(i, 20);
        auto bytes = db->get(storage::family::dht_items, item_key(target));
        if (!bytes) return std::move(bytes).err();
        if (!*bytes) continue;
        auto item = decode_item(**bytes);
        if (!item) return std::move(item).err();
        ++t->per_key_[item->public_key];
        t->items_[target] = std::move(*item);
      }
    }
    t->writer_ = std::thread([raw = t.get()] { raw->write_loop(); });
  }
  return t;
}

item_table::~item_table() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
}

std::string item_table::refusal(const std::string& target, const std::string& public_key,
                                std::size_t salt_size, std::size_t value_size) const {
  if (!policy_->key_allowed(public_key)) return "signer_not_on_roster";
  if (salt_size > limits_.max_salt_bytes) return "salt_too_large";
  if (value_size > limits_.max_value_bytes) return "value_too_large";
  std::lock_guard lock(mutex_);
  if (items_.count(target)) return {};  // a newer version of an item we hold
  auto it = per_key_.find(public_key);
  if (it != per_key_.end() && it->second >= limits_.max_items_per_key) return "key_quota";
  if (items_.size() >= limits_.max_items) return "table_full";
  return {};
}

bool item_table::put(const std::string& target, stored_item item) {
  auto why = refusal(target, item.public_key, item.salt.size(), item.value.size());
  if (!why.empty()) {
    ++policy_->refused_items;
    spdlog::warn("event=dht_item_refused reason={}", why);
    return false;
  }
  {
    std::lock_guard lock(mutex_);
    auto it = items_.find(target);
    if (it != items_.end()) {
      if (item.seq <= it->second.seq) return false;
      if (it->second.public_key != item.public_key) return false;  // target = SHA-1(pk, salt)
      it->second = std::move(item);
    } else {
      ++per_key_[item.public_key];
      items_.emplace(target, std::move(item));
    }
    if (db_) dirty_.push_back(target);
  }
  wake_.notify_all();
  return true;
}

std::optional<stored_item> item_table::get(const std::string& target) const {
  std::optional<stored_item> out;
  {
    std::lock_guard lock(mutex_);
    auto it = items_.find(target);
    if (it == items_.end()) return std::nullopt;
    out = it->second;
  }
  if (!policy_->key_allowed(out->public_key)) return std::nullopt;  // signer since revoked
  return out;
}

std::size_t item_table::size() const {
  std::lock_guard lock(mutex_);
  return items_.size();
}

void item_table::flush() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return (dirty_.empty() && !writing_) || !writer_.joinable(); });
}

// Drains the dirty queue in batches: each item, then the index once per batch.
void item_table::write_loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !dirty_.empty(); });
    if (dirty_.empty() && stopping_) break;
    std::map<std::string, std::string> batch;
    while (!dirty_.empty()) {
      auto target = std::move(dirty_.front());
      dirty_.pop_front();
      auto it = items_.find(target);
      if (it != items_.end()) batch[target] = encode_item(it->second);
    }
    std::string index;
    for (const auto& [target, item] : items_) index += target;
    writing_ = true;
    lock.unlock();
    for (const auto& [target, bytes] : batch) {
      auto st = db_->put(storage::family::dht_items, item_key(target), bytes);
      if (!st) spdlog::error("event=dht_item_not_persisted reason=\"{}\"", st.err().message);
    }
    auto st = db_->put(storage::family::dht_items, index_key, index);
    if (!st) spdlog::error("event=dht_index_not_persisted reason=\"{}\"", st.err().message);
    lock.lock();
    writing_ = false;
    if (dirty_.empty()) idle_.notify_all();
  }
  idle_.notify_all();
}

}  // namespace dm2::dht
