// Care teams and grants from the command line (docs/api.md): `dm2 care-team list|add|remove
// --patient-id ID` names the patient by his ID at this site (sent in the DM2-Patient-ID header,
// never in a URL; the node keeps and audits only its keyed hash), and `dm2 grant add|list|revoke`
// (a physician grants a researcher or a colleague named LFNs). As the user of --session (a site
// admin or a team member; grants: a physician), or as this site (the operator, a site admin).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"

namespace dm2::cli {
namespace {

using json = nlohmann::json;

struct care_options : user_connection_options {
  std::string patient_id, user, grantee, purpose = "research", id;
  std::vector<std::string> lfns, classes{"index_attributes", "deidentified_image", "key_share"};
  std::int64_t expires_in_s = 86400;
};

void care_team(const care_options& o, const std::string& method) {
  auto c = connect_as_user_or_site(o);
  c.headers["DM2-Patient-ID"] = o.patient_id;
  std::string body, path = "/v1/care-teams";
  if (method == "POST") body = json{{"user", o.user}}.dump();
  if (method == "DELETE") path += "?user=" + o.user;
  auto team = call_node(c, method, path, body, method == "POST" ? 201 : 200);
  std::printf("care team of patient ref %s:\n", team.value("patient_ref", "").c_str());
  for (const auto& m : team.value("members", json::array()))
    std::printf("  %-32s %-24s %s\n", m.value("id", "").c_str(), m.value("name", "").c_str(),
                m.value("disabled", false) ? "disabled" : "enabled");
}

void print_grant(const json& g) {
  auto grantee = g.value("grantee", "") + "@" + g.value("grantee_site", "");
  std::printf("%-32s by %s to %-40s %zu LFN(s) %-40s %s until %lld%s\n", g.value("id", "").c_str(),
              g.value("site", "").c_str(), grantee.c_str(), g.value("lfns", json::array()).size(), g["classes"].dump().c_str(),
              g.value("purpose", "").c_str(), static_cast<long long>(g.value("expires_at", 0LL)),
              g.value("live", false) ? "" : " (not live)");
}

void grant_add(const care_options& o) {
  json body = {{"lfns", o.lfns}, {"classes", o.classes}, {"purpose", o.purpose}, {"expires_in_s", o.expires_in_s}};
  // Sign-in names have no '@': one that does is a consortium id, a user of another site.
  body[o.grantee.find('@') == std::string::npos ? "grantee" : "grantee_id"] = o.grantee;
  print_grant(call_node(connect_as_user_or_site(o), "POST", "/v1/grants", body.dump(), 201));
}

void grant_list(const care_options& o) {
  auto all = call_node(connect_as_user_or_site(o), "GET", "/v1/grants", {}, 200);
  for (const auto& g : all.value("grants", json::array())) print_grant(g);
}

void add_care_commands(CLI::App& dm2) {
  auto o = std::make_shared<care_options>();
  auto* team = dm2.add_subcommand("care-team", "The physicians in charge of a patient, named by his ID at this site");
  team->require_subcommand(1);
  for (auto [verb, method] : {std::pair{"list", "GET"}, std::pair{"add", "POST"}, std::pair{"remove", "DELETE"}}) {
    bool change = std::string(method) != "GET";
    auto* cmd = team->add_subcommand(verb, change ? std::string(verb) + " a physician" : "list the team");
    add_user_connection_options(cmd, *o);
    cmd->add_option("--patient-id", o->patient_id, "The patient's ID at this site (only its keyed hash is kept)")
        ->required();
    if (change) cmd->add_option("--user", o->user, "The physician's sign-in name")->required();
    cmd->callback([o, m = std::string(method)] { care_team(*o, m); });
  }

  auto* grant = dm2.add_subcommand("grant", "A physician's grants of named series to a researcher or a colleague");
  grant->require_subcommand(1);
  auto* add = grant->add_subcommand("add", "Grant series (LFNs) for some data classes, until it expires");
  add_user_connection_options(add, *o);
  add->add_option("grantee", o->grantee, "The researcher's (or physician's) sign-in name, or the consortium id "
                  "(PSEUDONYM@SITE) of a user of another site")->required();
  add->add_option("--lfn", o->lfns, "A series' LFN (repeat for more)")->required();
  add->add_option("--class", o->classes, "index_attributes, diagnoses, deidentified_image, key_share (repeatable)");
  add->add_option("--purpose", o->purpose, "research (default) or treatment");
  add->add_option("--expires-in-s", o->expires_in_s, "Lifetime in seconds (default one day; at most 90 days)");
  add->callback([o] { grant_add(*o); });
  auto* list = grant->add_subcommand("list", "The grants you gave or received (a site admin: all)");
  add_user_connection_options(list, *o);
  list->callback([o] { grant_list(*o); });
  auto* revoke = grant->add_subcommand("revoke", "Revoke a grant (its grantor or a site admin)");
  add_user_connection_options(revoke, *o);
  revoke->add_option("id", o->id, "The grant's id")->required();
  revoke->callback([o] { print_grant(call_node(connect_as_user_or_site(*o), "DELETE", "/v1/grants/" + o->id, {}, 200)); });
}

const registrar care_commands("care", &add_care_commands);

}  // namespace
}  // namespace dm2::cli
