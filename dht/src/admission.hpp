// Who may talk to this node's DHT and whose items it keeps: the roster's DHT addresses and
// Ed25519 keys. Shared by the session plugin and the item storage (both run on libtorrent's
// network thread) and updated by the node from the roster. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>

namespace dm2::dht {

class admission {
 public:
  // Replaces the allow-lists. `addresses`: textual IP addresses (as boost::asio prints them);
  // `keys`: raw 32-byte Ed25519 public keys allowed to sign items (site keys + consortium key).
  void replace(std::set<std::string> addresses, std::set<std::string> keys) {
    std::lock_guard lock(mutex_);
    addresses_ = std::move(addresses);
    keys_ = std::move(keys);
  }
  bool address_allowed(const std::string& address) const {
    std::lock_guard lock(mutex_);
    return addresses_.count(address) > 0;
  }
  bool key_allowed(const std::string& key) const {
    std::lock_guard lock(mutex_);
    return keys_.count(key) > 0;
  }

  std::atomic<std::uint64_t> refused_queries{0};
  std::atomic<std::uint64_t> refused_items{0};

 private:
  mutable std::mutex mutex_;
  std::set<std::string> addresses_;
  std::set<std::string> keys_;
};

}  // namespace dm2::dht
