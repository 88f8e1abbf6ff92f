// dm2::node — the facade that owns one node: its io_context and threads, the HTTPS endpoint,
// the RocksDB database, the DHT overlay, the site identity and the metrics. Callers never touch
// the event loop. start() and stop() may be called from any thread; stop() is idempotent.
#pragma once

#include <cstdint>
#include <memory>

#include "dm2/node/config.hpp"
#include "dm2/result.hpp"

namespace dm2::node {

class node {
 public:
  // Starts a node. The order makes bad input harmless: the config is checked, the data
  // directory's parent is checked, and both ports are bound BEFORE anything is written; only
  // then is the data directory created (0700), the identity loaded or created, the database
  // opened (its lock keeps a second node off the same directory), the roster, access, overlay,
  // replication and ingest services built, and the bound HTTPS port served; the background
  // services (roster refresh, replication, ingest) start last. docs/architecture.md has the
  // list. Errors: invalid_config, io_error or permission_denied (data dir),
  // unavailable (a port is taken), storage_failure, insecure_file, crypto_failure.
  static result<std::unique_ptr<node>> start(const node_config& config);
  ~node();  // stops
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  // Blocks until SIGINT or SIGTERM (or stop() from another thread), then stops cleanly.
  void run_until_stopped();
  void stop();

  std::uint16_t https_port() const;
  std::uint16_t dht_port() const;

  struct impl;

 private:
  explicit node(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

// Checks that `dir` can be the data directory without creating anything: an existing writable
// directory, or a path whose nearest existing ancestor is a writable directory.
// Errors: io_error or permission_denied, saying which path and why.
status check_data_dir_usable(const std::filesystem::path& dir);

}  // namespace dm2::node
