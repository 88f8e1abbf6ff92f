// The authorization matrix of issue 10 as a table: 4 roles x 6 data classes (and the access
// layer's own 3: accounts, care teams, grants; and the node's status) x {read, write} x
// {own site, other site} x {without, with} care-team membership / grant / own record, each cell's
// expected decision written out here independently of node/src/access/policy.cpp.
#include <gtest/gtest.h>

#include <array>
#include <string>

#include "access/policy.hpp"

namespace dm2::node::access {
namespace {

// One row per (role, class): 8 cells, 'A' allowed, '-' refused, in the order
//   read own-site without, read own-site with, read other-site without, read other-site with,
//   write own-site without, write own-site with, write other-site without, write other-site with.
// "with" is: the patient's own record (patient), care team and grant (physician), a grant
// (researcher), both (site admin: it changes nothing). Each role states its usual purpose.
struct expected_row {
  role who;
  data_class what;
  const char* cells;
};

constexpr std::array matrix{
    expected_row{role::patient, data_class::nominative, "-A------"},
    expected_row{role::patient, data_class::deidentified_image, "-A-A----"},
    expected_row{role::patient, data_class::index_attributes, "-A-A----"},
    expected_row{role::patient, data_class::diagnoses, "-A-A----"},
    expected_row{role::patient, data_class::audit_entries, "-A-A----"},
    expected_row{role::patient, data_class::key_share, "-A-A----"},
    expected_row{role::patient, data_class::accounts, "--------"},
    expected_row{role::patient, data_class::care_teams, "--------"},
    expected_row{role::patient, data_class::grants, "--------"},
    expected_row{role::patient, data_class::node_status, "--------"},
    expected_row{role::physician, data_class::nominative, "-A---A--"},
    expected_row{role::physician, data_class::deidentified_image, "-A-A-A--"},
    expected_row{role::physician, data_class::index_attributes, "AAAA----"},
    expected_row{role::physician, data_class::diagnoses, "-A-A-A--"},
    expected_row{role::physician, data_class::audit_entries, "--------"},
    expected_row{role::physician, data_class::key_share, "-A-A----"},
    expected_row{role::physician, data_class::accounts, "--------"},
    expected_row{role::physician, data_class::care_teams, "-A---A--"},
    expected_row{role::physician, data_class::grants, "AA--AA--"},
    expected_row{role::physician, data_class::node_status, "--------"},
    expected_row{role::researcher, data_class::nominative, "--------"},
    expected_row{role::researcher, data_class::deidentified_image, "-A-A----"},
    expected_row{role::researcher, data_class::index_attributes, "-A-A----"},
    expected_row{role::researcher, data_class::diagnoses, "-A-A----"},
    expected_row{role::researcher, data_class::audit_entries, "--------"},
    expected_row{role::researcher, data_class::key_share, "-A-A----"},
    expected_row{role::researcher, data_class::accounts, "--------"},
    expected_row{role::researcher, data_class::care_teams, "--------"},
    expected_row{role::researcher, data_class::grants, "AA------"},
    expected_row{role::researcher, data_class::node_status, "--------"},
    expected_row{role::site_admin, data_class::nominative, "--------"},
    expected_row{role::site_admin, data_class::deidentified_image, "--------"},
    expected_row{role::site_admin, data_class::index_attributes, "AAAAAA--"},
    expected_row{role::site_admin, data_class::diagnoses, "--------"},
    expected_row{role::site_admin, data_class::audit_entries, "AA------"},
    expected_row{role::site_admin, data_class::key_share, "--------"},
    expected_row{role::site_admin, data_class::accounts, "AA--AA--"},
    expected_row{role::site_admin, data_class::care_teams, "AA--AA--"},
    expected_row{role::site_admin, data_class::grants, "AA--AA--"},
    expected_row{role::site_admin, data_class::node_status, "AA------"},
};

purpose usual_purpose(role r) {
  switch (r) {
    case role::physician: return purpose::treatment;
    case role::researcher: return purpose::research;
    case role::site_admin: return purpose::operations;
    default: return purpose::none;
  }
}

facts cell_facts(role who, data_class what, int cell) {
  facts f;
  f.who = who;
  f.what = what;
  f.act = cell < 4 ? action::read : action::write;
  f.own_site = (cell % 4) < 2;
  bool with = cell % 2 == 1;
  f.care_team = with && who != role::researcher && who != role::patient;
  f.grant = with && who != role::patient;
  f.self = with && who == role::patient;
  f.why = usual_purpose(who);
  return f;
}

TEST(access_policy, every_cell_of_the_matrix) {
  int cells = 0;
  for (const auto& row : matrix) {
    ASSERT_EQ(std::string(row.cells).size(), 8u);
    for (int cell = 0; cell < 8; ++cell) {
      auto f = cell_facts(row.who, row.what, cell);
      auto d = decide(f);
      EXPECT_EQ(d.allowed, row.cells[cell] == 'A')
          << name_of(row.who) << " " << name_of(row.what) << " " << name_of(f.act) << (f.own_site ? " own" : " other")
          << (cell % 2 ? " with" : " without") << ": rule " << d.rule << " reason " << d.reason;
      if (d.allowed) EXPECT_TRUE(d.reason.empty());
      else EXPECT_FALSE(d.reason.empty());
      EXPECT_FALSE(d.rule.empty());
      ++cells;
    }
  }
  EXPECT_EQ(cells, 4 * 10 * 8);
}

TEST(access_policy, a_physician_needs_the_care_team_not_just_a_grant_for_nominative_data) {
  facts f{role::physician, data_class::nominative, action::read, purpose::treatment, true, false, true, false};
  EXPECT_FALSE(decide(f).allowed);
  EXPECT_EQ(decide(f).reason, "care_team");
}

TEST(access_policy, nominative_data_only_for_treatment) {
  facts f{role::physician, data_class::nominative, action::read, purpose::research, true, true, false, false};
  EXPECT_FALSE(decide(f).allowed);
  EXPECT_EQ(decide(f).reason, "purpose");
}

TEST(access_policy, a_researcher_grant_holds_for_research_only) {
  facts f{role::researcher, data_class::deidentified_image, action::read, purpose::treatment, true, false, true, false};
  EXPECT_FALSE(decide(f).allowed);
  EXPECT_EQ(decide(f).reason, "purpose");
  f.why = purpose::research;
  EXPECT_TRUE(decide(f).allowed);
}

TEST(access_policy, a_researcher_never_reads_nominative_data_even_with_a_grant_and_a_team) {
  facts f{role::researcher, data_class::nominative, action::read, purpose::research, true, true, true, true};
  EXPECT_FALSE(decide(f).allowed);
  EXPECT_EQ(decide(f).rule, "no_rule");
}

TEST(access_policy, self_counts_for_patients_only) {
  facts f{role::physician, data_class::deidentified_image, action::read, purpose::treatment, true, false, false, true};
  EXPECT_FALSE(decide(f).allowed);
  facts p{role::patient, data_class::deidentified_image, action::read, purpose::none, true, true, true, false};
  EXPECT_FALSE(decide(p).allowed);  // a patient's care team or grant is not his own record
  EXPECT_EQ(decide(p).reason, "self");
}

TEST(access_policy, a_site_replicates_the_index_and_shares_but_releases_no_share_without_a_user) {
  for (auto own : {true, false}) {
    EXPECT_TRUE(decide({role::site, data_class::index_attributes, action::read, purpose::none, own}).allowed);
    EXPECT_TRUE(decide({role::site, data_class::index_attributes, action::write, purpose::none, own}).allowed);
    EXPECT_TRUE(decide({role::site, data_class::key_share, action::write, purpose::none, own}).allowed);
    EXPECT_FALSE(decide({role::site, data_class::key_share, action::read, purpose::none, own}).allowed);
    EXPECT_FALSE(decide({role::site, data_class::nominative, action::read, purpose::none, own}).allowed);
    EXPECT_FALSE(decide({role::site, data_class::deidentified_image, action::read, purpose::none, own}).allowed);
  }
}

TEST(access_policy, names_round_trip) {
  for (auto r : {role::patient, role::physician, role::researcher, role::site_admin})
    EXPECT_EQ(user_role_from(name_of(r)), r);
  EXPECT_FALSE(user_role_from("site"));  // not a role an account can have
  EXPECT_FALSE(user_role_from("admin"));
  for (auto c : {data_class::nominative, data_class::deidentified_image, data_class::index_attributes,
                 data_class::diagnoses, data_class::audit_entries, data_class::key_share, data_class::accounts,
                 data_class::care_teams, data_class::grants})
    EXPECT_EQ(data_class_from(name_of(c)), c);
  EXPECT_EQ(purpose_from("research"), purpose::research);
  EXPECT_FALSE(purpose_from("curiosity"));
}

}  // namespace
}  // namespace dm2::node::access
