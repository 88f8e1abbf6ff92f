#include "dm2/node/config.hpp"

#include <toml++/toml.h>

#include "dm2/crypto/hash.hpp"

#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace dm2::node {
namespace {

// Keys each section accepts; anything else is a typo and an error.
const std::set<std::string> known_keys = {
    "node.data_dir",      "node.site_name",    "https.listen",       "https.body_limit",
    "https.request_timeout_s", "https.io_threads", "https.worker_threads", "dht.listen",     "tls.ca_certificate",
    "tls.certificate",    "tls.private_key",   "log.level",          "pacs.host",
    "pacs.port",          "pacs.store_address", "pacs.called_ae_title", "pacs.calling_ae_title", "pacs.store_port",
    "pacs.timeout_s",     "pacs.associations", "consortium.roster", "consortium.public_key",
    "consortium.roster_refresh_s", "overlay.replicas", "overlay.repair_period_s",
    "overlay.liveness_timeout_s", "overlay.probe_rate", "overlay.share_threshold", "overlay.share_count",
    "overlay.tree_fanout_min_sites",
    "pacs.sync_period_s", "pacs.rescan_period_s", "pacs.rescan_days", "pacs.ingest_on_start", "pacs.retrieve", "pacs.sync_since", "pacs.ingest_workers",
    "pacs.object_cache_bytes",
    "accounts.session_ttl_s", "accounts.argon2_memory_kib", "accounts.argon2_passes",
    "accounts.signin_failures_per_account", "accounts.signin_failures_per_address", "accounts.signin_window_s",
    "similarity.stage2_threads", "similarity.stage2_waiting", "web.root"};

std::string where(std::string_view origin, const toml::source_region& src) {
  std::ostringstream out;
  out << origin << ":" << src.begin.line;
  return out.str();
}

error bad(std::string_view origin, const toml::node& n, const std::string& key, const std::string& why) {
  return fail(errc::invalid_config, where(origin, n.source()) + ": " + key + " " + why);
}

// Reads `key` into `out` if present. The getters check type and range.
struct reader {
  const toml::table& root;
  std::string_view origin;

  const toml::node* find(const std::string& dotted) const {
    auto dot = dotted.find('.');
    const toml::table* section = root[dotted.substr(0, dot)].as_table();
    return section ? section->get(dotted.substr(dot + 1)) : nullptr;
  }

  status string(const std::string& key, std::string& out) const {
    const toml::node* n = find(key);
    if (!n) return {};
    auto v = n->value<std::string>();
    if (!n->is_string() || !v) return bad(origin, *n, key, "must be a string");
    out = *v;
    return {};
  }

  template <class T>
  status integer(const std::string& key, std::int64_t min, std::int64_t max, T& out) const {
    const toml::node* n = find(key);
    if (!n) return {};
    if (!n->is_integer()) return bad(origin, *n, key, "must be an integer");
    std::int64_t v = *n->value<std::int64_t>();
    if (v < min || v > max)
      return bad(origin, *n, key, "must be in " + std::to_string(min) + ".." + std::to_string(max));
    out = static_cast<T>(v);
    return {};
  }

  status seconds(const std::string& key, std::int64_t max, std::chrono::seconds& out) const {
    std::int64_t v = out.count();
    if (auto s = integer(key, 1, max, v); !s) return s;
    out = std::chrono::seconds(v);
    return {};
  }

  status boolean(const std::string& key, bool& out) const {
    const toml::node* n = find(key);
    if (!n) return {};
    if (!n->is_boolean()) return bad(origin, *n, key, "must be true or false");
    out = *n->value<bool>();
    return {};
  }

  status path(const std::string& key, std::filesystem::path& out) const {
    std::string text;
    if (auto s = string(key, text); !s) return s;
    if (!text.empty()) out = text;
    return {};
  }

  // 64 hex digits -> 32 raw bytes.
  status hex_key(const std::string& key, std::string& out) const {
    std::string text;
    if (auto s = string(key, text); !s) return s;
    if (text.empty()) return {};
    auto raw = crypto::from_hex(text);
    if (!raw || raw->size() != 32) return bad(origin, *find(key), key, "must be 64 hex digits");
    out = *raw;
    return {};
  }

  status listen(const std::string& key, endpoint& out) const {
    std::string text;
    if (auto s = string(key, text); !s) return s;
    if (text.empty()) return {};
    auto ep = crypto::parse_endpoint(text, crypto::port_zero::allowed);
    if (!ep) return bad(origin, *find(key), key, ep.err().message);
    out = *ep;
    return {};
  }
};

status check_unknown_keys(const toml::table& root, std::string_view origin) {
  for (const auto& [section, value] : root) {
    const toml::table* t = value.as_table();
    if (!t)
      return fail(errc::invalid_config, where(origin, value.source()) + ": '" +
                                            std::string(section.str()) + "' must be a [section]");
    for (const auto& [key, v] : *t) {
      std::string dotted = std::string(section.str()) + "." + std::string(key.str());
      if (!known_keys.count(dotted))
        return fail(errc::invalid_config,
                    where(origin, v.source()) + ": unknown key '" + dotted + "'");
    }
  }
  return {};
}

}  // namespace

