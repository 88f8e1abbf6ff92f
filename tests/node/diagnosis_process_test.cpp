// Diagnoses across three real dm2d processes (docs/security.md, "Diagnoses"): sites 1 and 2
// ingest heart MR series from their own real PACS (dcmqrscp in a private network namespace);
// site 2 holds a near-duplicate of site 1's patient. A physician of that patient's care team at
// site 2 records diagnoses for it: each is a new, signed version of the index record that
// reaches the other sites; its code comes back with query hits everywhere and filters queries;
// its text stays at site 2, shown there only to whom the policy lets read diagnoses. Others are
// refused, bad input changes nothing, and every decision is audited without the text.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "phantom_sites.hpp"
#include "support/temp_dir.hpp"

namespace dm2::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* fast_hashes = "[accounts]\nargon2_memory_kib = 1024\nargon2_passes = 1\n";
constexpr const char* stemi_text = "inferior STEMI, RCA occlusion; follow-up MR in 6 weeks";

// Site 1: the patient (seed 1001) and another; site 2: his near-duplicate and another; site 3 none.
const std::vector<planted_series> series_plan = {{1, 1001, 0, "20240101"}, {1, 1002, 0, "20240102"},
                                                 {2, 1001, 1, "20240201"}, {2, 2001, 0, "20240202"}};

class diagnosis_process_test : public ::testing::Test {
 protected:
  void SetUp() override {
    DM2_REQUIRE_PRIVATE_NETWORK();
    consortium_options options;
    options.address_octet = 87;
    options.extra_toml = fast_hashes;
    start_phantom_sites(dir.path(), options, series_plan, servers, sites);
    ASSERT_FALSE(HasFailure());
    ASSERT_TRUE(eventually([&] { return lfn_by_date(1).size() == 4; }, 30s));
    auto dates = lfn_by_date(1);
    patient = dates["20240101"];
    duplicate = dates["20240201"];
  }

  node::client_response call(int site, const std::string& method, const std::string& path, const std::string& body,
                             const std::string& token, const std::map<std::string, std::string>& extra = {}) {
    auto headers = extra;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    auto r = sites->request(site, method, path, body, token.empty() ? site : 0, headers);
    EXPECT_TRUE(r) << r.err().message;
    return r ? *r : node::client_response{};
  }

  // Starts a query at `site` (as its operator, or as the user of `token`) and polls it to the end.
  json run_query(int site, const json& body, const std::string& token = "") {
    auto started = call(site, "POST", "/v1/queries", body.dump(), token);
    if (started.status != 202) return json::parse(started.body, nullptr, false);
    auto location = json::parse(started.body).value("location", "");
    json view;
    EXPECT_TRUE(eventually(
        [&] {
          view = json::parse(call(site, "GET", location, "", token).body, nullptr, false);
          return view.is_object() && view.value("done", false);
        },
        40s))
        << view.dump();
    return view;
  }

  std::map<std::string, std::string> lfn_by_date(int site) {
    std::map<std::string, std::string> out;
    auto view = run_query(site, {{"filters", {{"modality", "MR"}}}, {"top_k", 50}});
    for (const auto& h : view.value("hits", json::array()))
      out[h["attributes"].value("study_date", "")] = h.value("lfn", "");
    return out;
  }

  // The record of `lfn` as `site` holds it (GET /v1/records as that site).
  json record_at(int site, const std::string& lfn) {
    return json::parse(call(site, "GET", "/v1/records?lfn=" + lfn, "", "").body, nullptr, false);
  }

  std::string token_of(int site, const std::string& name) {
    auto r = call(site, "POST", "/v1/sessions", json{{"name", name}, {"password", name + "-secret-pw"}}.dump(), "");
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body, nullptr, false).value("token", "");
  }

  std::string cli(const std::vector<std::string>& args, const std::string& input = "", int want = 0) {
    std::string command = input.empty() ? "" : "printf '%s\\n' '" + input + "' | ";
    command += built_program("node/dm2").string();
    for (const auto& a : args) command += " '" + a + "'";
    child_process p("/bin/sh", {"-c", command}, dir.path(), "cli-" + std::to_string(commands++));
    EXPECT_EQ(p.wait(60s), want) << command << ": " << p.stderr_text();
    return p.stdout_text();
  }

  temp_dir dir{"dm2-diagnoses"};
  std::map<int, std::unique_ptr<pacs_server>> servers;
  std::unique_ptr<process_consortium> sites;
  std::string patient, duplicate;
  int commands = 0;
};

