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

query_load::query_load(manual_clock& time, sim_network& net, const membership& members, millis timeout,
                       std::size_t replicas)
    : time_(time),
      net_(net),
      members_(members),
      timeout_(timeout),
      replicas_(replicas),
      auth_(std::make_unique<unsigned_queries>()) {}

query_load::~query_load() = default;

void query_load::attach(const std::string& site, replica_store& store) {
  fanout_settings fs;
  fs.replicas = replicas_;  // as the node sets it (overlay_service.cpp)
  auto engine = std::make_unique<query_fanout>(
      site, fs, replicator_collaborators{&time_, &net_, &members_, &store, nullptr}, *auth_, plan_tag);
  auto* f = engine.get();
  engines_[site] = std::move(engine);
  // No tick here: the driver ticks the engines with running queries (tick()).
  net_.attach_handler(site, {[f](const std::string& from, const message& m) { f->on_message(from, m); }, nullptr});
}

void query_load::start(const std::string& querier, int tag, std::unordered_set<std::string> expected) {
  auto id = "q" + std::to_string(next_id_++);
  auto& entry = running_[id];
  entry.started = time_.now();
  entry.r.start_s = static_cast<double>(entry.started.count()) / 1000;
  entry.r.querier = querier;
  entry.r.expected = expected.size();
  entry.missing = std::move(expected);
  ++busy_[querier];
  engines_.at(querier)->start(id, "tag" + std::to_string(tag), timeout_,
                              [this, id](const std::vector<query_hit>& hits, const query_progress& p) {
                                auto& q = running_.at(id);
                                for (const auto& h : hits) q.missing.erase(h.lfn);
                                if (p.done) finish(id, p);
                              });
}

void query_load::finish(const std::string& id, const query_progress& p) {
  auto it = running_.find(id);
  auto r = std::move(it->second.r);
  r.latency_ms = static_cast<long>((time_.now() - it->second.started).count());
  r.returned = r.expected - it->second.missing.size();
  r.asked = p.asked;
  r.answered = p.answered;
  r.hedged = p.hedged;
  r.deadline_passed = p.deadline_passed;
  incomplete_ += r.returned < r.expected;
  if (--busy_[r.querier] == 0) busy_.erase(r.querier);
  running_.erase(it);
  results_.push_back(std::move(r));
}

void query_load::tick() {
  // In site order: the engines' ticks send messages, and their order must not depend on hashing.
  std::map<std::string, std::size_t> busy(busy_.begin(), busy_.end());
  for (const auto& entry : busy) engines_.at(entry.first)->tick();
}

std::uint64_t query_load::hedges() const {
  std::uint64_t n = 0;
  for (const auto& entry : engines_) n += entry.second->hedges_sent();
  return n;
}

std::vector<long> query_load::sorted_latencies() const {
  std::vector<long> l;
  for (const auto& r : results_) l.push_back(r.latency_ms);
  std::sort(l.begin(), l.end());
  return l;
}

bool query_load::write_results(const std::string& path) const {
  std::ofstream out(path);
  out << "start_s,querier,latency_ms,expected,returned,completeness,asked,answered,hedged,deadline_passed\n";
  for (const auto& r : results_) {
    char completeness[32];
    std::snprintf(completeness, sizeof completeness, "%.6f",
                  r.expected ? static_cast<double>(r.returned) / static_cast<double>(r.expected) : 1.0);
    out << r.start_s << ',' << r.querier << ',' << r.latency_ms << ',' << r.expected << ',' << r.returned << ','
        << completeness << ',' << r.asked << ',' << r.answered << ',' << r.hedged << ',' << r.deadline_passed << '\n';
  }
  return static_cast<bool>(out);
}

bool query_load::write_cdf(const std::string& path) const {
  std::ofstream out(path);
  out << "percentile,latency_ms\n";
  auto l = sorted_latencies();
  if (!l.empty())
    for (int p = 0; p <= 100; ++p) out << p << ',' << percentile(l, p) << '\n';
  return static_cast<bool>(out);
}

std::string query_load::summary() const {
  auto l = sorted_latencies();
  std::size_t expected = 0, returned = 0, late = 0;
  for (const auto& r : results_) {
    expected += r.expected;
    returned += r.returned;
    late += r.deadline_passed;
  }
  char line[256];
  std::snprintf(line, sizeof line,
                "queries: %zu done (%zu still running), %zu incomplete, completeness %.4f of %zu expected hits, "
                "latency p50 %ld ms p99 %ld ms max %ld ms, %zu reached the deadline, %llu hedges",
                results_.size(), running_.size(), incomplete_,
                expected ? static_cast<double>(returned) / static_cast<double>(expected) : 1.0, expected,
                percentile(l, 50), percentile(l, 99), l.empty() ? 0 : l.back(), late,
                static_cast<unsigned long long>(hedges()));
  return line;
}

}  // namespace dm2::sim
