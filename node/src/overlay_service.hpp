// The replication engine inside a running node (docs/overlay.md): dht::replicator with the
// overlay's membership view and a dht::storage_replica_store on the node's database (records
// checked against their owner's roster key), all serialized on one service thread of its own
// and ticked by a timer; messages to other sites go over mutual-TLS HTTPS
// (POST /v1/overlay/message, dht::encode_message) from a small client pool, so neither the
// node's I/O threads nor the service thread ever block on a peer.
// It also runs the similarity query fan-outs on the same thread: one-to-all (dht::query_fanout)
// below `tree_fanout_min_sites` live sites, the tree (dht::tree_fanout) from there on; every site
// answers both. Queries and relayed hits are signed and checked by query_signer and scored by
// query_scoring.
// Thread-safe: every public member may be called from any thread except the service thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "consortium.hpp"
#include "dm2/dht/messages.hpp"
#include "dm2/dht/overlay.hpp"
#include "dm2/dht/overlay_status.hpp"
#include "dm2/dht/owned_keys.hpp"
#include "dm2/dht/query_fanout.hpp"
#include "dm2/dht/replica_store.hpp"
#include "dm2/dht/replicator.hpp"
#include "dm2/dht/tree_fanout.hpp"
#include "dm2/node/identity.hpp"
#include "dm2/storage/audit.hpp"
#include "dm2/storage/database.hpp"
#include "dm2/storage/index_record.hpp"

namespace dm2::node {

class overlay_service {
 public:
  // `overlay`, `members` and `db` must outlive the service. The keys this site owns are loaded
  // from the database's owned_keys family. Errors: storage_failure (the replica store cannot
  // count the stored records, or the owned keys cannot be read), malformed_input (a stored key
  // does not decode).
  static result<std::unique_ptr<overlay_service>> create(dht::overlay& overlay, const consortium& members,
                                                         const site_identity& identity, storage::database& db,
                                                         dht::replication_settings settings,
                                                         std::chrono::milliseconds liveness_age,
                                                         std::size_t tree_fanout_min_sites);
  ~overlay_service();  // stops the timer and waits for sends under way

  // Told of every query this site answers (its own included), on a worker thread, never on the
  // service thread. Set before start().
  void set_answer_observer(dht::answer_observer observer);
  // Starts ticking and runs a first repair round. Without a roster entry for this site the
  // service stays idle (it has no site id to replicate under).
  void start();
  void stop();
  // The roster changed: membership is rebuilt at the next tick.
  void roster_changed();

  // A message from a verified roster member, `wire_bytes` long on the wire (counted for queries).
  void deliver(const std::string& from_site, dht::message message, std::size_t wire_bytes);
  // Starts a similarity query (a canonical body, query_body.hpp) to every live site; `progress`
  // runs on the service thread for each batch and once at the end (dht::query_fanout::start).
  // With the tree fan-out (at least tree_fanout_min_sites live sites) it runs once, at the end,
  // with every hit (dht::progress_of says which sites answered).
  // Errors: unavailable (this site is not on the roster).
  status start_query(const std::string& query_id, const std::string& body, std::chrono::milliseconds timeout,
                     dht::query_fanout::on_hits progress);
  // Turns the stored record into the next version's content (attributes, diagnoses) and may add
  // writes to the same commit; an error leaves everything as it was.
  using record_change = std::function<status(storage::index_record&, storage::transaction&)>;

  // The owner's write of an index record: sets its owner (this site) and version (the stored
  // version + 1, or 1), signs it with the site's DHT key, stores it with `audit` and the writes
  // of `with` in one commit and pushes it to its replica holders. With `key` (a series key this
  // site now owns), the key material is stored in that same commit (owned_keys family) and its
  // t-of-n shares are placed by the replicator after it. Returns the record as stored.
  // Errors: unavailable (this site is not on the roster), malformed_input, too_large (over the
  // replication payload limit), conflict (this site holds the LFN for another owner, or the
  // store refused it), crypto_failure, storage_failure. The stored record's diagnoses are kept
  // (a re-ingested series keeps them; only amend changes them).
  result<storage::index_record> publish(storage::index_record record, storage::audit_event audit,
                                        storage::transaction with = {},
                                        std::optional<dht::owned_key> key = std::nullopt);
  // The owner's change of a record it owns, read and written on the service thread (two changes
  // cannot interleave): `change` edits the stored record and may add writes to the commit; then
  // as publish (version + 1, signed, stored with `audit`, pushed to the holders). Errors:
  // not_found (this site owns no such record), those of `change`, and those of publish.
  result<storage::index_record> amend(const std::string& lfn, const record_change& change, storage::audit_event audit);
  // The stored version of a record this site owns (0: none), read on the service thread.
  std::uint64_t owned_version(const std::string& lfn);
  // A key this site owns (the ingest re-uses a series key when a series changes).
  std::optional<dht::owned_key> owned_key(const std::string& key_id);
  // The key shares of `key_id` this site holds (each sealed to this site), read on the service
  // thread: what a share holder releases against a user's assertion (docs/security.md).
  std::vector<dht::key_share> held_shares(const std::string& key_id);
  // The local copy of a record, if this site holds one. Read from the database on the calling
  // thread, not on the service thread (audited reads must not queue behind replication work).
  std::optional<dht::record> find(const std::string& lfn);
  // Up to `limit` records held here with an LFN after `after`, in LFN order, payloads left out
  // (paging through what a site holds: operators and the repair tests).
  std::vector<dht::record> held_records(const std::string& after, std::size_t limit);
  dht::overlay_status_report report();

 private:
  struct impl;
  explicit overlay_service(std::shared_ptr<impl> p);
  std::shared_ptr<impl> impl_;
};

}  // namespace dm2::node
