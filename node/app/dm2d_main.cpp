// dm2d: the dm2 node daemon. One binary, one config file, flags to override it.
// Exit codes: 0 stopped cleanly; 2 bad command line; 3 bad config file; 4 data directory or
// identity unusable; 5 a port is taken; 1 any other failure.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "dm2/crypto/private_file.hpp"
#include "dm2/node/config.hpp"
#include "dm2/node/logging.hpp"
#include "dm2/node/node.hpp"
#include "dm2/node/version.hpp"

namespace {

enum exit_code : int { exit_ok = 0, exit_failure = 1, exit_usage = 2, exit_config = 3, exit_data = 4, exit_port = 5 };

int exit_code_for(dm2::errc code) {
  switch (code) {
    case dm2::errc::invalid_config:
      return exit_config;
    case dm2::errc::unavailable:
      return exit_port;
    case dm2::errc::io_error:
    case dm2::errc::permission_denied:
    case dm2::errc::insecure_file:
    case dm2::errc::storage_failure:
    case dm2::errc::not_found:
    case dm2::errc::integrity_failure:
      return exit_data;
    default:
      return exit_failure;
  }
}

int die(int code, const std::string& message) {
  std::cerr << "dm2d: " << message << '\n';
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  // DCMTK turns Nagle's algorithm off only when this is set; without it every DIMSE exchange
  // waits on delayed ACKs (docs/pacs.md). Set before any thread starts: setenv is not thread-safe.
  ::setenv("TCP_NODELAY", "1", 0);
  CLI::App app{"dm2d — the dm2 node: joins the consortium overlay, serves the HTTPS API.\n"
               "With no --config it runs on embedded defaults: data in ./dm2-data, HTTPS on\n"
               "127.0.0.1:8443, DHT on UDP 127.0.0.1:6881, and a development CA created on first start."};
  app.set_version_flag("--version", std::string("dm2d ") + dm2::node::version);
  std::string config_path, data_dir, site_name, https_listen, dht_listen, log_level, ready_file;
  app.add_option("-c,--config", config_path, "TOML config file (docs/operations.md lists every key)")
      ->check(CLI::ExistingFile);
  app.add_option("--data-dir", data_dir, "Data directory (node.data_dir)");
  app.add_option("--site-name", site_name, "Site name (node.site_name)");
  app.add_option("--https-listen", https_listen, "HTTPS ADDRESS:PORT, port 0 = any free (https.listen)");
  app.add_option("--dht-listen", dht_listen, "DHT UDP ADDRESS:PORT, port 0 = any free (dht.listen)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error (log.level)");
  app.add_option("--ready-file", ready_file,
                 "Once serving, write {\"pid\",\"https_port\",\"dht_port\"} here as JSON");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "dm2d: " << e.what() << "\nRun with --help for usage.\n";
    return exit_usage;
  }

  auto loaded = config_path.empty() ? dm2::result<dm2::node::node_config>(dm2::node::node_config{})
                                    : dm2::node::load_config_file(config_path);
  if (!loaded) return die(exit_config, loaded.err().message);
  auto config = *loaded;
  if (!data_dir.empty()) config.data_dir = data_dir;
  if (!site_name.empty()) config.site_name = site_name;
  if (!log_level.empty()) config.log_level = log_level;
  for (auto [text, slot, name] : {std::tuple{&https_listen, &config.https, "--https-listen"},
                                  std::tuple{&dht_listen, &config.dht, "--dht-listen"}}) {
    if (text->empty()) continue;
    auto ep = dm2::crypto::parse_endpoint(*text, dm2::crypto::port_zero::allowed);
    if (!ep) return die(exit_usage, std::string(name) + ": " + ep.err().message);
    *slot = *ep;
  }
  if (auto s = dm2::node::validate(config); !s) return die(exit_config, s.err().message);
  if (auto s = dm2::node::setup_logging(config.log_level); !s) return die(exit_config, s.err().message);

  // Signals are handled by the node's io_context; block them here so that no other thread
  // (libtorrent's, RocksDB's) takes them with the default action first.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto started = dm2::node::node::start(config);
  if (!started) return die(exit_code_for(started.err().code), started.err().message);
  auto& node = **started;
  if (!ready_file.empty()) {
    nlohmann::json ready = {{"pid", ::getpid()}, {"https_port", node.https_port()}, {"dht_port", node.dht_port()}};
    if (auto s = dm2::crypto::write_public_file(ready_file, ready.dump()); !s)
      spdlog::error("event=ready_file_failed reason=\"{}\"", s.err().message);
  }
  node.run_until_stopped();
  if (!ready_file.empty()) std::filesystem::remove(ready_file);
  return exit_ok;
}
