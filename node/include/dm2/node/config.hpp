// The node's configuration: one TOML file, every key optional, every default embedded here and
// documented in docs/operations.md. Command-line flags override the file.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "dm2/crypto/endpoint.hpp"
#include "dm2/pacs/pacs_settings.hpp"
#include "dm2/result.hpp"

namespace dm2::node {

using crypto::endpoint;  // one endpoint type and parser for config, roster and overlay

struct node_config {
  // [node]
  std::filesystem::path data_dir = "./dm2-data";  // keys, certificates, RocksDB
  std::string site_name = "dev-site";             // subject CN of the site certificate
  // [https]
  endpoint https{"127.0.0.1", 8443};              // clinicians, CLI and peers (mutual TLS)
  std::size_t body_limit = 16 << 20;              // largest accepted request body, bytes
  std::chrono::seconds request_timeout{30};       // per request: handshake, read, write
  unsigned io_threads = 2;                        // threads running the node's io_context
  unsigned worker_threads = 8;                    // threads running request handlers (they may wait on disk or peers)
  // [dht]
  endpoint dht{"127.0.0.1", 6881};                // UDP, libtorrent
  // [tls] empty = a development CA and site certificate are created in data_dir on first start
  std::filesystem::path ca_certificate;           // consortium CA certificate (PEM)
  std::filesystem::path certificate;              // this site's certificate (PEM)
  std::filesystem::path private_key;              // its key (PEM, mode 0600)
  // [consortium] empty roster = a site on its own (no peers)
  std::filesystem::path roster;                   // signed roster document to start from
  std::string consortium_public_key;              // raw 32-byte Ed25519 roster key (hex in the file)
  std::chrono::seconds roster_refresh{30};        // how often the roster announcement is read
  // [overlay]
  std::size_t replicas = 5;                       // k: copies of each record besides the owner's
  std::chrono::seconds repair_period{30};         // anti-entropy round period
  std::chrono::seconds liveness_timeout{10};      // a peer silent this long counts as down
  unsigned probe_rate = 20;                       // liveness pings per second, all peers together
  unsigned share_threshold = 2;                   // t: key shares needed to rebuild a series key
  unsigned share_count = 3;                       // n: key shares placed on distinct sites
  std::size_t tree_fanout_min_sites = 500;        // queries go down a tree from this many live sites
  // [accounts] users of this site (docs/security.md)
  std::chrono::seconds session_ttl{1800};         // a sign-in token lives this long
  std::uint32_t argon2_memory_kib = 19 * 1024;    // Argon2id memory per password hash (OWASP minimum)
  std::uint32_t argon2_passes = 2;                // Argon2id passes
  unsigned signin_failures_per_account = 5;       // failed sign-ins per account name per window
  unsigned signin_failures_per_address = 20;      // failed sign-ins per remote address per window
  std::chrono::seconds signin_window{900};        // the sliding window of those counts
  // [log]
  std::string log_level = "info";                 // trace, debug, info, warn, error
  // [pacs]
  pacs::pacs_settings pacs;
  bool pacs_configured = false;                   // the file has a [pacs] section: dm2d ingests it
  std::chrono::seconds sync_period{0};            // scheduled ingest runs (0 = off)
  std::chrono::seconds rescan_period{86400};      // a scheduled run this often is a re-scan (0 = never)
  unsigned rescan_days = 7;                       // ... of the studies of the last rescan_days days
  bool ingest_on_start = true;                    // one ingest run at start (with a PACS configured)
  std::string retrieve = "get";                   // "get" (C-GET) or "move" (C-MOVE to our SCP)
  std::string sync_since = "19000101";            // first study date asked for before any cursor
  unsigned ingest_workers = 2;                    // series ingested at once
  std::uint64_t object_cache_bytes = 0;           // sealed bytes kept; beyond, least recently read series are evicted and re-assembled from the PACS when read (0 = keep all)
  // [similarity] stage 2's scoring at this site as an owner: threads of its own (never the
  // request workers) and how many requests may wait for one before the next is answered 503
  unsigned stage2_threads = 2;
  unsigned stage2_waiting = 8;
  // [web] the clinician's desk (GET /); empty = <dm2d's directory>/../share/dm2/web
  std::filesystem::path web_root;
};

// Parses a TOML config file over the embedded defaults. Unknown sections or keys, wrong types
// and out-of-range values are errors (a typo must not silently fall back to a default).
// Errors: not_found (no such file), invalid_config (with file:line and the key).
result<node_config> load_config_file(const std::filesystem::path& path);

// Same, from TOML text (`origin` names it in error messages).
result<node_config> parse_config(std::string_view toml_text, std::string_view origin);

// Checks cross-field rules (TLS paths all-or-nothing, explicit listen addresses, log level).
// Errors: invalid_config.
status validate(const node_config& config);

}  // namespace dm2::node
