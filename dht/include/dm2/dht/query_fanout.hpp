// Query fan-out (DESIGN flow 2): a signed query goes to every live site with a deadline; each
// site answers from the records it owns, and for records whose owner the querier did not ask
// (down in the querier's view, listed in the request), every site holding a copy answers; the
// querier merges answers as they stream in, deduplicated by LFN (the best score wins), and
// finishes when every site it asked has answered or the deadline passes — whichever comes first.
//
// Hedging: a site that has died since the querier last saw it live would hold the query until
// the deadline. A site that has not answered within the hedge delay (a multiple of the median
// answer time so far, bounded by a fraction of the timeout) is hedged: the sites that did answer
// (and the querier itself) are asked again, under a hedge id, for their copies of its records.
// The query is complete once every asked site answered or was hedged (at most k hedged: more
// could hold every copy of a record) and every hedge answered; a late answer is still merged.
//
// Restoring sites: a site that came back without its own records (a wiped disk) is live and
// asked, so no holder answers for its records while anti-entropy gives them back. Its driver says
// so (restoring_until); its answer carries the flag, and once every asked site has answered (or
// was hedged) the querier asks the sites that answered for their copies of the restoring sites'
// records — one more round trip, only for queries that meet a restoring site.
//
// Pure logic over the same clock, transport and membership as the replicator; the driver routes
// query_request / query_answer messages to on_message and calls tick(). Not thread-safe.
#pragma once

#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dm2/dht/replicator.hpp"

namespace dm2::dht {

// Signing and checking queries is the security layer's job; the overlay only carries them.
class query_authenticator {
 public:
  virtual ~query_authenticator() = default;
  virtual std::string sign(const std::string& query_id, const std::string& body, std::int64_t deadline_ms) = 0;
  // True if `from_site` (a live roster member) signed this exact query.
  virtual bool verify(const std::string& from_site, const query_request& q) = 0;
  // The tree fan-out's per-hit signatures: this site's over (query id, hit), and whether
  // `hit.signer` (a roster member) made `hit.signature` over exactly this hit of this query.
  virtual std::string sign_hit(const std::string& query_id, const query_hit& hit) = 0;
  virtual bool verify_hit(const std::string& query_id, const query_hit& hit) = 0;
};

// One query's scoring, prepared once from its body (parsing the body per record would be waste).
struct query_plan {
  std::function<std::optional<query_hit>(const record& r)> score;  // nullopt = no match
  // A site answers at most its top_k best hits (ranks_before order): the querier's merged top_k
  // is then exactly the consortium's top_k.
  std::size_t top_k = std::numeric_limits<std::size_t>::max();
  // Optional, instead of `score` over every record: the best top_k hits (ranks_before order)
  // among the held records whose owner `answers_for` accepts — exactly what scoring each would
  // give, found by a site's stage-1 index without reading every record.
  using owner_test = std::function<bool(const std::string& owner)>;
  std::function<std::vector<query_hit>(const owner_test& answers_for)> search;
};
// Prepares the plan for a query body; nullopt refuses the body (malformed, unsupported).
using query_planner = std::function<std::optional<query_plan>(const std::string& body)>;

// The ranking every site and the querier share: higher score first, then lower LFN (so ties
// rank the same everywhere).
bool ranks_before(const query_hit& a, const query_hit& b);

// Keeps the best `top_k` of `hits`, sorted by ranks_before (the rest are dropped unsorted).
void keep_best(std::vector<query_hit>& hits, std::size_t top_k);

// A site's answer to `plan`: its best top_k hits among the held records whose owner
// `answers_for` accepts (the plan's `search` when it has one, else scoring each such record).
std::vector<query_hit> answer_from_store(replica_store& store, const query_plan& plan,
                                         const query_plan::owner_test& answers_for);

// Told once per answered query (after the signature check, before the answer is sent): who
// asked, which query, how many hits this site returns. The node audits it.
using answer_observer = std::function<void(const std::string& querier, const std::string& query_id, std::size_t hits)>;

// How long a site that came back without its records says it is restoring, in repair periods:
// the first round gives them back (holders push to an owner their digests show short), the next
// two cover lost messages and a membership view that lags.
inline constexpr int restoring_rounds = 3;

struct fanout_settings {
  std::size_t max_hits_per_message = 256;  // answers are streamed in batches of this
  std::size_t max_body_bytes = 64 * 1024;  // larger queries are refused
  // Hedge delay = clamp(hedge_multiple x median answer time of the sites that answered,
  // hedge_min, hedge_fraction x timeout); hedge_fraction x timeout while no other site answered.
  // hedge_fraction = 0 turns hedging off.
  double hedge_fraction = 0.2;
  double hedge_multiple = 4;
  millis hedge_min{500};
  // The replicator's k. Hedged sites count as answered only while at most k are hedged: with
  // more, some record may have every copy on a late site, so the query waits for them.
  std::size_t replicas = 3;
};

struct query_progress {
  std::size_t asked = 0;     // sites the query went to
  std::size_t answered = 0;  // sites whose last batch arrived
  std::size_t hedged = 0;    // asked sites whose records their replica holders were asked for
  bool done = false;         // all answered (or hedged and covered), or deadline passed
  bool deadline_passed = false;
  // Which sites: a client shows each one answering, late or timed out (GET /v1/queries/{id}).
  std::vector<std::string> asked_sites;     // in the order asked
  std::vector<std::string> answered_sites;  // in the order their last batch arrived
  std::vector<std::string> hedged_sites;
  // Tree fan-out: asked sites the first pass missed, with no second pass to ask their records'
  // holders (tree_fanout.hpp, progress_of).
  std::vector<std::string> missed_sites;
  // Roster sites the querier had not heard from when the query started (it had just started
  // itself and its view had not settled): not asked, and maybe no holder answered for them.
  std::vector<std::string> unheard_sites{};
};

class query_fanout {
 public:
  // Uses c.time, c.net, c.members (who is asked) and c.store (what is answered); `auth` must
  // outlive this object.
  query_fanout(std::string self_site, fanout_settings settings, replicator_collaborators c,
               query_authenticator& auth, query_planner plan);
  // Replaces the answer observer (none by default).
  void set_answer_observer(answer_observer observer) { observer_ = std::move(observer); }

