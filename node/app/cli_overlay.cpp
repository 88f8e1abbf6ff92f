// `dm2 overlay status`: the running node's view of the overlay (peers, roster version, items,
// refusals, replicas owed), from GET /v1/overlay on the local dm2d, asked with the site's own
// certificate (the route is for consortium sites).
#include <nlohmann/json.hpp>

#include <iostream>

#include "cli_common.hpp"
#include "dm2/crypto/private_file.hpp"
#include "dm2/node/config.hpp"
#include "dm2/node/https_client.hpp"
#include "dm2/node/identity.hpp"

namespace dm2::cli {
namespace {

struct overlay_options : site_connection_options {
  bool json = false;
};

// "any 5 sites down at once (k = 5)": how many simultaneous site failures lose no record.
std::string survives(const nlohmann::json& j) {
  if (!j.contains("survivable_failures") || !j.at("survivable_failures").is_number_unsigned()) return "-";
  auto f = j.at("survivable_failures").get<std::size_t>();
  std::string k = j.contains("replicas") ? j.at("replicas").dump() : "?";
  return "any " + std::to_string(f) + (f == 1 ? " site" : " sites") + " down at once (k = " + k +
         "; more can lose records whose every copy was on them)";
}

// Reads the node's JSON (GET /v1/overlay): fields it does not send print as "-".
void print_human(const nlohmann::json& j) {
  auto get = [&](std::initializer_list<const char*> keys) -> std::string {
    for (const char* key : keys)
      if (j.contains(key)) {
        const auto& v = j.at(key);
        return v.is_string() ? v.get<std::string>() : v.dump();
      }
    return "-";
  };
  std::string peers = get({"live_peers"}) + "/" + get({"roster_peers"});
  if (j.contains("peers") && j.at("peers").is_array()) {
    std::size_t live = 0;
    for (const auto& p : j.at("peers")) live += p.value("live", false) ? 1 : 0;
    peers = std::to_string(live) + "/" + std::to_string(j.at("peers").size());
  }
  std::cout << "site:             " << get({"site_id"}) << '\n'
            << "node id:          " << get({"node_id"}) << '\n'
            << "roster version:   " << get({"roster_version"}) << '\n'
            << "peers (live/all): " << peers << '\n'
            << "routing table:    " << get({"routing_table_nodes", "routing_table_size"}) << '\n'
            << "dht items:        " << get({"stored_items"}) << '\n'
            << "refused queries:  " << get({"refused_queries"}) << '\n'
            << "refused items:    " << get({"refused_items"}) << '\n'
            << "records held:     " << get({"records_held"}) << '\n'
            << "replicas owed:    " << get({"replicas_owed"}) << '\n'
            << "survives:         " << survives(j) << '\n'
            << "keys owned:       " << get({"keys_owned"}) << '\n';
  if (j.contains("placement_warnings") && j.at("placement_warnings").is_array())
    for (const auto& w : j.at("placement_warnings"))
      if (w.is_string()) std::cout << "warning: " << w.get<std::string>() << '\n';
  if (j.contains("peers") && j.at("peers").is_array())
    for (const auto& p : j.at("peers"))
      std::cout << "  " << p.value("site_id", "?") << "  dht " << p.value("dht", "?") << "  "
                << (p.value("live", false) ? "live" : "DOWN") << '\n';
}

void show_overlay(const overlay_options& o) {
  // /v1/overlay is for consortium sites: present this site's own certificate.
  auto site = connect_as_site(o);
  auto response = node::https_request(site.target, site.tls, "GET", "/v1/overlay");
  if (!response) throw command_failed(exit_remote, response.err().message);
  if (response->status != 200)
    throw command_failed(exit_remote, "node answered " + std::to_string(response->status) + ": " +
                                          response->body);
  auto j = nlohmann::json::parse(response->body, nullptr, false);
  if (j.is_discarded()) throw command_failed(exit_remote, "node answered with invalid JSON");
  if (o.json)
    std::cout << j.dump(2) << '\n';
  else
    print_human(j);
}

void add_overlay_commands(CLI::App& dm2) {
  auto* overlay = dm2.add_subcommand("overlay", "The private DHT overlay");
  overlay->require_subcommand(1);
  auto o = std::make_shared<overlay_options>();
  auto* status = overlay->add_subcommand(
      "status", "Peers, roster version, DHT items, refusals and replicas owed of the running node");
  add_site_connection_options(status, *o);
  status->add_flag("--json", o->json, "Print the node's JSON answer");
  status->callback([o] { show_overlay(*o); });
}

const registrar overlay_commands("overlay", &add_overlay_commands);

}  // namespace
}  // namespace dm2::cli
