#include "query_load.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>

namespace dm2::sim {

using namespace dm2::dht;

namespace {

// The simulator measures fan-out, not signatures: every query verifies.
class unsigned_queries final : public query_authenticator {
 public:
  std::string sign(const std::string&, const std::string&, std::int64_t) override { return {}; }
  bool verify(const std::string&, const query_request&) override { return true; }
  std::string sign_hit(const std::string&, const query_hit&) override { return {}; }
  bool verify_hit(const std::string&, const query_hit&) override { return true; }
};

// Body "tag<d>": the records of tag d, all scored alike.
std::optional<query_plan> plan_tag(const std::string& body) {
  if (body.size() != 4 || body.rfind("tag", 0) != 0) return std::nullopt;
  int tag = body[3] - '0';
  query_plan p;
  p.score = [tag](const record& r) -> std::optional<query_hit> {
    if (tag_of(r.lfn) != tag) return std::nullopt;
    return query_hit{r.lfn, r.owner, 1.0, {}};
  };
  return p;
}

long percentile(const std::vector<long>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(p / 100 * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(rank, sorted.size() - 1)];
}

}  // namespace

int tag_of(const std::string& lfn) {
  if (lfn.find('/') == std::string::npos || lfn.back() < '0' || lfn.back() > '9') return -1;
  return lfn.back() - '0';
}

std::optional<fanout_mode> fanout_mode_of(const std::string& name) {
  if (name == "all") return fanout_mode::all;
  if (name == "tree") return fanout_mode::tree;
  if (name == "both") return fanout_mode::both;
  return std::nullopt;
}

class query_load::counting_transport final : public transport {
 public:
  counting_transport(query_load& load, sim_network& net) : load_(load), net_(net) {}
  void send(const std::string& from, const std::string& to, message m) override {
    load_.count(from, to, m);
    net_.send(from, to, std::move(m));
  }

