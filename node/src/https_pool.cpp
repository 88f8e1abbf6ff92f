#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <vector>

#include "dm2/crypto/hash.hpp"
#include "dm2/node/https_client.hpp"

namespace dm2::node {

namespace {

bool idempotent(const std::string& method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" || method == "OPTIONS";
}

}  // namespace

struct https_pool::impl {
  using clock = std::chrono::steady_clock;
  struct idle_connection {
    std::unique_ptr<https_connection> connection;
    clock::time_point since;
  };
  options limits;
  std::mutex mutex;
  std::map<std::string, std::vector<idle_connection>> idle;  // by endpoint and TLS material
  std::atomic<std::uint64_t> opened{0}, reusing{0};

  static std::string key_of(const https_target& t, const tls_material& m) {
    return t.host + ' ' + std::to_string(t.port) + ' ' +
           crypto::sha256(m.ca_certificate_pem + '\0' + m.certificate_pem + '\0' + m.private_key_pem);
  }

  // The most recently used idle connection of `key` still open, if any (the expired and the
  // closed ones are dropped on the way).
  std::unique_ptr<https_connection> take(const std::string& key) {
    std::vector<std::unique_ptr<https_connection>> dropped;  // closed outside the lock
    std::lock_guard lock(mutex);
    auto it = idle.find(key);
    if (it == idle.end()) return nullptr;
    auto& list = it->second;
    auto now = clock::now();
    std::unique_ptr<https_connection> found;
    while (!list.empty() && !found) {
      auto c = std::move(list.back());
      list.pop_back();
      if (now - c.since < limits.idle && c.connection->idle_and_open()) found = std::move(c.connection);
      else dropped.push_back(std::move(c.connection));
    }
    std::erase_if(list, [&](const idle_connection& c) { return now - c.since >= limits.idle; });
    return found;
  }

  void give_back(const std::string& key, std::unique_ptr<https_connection> c) {
    std::lock_guard lock(mutex);
    auto& list = idle[key];
    if (list.size() < limits.per_endpoint) list.push_back({std::move(c), clock::now()});
  }
};

https_pool::https_pool() : https_pool(options{}) {}

https_pool::https_pool(options o) : impl_(std::make_unique<impl>()) { impl_->limits = o; }

https_pool::~https_pool() = default;

result<client_response> https_pool::request(const https_target& target, const tls_material& tls,
                                            const std::string& method, const std::string& path,
                                            const std::string& body, std::chrono::milliseconds timeout,
                                            const std::map<std::string, std::string>& headers) {
  auto key = impl::key_of(target, tls);
  auto connection = impl_->take(key);
  if (connection) {
    ++impl_->reusing;
  } else {
    connection = std::make_unique<https_connection>(target, tls);
    ++impl_->opened;
  }
  // https_connection::request reconnects and repeats once when a reused connection breaks.
  auto r = connection->request(method, path, body, timeout, headers, idempotent(method));
  if (r && connection->idle_and_open()) impl_->give_back(key, std::move(connection));
  return r;
}

std::uint64_t https_pool::connections_opened() const { return impl_->opened; }

std::uint64_t https_pool::requests_reusing() const { return impl_->reusing; }

}  // namespace dm2::node
