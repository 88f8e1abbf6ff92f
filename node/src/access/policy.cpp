#include "policy.hpp"

#include <array>

namespace dm2::node::access {
namespace {

// What a row needs besides its (role, class, action).
enum need : unsigned {
  always = 0,
  own_site = 1u << 0,         // served by the user's home site
  self = 1u << 1,             // the patient's own data
  care_team = 1u << 2,        // the user is in the patient's care team
  grant = 1u << 3,            // a grant covers it
  team_or_grant = 1u << 4,    // either of the two
};

// Purposes a row accepts; any = whatever the request states (none included).
enum purposes : unsigned {
  any = 0,
  for_treatment = 1u << static_cast<unsigned>(purpose::treatment),
  for_research = 1u << static_cast<unsigned>(purpose::research),
};

struct row {
  role who;
  data_class what;
  action act;
  unsigned needs;
  unsigned purposes;
  std::string_view name;
};

using enum role;
using enum data_class;
using enum action;

// The seeds' rules (DM², section 3.1) as rows; anything not listed is refused. docs/security.md
// prints this table; tests/node/access_policy_test.cpp checks every cell against its own copy.
constexpr std::array rules{
    // The patient reads everything of his own, nominative data at his home site only.
    row{patient, nominative, read, self | own_site, any, "patient.nominative.read"},
    row{patient, deidentified_image, read, self, any, "patient.image.read"},
    row{patient, index_attributes, read, self, any, "patient.index.read"},
    row{patient, diagnoses, read, self, any, "patient.diagnoses.read"},
    row{patient, audit_entries, read, self, any, "patient.audit.read"},
    row{patient, key_share, read, self, any, "patient.key_share.read"},
    // Physicians in charge read and write; no physician reads any patient. Nominative data only
    // at the owning site, only for the care team, only for treatment.
    row{physician, nominative, read, care_team | own_site, for_treatment, "physician.nominative.read"},
    row{physician, nominative, write, care_team | own_site, for_treatment, "physician.nominative.write"},
    row{physician, deidentified_image, read, team_or_grant, any, "physician.image.read"},
    row{physician, deidentified_image, write, care_team | own_site, any, "physician.image.write"},
    row{physician, index_attributes, read, always, any, "physician.index.read"},
    row{physician, diagnoses, read, team_or_grant, any, "physician.diagnoses.read"},
    row{physician, diagnoses, write, care_team | own_site, any, "physician.diagnoses.write"},
    row{physician, key_share, read, team_or_grant, any, "physician.key_share.read"},
    // A physician adds colleagues to the care teams he is in, and grants what he can read himself
    // (the grants route also asks, per LFN and class, whether the grantor may read it).
    row{physician, care_teams, read, care_team | own_site, any, "physician.care_teams.read"},
    row{physician, care_teams, write, care_team | own_site, any, "physician.care_teams.write"},
    row{physician, grants, read, own_site, any, "physician.grants.read"},
    row{physician, grants, write, own_site, any, "physician.grants.write"},
    row{researcher, grants, read, own_site, any, "researcher.grants.read"},
    // Researchers: non-nominative data, under a grant, for research.
    row{researcher, deidentified_image, read, grant, for_research, "researcher.image.read"},
    row{researcher, index_attributes, read, grant, for_research, "researcher.index.read"},
    row{researcher, diagnoses, read, grant, for_research, "researcher.diagnoses.read"},
    row{researcher, key_share, read, grant, for_research, "researcher.key_share.read"},
    // Site admins run the node: the index (not identifying) and their site's audit chain; never
    // nominative data, images, diagnoses or keys.
    row{site_admin, index_attributes, read, always, any, "site_admin.index.read"},
    row{site_admin, index_attributes, write, own_site, any, "site_admin.index.write"},
    row{site_admin, audit_entries, read, own_site, any, "site_admin.audit.read"},
    row{site_admin, accounts, read, own_site, any, "site_admin.accounts.read"},
    row{site_admin, accounts, write, own_site, any, "site_admin.accounts.write"},
    row{site_admin, care_teams, read, own_site, any, "site_admin.care_teams.read"},
    row{site_admin, care_teams, write, own_site, any, "site_admin.care_teams.write"},
    row{site_admin, grants, read, own_site, any, "site_admin.grants.read"},
    row{site_admin, grants, write, own_site, any, "site_admin.grants.write"},  // revocation only (route)
    row{site_admin, node_status, read, own_site, any, "site_admin.node_status.read"},
    // A peer site with no user behind it: replication of index records and shares. A share is
    // released (read) only against a user's signed assertion, decided on that user's role.
    row{site, index_attributes, read, always, any, "site.index.read"},
    row{site, index_attributes, write, always, any, "site.index.write"},
    row{site, key_share, write, always, any, "site.key_share.write"},
};

decision refuse(std::string_view rule, std::string_view reason) { return {false, rule, reason}; }

}  // namespace

decision decide(const facts& f) {
  for (const auto& r : rules) {
    if (r.who != f.who || r.what != f.what || r.act != f.act) continue;
    if (r.purposes != any && (r.purposes & (1u << static_cast<unsigned>(f.why))) == 0) return refuse(r.name, "purpose");
    if ((r.needs & own_site) && !f.own_site) return refuse(r.name, "other_site");
    if ((r.needs & self) && !(f.self && f.who == patient)) return refuse(r.name, "self");
    if ((r.needs & care_team) && !f.care_team) return refuse(r.name, "care_team");
    if ((r.needs & grant) && !f.grant) return refuse(r.name, "grant");
    if ((r.needs & team_or_grant) && !f.care_team && !f.grant) return refuse(r.name, "care_team_or_grant");
    return {true, r.name, ""};
  }
  return refuse("no_rule", "no_rule");
}

std::string_view name_of(role r) {
  switch (r) {
    case patient: return "patient";
    case physician: return "physician";
    case researcher: return "researcher";
    case site_admin: return "site_admin";
    case site: return "site";
  }
  return "unknown";
}

std::string_view name_of(data_class c) {
  switch (c) {
    case nominative: return "nominative";
    case deidentified_image: return "deidentified_image";
    case index_attributes: return "index_attributes";
    case diagnoses: return "diagnoses";
    case audit_entries: return "audit_entries";
    case key_share: return "key_share";
    case accounts: return "accounts";
    case care_teams: return "care_teams";
    case grants: return "grants";
    case node_status: return "node_status";
  }
  return "unknown";
}

std::string_view name_of(action a) { return a == read ? "read" : "write"; }

std::string_view name_of(purpose p) {
  switch (p) {
    case purpose::none: return "none";
    case purpose::treatment: return "treatment";
    case purpose::research: return "research";
    case purpose::operations: return "operations";
  }
  return "unknown";
}

std::optional<role> user_role_from(std::string_view name) {
  for (auto r : {patient, physician, researcher, site_admin})
    if (name_of(r) == name) return r;
  return std::nullopt;
}

std::optional<data_class> data_class_from(std::string_view name) {
  for (auto c : {nominative, deidentified_image, index_attributes, diagnoses, audit_entries, key_share, accounts,
                 care_teams, grants, node_status})
    if (name_of(c) == name) return c;
  return std::nullopt;
}

std::optional<purpose> purpose_from(std::string_view name) {
  for (auto p : {purpose::none, purpose::treatment, purpose::research, purpose::operations})
    if (name_of(p) == name) return p;
  return std::nullopt;
}

}  // namespace dm2::node::access
