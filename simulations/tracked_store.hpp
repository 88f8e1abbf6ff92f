// A site's store in dm2-sim: the node's memory_replica_store, plus a consortium-wide list of
// which sites hold each record (copy_map), kept as stores change. The sampler asks "does
// placement target t hold record r" 300,000 times a sample at 10,000 sites; a search in t's store
// for each was a third of a run's steady state (docs/simulator.md), one short list is not.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

#include <boost/container/small_vector.hpp>

#include "dm2/dht/replica_store.hpp"

namespace dm2::sim {

// A site's number: its place in dm2-sim's list of sites.
using site_number = std::uint32_t;
// A record's copies: the owner's and k replicas' fit in place (the sampler reads every record's
// list at every sample; a vector's separate heap block was one more cold line each).
using holder_list = boost::container::small_vector<site_number, 6>;

class copy_map {
 public:
  // The sites holding a copy of `lfn` (null: none), in the order they got it.
  const holder_list* holders(const std::string& lfn) const;
  // The same list, kept in place for the whole run (empty while no site holds a copy): the
  // sampler looks each record's up once instead of hashing its LFN at every sample (a tenth
  // of a 10,000-site run's steady state was the sampler's look-ups).
  const holder_list& holders_slot(const std::string& lfn) { return holders_[lfn]; }
  bool holds(const std::string& lfn, site_number site) const;
  void add(const std::string& lfn, site_number site);
  void remove(const std::string& lfn, site_number site);
  // Told of every new copy (the calibration's replica latency); may be empty.
  std::function<void(const std::string& lfn, site_number site)> on_add;

 private:
  // By site number, not name: the sampler compares each placement target with these lists at
  // every sample (string compares were most of its time).
  std::unordered_map<std::string, holder_list> holders_;  // node-based: stable slots
};

class tracked_store final : public dht::replica_store {
 public:
  tracked_store(site_number site, copy_map& copies) : site_(site), copies_(&copies) {}
  // The site restarts with an empty disk: no record, no share, a new generation.
  void wipe();

  bool put_record(const dht::record& r) override;
  std::optional<dht::record> get_record(const std::string& lfn) const override { return store_.get_record(lfn); }
  void for_each_record(const std::function<void(const dht::record&)>& fn) const override {
    store_.for_each_record(fn);
  }
  void for_each_summary(const std::function<void(const dht::record_summary&)>& fn) const override {
    store_.for_each_summary(fn);
  }
  std::optional<dht::record_summary> get_summary(const std::string& lfn) const override {
    return store_.get_summary(lfn);
  }
  void erase_record(const std::string& lfn) override;
  std::size_t record_count() const override { return store_.record_count(); }
  std::uint64_t generation() const override { return store_.generation(); }
  void put_share(const dht::key_share& s) override { store_.put_share(s); }
  void for_each_share(const std::function<void(const dht::key_share&)>& fn) const override {
    store_.for_each_share(fn);
  }
  void erase_share(const std::string& key_id, std::uint32_t index) override { store_.erase_share(key_id, index); }
  std::uint64_t share_generation() const override { return store_.share_generation(); }

 private:
  site_number site_;
  copy_map* copies_;
  dht::memory_replica_store store_;
};

}  // namespace dm2::sim
