// A cluster of sites on the simulated network, each running both query fan-outs (one-to-all and
// tree) over the same store and view, for the fan-out tests.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dm2/dht/query_fanout.hpp"
#include "dm2/dht/tree_fanout.hpp"
#include "replication_fixture.hpp"

namespace dm2::dht::testing {

// Signs with the query id (and a hit with its fields); a site listed in `liars` signs wrong.
// Verification checks the form.
class test_auth final : public query_authenticator {
 public:
  std::string self;
  std::set<std::string> liars;
  std::string sign(const std::string& id, const std::string& body, std::int64_t deadline) override {
    return liars.count(self) ? "forged" : id + "|" + body + "|" + std::to_string(deadline);
  }
  bool verify(const std::string&, const query_request& q) override {
    return q.signature == q.query_id + "|" + q.body + "|" + std::to_string(q.deadline_ms);
  }
  static std::string hit_form(const std::string& id, const query_hit& h) {
    return h.signer + "|" + id + "|" + h.lfn + "|" + h.owner + "|" + std::to_string(h.score) + "|" + h.summary;
  }
  std::string sign_hit(const std::string& id, const query_hit& h) override {
    return liars.count(self) ? "forged" : hit_form(id, h);
  }
  bool verify_hit(const std::string& id, const query_hit& h) override { return h.signature == hit_form(id, h); }
};

// A body "m" matches payloads starting with "m"; "m/<k>" also limits each site to k hits, scored
// by the record number so the top k are known. "bad" is refused.
inline std::optional<query_plan> plan(const std::string& body) {
  if (body == "bad") return std::nullopt;
  query_plan p;
  auto slash = body.find('/');
  if (slash != std::string::npos) p.top_k = std::stoul(body.substr(slash + 1));
  std::string prefix = body.substr(0, slash);
  p.score = [prefix](const record& r) -> std::optional<query_hit> {
    if (r.payload.rfind(prefix, 0) != 0) return std::nullopt;
    return query_hit{r.lfn, r.owner, std::stod(r.lfn.substr(r.lfn.find('/') + 1)), {}};
  };
  return p;
}

struct fanout_cluster {
  explicit fanout_cluster(int n, tree_settings ts = {}, sim_network_settings net = {}) : c(n, settings(), net) {
    for (int i = 0; i < n; ++i) {
      auths.push_back(std::make_unique<test_auth>());
      auths.back()->self = c.site(i).id;
      engines.emplace_back();
      trees.push_back(std::make_unique<tree_fanout>(c.site(i).id, ts, collaborators(i, c.members()), *auths.back(), plan));
      attach(i, c.members());
    }
    // Every site owns 20 records; half of them match "m".
    for (int i = 0; i < n; ++i)
      for (int r = 0; r < 20; ++r) {
        record rec{c.site(i).id + "/" + std::to_string(r), 1, c.site(i).id, r % 2 ? "m-yes" : "no"};
        c.site(i).engine->publish(rec);
        expected += r % 2;
      }
    c.run_for(millis(500));
  }
  replicator_collaborators collaborators(int i, const membership& view) {
    return replicator_collaborators{&c.time(), &c.net(), &view, &c.site(i).store, nullptr};
  }
  // (Re)places site i's one-to-all engine, seeing `view` as the live sites; its tree engine
  // gets the same messages and ticks.
  void attach(int i, const membership& view, fanout_settings fs = {}) {
    auto& engine = engines[static_cast<std::size_t>(i)];
    engine = std::make_unique<query_fanout>(c.site(i).id, fs, collaborators(i, view), *auths[static_cast<std::size_t>(i)], plan);
    auto* f = engine.get();
    auto* t = trees[static_cast<std::size_t>(i)].get();
    c.net().attach_handler(c.site(i).id, {[f, t](const std::string& from, const message& m) {
                                            f->on_message(from, m);
                                            t->on_message(from, m);
                                          },
                                          [f, t] {
                                            f->tick();
                                            t->tick();
                                          }});
  }
  static replication_settings settings() {
    replication_settings rs;
    rs.repair_period = millis(1000);
    return rs;
  }
  struct outcome {
    std::map<std::string, int> seen;  // lfn -> times delivered as fresh
    query_progress last;
    int batches = 0;
    millis took{-1};  // from start to done
  };
  outcome query(int from, millis timeout = millis(2000), const std::string& body = "m") {
    outcome out;
    auto start = c.time().now();
    engines[static_cast<std::size_t>(from)]->start("q" + std::to_string(++ids), body, timeout,
        [&out, start, this](const std::vector<query_hit>& hits, const query_progress& p) {
          for (const auto& h : hits) ++out.seen[h.lfn];
          out.last = p;
          ++out.batches;
          if (p.done) out.took = c.time().now() - start;
        });
    c.run_for(timeout + millis(200));
    return out;
  }
  // Every asked site answered before the deadline, and every matching record came back once.
  void expect_complete(const outcome& out, std::size_t asked) const {
    EXPECT_TRUE(out.last.done);
    EXPECT_FALSE(out.last.deadline_passed);
    EXPECT_EQ(out.last.asked, asked);
    EXPECT_EQ(out.last.answered, asked);
    EXPECT_EQ(static_cast<int>(out.seen.size()), expected);
    for (const auto& [lfn, times] : out.seen) EXPECT_EQ(times, 1) << lfn;
  }
  sim_cluster c;
  std::vector<std::unique_ptr<test_auth>> auths;
  std::vector<std::unique_ptr<query_fanout>> engines;
  std::vector<std::unique_ptr<tree_fanout>> trees;
  int expected = 0;
  int ids = 0;
};

}  // namespace dm2::dht::testing
