// `dm2 ca init` and `dm2 ca issue-site`: the consortium CA and the identities it issues.
// The work is done by dm2::crypto (consortium_admin.hpp); this file parses options and prints.
#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>

#include "cli_common.hpp"
#include "dm2/crypto/consortium_admin.hpp"
#include "dm2/crypto/hash.hpp"

namespace dm2::cli {
namespace {

struct init_options {
  std::string dir;
  std::string name;
  int valid_days = 3650;
};

void init(const init_options& o) {
  if (auto s = crypto::init_consortium(o.dir, o.name, o.valid_days); !s)
    throw command_failed(exit_for(s.err().code), s.err().message);
  auto pub = crypto::read_consortium_public_key(o.dir);
  if (!pub) throw command_failed(exit_local_state, pub.err().message);
  nlohmann::json out = {{"dir", o.dir},
                        {"consortium", o.name},
                        {"ca_certificate", (std::filesystem::path(o.dir) / "ca.crt").string()},
                        {"consortium_public_key", crypto::to_hex(*pub)}};
  std::cout << out.dump(2) << '\n';
}

struct issue_options {
  std::string name;
  std::string ca_dir;
  std::string out;
  std::vector<std::string> ips;
  std::vector<std::string> dns;
  int valid_days = 825;
};

void issue(const issue_options& o) {
  crypto::site_certificate_request req;
  req.site_name = o.name;
  req.ip_addresses = o.ips;
  req.dns_names = o.dns;
  req.valid_days = o.valid_days;
  auto site = crypto::issue_site(o.ca_dir, req, o.out);
  if (!site) throw command_failed(exit_for(site.err().code), site.err().message);
  nlohmann::json out = {{"site", o.name},
                        {"dir", o.out},
                        {"certificate_sha256", site->certificate_sha256},
                        {"dht_public_key", crypto::to_hex(site->dht_public_key)},
                        {"sealing_public_key", crypto::to_hex(site->sealing_public_key)}};
  std::cout << out.dump(2) << '\n';
}

void add_ca_commands(CLI::App& dm2) {
  auto* ca = dm2.add_subcommand("ca", "The consortium CA: create it, issue site identities");
  ca->require_subcommand(1);

  auto io = std::make_shared<init_options>();
  auto* init_cmd = ca->add_subcommand(
      "init", "Create a consortium CA (ca.key 0600, ca.crt) and the roster signing key "
              "(consortium.key 0600, consortium.pub) in DIR");
  init_cmd->add_option("--dir", io->dir, "Directory for the CA files (created 0700)")->required();
  init_cmd->add_option("--name", io->name, "Consortium name, 1..64 of [A-Za-z0-9 ._-]")->required();
  init_cmd->add_option("--days", io->valid_days, "CA certificate validity in days")
      ->capture_default_str()->check(CLI::Range(1, 36500));
  init_cmd->callback([io] { init(*io); });

  auto is = std::make_shared<issue_options>();
  auto* issue_cmd = ca->add_subcommand(
      "issue-site", "Issue a site identity into --out: TLS key and certificate, Ed25519 DHT key, "
                    "X25519 sealing key (keys 0600), their public halves and the CA certificate");
  issue_cmd->add_option("name", is->name, "Site name (certificate CN), 1..64 of [A-Za-z0-9 ._-]")->required();
  issue_cmd->add_option("--ca-dir", is->ca_dir, "The consortium CA directory (from 'dm2 ca init')")->required();
  issue_cmd->add_option("--out", is->out, "Directory for the site's files (created 0700)")->required();
  issue_cmd->add_option("--ip", is->ips, "IP address for subjectAltName (repeatable)");
  issue_cmd->add_option("--dns", is->dns, "DNS name for subjectAltName (repeatable)");
  issue_cmd->add_option("--days", is->valid_days, "Certificate validity in days")
      ->capture_default_str()->check(CLI::Range(1, 3650));
  issue_cmd->callback([is] { issue(*is); });
}

const registrar ca_commands("ca", &add_ca_commands);

}  // namespace
}  // namespace dm2::cli
