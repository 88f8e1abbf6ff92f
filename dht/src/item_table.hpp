// The BEP44 mutable items this node keeps for the DHT, shared by the libtorrent storage
// (network thread), the admission plugin (network thread) and the overlay's statistics.
// Persistence: every accepted item is queued to a writer thread that stores it in RocksDB's
// dht_items family (synced writes, batched: the network thread never waits on the disk);
// on start the table loads what the family holds. A crash can lose the items accepted in the
// last few milliseconds — acceptable, because BEP44 writers re-put (libtorrent never
// republishes; dm2's publishers re-put on their own period). Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "admission.hpp"
#include "dm2/dht/overlay.hpp"
#include "dm2/result.hpp"

namespace dm2::storage {
class database;
}

namespace dm2::dht {

struct stored_item {
  std::string public_key;  // 32 bytes
  std::string signature;   // 64 bytes
  std::string salt;
  std::string value;       // bencoded, as signed
  std::int64_t seq = 0;
};

class item_table {
 public:
  // Loads the items persisted in `db` (may be null: memory only) and starts the writer.
  // Errors: storage_failure, malformed_input (a persisted item does not decode).
  static result<std::shared_ptr<item_table>> open(item_limits limits, std::shared_ptr<admission> policy,
                                                  storage::database* db);
  ~item_table();  // flushes the queue, stops the writer

  // Why `put` would be refused, or empty if it would be accepted: unknown signer, salt or
  // value too large, per-key or total quota reached (a replacement of an item never counts).
  std::string refusal(const std::string& target, const std::string& public_key,
                      std::size_t salt_size, std::size_t value_size) const;
  // Stores (or replaces with a higher seq) the item under `target` (20 bytes) unless refused.
  bool put(const std::string& target, stored_item item);
  // The item, if held and its signer is still on the roster.
  std::optional<stored_item> get(const std::string& target) const;
  std::size_t size() const;
  // Waits until every accepted item is on disk (tests, shutdown).
  void flush();

  const std::shared_ptr<admission>& policy() const { return policy_; }

 private:
  item_table(item_limits limits, std::shared_ptr<admission> policy, storage::database* db);
  void write_loop();

  item_limits limits_;
  std::shared_ptr<admission> policy_;
  storage::database* db_;

  mutable std::mutex mutex_;
  std::map<std::string, stored_item> items_;        // target -> item
  std::map<std::string, std::size_t> per_key_;      // public key -> items
  std::deque<std::string> dirty_;                   // targets to write
  std::condition_variable wake_, idle_;
  bool stopping_ = false;
  bool writing_ = false;
  std::thread writer_;
};

// Encoding of one item in dht_items: seq(8, big-endian) | pk(32) | sig(64) | salt_len(1) |
// salt | value. Errors: malformed_input.
std::string encode_item(const stored_item& item);
result<stored_item> decode_item(std::string_view bytes);

}  // namespace dm2::dht
