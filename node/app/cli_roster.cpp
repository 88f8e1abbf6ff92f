// `dm2 roster add/remove/sign/show/publish`: edit, sign, inspect and publish the roster file.
// The work is done by dm2::crypto (consortium_admin.hpp, roster.hpp); this file parses options
// and prints. add and remove leave an unsigned draft; sign makes it the next version.
#include <chrono>
#include <iostream>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "dm2/crypto/consortium_admin.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/private_file.hpp"
#include "dm2/crypto/roster.hpp"
#include "dm2/dht/roster_sync.hpp"
#include "dm2/node/config.hpp"
#include "dm2/node/https_client.hpp"

namespace dm2::cli {
namespace {

// A site already on the roster is the user's input at fault, not our files.
[[noreturn]] void failed(const error& e) {
  throw command_failed(e.code == errc::conflict ? exit_bad_input : exit_for(e.code), e.message);
}

std::int64_t now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct add_options {
  std::string roster;
  std::string consortium;
  crypto::roster_entry_request entry;
  std::string site_dir;
};

void add(add_options& o) {
  o.entry.site_dir = o.site_dir;
  auto e = crypto::roster_add(o.roster, o.entry, o.consortium);
  if (!e) failed(e.err());
  std::cout << "added " << e->site_id << " (" << e->name << ") to " << o.roster
            << "; the roster is an unsigned draft until 'dm2 roster sign'\n";
}

struct remove_options {
  std::string roster;
  std::string site_id;
};

void remove(const remove_options& o) {
  if (auto s = crypto::roster_remove(o.roster, o.site_id); !s) failed(s.err());
  std::cout << "removed " << o.site_id << " from " << o.roster
            << "; it is revoked once the signed roster reaches the nodes\n";
}

struct sign_options {
  std::string roster;
  std::string ca_dir;
};

void sign(const sign_options& o) {
  auto r = crypto::roster_sign(o.roster, o.ca_dir, now());
  if (!r) failed(r.err());
  std::cout << "signed " << o.roster << " as version " << r->version << " with "
            << r->sites.size() << " sites\n";
}

struct show_options {
  std::string roster;
  std::string ca_dir;
  std::string consortium_key;  // hex
  bool json = false;
};

void show(const show_options& o) {
  auto text = crypto::read_file(o.roster);
  if (!text) failed(text.err());
  auto doc = crypto::decode_roster_document(*text);
  if (!doc) throw command_failed(exit_bad_input, o.roster + ": " + doc.err().message);
  bool verified = false;
  if (!doc->signature.empty()) {
    std::string key;
    if (!o.consortium_key.empty()) {
      auto raw = crypto::from_hex(o.consortium_key);
      if (!raw || raw->size() != 32) throw command_failed(exit_usage, "--consortium-key must be 64 hex digits");
      key = *raw;
    } else if (!o.ca_dir.empty()) {
      auto raw = crypto::read_consortium_public_key(o.ca_dir);
      if (!raw) failed(raw.err());
      key = *raw;
    } else {
      throw command_failed(exit_usage, "give --ca-dir or --consortium-key to verify the signature");
    }
    auto r = crypto::verify_roster(*text, key);
    if (!r) throw command_failed(exit_bad_input, o.roster + ": " + r.err().message);
    verified = true;
  }
  if (o.json) {
    std::cout << *text;
  } else {
    std::cout << crypto::describe_roster(doc->body, verified, now());
  }
}

struct publish_options {
  std::string roster;
  std::string node;
  std::string ca;
  std::string ca_dir;
};

// Offers a signed roster to a running node (POST /v1/roster, docs/api.md). With the consortium
// directory the announcement is signed here, where the consortium key lives: the node relays it
// into the DHT and the other nodes fetch the roster within one refresh period. Without it only
// that node adopts the roster.
void publish(const publish_options& o) {
  auto text = crypto::read_file(o.roster);
  if (!text) failed(text.err());
  auto ca = crypto::read_file(o.ca);
  if (!ca) throw command_failed(exit_local_state, "CA certificate: " + ca.err().message);
  auto ep = crypto::parse_endpoint(o.node);
  if (!ep) throw command_failed(exit_usage, "--node: " + ep.err().message);
  nlohmann::json body = {{"document", *text}};
  if (!o.ca_dir.empty()) {
    auto key = crypto::read_private_file(std::filesystem::path(o.ca_dir) / "consortium.key");
    if (!key) failed(key.err());
    auto signature = dht::roster_announcement_signature(*text, *key);
    if (!signature) throw command_failed(exit_bad_input, o.roster + ": " + signature.err().message);
    body["announcement_signature"] = crypto::to_hex(*signature);
  } else {
    std::cerr << "no --ca-dir: no announcement, so only this node adopts the roster; publish it "
                 "again with --ca-dir (to any node) for the others to fetch it\n";
  }
  auto r = node::https_request({ep->address, ep->port}, {*ca, "", ""}, "POST", "/v1/roster", body.dump());
  if (!r) throw command_failed(exit_remote, r.err().message);
  if (r->status != 200) throw command_failed(exit_remote, "node refused the roster: " + r->body);
  std::cout << r->body << '\n';
}

void add_roster_commands(CLI::App& dm2) {
  auto* roster = dm2.add_subcommand("roster", "The consortium roster: the accredited sites");
  roster->require_subcommand(1);

  auto ao = std::make_shared<add_options>();
  auto* add_cmd = roster->add_subcommand("add", "Add a site from its 'dm2 ca issue-site' directory");
  add_cmd->add_option("--roster", ao->roster, "Roster file (created as a draft if absent)")->required();
  add_cmd->add_option("--site-dir", ao->site_dir, "The site's issue-site directory (site.crt, dht.pub, seal.pub)")
      ->required()->check(CLI::ExistingDirectory);
  add_cmd->add_option("--https", ao->entry.https_endpoint, "The site's HTTPS endpoint IP:PORT")->required();
  add_cmd->add_option("--dht", ao->entry.dht_endpoint, "The site's DHT endpoint IP:PORT")->required();
  add_cmd->add_option("--id", ao->entry.site_id, "Site id (default: the certificate CN, lower-cased)");
  add_cmd->add_option("--name", ao->entry.name, "Display name (default: the certificate CN)");
  add_cmd->add_option("--expires-at", ao->entry.expires_at,
                      "Entry expiry, seconds since the epoch (default: the certificate's)");
  add_cmd->add_option("--consortium", ao->consortium,
                      "Consortium name for a new roster (default: from the certificate's issuer)");
  add_cmd->callback([ao] { add(*ao); });

  auto ro = std::make_shared<remove_options>();
  auto* remove_cmd = roster->add_subcommand("remove", "Remove (revoke) a site");
  remove_cmd->add_option("site_id", ro->site_id, "Site id")->required();
  remove_cmd->add_option("--roster", ro->roster, "Roster file")->required();
  remove_cmd->callback([ro] { remove(*ro); });

  auto so = std::make_shared<sign_options>();
  auto* sign_cmd = roster->add_subcommand("sign", "Sign the roster as its next version");
  sign_cmd->add_option("--roster", so->roster, "Roster file")->required();
  sign_cmd->add_option("--ca-dir", so->ca_dir, "The consortium CA directory (consortium.key)")->required();
  sign_cmd->callback([so] { sign(*so); });

  auto sh = std::make_shared<show_options>();
  auto* show_cmd = roster->add_subcommand("show", "Verify and print the roster");
  show_cmd->add_option("--roster", sh->roster, "Roster file")->required();
  show_cmd->add_option("--ca-dir", sh->ca_dir, "Consortium CA directory (reads consortium.pub)");
  show_cmd->add_option("--consortium-key", sh->consortium_key, "Consortium public key, 64 hex digits");
  show_cmd->add_flag("--json", sh->json, "Print the roster document itself");
  show_cmd->callback([sh] { show(*sh); });

  auto po = std::make_shared<publish_options>();
  auto* publish_cmd = roster->add_subcommand("publish", "Offer a signed roster to a running node (with --ca-dir it spreads from there)");
  publish_cmd->add_option("--roster", po->roster, "Signed roster file")->required();
  publish_cmd->add_option("--node", po->node, "The node's HTTPS ADDRESS:PORT")->required();
  publish_cmd->add_option("--ca", po->ca, "Consortium CA certificate to verify the node with")->required();
  publish_cmd->add_option("--ca-dir", po->ca_dir,
                          "The consortium CA directory (consortium.key): sign the DHT announcement, so the "
                          "roster reaches every node")
      ->check(CLI::ExistingDirectory);
  publish_cmd->callback([po] { publish(*po); });
}

const registrar roster_commands("roster", &add_roster_commands);

}  // namespace
}  // namespace dm2::cli
