// `dm2 user add|disable|enable|list`: the site's accounts (POST, PATCH and GET /v1/users on the
// local dm2d), asked as a site admin signed in with `dm2 sign-in` (--session FILE), or with the
// site's own certificate: whoever can read the site key operates the node and counts as a site
// admin — which is also how the first site admin account is made. Passwords are read from stdin
// (echo off on a terminal), never from the command line.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"

namespace dm2::cli {
namespace {

using json = nlohmann::json;

struct user_options : user_connection_options {
  std::string name, role, patient_ref, patient_id;
  bool json_out = false;
};

void print_user(const json& u) {
  std::printf("%-32s %-24s %-11s %s\n", u.value("id", "").c_str(), u.value("name", "").c_str(),
              u.value("role", "").c_str(), u.value("disabled", false) ? "disabled" : "enabled");
}

void add_user(const user_options& o) {
  json body = {{"name", o.name}, {"role", o.role}, {"password", read_password()}};
  if (!o.patient_ref.empty()) body["patient_ref"] = o.patient_ref;
  if (!o.patient_id.empty()) body["patient_id"] = o.patient_id;
  auto u = call_node(connect_as_user_or_site(o), "POST", "/v1/users", body.dump(), 201);
  if (o.json_out) std::cout << u.dump(2) << '\n';
  else print_user(u);
}

void set_disabled(const user_options& o, bool disabled) {
  auto u = call_node(connect_as_user_or_site(o), "PATCH", "/v1/users/" + o.name, json{{"disabled", disabled}}.dump(), 200);
  if (o.json_out) std::cout << u.dump(2) << '\n';
  else print_user(u);
}

void list_users(const user_options& o) {
  auto all = call_node(connect_as_user_or_site(o), "GET", "/v1/users", {}, 200);
  if (o.json_out) {
    std::cout << all.dump(2) << '\n';
    return;
  }
  std::printf("%-32s %-24s %-11s %s\n", "id", "name", "role", "state");
  for (const auto& u : all.value("users", json::array())) print_user(u);
}

void add_user_commands(CLI::App& dm2) {
  auto* user = dm2.add_subcommand("user", "Accounts of this site's users (site admin)");
  user->require_subcommand(1);
  auto o = std::make_shared<user_options>();

  auto* add = user->add_subcommand("add", "Create an account; the password is read from stdin");
  add_user_connection_options(add, *o);
  add->add_option("name", o->name, "Sign-in name (a-z 0-9 . _ -)")->required();
  add->add_option("--role", o->role, "patient, physician, researcher or site_admin")
      ->required()
      ->check(CLI::IsMember({"patient", "physician", "researcher", "site_admin"}));
  add->add_option("--patient-ref", o->patient_ref, "Patients: the reference of their nominative record here");
  add->add_option("--patient-id", o->patient_id,
                  "Patients: their patient ID at this site (the node keeps only its keyed hash)");
  add->add_flag("--json", o->json_out, "Print the node's JSON answer");
  add->callback([o] { add_user(*o); });

  auto* disable = user->add_subcommand("disable", "Disable an account: its sessions stop working at once");
  add_user_connection_options(disable, *o);
  disable->add_option("name", o->name, "Sign-in name")->required();
  disable->add_flag("--json", o->json_out, "Print the node's JSON answer");
  disable->callback([o] { set_disabled(*o, true); });

  auto* enable = user->add_subcommand("enable", "Enable a disabled account again");
  add_user_connection_options(enable, *o);
  enable->add_option("name", o->name, "Sign-in name")->required();
  enable->add_flag("--json", o->json_out, "Print the node's JSON answer");
  enable->callback([o] { set_disabled(*o, false); });

  auto* list = user->add_subcommand("list", "List the accounts (names, pseudonyms, roles, state)");
  add_user_connection_options(list, *o);
  list->add_flag("--json", o->json_out, "Print the node's JSON answer");
  list->callback([o] { list_users(*o); });
}

const registrar user_commands("user", &add_user_commands);

}  // namespace
}  // namespace dm2::cli
