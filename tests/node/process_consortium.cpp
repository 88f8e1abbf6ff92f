#include "process_consortium.hpp"

#include <unistd.h>

#include <csignal>
#include <fstream>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/private_file.hpp"
#include "dm2/storage/database.hpp"

namespace dm2::test {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string trimmed(std::string text) { return text.substr(0, text.find_last_not_of("\r\n ") + 1); }

}  // namespace

process_consortium::process_consortium(fs::path dir, consortium_options options)
    : dir_(std::move(dir)), options_(std::move(options)), roster_(dir_ / "roster.json") {}

process_consortium::~process_consortium() = default;

std::string process_consortium::address(int site) const {
  static const int block = 10 + static_cast<int>(::getpid() % 240);
  return "127." + std::to_string(options_.address_octet) + "." + std::to_string(block) + "." + std::to_string(site);
}

status process_consortium::run_dm2(const std::vector<std::string>& args) {
  child_process p(built_program("node/dm2"), args, dir_, "dm2-" + std::to_string(commands_++));
  auto code = p.wait(60s);
  if (code == 0) return {};
  return fail(errc::internal, "dm2 " + args.at(0) + " " + args.at(1) + " exited with " +
                                  (code ? std::to_string(*code) : "a timeout") + ": " + p.stderr_text());
}

process_consortium::cli_result process_consortium::dm2(int site, std::vector<std::string> args,
                                                       const std::string& input) {
  // sh -c 'printf "%s\n" "$0" | "$@"' INPUT DM2 ARGS...: the input on stdin, no shell quoting.
  args.insert(args.begin(), {"-c", "printf '%s\\n' \"$0\" | \"$@\"", input, built_program("node/dm2").string()});
  args.insert(args.end(), {"--config", config_file(site).string()});
  child_process p("/bin/sh", args, dir_, "dm2-" + std::to_string(commands_++));
  return {p.wait(60s).value_or(-1), p.stdout_text(), p.stderr_text()};
}

result<std::unique_ptr<process_consortium>> process_consortium::create(const fs::path& dir,
                                                                      consortium_options options) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(errc::io_error, "cannot create " + dir.string() + ": " + ec.message());
  std::unique_ptr<process_consortium> c(new process_consortium(dir, std::move(options)));
  auto ca_dir = dir / "consortium";
  if (auto s = c->run_dm2({"ca", "init", "--dir", ca_dir.string(), "--name", "Test Consortium"}); !s)
    return std::move(s).err();
  auto key_hex = crypto::read_file(ca_dir / "consortium.pub");
  auto ca_pem = crypto::read_file(ca_dir / "ca.crt");
  if (!key_hex || !ca_pem) return fail(errc::internal, "dm2 ca init wrote no consortium key or CA certificate");
  auto key = crypto::from_hex(trimmed(*key_hex));
  if (!key) return std::move(key).err();
  c->consortium_key_ = *key;
  c->ca_pem_ = *ca_pem;

  for (int site : c->all_sites()) {
    auto identity = c->site_dir(site) / "identity";
    auto https = c->address(site) + ":" + std::to_string(https_port);
    auto dht = c->address(site) + ":" + std::to_string(dht_port);
    if (auto s = c->run_dm2({"ca", "issue-site", c->site_id(site), "--ca-dir", ca_dir.string(), "--out",
                             identity.string(), "--ip", c->address(site)});
        !s)
      return std::move(s).err();
    if (auto s = c->run_dm2({"roster", "add", "--roster", c->roster_.string(), "--site-dir", identity.string(),
                             "--https", https, "--dht", dht});
        !s)
      return std::move(s).err();
    auto certificate = crypto::read_file(identity / "site.crt");
    auto private_key = crypto::read_file(identity / "site.key");
    if (!certificate || !private_key) return fail(errc::internal, "dm2 ca issue-site wrote no certificate");
    c->client_tls_[site] = {*certificate, *private_key};
    std::ofstream(dir / (c->site_id(site) + ".toml"))
        << "[node]\ndata_dir = \"" << c->site_dir(site).string() << "\"\nsite_name = \"" << c->site_id(site)
        << "\"\n[https]\nlisten = \"" << https << "\"\n[dht]\nlisten = \"" << dht << "\"\n[consortium]\nroster = \""
        << (dir / "roster-v1.json").string() << "\"\npublic_key = \"" << trimmed(*key_hex)
        << "\"\nroster_refresh_s = 1\n"
        << c->options_.extra_toml << "\n"
        << (c->options_.site_toml.count(site) ? c->options_.site_toml.at(site) : std::string{}) << "\n";
  }
  if (auto s = c->run_dm2({"roster", "sign", "--roster", c->roster_.string(), "--ca-dir", ca_dir.string()}); !s)
    return std::move(s).err();
  fs::copy_file(c->roster_, dir / "roster-v1.json", fs::copy_options::overwrite_existing, ec);
  if (ec) return fail(errc::io_error, "copying the roster: " + ec.message());
  return c;
}