 private:
  query_load& load_;
  sim_network& net_;
};

query_load::query_load(manual_clock& time, sim_network& net, const membership& members, millis timeout,
                       std::size_t replicas, fanout_mode mode)
    : time_(time),
      net_(net),
      members_(members),
      timeout_(timeout),
      replicas_(replicas),
      mode_(mode),
      auth_(std::make_unique<unsigned_queries>()),
      counted_(std::make_unique<counting_transport>(*this, net)) {}

query_load::~query_load() = default;

void query_load::attach(const std::string& site, replica_store& store) {
  replicator_collaborators c{&time_, counted_.get(), &members_, &store, nullptr};
  query_fanout* all = nullptr;
  tree_fanout* tree = nullptr;
  if (mode_ != fanout_mode::tree) {
    fanout_settings fs;
    fs.replicas = replicas_;  // as the node sets it (overlay_service.cpp)
    all = (engines_[site] = std::make_unique<query_fanout>(site, fs, c, *auth_, plan_tag)).get();
  }
  if (mode_ != fanout_mode::all) {
    tree = (trees_[site] = std::make_unique<tree_fanout>(site, tree_settings{}, c, *auth_, plan_tag)).get();
    tree_order_.emplace_back(site, tree);
    tree_order_sorted_ = false;
  }
  // No tick here: the driver ticks the engines with running queries (tick()).
  net_.attach_handler(site, {[all, tree](const std::string& from, const message& m) {
                               if (all) all->on_message(from, m);
                               if (tree) tree->on_message(from, m);
                             },
                             nullptr});
}

void query_load::restoring(const std::string& site, millis until) {
  if (auto it = engines_.find(site); it != engines_.end()) it->second->restoring_until(until);
  if (auto it = trees_.find(site); it != trees_.end()) it->second->restoring_until(until);
}

void query_load::start(const std::string& querier, int tag, std::unordered_set<std::string> expected) {
  auto n = std::to_string(next_id_++);
  auto body = "tag" + std::to_string(tag);
  auto begin = [&](const std::string& id, const char* fanout, std::unordered_set<std::string> missing) {
    auto& entry = running_[id];
    entry.started = time_.now();
    entry.r.fanout = fanout;
    entry.r.start_s = static_cast<double>(entry.started.count()) / 1000;
    entry.r.querier = querier;
    entry.r.expected = missing.size();
    entry.missing = std::move(missing);
  };
  if (mode_ != fanout_mode::tree) {
    auto id = "q" + n;
    begin(id, "all", mode_ == fanout_mode::both ? std::unordered_set<std::string>(expected) : std::move(expected));
    ++busy_[querier];
    engines_.at(querier)->start(id, body, timeout_, [this, id, querier](const std::vector<query_hit>& hits, const query_progress& p) {
      auto& q = running_.at(id);
      for (const auto& h : hits) q.missing.erase(h.lfn);
      if (!p.done) return;
      q.r.asked = p.asked;
      q.r.answered = p.answered;
      q.r.hedged = p.hedged;
      q.r.deadline_passed = p.deadline_passed;
      if (--busy_[querier] == 0) busy_.erase(querier);
      finish(id, querier);
    });
  }
  if (mode_ != fanout_mode::all) {
    auto id = "t" + n;
    begin(id, "tree", std::move(expected));
    trees_.at(querier)->start(id, body, timeout_, [this, id, querier](const std::vector<query_hit>& hits, const tree_progress& p) {
      auto& q = running_.at(id);
      for (const auto& h : hits) q.missing.erase(h.lfn);
      q.r.asked = members_.live_sites().size();
      q.r.answered = p.reached;
      q.r.hedged = p.second_pass;
      q.r.deadline_passed = p.deadline_passed;
      q.r.uncovered = p.uncovered.size();
      q.r.second_uncovered = p.second_uncovered.size();
      finish(id, querier);
    });
  }
}

void query_load::count(const std::string& from, const std::string& to, const message& m) {
  const std::string* id = nullptr;
  if (const auto* r = std::get_if<query_request>(&m)) id = &r->query_id;
  if (const auto* a = std::get_if<query_answer>(&m)) id = &a->query_id;
  if (const auto* r = std::get_if<subtree_request>(&m)) id = &r->query_id;
  if (const auto* a = std::get_if<subtree_answer>(&m)) id = &a->query_id;
  if (!id) return;
  // A hedge or second pass ("q5/hedge-0", "t5/second") counts for its query.
  auto it = running_.find(id->substr(0, id->find('/')));
  if (it == running_.end()) return;  // finished: late messages are not the query's cost
  auto& r = it->second.r;
  ++r.messages;
  r.querier_out += from == r.querier;
  r.querier_in += to == r.querier;
}

void query_load::finish(const std::string& id, const std::string& querier) {
  auto it = running_.find(id);
  auto r = std::move(it->second.r);
  r.latency_ms = static_cast<long>((time_.now() - it->second.started).count());
  r.returned = r.expected - it->second.missing.size();
  r.querier = querier;
  incomplete_ += r.returned < r.expected;
  running_.erase(it);
  results_.push_back(std::move(r));
}

void query_load::tick() {
  // In site order: the engines' ticks send messages, and their order must not depend on hashing.
  std::map<std::string, std::size_t> busy(busy_.begin(), busy_.end());
  for (const auto& entry : busy) engines_.at(entry.first)->tick();
  // Forwarders hold subtrees too, not only queriers.
  if (!tree_order_sorted_) std::sort(tree_order_.begin(), tree_order_.end());
  tree_order_sorted_ = true;
  for (const auto& entry : tree_order_)
    if (entry.second->running()) entry.second->tick();
}

std::uint64_t query_load::hedges() const {
  std::uint64_t n = 0;
  for (const auto& entry : engines_) n += entry.second->hedges_sent();
  return n;
}

std::uint64_t query_load::resends() const {
  std::uint64_t n = 0;
  for (const auto& entry : trees_) n += entry.second->resent();
  return n;
}

std::vector<long> query_load::sorted_latencies(const std::string& fanout) const {
  std::vector<long> l;
  for (const auto& r : results_)
    if (r.fanout == fanout) l.push_back(r.latency_ms);
  std::sort(l.begin(), l.end());
  return l;
}

std::vector<std::string> query_load::fanouts() const {
  if (mode_ == fanout_mode::both) return {"all", "tree"};
  return {mode_ == fanout_mode::all ? "all" : "tree"};
}

bool query_load::write_results(const std::string& path) const {
  std::ofstream out(path);
  out << "start_s,querier,latency_ms,expected,returned,completeness,asked,answered,hedged,deadline_passed,"
         "fanout,querier_out,querier_in,messages,uncovered,second_uncovered\n";
  for (const auto& r : results_) {
    char completeness[32];
    std::snprintf(completeness, sizeof completeness, "%.6f",
                  r.expected ? static_cast<double>(r.returned) / static_cast<double>(r.expected) : 1.0);
    out << r.start_s << ',' << r.querier << ',' << r.latency_ms << ',' << r.expected << ',' << r.returned << ','
        << completeness << ',' << r.asked << ',' << r.answered << ',' << r.hedged << ',' << r.deadline_passed << ','
        << r.fanout << ',' << r.querier_out << ',' << r.querier_in << ',' << r.messages << ',' << r.uncovered << ','
        << r.second_uncovered << '\n';
  }
  return static_cast<bool>(out);
}

// One latency column per fan-out run: "latency_ms" alone, or "all_latency_ms,tree_latency_ms".
bool query_load::write_cdf(const std::string& path) const {
  std::ofstream out(path);
  auto names = fanouts();
  out << "percentile";
  for (const auto& f : names) out << ',' << (names.size() > 1 ? f + "_latency_ms" : std::string("latency_ms"));
  out << '\n';
  std::vector<std::vector<long>> l;
  for (const auto& f : names) l.push_back(sorted_latencies(f));
  if (!results_.empty())
    for (int p = 0; p <= 100; ++p) {
      out << p;
      for (const auto& one : l) out << ',' << percentile(one, p);
      out << '\n';
    }
  return static_cast<bool>(out);
}

std::string query_load::summary() const {
  std::string text;
  for (const auto& f : fanouts()) {
    auto l = sorted_latencies(f);
    std::size_t n = 0, expected = 0, returned = 0, late = 0, incomplete = 0;
    std::uint64_t out = 0, in = 0, messages = 0;
    for (const auto& r : results_)
      if (r.fanout == f) {
        ++n;
        expected += r.expected;
        returned += r.returned;
        late += r.deadline_passed;
        incomplete += r.returned < r.expected;
        out += r.querier_out;
        in += r.querier_in;
        messages += r.messages;
      }
    auto per = [n](std::uint64_t v) { return n ? static_cast<double>(v) / static_cast<double>(n) : 0.0; };
    char line[512];
    std::snprintf(line, sizeof line,
                  "%squeries (%s): %zu done, %zu incomplete, completeness %.4f of %zu expected hits, "
                  "latency p50 %ld ms p99 %ld ms max %ld ms, %zu reached the deadline, per query %.1f messages "
                  "(querier %.1f out, %.1f in)",
                  text.empty() ? "" : "; ", f.c_str(), n, incomplete,
                  expected ? static_cast<double>(returned) / static_cast<double>(expected) : 1.0, expected,
                  percentile(l, 50), percentile(l, 99), l.empty() ? 0 : l.back(), late, per(messages), per(out), per(in));
    text += line;
  }
  char tail[128];
  std::snprintf(tail, sizeof tail, "; %zu still running, %llu hedges, %llu tree re-sends", running_.size(),
                static_cast<unsigned long long>(hedges()), static_cast<unsigned long long>(resends()));
  return text + tail;
}

}  // namespace dm2::sim
