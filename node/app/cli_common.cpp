#include "cli_common.hpp"

#include <algorithm>
#include <cstdio>

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <iostream>

#include "dm2/crypto/private_file.hpp"

namespace dm2::cli {

int exit_for(errc code) {
  switch (code) {
    case errc::invalid_argument:
      return exit_usage;
    case errc::not_found:
    case errc::malformed_input:
    case errc::too_large:
    case errc::integrity_failure:
    case errc::unsupported:
      return exit_bad_input;
    default:
      return exit_local_state;
  }
}

void fail_with(const error& e) { throw command_failed(exit_for(e.code), e.message); }

node::node_config load_node_config(const std::string& config_path, const std::string& data_dir) {
  auto loaded = config_path.empty() ? result<node::node_config>(node::node_config{})
                                    : node::load_config_file(config_path);
  if (!loaded) throw command_failed(exit_bad_input, loaded.err().message);
  auto config = *loaded;
  if (!data_dir.empty()) config.data_dir = data_dir;
  return config;
}

node::https_target node_target(const node::node_config& config, const std::string& endpoint) {
  if (endpoint.empty()) return {config.https.address, config.https.port};
  auto ep = crypto::parse_endpoint(endpoint);
  if (!ep) throw command_failed(exit_usage, "--node: " + ep.err().message);
  return {ep->address, ep->port};
}

node::tls_material site_tls(const node::node_config& config, const std::string& ca_path) {
  auto identity = config.data_dir / "identity";
  std::string path = !ca_path.empty()                     ? ca_path
                     : !config.ca_certificate.empty() ? config.ca_certificate.string()
                                                      : (identity / "ca.crt").string();
  auto ca = crypto::read_file(path);
  if (!ca) throw command_failed(exit_local_state, "CA certificate: " + ca.err().message);
  node::tls_material tls{*ca, "", ""};
  auto cert = crypto::read_file(config.certificate.empty() ? identity / "site.crt" : config.certificate);
  auto key = crypto::read_private_file(config.private_key.empty() ? identity / "site.key" : config.private_key);
  if (cert && key) {
    tls.certificate_pem = *cert;
    tls.private_key_pem = *key;
  }
  return tls;
}

void add_site_connection_options(CLI::App* cmd, site_connection_options& o) {
  cmd->add_option("-c,--config", o.config_path, "dm2d's TOML config file")->check(CLI::ExistingFile);
  cmd->add_option("--data-dir", o.data_dir, "Data directory (overrides node.data_dir)");
  cmd->add_option("--ca", o.ca, "CA certificate to verify the node with (default: the data directory's)");
  cmd->add_option("--node", o.node, "Node ADDRESS:PORT (default: https.listen)");
}

site_connection connect_as_site(const site_connection_options& o) {
  auto config = load_node_config(o.config_path, o.data_dir);
  site_connection c{node_target(config, o.node), site_tls(config, o.ca), {}};
  if (c.tls.certificate_pem.empty())
    throw command_failed(exit_local_state, "cannot read this site's certificate and key in " +
                                               (config.data_dir / "identity").string() + " (run dm2 init, or as the dm2 user)");
  return c;
}

void add_user_connection_options(CLI::App* cmd, user_connection_options& o) {
  add_site_connection_options(cmd, o);
  cmd->add_option("--session", o.session, "Act as the user signed in with `dm2 sign-in --session FILE`");
}

site_connection connect_as_user_or_site(const user_connection_options& o) {
  if (o.session.empty()) return connect_as_site(o);
  auto config = load_node_config(o.config_path, o.data_dir);
  auto token = crypto::read_private_file(o.session);
  if (!token) throw command_failed(exit_local_state, "session file: " + token.err().message + " (run dm2 sign-in)");
  auto tls = site_tls(config, o.ca);
  tls.certificate_pem.clear();
  tls.private_key_pem.clear();
  return {node_target(config, o.node), tls, {{"Authorization", "Bearer " + *token}}};
}

std::string node_refusal(const node::client_response& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  std::string why = j.is_object() && j.contains("error") && j["error"].is_object() ? j["error"].value("message", r.body)
                                                                                  : r.body;
  return "node answered " + std::to_string(r.status) + ": " + why;
}

void write_owner_only(const std::string& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && ::fchmod(fd, 0600) == 0;
  for (std::size_t done = 0; ok && done < data.size();) {
    auto n = ::write(fd, data.data() + done, data.size() - done);
    ok = n > 0;
    done += ok ? static_cast<std::size_t>(n) : 0;
  }
  if (fd >= 0 && ::close(fd) != 0) ok = false;
  if (!ok) throw command_failed(exit_local_state, "cannot write " + path);
}

std::string read_password() {
  bool tty = ::isatty(STDIN_FILENO) == 1;
  termios saved{};
  if (tty) {
    std::fprintf(stderr, "password: ");
    ::tcgetattr(STDIN_FILENO, &saved);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string password;
  std::getline(std::cin, password);
  if (tty) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    std::fprintf(stderr, "\n");
  }
  if (password.empty()) throw command_failed(exit_usage, "no password on stdin");
  return password;
}

nlohmann::json call_node(const node::https_target& target, const node::tls_material& tls, const std::string& method,
                         const std::string& path, const std::string& body, int expect,
                         const std::map<std::string, std::string>& headers) {
  auto r = node::https_request(target, tls, method, path, body, std::chrono::seconds(10), headers);
  if (!r) throw command_failed(exit_remote, r.err().message);
  if (r->status == expect && r->body.empty()) return nlohmann::json::object();
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (r->status != expect) throw command_failed(r->status == 400 ? exit_usage : exit_remote, node_refusal(*r));
  if (!j.is_object()) throw command_failed(exit_remote, "node answered with invalid JSON");
  return j;
}


progress_bar::progress_bar() : enabled_(::isatty(STDERR_FILENO) == 1 && ::isatty(STDOUT_FILENO) == 1) {}

void progress_bar::draw_bar(std::size_t done, std::size_t total) {
  drawn_ = true;
  const int width = 30;
  const int filled = total == 0 ? width : static_cast<int>(width * std::min(done, total) / total);
  std::fprintf(stderr, "\r[%s%s] %zu/%zu", std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
               done, total);
}

void progress_bar::draw(std::size_t done, std::size_t total) {
  if (!enabled_) return;
  draw_bar(done, total);
  std::fflush(stderr);
}

void progress_bar::draw(std::size_t done, std::size_t total, std::uint64_t bytes) {
  if (!enabled_) return;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  draw_bar(done, total);
  std::fprintf(stderr, " %.1f MB %.1f MB/s", bytes / 1e6, secs > 0 ? bytes / 1e6 / secs : 0.0);
  std::fflush(stderr);
}

void progress_bar::finish() {
  if (drawn_) std::fprintf(stderr, "\n");
  drawn_ = false;
}

}  // namespace dm2::cli