std::vector<int> process_consortium::all_sites() const {
  std::vector<int> out;
  for (int site = 1; site <= options_.sites; ++site) out.push_back(site);
  return out;
}

std::vector<int> process_consortium::running_sites() const {
  std::vector<int> out;
  for (const auto& [site, process] : nodes_) out.push_back(site);
  return out;
}

status process_consortium::start(const std::vector<int>& sites, std::chrono::seconds limit) {
  for (int site : sites) {
    auto ready = dir_ / (site_id(site) + ".ready");
    fs::remove(ready);
    nodes_[site] = std::make_unique<child_process>(
        built_program("node/dm2d"),
        std::vector<std::string>{"--config", (dir_ / (site_id(site) + ".toml")).string(), "--ready-file", ready.string()},
        dir_, site_id(site) + "-" + std::to_string(commands_++));
  }
  for (int site : sites) {
    auto ready = dir_ / (site_id(site) + ".ready");
    auto& node = *nodes_[site];
    eventually([&] { return fs::exists(ready) || !node.running(); }, limit);
    if (!node.running() || !wait_for_file(ready, 5s)) {
      auto err = node.stderr_text();
      nodes_.erase(site);
      return fail(errc::unavailable, site_id(site) + " did not start: " + err);
    }
  }
  return {};
}

void process_consortium::kill(int site) {
  auto it = nodes_.find(site);
  if (it == nodes_.end()) return;
  it->second->signal(SIGKILL);
  it->second->wait(10s);
  nodes_.erase(it);
}

status process_consortium::stop(int site) {
  auto it = nodes_.find(site);
  if (it == nodes_.end()) return {};
  it->second->signal(SIGTERM);
  auto code = it->second->wait(30s);
  auto err = it->second->stderr_text();
  nodes_.erase(it);
  if (code != 0) return fail(errc::internal, site_id(site) + " did not stop cleanly: " + err);
  return {};
}

node::tls_material process_consortium::client_tls(int as_site) const {
  node::tls_material tls{ca_pem_, "", ""};
  if (auto it = client_tls_.find(as_site); it != client_tls_.end()) {
    tls.certificate_pem = it->second.first;
    tls.private_key_pem = it->second.second;
  }
  return tls;
}

result<std::vector<std::string>> process_consortium::audit_lines(int site) const {
  auto key = crypto::read_private_file(site_dir(site) / "identity" / "storage.key");
  if (!key) return std::move(key).err();
  auto db = storage::database::open(site_dir(site) / "db", *key);
  if (!db) return std::move(db).err();
  std::vector<std::string> out;
  for (std::uint64_t i = 0; i < (*db)->audit_size(); ++i) {
    auto e = (*db)->read_audit(i);
    if (!e || !e->has_value()) continue;
    const auto& ev = (**e).event;
    out.push_back(ev.actor + " " + ev.action + " " + ev.object + " " + ev.decision + " " + ev.detail);
  }
  return out;
}

result<node::client_response> process_consortium::request(int site, const std::string& method,
                                                          const std::string& path, const std::string& body,
                                                          int as_site,
                                                          const std::map<std::string, std::string>& headers) const {
  return node::https_request(target(site), client_tls(as_site), method, path, body, std::chrono::seconds(10), headers);
}

std::string process_consortium::stderr_text(int site) const {
  auto it = nodes_.find(site);
  return it == nodes_.end() ? std::string() : it->second->stderr_text();
}

}  // namespace dm2::test
