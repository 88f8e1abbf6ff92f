// `dm2 init` and `dm2 status`: the local site's identity and its running node.
#include <nlohmann/json.hpp>

#include <iostream>

#include "cli_common.hpp"
#include "dm2/crypto/private_file.hpp"
#include "dm2/node/config.hpp"
#include "dm2/node/https_client.hpp"
#include "dm2/node/identity.hpp"
#include "dm2/node/node.hpp"

namespace dm2::cli {
namespace {

struct node_options {
  std::string config_path;
  std::string data_dir;
};

void add_config_options(CLI::App& cmd, node_options& o) {
  cmd.add_option("-c,--config", o.config_path, "dm2d's TOML config file")->check(CLI::ExistingFile);
  cmd.add_option("--data-dir", o.data_dir, "Data directory (overrides node.data_dir)");
}

node::node_config load(const node_options& o) { return load_node_config(o.config_path, o.data_dir); }

void init(const node_options& o) {
  auto config = load(o);
  if (auto s = node::check_data_dir_usable(config.data_dir); !s)
    throw command_failed(exit_local_state, s.err().message);
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) throw command_failed(exit_local_state, "cannot create " + config.data_dir.string() + ": " + ec.message());
  auto id = node::load_or_create_identity(config);
  if (!id) throw command_failed(exit_local_state, id.err().message);
  nlohmann::json out = {{"data_dir", config.data_dir.string()},
                        {"created", id->created},
                        {"site", config.site_name},
                        {"certificate_sha256", id->certificate_fingerprint}};
  std::cout << out.dump(2) << '\n';
}

struct status_options : node_options {
  std::string ca;
  std::string url;
};

void show_status(const status_options& o) {
  auto config = load(o);
  auto response = node::https_request(node_target(config, o.url), site_tls(config, o.ca), "GET", "/health");
  if (!response) throw command_failed(exit_remote, response.err().message);
  if (response->status != 200)
    throw command_failed(exit_remote, "node answered " + std::to_string(response->status) + ": " + response->body);
  std::cout << nlohmann::json::parse(response->body, nullptr, false).dump(2) << '\n';
}

void add_node_commands(CLI::App& dm2) {
  auto init_options = std::make_shared<node_options>();
  auto* init_cmd = dm2.add_subcommand("init", "Create the data directory and this site's identity "
                                              "(development CA unless [tls] is configured)");
  add_config_options(*init_cmd, *init_options);
  init_cmd->callback([init_options] { init(*init_options); });

  auto status = std::make_shared<status_options>();
  auto* status_cmd = dm2.add_subcommand("status", "Ask the running node (dm2d) for its health");
  add_config_options(*status_cmd, *status);
  status_cmd->add_option("--ca", status->ca, "CA certificate to verify the node with "
                                             "(default: the data directory's)");
  status_cmd->add_option("--node", status->url, "Node ADDRESS:PORT (default: https.listen)");
  status_cmd->callback([status] { show_status(*status); });
}

const registrar node_commands("node", &add_node_commands);

}  // namespace
}  // namespace dm2::cli