  // Called for each batch of new (deduplicated) hits or new progress (a site's last batch), and
  // once more with `progress.done` set.
  using on_hits = std::function<void(const std::vector<query_hit>& hits, const query_progress& progress)>;

  // Starts a query to every live site (itself included, answered locally at once). The caller
  // has validated `body` (this site's own planner refusing it gives an empty local answer).
  void start(const std::string& query_id, const std::string& body, millis timeout, on_hits callback);
  void on_message(const std::string& from, const message& m);
  // Hedges sites that are late; ends queries whose deadline passed.
  void tick();

  // This site's own records are not all back until `until` (the driver knows: it started with
  // none); its answers say so until then.
  void restoring_until(millis until) { restoring_until_ = until; }

  std::uint64_t refused() const { return refused_; }
  std::size_t running() const { return queries_.size(); }
  std::uint64_t hedges_sent() const { return hedges_; }  // hedge requests, all queries

 private:
  struct running_query {
    std::string body;
    millis started{0};
    millis timeout{0};
    millis deadline{0};
    std::vector<std::string> asked;
    std::set<std::string> waiting;  // asked sites whose last batch has not arrived
    std::set<std::string> hedged;   // of those, the ones whose holders were asked
    std::set<std::string> restoring;  // answered, restoring, their holders not yet asked
    std::set<std::pair<std::string, std::string>> hedge_waiting;  // (hedge id, holder) unanswered
    std::map<std::string, millis> hedge_sent;  // hedge id -> when it was sent
    std::vector<millis> answer_times;  // of the other sites that answered, since start
    std::map<std::string, query_hit> best;  // lfn -> best hit
    query_progress progress;
    on_hits callback;
  };
  // Nullopt when the planner refuses the body.
  std::optional<std::vector<query_hit>> answer(const query_request& q);
  void accept(const std::string& from, const query_answer& a);
  void finish(const std::string& id, bool deadline);
  void complete_if_covered(const std::string& id, running_query& q);
  // Gives up hedge holders silent for a hedge delay, when fewer than k; true if any was.
  bool drop_silent_holders(running_query& q, millis now);
  millis hedge_delay(const running_query& q) const;
  void hedge(const std::string& id, running_query& q);
  // Asks `holders` (this site among them or not) for their copies of the records of `owners`,
  // under a hedge id of its own.
  void ask_holders(const std::string& id, running_query& q, const std::vector<std::string>& owners,
                   const std::vector<std::string>& holders);
  bool restoring() const { return c_.time->now() < restoring_until_; }

  std::string self_;
  fanout_settings settings_;
  replicator_collaborators c_;
  query_authenticator& auth_;
  query_planner plan_;
  answer_observer observer_;
  std::map<std::string, running_query> queries_;
  std::map<std::string, std::string> hedge_of_;  // hedge id -> its query's id
  millis restoring_until_{0};
  std::uint64_t refused_ = 0;
  std::uint64_t hedges_ = 0;
};

}  // namespace dm2::dht