result<node_config> parse_config(std::string_view toml_text, std::string_view origin) {
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream out;
    out << origin << ":" << e.source().begin.line << ": " << e.description();
    return fail(errc::invalid_config, out.str());
  }
  if (auto s = check_unknown_keys(root, origin); !s) return std::move(s).err();

  node_config c;
  reader r{root, origin};
  status steps[] = {
      r.path("node.data_dir", c.data_dir),
      r.string("node.site_name", c.site_name),
      r.listen("https.listen", c.https),
      r.integer("https.body_limit", 1024, 1LL << 32, c.body_limit),
      r.seconds("https.request_timeout_s", 3600, c.request_timeout),
      r.integer("https.io_threads", 1, 64, c.io_threads),
      r.integer("https.worker_threads", 1, 256, c.worker_threads),
      r.listen("dht.listen", c.dht),
      r.path("tls.ca_certificate", c.ca_certificate),
      r.path("tls.certificate", c.certificate),
      r.path("tls.private_key", c.private_key),
      r.path("consortium.roster", c.roster),
      r.hex_key("consortium.public_key", c.consortium_public_key),
      r.seconds("consortium.roster_refresh_s", 86400, c.roster_refresh),
      r.integer("overlay.replicas", 1, 16, c.replicas),
      r.seconds("overlay.repair_period_s", 86400, c.repair_period),
      r.seconds("overlay.liveness_timeout_s", 3600, c.liveness_timeout),
      r.integer("overlay.probe_rate", 1, 10000, c.probe_rate),
      r.integer("overlay.share_threshold", 2, 255, c.share_threshold),
      r.integer("overlay.share_count", 2, 255, c.share_count),
      r.integer("overlay.tree_fanout_min_sites", 2, 1000000, c.tree_fanout_min_sites),
      r.seconds("accounts.session_ttl_s", 86400, c.session_ttl),
      r.integer("accounts.argon2_memory_kib", 1024, 4 * 1024 * 1024, c.argon2_memory_kib),
      r.integer("accounts.argon2_passes", 1, 10, c.argon2_passes),
      r.integer("accounts.signin_failures_per_account", 1, 1000, c.signin_failures_per_account),
      r.integer("accounts.signin_failures_per_address", 1, 100000, c.signin_failures_per_address),
      r.seconds("accounts.signin_window_s", 86400, c.signin_window),
      r.string("log.level", c.log_level),
      r.string("pacs.host", c.pacs.host),
      r.integer("pacs.port", 1, 65535, c.pacs.port),
      r.string("pacs.store_address", c.pacs.store_address),
      r.integer("pacs.store_port", 0, 65535, c.pacs.store_port),
      r.seconds("pacs.timeout_s", 3600, c.pacs.timeout),
      r.integer("pacs.associations", 1, 32, c.pacs.associations),
      r.string("pacs.called_ae_title", c.pacs.called_ae_title),
      r.string("pacs.calling_ae_title", c.pacs.calling_ae_title),
      r.integer("pacs.sync_period_s", 0, 7 * 86400, c.sync_period),
      r.integer("pacs.rescan_period_s", 0, 366 * 86400, c.rescan_period),
      r.integer("pacs.rescan_days", 1, 36500, c.rescan_days),
      r.boolean("pacs.ingest_on_start", c.ingest_on_start),
      r.string("pacs.retrieve", c.retrieve),
      r.string("pacs.sync_since", c.sync_since),
      r.integer("pacs.ingest_workers", 1, 16, c.ingest_workers),
      r.integer("pacs.object_cache_bytes", 0, std::numeric_limits<std::int64_t>::max(), c.object_cache_bytes),
      r.integer("similarity.stage2_threads", 1, 64, c.stage2_threads),
      r.integer("similarity.stage2_waiting", 0, 1024, c.stage2_waiting),
      r.path("web.root", c.web_root),
  };
  c.pacs_configured = root["pacs"].is_table();
  // Elements of a braced list are evaluated in order; report the first bad key.
  for (auto& s : steps)
    if (!s) return std::move(s).err();
  if (auto s = validate(c); !s) return std::move(s).err();
  return c;
}

result<node_config> load_config_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return fail(errc::not_found, "config file " + path.string() + " does not exist");
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return fail(errc::io_error, "cannot read config file " + path.string());
  return parse_config(text.str(), path.string());
}

status validate(const node_config& c) {
  static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error"};
  if (!levels.count(c.log_level))
    return fail(errc::invalid_config, "log.level must be one of trace, debug, info, warn, error");
  if (c.data_dir.empty()) return fail(errc::invalid_config, "node.data_dir is empty");
  if (c.site_name.empty() || c.site_name.size() > 64 ||
      c.site_name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
          std::string::npos)
    return fail(errc::invalid_config, "node.site_name must be 1..64 of [A-Za-z0-9._-]");
  int tls_paths = !c.ca_certificate.empty() + !c.certificate.empty() + !c.private_key.empty();
  if (tls_paths != 0 && tls_paths != 3)
    return fail(errc::invalid_config,
                "tls.ca_certificate, tls.certificate and tls.private_key go together");
  if (c.roster.empty() != c.consortium_public_key.empty())
    return fail(errc::invalid_config, "consortium.roster and consortium.public_key go together");
  if (auto s = pacs::validate(c.pacs); !s) return s;
  if (c.share_threshold > c.share_count)
    return fail(errc::invalid_config, "overlay.share_threshold must not exceed overlay.share_count");
  if (c.retrieve != "get" && c.retrieve != "move")
    return fail(errc::invalid_config, "pacs.retrieve must be \"get\" or \"move\"");
  if (c.sync_since.size() != 8 || c.sync_since.find_first_not_of("0123456789") != std::string::npos)
    return fail(errc::invalid_config, "pacs.sync_since must be a date YYYYMMDD");
  return {};
}

}  // namespace dm2::node
