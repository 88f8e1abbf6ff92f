// A consortium in one process: real libtorrent overlays on 127.0.0.<first_host + i> (membership
// from their DHT liveness probes) with dm2's replicator and query fan-out, whose messages go
// through an in-process queue (the node's mutual-TLS transport plugs in at the same seam). One
// thread drives every site with step(). Shared by tests/dht/overlay_failure_test.cpp and
// bench/dht_bench.cpp. Not thread-safe.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dm2/dht/overlay_membership.hpp"
#include "dm2/dht/placement.hpp"
#include "dm2/dht/query_fanout.hpp"
#include "dm2/dht/replicator.hpp"
#include "overlay_cluster.hpp"

namespace dm2::dht::testing {

class queue_transport final : public transport {
 public:
  struct queued {
    std::string from, to;
    message m;
  };
  void send(const std::string& from, const std::string& to, message m) override {
    queue.push_back({from, to, std::move(m)});
  }
  std::deque<queued> queue;
};

// Signs with the query id; the overlay carries signatures, it does not make them.
class id_signer final : public query_authenticator {
 public:
  std::string sign(const std::string& id, const std::string&, std::int64_t) override { return id; }
  bool verify(const std::string&, const query_request& q) override { return q.signature == q.query_id; }
  std::string sign_hit(const std::string& id, const query_hit&) override { return id; }
  bool verify_hit(const std::string& id, const query_hit& h) override { return h.signature == id; }
};

// A body matches every record whose payload starts with it; the score is the payload's size.
inline std::optional<query_plan> prefix_plan(const std::string& body) {
  query_plan plan;
  plan.score = [body](const record& r) -> std::optional<query_hit> {
    if (r.payload.compare(0, body.size(), body) != 0) return std::nullopt;
    return query_hit{r.lfn, r.owner, static_cast<double>(r.payload.size()), {}};
  };
  return plan;
}

struct consortium_options {
  int sites = 16;
  int first_host = 60;  // site i listens on 127.0.0.<first_host + i>
  overlay_settings overlay;
  std::chrono::milliseconds liveness{500};  // asked of overlay_membership (it may raise it)
  replication_settings replication;
  fanout_settings fanout;
};

class overlay_consortium {
 public:
  struct site {
    overlay_node net;
    std::string id;
    std::unique_ptr<overlay_membership> members;
    memory_replica_store store;
    std::unique_ptr<replicator> engine;
    std::unique_ptr<query_fanout> queries;
    bool alive = true;
  };

  // Starts every overlay and joins them; nullopt-like failure: started() is false.
  explicit overlay_consortium(consortium_options o) : options_(std::move(o)) {
    options_.fanout.replicas = options_.replication.k;  // as the node does
    std::vector<overlay_node*> all;
    for (int i = 0; i < options_.sites; ++i) {
      auto s = std::make_unique<site>();
      s->net = start_node(options_.first_host + i, options_.overlay);
      if (!s->net.node) return;
      s->id = "site-" + std::to_string(i);
      sites_.push_back(std::move(s));
    }
    for (auto& s : sites_) {
      all.push_back(&s->net);
      infos_.push_back({s->id, node_id_of_public_key(s->net.public_key),
                        {s->net.address + ":" + std::to_string(s->net.node->listen_port())}});
    }
    for (auto& s : sites_) {
      if (!s->net.node->set_roster(peers_of(all), keys_of(all)).ok()) return;
      s->members = std::make_unique<overlay_membership>(*s->net.node, s->id, options_.liveness);
      s->members->set_sites(infos_);
      replicator_collaborators c{&clock_, &net_, s->members.get(), &s->store, nullptr};
      s->engine = std::make_unique<replicator>(s->id, options_.replication, c);
      s->queries = std::make_unique<query_fanout>(s->id, options_.fanout, c, auth_, prefix_plan);
    }
    started_ = true;
  }

  bool started() const { return started_; }
  int size() const { return static_cast<int>(sites_.size()); }
  site& at(int i) { return *sites_[static_cast<std::size_t>(i)]; }
  site& by_id(const std::string& id) { return at(std::stoi(id.substr(5))); }
  std::size_t k() const { return options_.replication.k; }
  const consortium_options& options() const { return options_; }

  // One round: every live site refreshes its view and ticks (its replicator too unless `repair`
  // is false), then every queued message is delivered (those to dead sites are dropped).
  void step(bool repair = true) {
    for (auto& s : sites_)
      if (s->alive) {
        s->members->refresh();
        if (repair) s->engine->tick();
        s->queries->tick();
      }
    while (!net_.queue.empty()) {
      auto q = std::move(net_.queue.front());
      net_.queue.pop_front();
      auto& to = by_id(q.to);
      if (!to.alive) continue;
      to.engine->on_message(q.from, q.m);
      to.queries->on_message(q.from, q.m);
    }
  }
  bool idle() const { return net_.queue.empty(); }

  // Every live site sees exactly `count` live sites.
  bool everyone_sees(std::size_t count) const {
    for (const auto& s : sites_)
      if (s->alive && s->members->live_sites().size() != count) return false;
    return true;
  }

  // SIGKILL-like: the overlay stops answering at once, messages to the site are dropped.
  void kill(int i) {
    at(i).alive = false;
    at(i).net.node.reset();
  }

  // Records (of `records`) missing on one of the k live sites placement names for them.
  std::size_t under_replicated(const std::vector<record>& records) {
    std::vector<site_info> live;
    for (std::size_t i = 0; i < sites_.size(); ++i)
      if (sites_[i]->alive) live.push_back(infos_[i]);
    placement_index p(live);
    std::size_t bad = 0;
    for (const auto& r : records)
      for (const auto& t : p.closest_ids(key_of(r.lfn), k(), r.owner))
        if (!by_id(t).store.get_record(r.lfn)) {
          ++bad;
          break;
        }
    return bad;
  }

  // Records (of `records`) that no live site holds.
  std::size_t lost(const std::vector<record>& records) {
    std::size_t out = 0;
    for (const auto& r : records) {
      bool found = false;
      for (auto& s : sites_) found = found || (s->alive && s->store.get_record(r.lfn));
      out += !found;
    }
    return out;
  }

  // Every record some site owns.
  std::vector<record> owned_records() {
    std::vector<record> out;
    for (auto& s : sites_)
      s->store.for_each_record([&](const record& r) {
        if (r.owner == s->id) out.push_back(r);
      });
    return out;
  }

  struct query_outcome {
    std::size_t hits = 0;
    query_progress progress;
    double ms = 0;
  };
  // Runs a query from site `from` to its end, stepping every site (without repair rounds when
  // `repair` is false, so a fan-out is not timed behind 16 sites' repair work).
  query_outcome query(int from, const std::string& id, const std::string& body, millis timeout, bool repair = false) {
    query_outcome out;
    bool done = false;
    auto t0 = std::chrono::steady_clock::now();
    at(from).queries->start(id, body, timeout, [&](const std::vector<query_hit>& h, const query_progress& p) {
      out.hits += h.size();
      out.progress = p;
      done = p.done;
    });
    while (!done) step(repair);
    out.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return out;
  }

 private:
  consortium_options options_;
  steady_clock_source clock_;
  queue_transport net_;
  id_signer auth_;
  std::vector<std::unique_ptr<site>> sites_;
  std::vector<site_info> infos_;
  bool started_ = false;
};

}  // namespace dm2::dht::testing
