// What a site holds for the overlay: replicated index records and sealed key shares. The
// replicator reads and writes through this interface; memory_replica_store serves tests and the
// simulator, storage_replica_store (storage_replica_store.hpp) keeps them in the node's database.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "dm2/dht/hash_slots.hpp"

namespace dm2::dht {

// An index record as the overlay sees it: an opaque payload, versioned per LFN. The payload is
// the owner-signed, de-identified index attributes (not encrypted: every accredited site queries
// them); images and keys never travel in it.
struct record {
  std::string lfn;    // 16 random bytes (or their hex); never patient data
  std::uint64_t version = 0;
  std::string owner;  // site id of the owner
  std::string payload;  // signed by the owner (checked above this layer, in node/)
};

// FNV-1a, 64 bits: a cheap, stable fingerprint for digests (not a security check: records are
// signed by their owner, and peers are authenticated by mutual TLS).
inline std::uint64_t fingerprint(std::string_view bytes, std::uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  return h;
}
// The same over a value's bytes (an integer, a site index), continuing from `h`.
template <typename T>
std::uint64_t fingerprint_value(const T& v, std::uint64_t h) {
  return fingerprint(std::string_view(reinterpret_cast<const char*>(&v), sizeof v), h);
}

// Last-writer-wins: a higher version wins; equal versions are ordered by the payload's
// fingerprint, then its bytes, so every site picks the same winner without talking.
inline bool newer_than(std::uint64_t version_a, std::uint64_t print_a, std::uint64_t version_b,
                       std::uint64_t print_b) {
  return std::tie(version_a, print_a) > std::tie(version_b, print_b);
}
inline bool newer_than(const record& a, const record& b) {
  auto pa = fingerprint(a.payload), pb = fingerprint(b.payload);
  if (a.version != b.version || pa != pb) return newer_than(a.version, pa, b.version, pb);
  return a.payload > b.payload;
}

// A record without its payload: what anti-entropy compares.
struct record_summary {
  std::string lfn;
  std::uint64_t version = 0;
  std::uint64_t payload_print = 0;  // fingerprint(payload): breaks version ties like newer_than
  std::string owner;
};

// One Shamir share of a key, sealed to the site that holds it.
struct key_share {
  std::string key_id;
  std::uint32_t index = 0;  // 1..n
  std::string owner;        // site id of the key's owner
  std::string holder;       // site id the share is sealed to
  std::string sealed;
  // The split's n and t, set by the owner: holders need them to repair the key while its owner
  // is down (docs/overlay.md, "Share repair"). 0 = unknown (such a share is never repaired).
  std::uint32_t count = 0;
  std::uint32_t threshold = 0;
};

class replica_store {
 public:
  virtual ~replica_store() = default;
  // Stores `r` unless an equal or newer version is already there. Returns true if stored.
  virtual bool put_record(const record& r) = 0;
  // Stores each record as put_record would; returns how many were stored. A store on disk
  // makes the whole call one durable commit (the replicator hands it one push message).
  virtual std::size_t put_records(const std::vector<record>& records) {
    std::size_t stored = 0;
    for (const auto& r : records) stored += put_record(r) ? 1 : 0;
    return stored;
  }
  virtual std::optional<record> get_record(const std::string& lfn) const = 0;
  virtual void for_each_record(const std::function<void(const record&)>& fn) const = 0;
  // Every record's summary. Repair rounds and digests walk this, once per peer message, so a
  // store should answer it without reading payloads; the default reads every record.
  virtual void for_each_summary(const std::function<void(const record_summary&)>& fn) const {
    for_each_record([&](const record& r) { fn({r.lfn, r.version, fingerprint(r.payload), r.owner}); });
  }
  // One record's summary; the default reads the record.
  virtual std::optional<record_summary> get_summary(const std::string& lfn) const {
    auto r = get_record(lfn);
    if (!r) return std::nullopt;
    return record_summary{r->lfn, r->version, fingerprint(r->payload), r->owner};
  }
  virtual void erase_record(const std::string& lfn) = 0;
  virtual std::size_t record_count() const = 0;
  // Changes whenever a record is stored or erased (never for shares). 0 = this store does not
  // count: the replicator then re-reads the summaries on every use instead of caching its index.
  virtual std::uint64_t generation() const { return 0; }

  // Stores or replaces the share (key_id, index).
  virtual void put_share(const key_share& s) = 0;
  virtual void for_each_share(const std::function<void(const key_share&)>& fn) const = 0;
  virtual void erase_share(const std::string& key_id, std::uint32_t index) = 0;
  // Changes whenever a share is stored or erased (never for records): the replicator keeps
  // what it derives from the held shares while it holds. 0 = this store does not count (derived
  // data is recomputed on every use).
  virtual std::uint64_t share_generation() const { return 0; }
};

// In memory (tests and dm2-sim). Not thread-safe.
class memory_replica_store final : public replica_store {
 public:
  memory_replica_store();
  bool put_record(const record& r) override;
  std::optional<record> get_record(const std::string& lfn) const override;
  void for_each_record(const std::function<void(const record&)>& fn) const override;
  void for_each_summary(const std::function<void(const record_summary&)>& fn) const override;
  std::optional<record_summary> get_summary(const std::string& lfn) const override;
  void erase_record(const std::string& lfn) override;
  std::size_t record_count() const override { return records_.size(); }
  std::uint64_t generation() const override { return generation_; }
  void put_share(const key_share& s) override;
  void for_each_share(const std::function<void(const key_share&)>& fn) const override;
  void erase_share(const std::string& key_id, std::uint32_t index) override;
  std::uint64_t share_generation() const override { return share_generation_; }

 private:
  struct held {
    record r;
    record_summary summary;
  };
  std::optional<std::uint32_t> find(const std::string& lfn) const;
  // Records in slots (a freed slot is reused), found by LFN through by_lfn_ and walked in LFN
  // order through order_: the walks feed digests, indexes and query answers in the order they
  // always had. String-keyed trees, searched at every push, pull and re-index, were ~9 % of
  // dm2-sim's steady state at 10,000 sites.
  std::vector<held> records_;
  std::vector<std::uint32_t> free_;
  hash_slots by_lfn_;
  std::vector<std::uint32_t> order_;  // slots of the held records, by LFN
  std::uint64_t generation_;
  std::vector<key_share> shares_;  // by (key_id, index): a site holds a few
  std::uint64_t share_generation_;
};

}  // namespace dm2::dht
