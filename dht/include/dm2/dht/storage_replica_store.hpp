// The node's replica store: replicated index records and held key shares in its RocksDB
// database (storage::database), so that what a site holds survives a restart.
//
// Record format (shared with the query side, which decodes the same payload):
//   record.lfn     = the 16-byte LFN as 32 lowercase hex digits
//   record.payload = storage::encode_index_record(r), canonical (re-encoding gives the same bytes)
//   with r.lfn == the raw LFN, r.version == record.version, r.owner_site == record.owner and
//   storage::validate(r) ok. A record failing any of that, or the injected verifier (the node
//   checks the owner's Ed25519 signature), is refused and nothing is written.
//
// Records go to family index_records through transactions (secondary indexes stay right). The
// winner between two copies is dht::newer_than's, not storage::supersedes's, so that every site
// keeps what the replicator's digests compare: a replacement is an erase and a put in one
// transaction. Key shares go to family key_shares, key = key_id || index (u32 big-endian),
// value = dht::encode_key_share.
//
// Storage errors cannot travel through replica_store's interface: they are logged
// (event=replica_store_failed) and read as "refused" / "absent".
//
// Not thread-safe: the caller serializes every call (the node: the overlay service's strand),
// except get_record, which reads only the database (a replacement is one transaction) and may run
// on any thread concurrently with any call.
// The store assumes it is the only writer of index_records and key_shares (it keeps every
// record's summary in memory, ~100 bytes a record, read once at open: anti-entropy compares
// summaries once per peer message and must not decrypt the table each time); readers of the
// database (queries) may run concurrently.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dm2/dht/replica_store.hpp"
#include "dm2/result.hpp"
#include "dm2/storage/audit.hpp"
#include "dm2/storage/database.hpp"
#include "dm2/storage/index_record.hpp"
#include "dm2/storage/transaction.hpp"

namespace dm2::dht {

// The overlay form of an index record. Precondition: storage::validate(r) succeeded.
record replica_of(const storage::index_record& r);
// The index record inside an overlay record, after every check of the format above except the
// verifier's. Errors: malformed_input naming what is wrong.
result<storage::index_record> decode_replica(const record& r);

// Told of every change to the stored records, after its commit, on the thread that made it: a
// site's stage-1 index (node/src/stage_one) follows the store so, through restarts (it is built
// from the database at start), new versions, replicas gained and replicas handed off.
class record_listener {
 public:
  virtual ~record_listener() = default;
  virtual void stored(const storage::index_record& r) = 0;  // new, or a newer version
  virtual void erased(const std::string& raw_lfn) = 0;
};

class storage_replica_store final : public replica_store {
 public:
  // true when the record's owner signature (or any other check the node wants) holds.
  using verifier = std::function<bool(const storage::index_record&)>;

  // Works over `db`, which must outlive the store; reads the stored records' summaries once.
  // `verify` may be empty (every well-formed record is accepted). Errors: storage_failure.
  static result<std::unique_ptr<storage_replica_store>> open(storage::database& db, verifier verify);

  bool put_record(const record& r) override;
  // One synced commit for the whole call; refused or stale records are skipped.
  std::size_t put_records(const std::vector<record>& records) override;
  // The owner's write: like put_record, with `audit` and the writes of `with` (an ingest's key
  // material and nominative link) in the same commit. true when stored; false when refused or
  // not newer (nothing written, `with` included). Errors: storage_failure and the other errors
  // of database::commit.
  result<bool> put_owned(const record& r, storage::audit_event audit, storage::transaction with = {});
  std::optional<record> get_record(const std::string& lfn) const override;
  // Streams from a database snapshot, one record decoded at a time.
  void for_each_record(const std::function<void(const record&)>& fn) const override;
  // From memory: no payload is read.
  void for_each_summary(const std::function<void(const record_summary&)>& fn) const override;
  std::optional<record_summary> get_summary(const std::string& lfn) const override;  // from memory
  void erase_record(const std::string& lfn) override;
  std::size_t record_count() const override { return summaries_.size(); }
  std::uint64_t generation() const override { return generation_; }
  // Null (the default) for none; `l` must outlive the store or be unset first.
  void set_listener(record_listener* l) { listener_ = l; }

  // Shares with an empty key id or one over 1000 bytes are refused (logged).
  void put_share(const key_share& s) override;
  void for_each_share(const std::function<void(const key_share&)>& fn) const override;
  void erase_share(const std::string& key_id, std::uint32_t index) override;
  std::uint64_t share_generation() const override { return share_generation_; }

 private:
  storage_replica_store(storage::database& db, verifier verify) : db_(db), verify_(std::move(verify)) {}
  result<std::size_t> commit_records(const std::vector<record>& records,
                                     std::optional<storage::audit_event> audit, storage::transaction t);

  storage::database& db_;
  verifier verify_;
  record_listener* listener_ = nullptr;
  std::map<std::string, record_summary> summaries_;  // lfn (hex) -> what is stored
  std::uint64_t generation_ = 1;                      // bumped with every change to summaries_
  std::uint64_t share_generation_ = 1;                // bumped with every share written or erased
};

}  // namespace dm2::dht
