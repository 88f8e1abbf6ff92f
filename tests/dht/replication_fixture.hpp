// N simulated sites, each a real replicator with its own store, joined by a sim_network and one
// shared membership view. Used by the replicator tests (and mirrored by dm2-sim).
#pragma once

#include <map>
#include <functional>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "dm2/crypto/keys.hpp"
#include "dm2/crypto/seal.hpp"
#include "dm2/crypto/shares.hpp"
#include "dm2/dht/owned_keys.hpp"
#include "dm2/dht/replicator.hpp"
#include "dm2/dht/share_keyring.hpp"
#include "dm2/sim/sim_network.hpp"

namespace dm2::dht::testing {

// Deterministic shares: share i of key K sealed to S is "K|i|S".
class fake_share_source final : public share_source {
 public:
  explicit fake_share_source(std::string owner) : owner_(std::move(owner)) {}
  std::optional<key_share> make_share(const std::string& key_id, std::uint32_t index,
                                      const std::string& holder) override {
    return key_share{key_id, index, owner_, holder, key_id + "|" + std::to_string(index) + "|" + holder};
  }

 private:
  std::string owner_;
};

// A site's real X25519 seal key, as the node's keyring uses it.
inline x25519_keyring new_keyring() {
  auto keyring = x25519_keyring::from_private_key(*crypto::generate_private_key(crypto::key_type::x25519));
  if (!keyring) throw std::runtime_error(keyring.err().to_string());
  return std::move(*keyring);
}

// Real shares: the product's share source (owned_keys.hpp), sealed to the holder's real key.
using crypto_share_source = owned_key_source;
using keyring_directory = std::function<const x25519_keyring&(const std::string& site)>;
inline std::unique_ptr<owned_key_source> make_crypto_share_source(std::string owner, keyring_directory keys) {
  return std::make_unique<owned_key_source>(
      std::move(owner), [keys = std::move(keys)](const std::string& holder, const std::string& key_id,
                                                 std::string_view raw) {
        return crypto::seal(keys(holder).public_key(), raw, key_id);
      });
}
// Site `owner`'s key `key_id`, split t-of-n.
inline void add_secret(owned_key_source& source, const std::string& key_id, const std::string& secret, unsigned t,
                       unsigned n) {
  auto k = make_owned_key(key_id, secret, t, n);
  if (!k) throw std::runtime_error(k.err().to_string());
  source.add(std::move(*k));
}
// The shares of key `key_id`, index 1..n, as the owner would make them (unsealed).
inline std::vector<std::string> split_of(const owned_key_source& source, const std::string& key_id) {
  std::vector<std::string> out;
  auto k = source.find(key_id);
  for (std::uint32_t i = 1; k && i <= k->count; ++i) out.push_back(*source.raw_share(key_id, i));
  return out;
}

struct sim_site {
  std::string id;
  memory_replica_store store;
  std::unique_ptr<share_source> shares;
  std::unique_ptr<x25519_keyring> keyring;  // real_shares only
  std::unique_ptr<replicator> engine;
};

class sim_cluster {
 public:
  // real_shares: every site gets a real X25519 keyring (and takes part in share repair), and
  // owners split real secrets (own_secret) instead of fake_share_source's strings.
  // shared_placements: every replicator follows one placement memo (as in dm2-sim).
  sim_cluster(int n, replication_settings settings = {}, sim_network_settings net = {},
              bool real_shares = false, bool shared_placements = false)
      : net_(time_, net) {
    auto placements = shared_placements ? shared_closest_cache() : nullptr;
    for (int i = 0; i < n; ++i) {
      auto s = std::make_unique<sim_site>();
      s->id = "site-" + std::to_string(i);
      members_.add(site_info{s->id, node_id_of_public_key(s->id), {}});
      sites_.push_back(std::move(s));
    }
    for (auto& s : sites_) {
      if (real_shares) {
        s->keyring = std::make_unique<x25519_keyring>(new_keyring());
        s->shares = make_crypto_share_source(
            s->id, [this](const std::string& id) -> const x25519_keyring& { return *by_id(id).keyring; });
      } else {
        s->shares = std::make_unique<fake_share_source>(s->id);
      }
      s->engine = std::make_unique<replicator>(
          s->id, settings,
          replicator_collaborators{&time_, &net_, &members_, &s->store, s->shares.get(),
                                   s->keyring.get(), placements});
      net_.attach(s->engine.get());
    }
  }

