// A consortium of real dm2d processes on loopback, set up with the real `dm2 ca` and
// `dm2 roster` commands: every site on 127.<octet>.<block>.<site>, HTTPS on 18443, DHT on 16881.
// Shared by the multi-process tests and the overlay benchmark. Not thread-safe, except
// request(), which any thread may call.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dm2/node/https_client.hpp"
#include "dm2/result.hpp"
#include "support/process.hpp"

namespace dm2::test {

struct consortium_options {
  int sites = 3;
  // Second octet of the sites' addresses: each test file picks its own, and each test process
  // takes its own third octet (from its pid), so tests running in parallel never collide.
  int address_octet = 78;
  std::string extra_toml;  // appended to every site's config file (e.g. an [overlay] section)
  std::map<int, std::string> site_toml = {};  // appended to one site's config file (e.g. its [pacs])
};

class process_consortium {
 public:
  static constexpr std::uint16_t https_port = 18443;
  static constexpr std::uint16_t dht_port = 16881;

  // Creates the consortium CA and every site's identity and config, and signs a roster holding
  // all sites (version 1) under `dir`. Errors: the failing command's stderr.
  static result<std::unique_ptr<process_consortium>> create(const std::filesystem::path& dir,
                                                           consortium_options options);
  ~process_consortium();  // SIGKILLs what still runs (child_process)

  int size() const { return options_.sites; }
  std::string address(int site) const;
  std::string site_id(int site) const { return "site-" + std::to_string(site); }
  const std::filesystem::path& roster_file() const { return roster_; }
  // The consortium's raw Ed25519 public key (it verifies roster_file()).
  const std::string& consortium_public_key() const { return consortium_key_; }
  std::filesystem::path site_dir(int site) const { return dir_ / ("site-" + std::to_string(site)); }
  const std::filesystem::path& dir() const { return dir_; }

  // Starts the sites' dm2d processes and waits until each has written its ready file.
  // Errors: a node that exited, or did not get ready within `limit` (its stderr).
  status start(const std::vector<int>& sites, std::chrono::seconds limit = std::chrono::seconds(60));
  status start_all() { return start(all_sites()); }
  void kill(int site);       // SIGKILL, reaped
  status stop(int site);     // SIGTERM; error unless it exits 0 within 30 s
  bool running(int site) const { return nodes_.count(site) != 0; }
  // The process id of a running site's dm2d (-1 when it is not running).
  pid_t pid(int site) const { return running(site) ? nodes_.at(site)->pid() : -1; }
  std::vector<int> all_sites() const;
  std::vector<int> running_sites() const;

  // `site`'s HTTPS endpoint, and the TLS material of a client with `as_site`'s certificate (0: none),
  // for callers that keep connections of their own (https_connection).
  node::https_target target(int site) const { return {address(site), https_port}; }
  node::tls_material client_tls(int as_site) const;
  // An HTTPS request to `site` with `as_site`'s client certificate (0: none) and `headers`.
  result<node::client_response> request(int site, const std::string& method, const std::string& path,
                                        const std::string& body = {}, int as_site = 1,
                                        const std::map<std::string, std::string>& headers = {}) const;
  // The config file of a site's dm2d.
  std::filesystem::path config_file(int site) const { return dir_ / (site_id(site) + ".toml"); }
  // "actor action object decision detail" of every audit entry of a stopped (or killed) site,
  // read from its database. Errors: the database does not open.
  result<std::vector<std::string>> audit_lines(int site) const;
  // stderr of a running site's dm2d ("" if it is not running).
  std::string stderr_text(int site) const;

  struct cli_result {
    int code = -1;  // the exit code; -1 after a minute without one
    std::string out, err;
  };
  // `dm2 ARGS --config <site's config>` as a person runs it, `input` on its stdin (a password):
  // its exit code and output.
  cli_result dm2(int site, std::vector<std::string> args, const std::string& input = "");

 private:
  process_consortium(std::filesystem::path dir, consortium_options options);
  status run_dm2(const std::vector<std::string>& args);

  std::filesystem::path dir_;
  consortium_options options_;
  std::filesystem::path roster_;
  std::string consortium_key_;
  std::string ca_pem_;
  std::map<int, std::pair<std::string, std::string>> client_tls_;  // site -> (certificate, key)
  std::map<int, std::unique_ptr<child_process>> nodes_;
  int commands_ = 0;
};

// Polls `p` every 100 ms until it holds or `limit` passes; returns its last value.
template <class Predicate>
bool eventually(Predicate p, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (p()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return p();
}

}  // namespace dm2::test
