// What several `dm2` commands share: error-to-exit-code mapping, reading dm2d's config, and
// reaching the local node over HTTPS as this site.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cli_registry.hpp"
#include "dm2/error.hpp"
#include "dm2/node/config.hpp"
#include "dm2/node/https_client.hpp"

namespace dm2::cli {

// invalid_argument -> bad usage (2); a bad file the user named -> bad input (3); anything else
// is the state of our own files -> local state (4).
int exit_for(errc code);
[[noreturn]] void fail_with(const error& e);

// dm2d's config (embedded defaults when `config_path` is empty), with --data-dir applied.
// Throws command_failed (bad input).
node::node_config load_node_config(const std::string& config_path, const std::string& data_dir);

// The node to talk to: `endpoint` ("ADDRESS:PORT") if given, else the config's https.listen.
node::https_target node_target(const node::node_config& config, const std::string& endpoint);

// TLS to the local node as this site: the CA (`ca_path`, else [tls] or the identity's), and the
// site certificate and key when this user may read them (peer-only routes need them).
node::tls_material site_tls(const node::node_config& config, const std::string& ca_path);

// How a command reaches the local node as this site (routes for consortium sites).
struct site_connection_options {
  std::string config_path;
  std::string data_dir;
  std::string ca;
  std::string node;
};
// Adds -c/--config, --data-dir, --ca and --node to `cmd`, filling `o`.
void add_site_connection_options(CLI::App* cmd, site_connection_options& o);

struct site_connection {
  node::https_target target;
  node::tls_material tls;
  std::map<std::string, std::string> headers;  // a user's session: Authorization
};
// The node and this site's TLS. Throws command_failed: bad config (bad input), no readable
// site certificate and key (local state).
site_connection connect_as_site(const site_connection_options& o);

// A command a signed-in user may run (`dm2 sign-in` keeps his session token in a 0600 file):
// with --session it acts as him (no client certificate, his bearer token), else as this site.
struct user_connection_options : site_connection_options {
  std::string session;
};
// Adds the site options and --session FILE.
void add_user_connection_options(CLI::App* cmd, user_connection_options& o);
// Throws command_failed: as connect_as_site, an unreadable session file (local state).
site_connection connect_as_user_or_site(const user_connection_options& o);

// Sends one request to the node and returns its JSON answer when the status is `expect`; otherwise
// throws command_failed: the node's error message, bad usage for a 400, a remote failure else
// (and for an answer that is not a JSON object). An empty body with `expect` 204 gives {}.
nlohmann::json call_node(const node::https_target& target, const node::tls_material& tls, const std::string& method,
                         const std::string& path, const std::string& body, int expect,
                         const std::map<std::string, std::string>& headers = {});
inline nlohmann::json call_node(const site_connection& c, const std::string& method, const std::string& path,
                                const std::string& body, int expect) {
  return call_node(c.target, c.tls, method, path, body, expect, c.headers);
}
// The node's error message of a non-JSON-expected answer ("node answered 403: ...").
std::string node_refusal(const node::client_response& r);

// Writes `data` to `path`, replacing it, readable by its owner only (0600): a session token, a
// retrieved series. Throws command_failed (local state).
void write_owner_only(const std::string& path, std::string_view data);

// A password from stdin (echo off on a terminal): never from the command line. Throws
// command_failed (usage) when there is none.
std::string read_password();

// A one-line bar on stderr, redrawn in place: "[#####.....] 52/100" and, when bytes are given,
// " 26.0 MB 48.1 MB/s". finish() ends the line. Drawn only when both stderr and stdout are
// terminals: in a pipe or a log file the carriage returns would pile dozens of bars onto one
// line, and output captured by a script stays clean.
class progress_bar {
 public:
  progress_bar();
  void draw(std::size_t done, std::size_t total);
  void draw(std::size_t done, std::size_t total, std::uint64_t bytes);
  void finish();

 private:
  void draw_bar(std::size_t done, std::size_t total);
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace dm2::cli