  // real_shares: site `owner` splits `secret` t-of-n as key `key_id` and owns it.
  void own_secret(int owner, const std::string& key_id, const std::string& secret, unsigned t,
                  unsigned n) {
    add_secret(static_cast<crypto_share_source&>(*sites_[owner]->shares), key_id, secret, t, n);
    sites_[owner]->engine->own_key(key_id, n);
  }
  // real_shares: the opened shares of `key_id` held by live sites, by index.
  std::map<std::uint32_t, std::string> live_shares(const std::string& key_id) {
    std::map<std::uint32_t, std::string> out;
    for (auto& s : sites_) {
      if (!members_.is_live(s->id)) continue;
      s->store.for_each_share([&](const key_share& sh) {
        if (sh.key_id != key_id || sh.holder != s->id) return;
        if (auto raw = s->keyring->open(sh)) out[sh.index] = *raw;
      });
    }
    return out;
  }

  void kill(int i) {
    net_.set_alive(sites_[i]->id, false);
    members_.set_live(sites_[i]->id, false);
  }
  // A restarted site comes back with its disk (wiped = false) or empty (wiped = true).
  void revive(int i, bool wiped) {
    if (wiped) sites_[i]->store = memory_replica_store{};
    net_.set_alive(sites_[i]->id, true);
    members_.restart(sites_[i]->id);
    members_.set_live(sites_[i]->id, true);
  }
  // A site restarts faster than the others notice it down (it stays in every live view): only
  // its new incarnation says it, e.g. after a disk replaced.
  void restart_unseen(int i, bool wiped) {
    if (wiped) sites_[i]->store = memory_replica_store{};
    members_.restart(sites_[i]->id);
  }
  void run_for(millis d) { net_.run_until(time_.now() + d); }

  sim_site& site(int i) { return *sites_[i]; }
  int size() const { return static_cast<int>(sites_.size()); }
  sim_network& net() { return net_; }
  manual_clock& time() { return time_; }
  static_membership& members() { return members_; }

  // Records (by the owners' copies plus all replicas) with fewer than k live copies at their
  // current placement targets.
  std::size_t under_replicated(const std::vector<record>& records, std::size_t k) {
    placement_index p(members_.live_sites());
    std::size_t bad = 0;
    for (const auto& r : records) {
      auto targets = p.closest_ids(key_of(r.lfn), k, r.owner);
      std::size_t have = 0;
      for (const auto& t : targets) {
        auto got = by_id(t).store.get_record(r.lfn);
        if (got && got->version == r.version && got->payload == r.payload) ++have;
      }
      if (have < targets.size()) ++bad;
    }
    return bad;
  }
  // Keys whose n shares are not on n distinct live sites (each holding one distinct index).
  std::size_t under_shared(const std::vector<std::pair<std::string, std::string>>& keys,
                           std::uint32_t n) {
    std::size_t bad = 0;
    for (const auto& [owner, key_id] : keys) {
      std::map<std::uint32_t, std::set<std::string>> where;
      for (auto& s : sites_) {
        if (!members_.is_live(s->id)) continue;
        s->store.for_each_share([&](const key_share& sh) {
          if (sh.key_id == key_id && sh.owner == owner && sh.holder == s->id)
            where[sh.index].insert(s->id);
        });
      }
      std::set<std::string> distinct;
      for (std::uint32_t i = 1; i <= n; ++i)
        if (!where[i].empty()) distinct.insert(*where[i].begin());
      if (where.size() != n || distinct.size() != n) ++bad;
    }
    return bad;
  }

  sim_site& by_id(const std::string& id) {
    for (auto& s : sites_)
      if (s->id == id) return *s;
    throw std::out_of_range(id);
  }

 private:
  manual_clock time_;
  static_membership members_;
  sim_network net_;
  std::vector<std::unique_ptr<sim_site>> sites_;
};

}  // namespace dm2::dht::testing
