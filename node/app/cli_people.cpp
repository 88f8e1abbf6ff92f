// What a person does from the command line (docs/security.md): `dm2 sign-in` (password on stdin,
// the session token kept in a 0600 file), `dm2 sign-out`, `dm2 accesses` (a patient: who read
// his data). Each acts as the user of --session. Series: cli_series.cpp; care teams and grants:
// cli_care.cpp.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"

namespace dm2::cli {
namespace {

using json = nlohmann::json;

struct people_options : user_connection_options {
  std::string name;
};

void sign_in(const people_options& o) {
  if (o.session.empty()) throw command_failed(exit_usage, "--session FILE: where to keep the session token");
  auto config = load_node_config(o.config_path, o.data_dir);
  auto tls = site_tls(config, o.ca);  // the CA only: a person has no client certificate
  tls.certificate_pem.clear();
  tls.private_key_pem.clear();
  auto r = call_node(node_target(config, o.node), tls, "POST", "/v1/sessions", json{{"name", o.name}, {"password", read_password()}}.dump(),
                     201);
  write_owner_only(o.session, r.value("token", ""));
  std::printf("signed in: user %s, role %s; session in %s until %lld (unix s)\n",
              r["user"].value("id", "").c_str(), r["user"].value("role", "").c_str(), o.session.c_str(),
              static_cast<long long>(r.value("expires_at", 0LL)));
}

void sign_out(const people_options& o) {
  call_node(connect_as_user_or_site(o), "DELETE", "/v1/sessions/current", {}, 204);
  std::printf("signed out\n");
}

void list_accesses(const people_options& o) {
  auto j = call_node(connect_as_user_or_site(o), "GET", "/v1/me/accesses", {}, 200);
  std::printf("%zu series; entries from every site (unreachable: %s)\n", j.value("series", std::size_t{0}),
              j["sites_unreachable"].dump().c_str());
  std::printf("%-7s %-46s %-18s %-8s %s\n", "site", "who", "what", "series", "decision");
  for (const auto& e : j.value("entries", json::array()))
    std::printf("%-7s %-46s %-18s %.8s %s\n", e.value("site", "").c_str(), e.value("actor", "").c_str(),
                e.value("action", "").c_str(), e.value("lfn", "").c_str(), e.value("decision", "").c_str());
}

void add_people_commands(CLI::App& dm2) {
  auto o = std::make_shared<people_options>();

  auto* in = dm2.add_subcommand("sign-in", "Sign in as a user (password on stdin); keep the session in --session FILE");
  add_user_connection_options(in, *o);
  in->add_option("name", o->name, "Sign-in name")->required();
  in->callback([o] { sign_in(*o); });

  auto* out = dm2.add_subcommand("sign-out", "End the session of --session FILE");
  add_user_connection_options(out, *o);
  out->callback([o] { sign_out(*o); });

  auto* accesses = dm2.add_subcommand("accesses", "A patient: who read or tried to read his data, from every site");
  add_user_connection_options(accesses, *o);
  accesses->callback([o] { list_accesses(*o); });
}

const registrar people_commands("people", &add_people_commands);

}  // namespace
}  // namespace dm2::cli
