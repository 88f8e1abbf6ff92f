// The replication protocol's messages (docs/overlay.md, "Anti-entropy"). Carried by a transport:
// in the node over node-to-node mutual-TLS HTTPS, in tests and dm2-sim by sim_network. Every
// field is untrusted on receipt; the replicator bounds what it accepts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "dm2/dht/node_id.hpp"
#include "dm2/dht/replica_store.hpp"

namespace dm2::dht {

// A record as digests compare it (its owner travels too: placement excludes the owner).
using version_entry = record_summary;

// "Here are my bucket hashes over the records we should both hold."
struct digest_request {
  std::uint32_t bucket_count = 0;
  std::vector<std::pair<std::uint32_t, std::uint64_t>> buckets;  // non-empty buckets only
};
// "These buckets differ; here is what I hold in them."
struct digest_reply {
  std::vector<std::uint32_t> differing;
  std::vector<version_entry> entries;
};
struct pull_request {
  std::vector<std::string> lfns;
};
struct push_records {
  std::vector<record> records;
};
// Owner -> holder: "which of these keys' shares do you hold?"
struct share_inventory_request {
  std::vector<std::string> key_ids;
};
struct share_inventory_reply {
  std::vector<std::pair<std::string, std::uint32_t>> held;  // (key_id, index)
};
struct push_shares {
  std::vector<key_share> shares;
};
// Owner -> former holder: "the share is safely elsewhere; drop it."
struct drop_shares {
  std::vector<std::pair<std::string, std::uint32_t>> shares;
};

// ---- Share repair while the key's owner is down (docs/overlay.md, "Share repair").

// Holder -> the key's other share targets: "which of these keys' shares do you hold?" (any
// owner). Answered with share_inventory_reply.
struct repair_inventory_request {
  std::vector<std::string> key_ids;
};
// One repair of index `target_index` for `target_site`, chosen by the coordinator (helpers[0]).
struct repair_plan {
  std::string session;  // random, unique per repair: pieces of different repairs never mix
  std::string key_id;
  std::string owner;
  std::uint32_t count = 0;      // n
  std::uint32_t threshold = 0;  // t
  std::uint32_t target_index = 0;
  std::string target_site;
  std::vector<std::pair<std::string, std::uint32_t>> helpers;  // t (site, share index), by index
  bool operator==(const repair_plan&) const = default;
};
// Coordinator -> each helper: "contribute to this repair".
struct repair_start {
  repair_plan plan;
};
// Helper -> helper: one XOR piece of the sender's λ·share (uniformly random on its own).
struct repair_piece {
  std::string session;
  std::uint32_t from_index = 0;  // the sender's share index
  std::string piece;
};
// Helper -> target: the XOR of the t pieces the sender received; t of them make the share.
struct repair_sum {
  repair_plan plan;
  std::uint32_t from_index = 0;
  std::string sum;
};

// Querier -> every live site: "which of your records match?" (docs/overlay.md, "Query fan-out").
struct query_request {
  std::string query_id;         // unique per query (random)
  std::string body;             // opaque to the overlay: filters, signature, measure...
  std::string signature;        // the home node's signature over (query_id, body, deadline)
  std::int64_t deadline_ms = 0;  // querier's clock; answers after it are dropped
  // The sites the querier asked (its live view). A record whose owner is not among them is
  // answered for by every site holding a copy: the querier's view decides, not each holder's.
  std::vector<std::string> asked;
  // Non-empty: a hedge (query_id is then the hedge's own id). These asked sites have not
  // answered in time; answer only from your copies of their records.
  std::vector<std::string> answer_for;
};
struct query_hit {
  std::string lfn;
  std::string owner;
  double score = 0;
  std::string summary;  // opaque here: the record's de-identified attributes as JSON (node/)
  // Tree fan-out only (a forwarder relays other sites' hits): the site that answered it and its
  // signature over (query id, the fields above), query_authenticator::sign_hit. Empty in a
  // one-to-all answer, which comes over mutual TLS from the site that answered.
  std::string signer{};  // (defaulted: the many 4-field initializers stay warning-free)
  std::string signature{};
};
// Site -> querier: one batch of hits; `last` ends this site's answer.
struct query_answer {
  std::string query_id;
  std::vector<query_hit> hits;
  bool last = true;
  // On the last batch: this site came back without its own records (a wiped disk) and anti-entropy
  // has not given them all back yet; the querier asks their holders (query_fanout.hpp).
  bool restoring = false;
};

// ---- Tree fan-out (docs/overlay.md, "Tree fan-out"): the query travels down a Kademlia-style
// broadcast tree instead of from the querier to every site.

// Part of the id space: the ids whose first `bits` bits are those of `id` (bits = 0: all of it).
struct id_prefix {
  node_id id{};
  std::uint8_t bits = 0;
  bool operator==(const id_prefix&) const = default;
};
// Parent -> child: "answer this query for every live site in `cover`, within `budget_ms`".
struct subtree_request {
  std::string query_id;
  std::string body;
  std::string signature;  // the querier's, over (query_id, body, deadline): relayed, not re-signed
  std::int64_t deadline_ms = 0;
  std::string querier;    // whose signature it is (the forwarder only relays it)
  std::uint64_t tag = 0;  // chosen by the parent, echoed in the answer
  id_prefix cover;
  std::int64_t budget_ms = 0;  // answer within this long of receipt (clocks need not agree)
  std::vector<std::string> skip;  // sites a forwarder gave up on: not to be asked again
  // Non-empty: the querier's second pass. Answer only from copies of records whose owner's id
  // lies in one of these (the parts of the space the first pass did not reach).
  std::vector<id_prefix> answer_for;
  // The parent's allowance per level (tree_settings::hop): a forwarder that has not yet timed
  // children of its own waits at least this long for them. 0: not sent.
  std::int64_t hop_ms = 0;
};
// Child -> parent: the subtree's merged answer (its best top_k hits) and what it did not reach.
struct subtree_answer {
  std::string query_id;
  std::uint64_t tag = 0;
  std::vector<query_hit> hits;
  std::uint32_t reached = 0;           // sites of the subtree whose own answer is in
  std::vector<id_prefix> uncovered;    // parts of `cover` nobody answered for
  // False: a forwarder's own answer, sent on receipt, which also tells the parent it is alive
  // (so a dead forwarder is found in one round trip, whatever the size of its subtree); the
  // rest of its subtree follows in its last answer.
  bool last = true;
  // Sites of the subtree that answered but started with an empty store and may not have their
  // own records back yet (docs/overlay.md, "Restoring sites"): the querier asks their holders.
  // Full-length prefixes, or a whole cover when there were too many to list. Optional trailing
  // field, sent only when not empty.
  std::vector<id_prefix> restoring{};
};

using message = std::variant<digest_request, digest_reply, pull_request, push_records,
                             share_inventory_request, share_inventory_reply, push_shares,
                             drop_shares, query_request, query_answer,
                             repair_inventory_request, repair_start, repair_piece, repair_sum,
                             subtree_request, subtree_answer>;

const char* message_name(const message& m);
// The name of the alternative at message::index() `index` ("?" past the end).
const char* message_name(std::size_t index);

}  // namespace dm2::dht
