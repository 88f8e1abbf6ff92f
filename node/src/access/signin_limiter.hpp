// Slows password guessing: failed sign-ins are counted per account name and per remote address
// over a sliding window; past the limit, sign-in is refused (429 with Retry-After) before any
// password is checked. A success clears the account's count (not the address's). In memory: a
// restart forgets counts, which costs an attacker a restart of the node he cannot cause.
// Thread-safe (one mutex).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace dm2::node::access {

struct signin_limits {
  unsigned per_account = 5;        // failures per account name within the window
  unsigned per_address = 20;       // failures per remote address within the window
  std::int64_t window_s = 900;     // sliding window, seconds
  std::size_t max_tracked = 100'000;  // names + addresses tracked; the stalest are dropped past it
};

class signin_limiter {
 public:
  explicit signin_limiter(signin_limits limits = {}) : limits_(limits) {}

  // Seconds until `name` from `address` may try again; nullopt if it may try now.
  std::optional<std::int64_t> retry_after(const std::string& name, const std::string& address, std::int64_t now);
  void failed(const std::string& name, const std::string& address, std::int64_t now);
  void succeeded(const std::string& name);

 private:
  using failures = std::deque<std::int64_t>;  // times, oldest first
  std::optional<std::int64_t> blocked(const std::string& key, unsigned limit, std::int64_t now);
  void note(const std::string& key, unsigned limit, std::int64_t now);

  signin_limits limits_;
  std::mutex mutex_;
  std::map<std::string, failures> failures_;  // "a:<name>" and "r:<address>"
};

}  // namespace dm2::node::access
