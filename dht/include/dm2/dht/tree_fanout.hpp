// Tree fan-out (docs/overlay.md, "Tree fan-out"): a query that reaches every live site in
// O(log N) hops with one request per site, instead of N - 1 requests from the querier.
//
// Kademlia-style broadcast over the node ids: a site covering a prefix of the id space splits it
// by the first bit where the other sites differ from its own id (its XOR buckets) and sends one
// live member of each non-empty bucket "cover this bucket"; that member does the same within it.
// Answers merge up the tree, each subtree sending at most the plan's top_k best hits. A
// forwarder sends its own hits at once (so its parent knows it is alive) and its subtree's
// merged hits when they are in. A child that sent nothing within one `hop` (at most
// `resend_fraction` of the time left), or whose subtree is not in a `hop` per level after it
// said it was alive (it died mid-query), has its bucket re-sent to another member, which skips
// the late one; a bucket nobody answered for is reported as an uncovered prefix, and so is a site
// skipped that way. When the first pass reports uncovered prefixes, the querier runs a second
// pass over the whole tree asking only for copies of records whose owner lies in them (held by
// the owner's k placement targets, anywhere in the space): the final progress names what the
// first pass missed and what the second pass missed too — completeness is explicit.
//
// Who answers a record: its owner; and every holder of a copy whose owner is down in the
// holder's own view (the one-to-all fan-out uses the querier's view, which costs an N-site list
// in every request). An owner that died unnoticed is the uncovered case above.
//
// Same collaborators and query_authenticator as query_fanout: the querier signs (query id, body,
// deadline) once; forwarders relay that signature and every receiver checks it against the
// querier, so a forwarder cannot widen the query. Each site signs its own hits (sign_hit) and
// every parent checks them, so a forwarder cannot alter or invent the hits it relays; it can
// drop them (docs/overlay.md, "Tree fan-out"). Pure logic; not thread-safe.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dm2/dht/answer_time.hpp"
#include "dm2/dht/query_fanout.hpp"

namespace dm2::dht {

struct tree_settings {
  // Allowance per tree level (a request down and the first answer up): the answer times this
  // site measured (srtt + 4 rttvar of its children's first answers), never below `hop` nor above
  // `max_hop`; `hop` until it has measured one. A forwarder also waits at least its parent's
  // allowance (sent with the request), so a site new to forwarding inherits what was measured.
  millis hop{200};
  millis max_hop{2000};
  double resend_fraction = 0.5;  // a late bucket is re-sent no later than this share of the time left
  std::size_t resends = 2;       // other members of a bucket tried after the first
  bool second_pass = true;       // ask copies for the owners the first pass missed
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t max_listed = 256;  // skip sites and prefixes accepted in one request or answer
};

struct tree_progress {
  std::size_t reached = 0;               // sites whose own answer came back (first pass)
  std::vector<id_prefix> uncovered;      // first pass: parts of the id space nobody answered for
  std::vector<id_prefix> restoring;      // first pass: sites that answered with a store not yet restored
  bool second_pass = false;              // the copies of both's records were asked for
  std::vector<id_prefix> second_uncovered;  // parts the second pass did not reach either
  bool deadline_passed = false;
};

// True when `id` lies in `p` (its first p.bits bits are p's).
bool in_prefix(const node_id& id, const id_prefix& p);

// A finished tree query's progress in the one-to-all's terms, for `asked` (the live sites when
// it started): a site in no uncovered prefix answered; one the first pass missed is hedged when
// the second pass asked its records' holders (a dead site is in the second pass's uncovered
// parts too: the holders answer for it, not the site), missed when no second pass ran or when
// the second pass left out a site the first one reached (a holder whose copies did not come
// back). A restoring site answered and, after a second pass, is hedged as well (as in query_fanout).
query_progress progress_of(const tree_progress& p, const std::vector<site_info>& asked);

class tree_fanout {
 public:
  tree_fanout(std::string self_site, tree_settings settings, replicator_collaborators c,
              query_authenticator& auth, query_planner plan);
  ~tree_fanout();
  void set_answer_observer(answer_observer observer) { observer_ = std::move(observer); }

  // Called once, when the query is done: the merged hits (best first, at most the plan's top_k).
  using on_done = std::function<void(const std::vector<query_hit>& hits, const tree_progress& progress)>;
  // Starts a query over every live site in this site's view (itself included).
  void start(const std::string& query_id, const std::string& body, millis timeout, on_done callback);
  void on_message(const std::string& from, const message& m);
  // Re-sends late buckets; answers subtrees whose time is up.
  void tick();
  // This site's own records are not all back until `until` (it started with none, as in
  // query_fanout): until then its first-pass answers list it as restoring, so the querier's
  // second pass asks the holders of its records' copies too.
  void restoring_until(millis until) { restoring_until_ = until; }
  // This site's view may still lack live sites until `at` (it just started and has not heard
  // from every peer yet): until then, asked to cover a part of the id space, it answers for
  // itself and reports the part uncovered rather than drop the sites it does not know of.
  void view_settles_at(millis at) { view_settles_at_ = at; }

  std::size_t running() const;       // subtrees this site is covering
  std::uint64_t refused() const { return refused_; }
  std::uint64_t resent() const { return resent_; }  // buckets re-sent to another member
  millis current_hop() const;  // the allowance per tree level in use now (tree_settings::hop)

 private:
  struct bucket;
  struct subtree;
  struct query_state;
  static bool settled(const subtree& t);
  void cover(std::uint64_t id);
  void ask_next(std::uint64_t id, std::size_t b);
  millis hop_for(const subtree& t) const;
  void accept(const std::string& from, const subtree_answer& a);
  void complete(std::uint64_t id, bool time_up);
  void pass_done(const std::string& query_id, std::vector<query_hit> hits, std::uint32_t reached,
                 std::vector<id_prefix> uncovered, std::vector<id_prefix> restoring, bool time_up);
  std::uint64_t launch(const std::string& query_id, const std::string& pass_id, millis budget,
                       std::vector<std::string> skip, std::vector<id_prefix> answer_for);
  std::optional<std::vector<query_hit>> answer(const subtree_request& r);
  const placement_index& placement();

  std::string self_;
  tree_settings settings_;
  replicator_collaborators c_;
  query_authenticator& auth_;
  query_planner plan_;
  answer_observer observer_;
  std::shared_ptr<const placement_index> placement_;
  std::uint64_t placement_version_ = ~std::uint64_t{0};
  // Sites that left our view, with when we noticed (the last few seconds' worth).
  struct departure {
    std::string site;
    node_id id{};
    millis noticed{0};
  };
  std::deque<departure> departed_;
  void note_departures();
  void report_departed(subtree& t, const placement_index& idx);
  millis departure_window(std::size_t live) const;
  std::map<std::uint64_t, std::unique_ptr<subtree>> subtrees_;  // by local id
  struct child {
    std::uint64_t subtree = 0;
    std::size_t bucket = 0;
    std::string site;
    millis sent{0};
    bool heard = false;  // its first answer came (and was timed)
  };
  std::map<std::uint64_t, child> children_;  // by tag: requests sent, answer awaited
  std::map<std::string, std::unique_ptr<query_state>> queries_;  // this site's own, by query id
  millis restoring_until_{0};
  millis view_settles_at_{0};
  std::uint64_t next_id_ = 1;
  std::uint64_t refused_ = 0;
  std::uint64_t resent_ = 0;
  answer_time answer_time_;
};

}  // namespace dm2::dht