TEST_F(diagnosis_process_test, a_care_team_physician_records_diagnoses_that_replicate_filter_and_keep_their_text_home) {
  // Site 2's people: dr-grey in the care team of the duplicate's patient, dr-other not, a researcher.
  for (const auto& [name, role] : {std::pair{"dr-grey", "physician"}, {"dr-other", "physician"}, {"m-curie", "researcher"}})
    ASSERT_EQ(call(2, "POST", "/v1/users", json{{"name", name}, {"role", role}, {"password", std::string(name) + "-secret-pw"}}.dump(), "").status,
              201);
  auto team = call(2, "POST", "/v1/care-teams", json{{"user", "dr-grey"}}.dump(), "",
                   {{"DM2-Patient-ID", synth::identity_of(1001).id}});
  ASSERT_EQ(team.status, 201) << team.body;
  auto grey = token_of(2, "dr-grey"), other = token_of(2, "dr-other"), curie = token_of(2, "m-curie");
  const auto path = "/v1/series/" + duplicate + "/diagnoses";
  const auto before = record_at(2, duplicate).value("version", 0);
  ASSERT_GE(before, 1);

  // Recorded: a new version of the record each time, signed by site 2.
  auto first = call(2, "POST", path, json{{"code", "I21.4"}, {"text", stemi_text}}.dump(), grey);
  ASSERT_EQ(first.status, 201) << first.body;
  auto added = json::parse(first.body);
  EXPECT_EQ(added.value("version", 0), before + 1);
  EXPECT_EQ(added["diagnosis"].value("code", ""), "I21.4");
  EXPECT_EQ(added["diagnosis"].value("n", 0), 1);
  EXPECT_TRUE(added["diagnosis"].value("has_text", false));
  ASSERT_EQ(call(2, "POST", path, json{{"code", "I25.2"}}.dump(), grey).status, 201);
  const auto recorded = before + 2;

  // Refused: a physician outside the care team, a researcher, the site's operator (a site
  // admin), the care-team physician on another site's series. Bad input: 4xx. Nothing changes.
  EXPECT_EQ(call(2, "POST", path, json{{"code", "I50.9"}}.dump(), other).status, 403);
  EXPECT_EQ(call(2, "POST", path, json{{"code", "I50.9"}}.dump(), curie).status, 403);
  EXPECT_EQ(call(2, "POST", path, json{{"code", "I50.9"}}.dump(), "").status, 403);
  EXPECT_EQ(call(2, "POST", "/v1/series/" + patient + "/diagnoses", json{{"code", "I50.9"}}.dump(), grey).status, 403);
  const std::pair<std::string, int> bad[] = {
      {json{{"code", "heart attack"}}.dump(), 400}, {json{{"text", ""}}.dump(), 400},
      {"{}", 400},                                   {json{{"code", "I21"}, {"by", "x"}}.dump(), 400},
      {"not json", 400},                             {json{{"text", std::string(1025, 'a')}}.dump(), 400},
      {std::string(5000, ' '), 413}};
  for (const auto& [body, status] : bad) {
    auto r = call(2, "POST", path, body, grey);
    EXPECT_EQ(r.status, status) << body.substr(0, 40) << " " << r.body;
    EXPECT_TRUE(json::parse(r.body, nullptr, false).contains("error")) << r.body;
  }
  EXPECT_EQ(call(2, "POST", "/v1/series/" + std::string(32, '0') + "/diagnoses", "{\"code\":\"I21\"}", grey).status, 404);
  EXPECT_EQ(call(2, "POST", "/v1/series/xyz/diagnoses", "{\"code\":\"I21\"}", grey).status, 400);
  EXPECT_EQ(record_at(2, duplicate).value("version", 0), recorded);

  // Replicated: sites 1 and 3 hold the new version, codes only.
  for (int site : {1, 3})
    EXPECT_TRUE(eventually([&] { return record_at(site, duplicate).value("version", 0) == recorded; }, 30s))
        << "site " << site << ": " << record_at(site, duplicate).dump();
  auto replica = record_at(3, duplicate);
  ASSERT_EQ(replica["diagnoses"].size(), 2u) << replica.dump();
  EXPECT_EQ(replica["diagnoses"][0].value("code", ""), "I21.4");
  EXPECT_EQ(replica["diagnoses"][1].value("code", ""), "I25.2");
  EXPECT_EQ(replica.dump().find("STEMI"), std::string::npos);

  // Returned with hits: by image at site 1, the near-duplicate first, with its codes, no text.
  auto by_image = run_query(1, {{"by_series", patient}, {"top_k", 3}, {"timeout_ms", 20000}});
  ASSERT_FALSE(by_image["hits"].empty()) << by_image.dump();
  const auto& top = by_image["hits"][0];
  EXPECT_EQ(top.value("lfn", ""), duplicate);
  // Stage 2 still reads the series' files: a diagnosis raised the record's version, not the
  // series' (its sealed files stay under the version the ingest committed).
  EXPECT_EQ(top.value("stage", 0), 2) << top.dump();
  EXPECT_EQ(top.value("series_version", 0), before) << top.dump();
  ASSERT_EQ(top["diagnoses"].size(), 2u) << top.dump();
  EXPECT_EQ(top["diagnoses"][0].value("code", ""), "I21.4");
  EXPECT_TRUE(top["diagnoses"][0].value("has_text", false));
  EXPECT_EQ(by_image.dump().find("STEMI"), std::string::npos);
  for (const auto& h : by_image["hits"])
    if (h.value("lfn", "") != duplicate) {
      EXPECT_TRUE(h["diagnoses"].empty()) << h.dump();
    }

  // Filtered: by code and by category, at another site than the owner.
  for (const char* code : {"I21.4", "I21", "I25"}) {
    auto view = run_query(1, {{"filters", {{"diagnosis_code", code}}}, {"top_k", 10}});
    ASSERT_EQ(view["hits"].size(), 1u) << code << " " << view.dump();
    EXPECT_EQ(view["hits"][0].value("lfn", ""), duplicate);
  }
  EXPECT_TRUE(run_query(1, {{"filters", {{"diagnosis_code", "I50"}}}})["hits"].empty());
  EXPECT_EQ(call(1, "POST", "/v1/queries", json{{"filters", {{"diagnosis_code", "MI"}}}}.dump(), "").status, 400);

  // The text, at the owner, only to whom may read diagnoses: the care team, not another physician
  // (codes only), not a researcher without a grant (the hit withheld).
  const json filter = {{"filters", {{"diagnosis_code", "I21"}}}};
  auto for_grey = run_query(2, filter, grey);
  ASSERT_EQ(for_grey["hits"].size(), 1u) << for_grey.dump();
  EXPECT_EQ(for_grey["hits"][0]["diagnoses"][0].value("text", ""), stemi_text);
  auto for_other = run_query(2, filter, other);
  ASSERT_EQ(for_other["hits"].size(), 1u) << for_other.dump();
  EXPECT_EQ(for_other["hits"][0]["diagnoses"][0].value("code", ""), "I21.4");
  EXPECT_EQ(for_other.dump().find("STEMI"), std::string::npos);
  auto for_curie = run_query(2, filter, curie);
  EXPECT_TRUE(for_curie["hits"].empty());
  EXPECT_EQ(for_curie.value("withheld", 0), 1);
  auto listed = call(2, "GET", path, "", grey);
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(json::parse(listed.body)["diagnoses"][0].value("text", ""), stemi_text);
  EXPECT_EQ(call(2, "GET", path, "", other).status, 403);
  EXPECT_EQ(call(2, "GET", path, "", curie).status, 403);
  EXPECT_EQ(call(2, "GET", path, "", "").status, 403);  // site admins never read diagnoses

  // The CLI: dr-grey signs in, lists, and adds a text-only diagnosis.
  auto config = sites->config_file(2).string();
  auto session = (dir.path() / "grey.session").string();
  cli({"sign-in", "dr-grey", "--session", session, "--config", config}, "dr-grey-secret-pw");
  auto out = cli({"diagnosis", "list", duplicate, "--session", session, "--config", config});
  EXPECT_NE(out.find("I21.4"), std::string::npos) << out;
  EXPECT_NE(out.find(stemi_text), std::string::npos) << out;
  out = cli({"diagnosis", "add", duplicate, "--text", "LV thrombus excluded", "--session", session, "--config", config});
  EXPECT_NE(out.find("#3"), std::string::npos) << out;
  cli({"diagnosis", "add", duplicate, "--code", "I21.4", "--config", config}, "", 5);  // the operator: 403
  cli({"diagnosis", "add", duplicate, "--session", session, "--config", config}, "", 2);
  EXPECT_EQ(record_at(2, duplicate).value("version", 0), recorded + 1);

  // Audited at site 2: additions, refusals and each text read; never the text itself.
  auto log = sites->stderr_text(2);
  ASSERT_TRUE(sites->stop(2));
  auto lines = sites->audit_lines(2);
  ASSERT_TRUE(lines) << lines.err().message;
  std::size_t added_entries = 0, refused = 0, read = 0;
  for (const auto& line : *lines) {
    EXPECT_EQ(line.find("STEMI"), std::string::npos) << line;
    if (line.find(" diagnosis_add " + duplicate + " allowed") != std::string::npos) ++added_entries;
    if (line.find(" diagnosis_add ") != std::string::npos && line.find("refused") != std::string::npos) ++refused;
    if (line.find(" diagnosis_read " + duplicate + " allowed") != std::string::npos) ++read;
  }
  EXPECT_EQ(added_entries, 3u);
  EXPECT_EQ(refused, 5u);  // the four above and the operator's CLI attempt
  EXPECT_GE(read, 1u);
  EXPECT_EQ(log.find("STEMI"), std::string::npos);

  // Restarted, site 2 keeps the series' files (its start-up sweep keeps the newest version at or
  // below the record's) and still scores it at stage 2.
  ASSERT_TRUE(sites->start({2}));
  auto again = run_query(1, {{"by_series", patient}, {"top_k", 1}, {"timeout_ms", 20000}});
  ASSERT_EQ(again["hits"].size(), 1u) << again.dump();
  EXPECT_EQ(again["hits"][0].value("lfn", ""), duplicate);
  EXPECT_EQ(again["hits"][0].value("stage", 0), 2) << again.dump();
}

}  // namespace
}  // namespace dm2::test
