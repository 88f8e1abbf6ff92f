// The one authorization policy of dm2 (docs/security.md, "The policy table"): who may do what
// to which class of data. A pure function of the facts a route (or a share holder) has gathered:
// no I/O, no clock, no state. Every route that serves data asks decide() and audits its answer;
// no other file decides access.
//
// The rules are one table (policy.cpp): a row per (role, data class, action) with the condition
// under which it allows; no row = refused. Thread-safe (pure functions over constant data).
#pragma once

#include <optional>
#include <string_view>

namespace dm2::node::access {

enum class role {
  patient,     // reads his own records (linked at his home site)
  physician,   // reads and writes for the patients of his care teams, and what is granted to him
  researcher,  // non-nominative data under a physician's grant, for research
  site_admin,  // runs the node and its accounts; never nominative data or images
  site,        // a roster member's certificate with no user behind it (replication, repair)
};

enum class data_class {
  nominative,          // name, patient ID, birth date, the LFN -> patient link
  deidentified_image,  // a series' de-identified pixel data (and its key)
  index_attributes,    // modality, body part, age band, signatures: the searchable index
  diagnoses,           // diagnosis codes and annotations
  audit_entries,       // who read what
  key_share,           // a Shamir share of a series or record key
  // What the access layer keeps itself (decided by the same table):
  accounts,            // user accounts of the site
  care_teams,          // who is in a patient's care team
  grants,              // physicians' grants to researchers and colleagues
  node_status,         // the node's overlay and ingest status: peers, counts, LFNs, no patient data
};

enum class action { read, write };

enum class purpose {
  none,       // not stated
  treatment,  // care of the patient
  research,   // under a grant
  operations, // running the node
};

// What the caller knows about one request, gathered before asking.
struct facts {
  role who = role::site;
  data_class what = data_class::nominative;
  action act = action::read;
  purpose why = purpose::none;
  bool own_site = true;       // the data's owning site is the user's home site (accounts are per site)
  bool care_team = false;     // the user is in the care team of the data's patient
  bool grant = false;         // a live, unrevoked grant covers this user, LFN and data class
  bool self = false;          // the data is the patient's own (patient role only)
};

struct decision {
  bool allowed = false;
  std::string_view rule;  // the table row that decided ("physician.nominative.read"), or "no_rule"
  std::string_view reason;  // why a refusal: "care_team", "grant", "purpose", "other_site", "self", "no_rule"
};

decision decide(const facts& f);

// Names used in audit entries, JSON and the docs ("physician", "key_share", "read", "research").
std::string_view name_of(role r);
std::string_view name_of(data_class c);
std::string_view name_of(action a);
std::string_view name_of(purpose p);
// Inverses; nullopt for an unknown name. `site` is not a role a user can have.
std::optional<role> user_role_from(std::string_view name);
std::optional<data_class> data_class_from(std::string_view name);
std::optional<purpose> purpose_from(std::string_view name);

}  // namespace dm2::node::access
