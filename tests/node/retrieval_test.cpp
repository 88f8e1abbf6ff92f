// Retrieval of de-identified series through three real dm2d processes, against a real PACS
// (dcmqrscp in a private network namespace): site 1 ingests two patients' series; its patient,
// a physician of the care team and a researcher under a grant get exactly the de-identified
// series, byte for byte, rebuilt from key shares released by the other sites for that request;
// everybody else is refused (403) and audited; with one share holder down it still works (and
// again after a holder restarts: the peers' kept-alive connections), with both down it answers
// 503 and says why. Share holders check the assertion themselves.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "access/assertion.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/private_file.hpp"
#include "dm2/storage/database.hpp"
#include "ingest_reference.hpp"
#include "pacs_server_fixture.hpp"
#include "process_consortium.hpp"
#include "retrieval/series_bundle.hpp"
#include "retrieval/share_release.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "synthetic_series.hpp"

namespace dm2::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* fast_hashes = "[accounts]\nargon2_memory_kib = 1024\nargon2_passes = 1\n";

// The parts of a multipart/related body (each part's Content-Length bytes), in order.
std::vector<std::string> parts_of(const node::client_response& r) {
  std::vector<std::string> parts;
  auto ct = r.headers.count("content-type") ? r.headers.at("content-type") : "";
  auto at = ct.find("boundary=");
  if (ct.rfind("multipart/related", 0) != 0 || at == std::string::npos) return parts;
  auto delimiter = "--" + ct.substr(at + 9);
  std::size_t pos = 0;
  while (true) {
    pos = r.body.find(delimiter, pos);
    if (pos == std::string::npos || r.body.compare(pos + delimiter.size(), 2, "--") == 0) break;
    auto headers_end = r.body.find("\r\n\r\n", pos);
    auto length_at = r.body.find("Content-Length: ", pos);
    if (headers_end == std::string::npos || length_at == std::string::npos ||
        length_at > headers_end)
      break;
    auto length = std::stoull(r.body.substr(length_at + 16, headers_end - length_at - 16));
    parts.push_back(r.body.substr(headers_end + 4, length));
    pos = headers_end + 4 + length;
  }
  return parts;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class retrieval_test : public ::testing::Test {
 protected:
  void SetUp() override {
    DM2_REQUIRE_PRIVATE_NETWORK();
    fs::create_directories(dir.path() / "pacs");
    server = std::make_unique<dcmqrscp_server>(dir.path() / "pacs");
    ASSERT_EQ(server->start(), "");
  }

  synthetic_series add_series(const synthetic_options& o) {
    auto sub = dir.path() / "series" / std::to_string(++series_count);
    fs::create_directories(sub);
    auto s = write_synthetic_series(sub, o);
    EXPECT_EQ(server->upload(s.files), "");
    return s;
  }

  node::client_response call(int site, const std::string& method, const std::string& path,
                             const std::string& body, const std::string& token, int as_site = 0,
                             std::map<std::string, std::string> headers = {}) {
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    auto r = sites->request(site, method, path, body, as_site, headers);
    EXPECT_TRUE(r) << r.err().message;
    return r ? *r : node::client_response{};
  }

  std::string token_of(int site, const std::string& name) {
    auto r = call(site, "POST", "/v1/sessions",
                  json{{"name", name}, {"password", name + "-secret-pw"}}.dump(), "");
    EXPECT_EQ(r.status, 201) << r.body;
    auto j = json::parse(r.body, nullptr, false);
    return j.is_object() ? j.value("token", "") : "";
  }

  // An account made by the site admin; its pseudonym.
  std::string make_user(const std::string& admin, const std::string& name, const std::string& role,
                        const std::string& patient_id = "") {
    json body = {{"name", name}, {"role", role}, {"password", name + "-secret-pw"}};
    if (!patient_id.empty()) body["patient_id"] = patient_id;
    auto r = call(1, "POST", "/v1/users", body.dump(), admin);
    EXPECT_EQ(r.status, 201) << r.body;
    auto j = json::parse(r.body, nullptr, false);
    return j.is_object() ? j.value("id", "") : "";
  }

  std::vector<std::string> audit_lines(int site) {
    auto lines = sites->audit_lines(site);
    EXPECT_TRUE(lines) << lines.err().message;
    return lines ? *lines : std::vector<std::string>{};
  }

  // Starts three sites, site 1 ingesting the test PACS (its [pacs] section ending with
  // `pacs_extra`), and waits for its first run to index `series` series; their LFNs.
  void start_and_ingest(int octet, const std::string& pacs_extra, int series, std::vector<std::string>& lfns) {
    consortium_options options;
    options.address_octet = octet;
    options.extra_toml = std::string(fast_hashes) + "[overlay]\nrepair_period_s = 2\n";
    options.site_toml[1] = pacs_toml(server->settings(), pacs_extra);
    auto created = process_consortium::create(dir.path() / "consortium", options);
    ASSERT_TRUE(created) << created.err().message;
    sites = std::move(*created);
    ASSERT_TRUE(sites->start_all());
    json run;
    ASSERT_TRUE(eventually(
        [&] {
          auto r = call(1, "GET", "/v1/ingest", "", "", 1);
          auto j = json::parse(r.body, nullptr, false);
          if (r.status != 200 || !j.is_object() || !j["current_run"].is_null() ||
              !j["last_run"].is_object())
            return false;
          run = j["last_run"];
          return true;
        },
        90s));
    ASSERT_EQ(run.value("state", ""), "done") << run.dump();
    ASSERT_EQ(run["counts"].value("series_indexed", 0), series) << run.dump();
    auto listed = call(1, "GET", "/v1/overlay/records?limit=10", "", "", 1);
    auto records = json::parse(listed.body, nullptr, false);
    for (const auto& r : records["records"]) lfns.push_back(r.value("lfn", ""));
    ASSERT_EQ(lfns.size(), std::size_t(series)) << listed.body;
  }

  // Accounts at site 1: the operator's CLI-free path (site certificate = site admin) makes an
  // admin, who makes the rest; patients are linked by their patient ID (only its keyed hash
  // kept). The admin's token.
  std::string make_admin() {
    auto made =
        call(1, "POST", "/v1/users",
             json{{"name", "admin"}, {"role", "site_admin"}, {"password", "admin-secret-pw"}}.dump(),
             "", 1);
    EXPECT_EQ(made.status, 201) << made.body;
    return token_of(1, "admin");
  }

  // The one of `lfns` that `token`'s user may read, once the key shares are placed ("" if none).
  std::string readable_by(const std::string& token, const std::vector<std::string>& lfns) {
    std::string found;
    eventually(
        [&] {
          for (const auto& l : lfns)
            if (call(1, "GET", "/v1/series/" + l, "", token).status == 200) found = l;
          return !found.empty();
        },
        30s);
    return found;
  }

  // The value of a counter sample (its name with labels) in site 1's /metrics, 0 if absent.
  double metric(const std::string& sample) {
    auto r = call(1, "GET", "/metrics", "", "", 1);
    std::istringstream lines(r.body);
    for (std::string line; std::getline(lines, line);)
      if (line.rfind(sample + " ", 0) == 0) return std::stod(line.substr(sample.size() + 1));
    return 0;
  }

  static bool any_line(const std::vector<std::string>& lines, const std::string& text) {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return l.find(text) != std::string::npos; });
  }

  temp_dir dir{"dm2-retrieval"};
  std::unique_ptr<pacs_server> server;
  std::unique_ptr<process_consortium> sites;
  int series_count = 0;
};

TEST_F(retrieval_test, authorized_users_get_the_deidentified_series_t_of_n_and_nobody_else_does) {
  synthetic_options one;
  one.patient_name = "RETRIEVAL^ONE";
  one.patient_id = "RET-PID-0001";
  one.slices = 5;
  one.rows = one.columns = 32;
  auto two = one;
  two.patient_name = "RETRIEVAL^TWO";
  two.patient_id = "RET-PID-0002";
  two.slices = 3;
  two.sex = "M";  // a query by sex finds patient one's series alone (a grant of a query result)
  auto s1 = add_series(one);
  auto s2 = add_series(two);

  std::vector<std::string> lfns;
  ASSERT_NO_FATAL_FAILURE(start_and_ingest(83, "", 2, lfns));
  auto admin = make_admin();
  auto house_id = make_user(admin, "dr-house", "physician");
  auto other_id = make_user(admin, "dr-other", "physician");
  auto curie_id = make_user(admin, "m-curie", "researcher");
  make_user(admin, "pat-one", "patient", one.patient_id);
  make_user(admin, "pat-two", "patient", two.patient_id);
  auto house = token_of(1, "dr-house"), other = token_of(1, "dr-other"),
       curie = token_of(1, "m-curie");
  auto pat_one = token_of(1, "pat-one"), pat_two = token_of(1, "pat-two");

  // Which LFN is patient one's: the one she may read (once the shares are placed).
  auto mine = readable_by(pat_one, lfns);
  ASSERT_FALSE(mine.empty());
  auto theirs = mine == lfns[0] ? lfns[1] : lfns[0];
  auto deid = site_deid_options(sites->site_dir(1) / "identity");
  auto expected =
      deidentified_reference(server->settings(), s1.study_uid, s1.series_uid, deid, dir.path());
  ASSERT_EQ(expected.size(), one.slices);
  auto same_as_expected = [&](const node::client_response& r) {
    auto parts = parts_of(r);
    if (parts.size() != expected.size()) return false;
    for (std::size_t k = 0; k < parts.size(); ++k)
      if (parts[k] != slurp(expected[k])) return false;
    return true;
  };

  // The patient: her own series, byte for byte; not the other patient's.
  auto own = call(1, "GET", "/v1/series/" + mine, "", pat_one);
  ASSERT_EQ(own.status, 200) << own.body;
  EXPECT_TRUE(same_as_expected(own));
  // Streamed part by part, its length and parts announced before the first byte.
  EXPECT_EQ(own.headers["content-length"], std::to_string(own.body.size()));
  EXPECT_EQ(own.headers["dm2-parts"], std::to_string(one.slices));
  EXPECT_EQ(call(1, "GET", "/v1/series/" + theirs, "", pat_one).status, 403);
  EXPECT_EQ(call(1, "GET", "/v1/series/" + mine, "", pat_two).status, 403);
  auto nifti = call(1, "GET", "/v1/series/" + mine + "?format=nifti", "", pat_one);
  ASSERT_EQ(nifti.status, 200);
  ASSERT_GE(nifti.body.size(), 352u);
  EXPECT_EQ(nifti.body.substr(0, 4), std::string("\x5c\x01\x00\x00", 4));  // sizeof_hdr = 348
  EXPECT_EQ(nifti.headers["content-length"], std::to_string(nifti.body.size()));

  // The same through the CLI: `dm2 sign-in` (password on stdin) keeps the session in a file;
  // `dm2 series get` with it writes one file per instance as the parts stream in (no progress
  // bar: not a terminal).
  auto out = dir.path() / "cli-get";
  auto session = dir.path() / "pat-one.session";
  child_process cli("/bin/sh",
                    {"-c", "printf 'pat-one-secret-pw\\n' | \"$0\" sign-in pat-one --session \"$4\" --config \"$2\" >/dev/null && "
                           "\"$0\" series get \"$1\" --session \"$4\" --config \"$2\" -o \"$3\" --json",
                     built_program("node/dm2").string(), mine, sites->config_file(1).string(), out.string(),
                     session.string()},
                    dir.path(), "dm2-series-get");
  ASSERT_EQ(cli.wait(60s), 0) << cli.stderr_text();
  auto summary = json::parse(cli.stdout_text(), nullptr, false);
  ASSERT_TRUE(summary.is_object()) << cli.stdout_text();
  EXPECT_EQ(summary.value("instances", 0u), one.slices);
  EXPECT_EQ(cli.stderr_text(), "");
  for (std::size_t k = 0; k < expected.size(); ++k) {
    char name[32];
    std::snprintf(name, sizeof name, "%06zu.dcm", k);
    EXPECT_EQ(slurp(out / name), slurp(expected[k])) << name;
  }
  // Her series list holds hers alone, and her nominative record names her.
  auto her_list = sites->dm2(1, {"series", "list", "--json", "--session", session.string()});
  ASSERT_EQ(her_list.code, 0) << her_list.err;
  auto her_series = json::parse(her_list.out, nullptr, false);
  ASSERT_TRUE(her_series.is_object() && her_series["series"].size() == 1) << her_list.out;
  EXPECT_EQ(her_series["series"][0].value("lfn", ""), mine);
  auto her_record = sites->dm2(1, {"series", "nominative", mine, "--json", "--session", session.string()});
  ASSERT_EQ(her_record.code, 0) << her_record.err;
  EXPECT_EQ(json::parse(her_record.out, nullptr, false).value("patient_id", ""), one.patient_id) << her_record.out;

  // A physician: not before he is in the patient's care team (by her opaque reference), then yes.
  EXPECT_EQ(call(1, "GET", "/v1/series/" + mine, "", house).status, 403);
  auto storage_key = *crypto::read_private_file(sites->site_dir(1) / "identity" / "storage.key");
  auto ref = crypto::to_hex(crypto::hmac_sha256(storage_key, "dm2 patient ref v1" + one.patient_id))
                 .substr(0, 32);
  auto joined = call(1, "POST", "/v1/care-teams/" + ref, json{{"user", "dr-house"}}.dump(), admin);
  ASSERT_EQ(joined.status, 201) << joined.body;
  auto by_house = call(1, "GET", "/v1/series/" + mine, "", house);
  ASSERT_EQ(by_house.status, 200) << by_house.body;
  EXPECT_TRUE(same_as_expected(by_house));
  EXPECT_EQ(call(1, "GET", "/v1/series/" + theirs, "", house).status, 403);
  EXPECT_EQ(call(1, "GET", "/v1/series/" + mine, "", other).status, 403);
  EXPECT_EQ(call(1, "GET", "/v1/series/" + mine, "", admin).status, 403);
  EXPECT_EQ(call(1, "GET", "/v1/series/" + mine, "", "", 1).status,
            403);  // the operator: a site admin
  EXPECT_EQ(call(1, "GET", "/v1/series/" + mine, "", "").status, 401);

  // The same people from the CLI, each signed in with `dm2 sign-in`: the physician of the care
  // team lists his patients' series and reads who the patient is; not another patient's record.
  // A researcher without a grant is refused with the node's reason and exit code 5 (the node
  // refused), nothing on stdout.
  auto house_session = (dir.path() / "house.session").string();
  auto curie_session = (dir.path() / "curie.session").string();
  ASSERT_EQ(sites->dm2(1, {"sign-in", "dr-house", "--session", house_session}, "dr-house-secret-pw").code, 0);
  ASSERT_EQ(sites->dm2(1, {"sign-in", "m-curie", "--session", curie_session}, "m-curie-secret-pw").code, 0);
  auto house_list = sites->dm2(1, {"series", "list", "--json", "--session", house_session});
  ASSERT_EQ(house_list.code, 0) << house_list.err;
  auto house_series = json::parse(house_list.out, nullptr, false);
  ASSERT_TRUE(house_series.is_object()) << house_list.out;
  ASSERT_EQ(house_series["series"].size(), 1u) << house_list.out;
  EXPECT_EQ(house_series["series"][0].value("lfn", ""), mine);
  auto named = sites->dm2(1, {"series", "nominative", mine, "--session", house_session});
  ASSERT_EQ(named.code, 0) << named.err;
  for (const auto& field : {one.patient_name, one.patient_id, s1.study_uid, s1.series_uid})
    EXPECT_NE(named.out.find(field), std::string::npos) << field << " not in:\n" << named.out;
  auto not_his = sites->dm2(1, {"series", "nominative", theirs, "--session", house_session});
  EXPECT_EQ(not_his.code, 5) << not_his.out;
  EXPECT_EQ(not_his.out.find(two.patient_id), std::string::npos);
  for (const auto& asked : {std::vector<std::string>{"series", "nominative", mine},
                            std::vector<std::string>{"series", "list"},
                            std::vector<std::string>{"series", "get", mine, "-o", (dir.path() / "curie-get").string()}}) {
    auto args = asked;
    args.insert(args.end(), {"--session", curie_session});
    auto refused = sites->dm2(1, args);
    EXPECT_EQ(refused.code, 5) << asked[1] << ": " << refused.out;
    EXPECT_NE(refused.err.find("node answered 403"), std::string::npos) << asked[1] << ": " << refused.err;
    EXPECT_EQ(refused.out, "") << asked[1];
  }
  EXPECT_FALSE(fs::exists(dir.path() / "curie-get"));  // a refused download leaves no folder

  // A researcher: under the physician's grant of the image and its key share, that LFN only.
  EXPECT_EQ(call(1, "GET", "/v1/series/" + mine, "", curie).status, 403);
  auto granted = call(1, "POST", "/v1/grants",
                      json{{"grantee", "m-curie"},
                           {"lfns", {mine}},
                           {"classes", {"deidentified_image", "key_share"}},
                           {"expires_in_s", 3600}}
                          .dump(),
                      house);
  ASSERT_EQ(granted.status, 201) << granted.body;
  auto by_curie = call(1, "GET", "/v1/series/" + mine, "", curie);
  ASSERT_EQ(by_curie.status, 200) << by_curie.body;
  EXPECT_TRUE(same_as_expected(by_curie));
  EXPECT_EQ(call(1, "GET", "/v1/series/" + theirs, "", curie).status, 403);
  // From the CLI too, with the session she signed in with before the grant; still no name.
  auto curie_get = sites->dm2(1, {"series", "get", mine, "--json", "-o", (dir.path() / "curie-granted").string(),
                                  "--session", curie_session});
  ASSERT_EQ(curie_get.code, 0) << curie_get.err;
  EXPECT_EQ(json::parse(curie_get.out, nullptr, false).value("instances", 0u), one.slices) << curie_get.out;
  EXPECT_EQ(sites->dm2(1, {"series", "nominative", mine, "--session", curie_session}).code, 5);
  // What the researcher downloaded names nobody (the de-identified series only).
  for (const auto& canary :
       {one.patient_name, one.patient_id, two.patient_name, s1.series_uid, s1.study_uid})
    EXPECT_EQ(by_curie.body.find(canary), std::string::npos) << canary;

  // A grant of a saved query result: a physician of both patients' care teams queries by sex
  // (patient one's series alone is a hit) and grants the result; the researcher reads exactly
  // that hit, not the other series, which the physician could have granted too.
  make_user(admin, "dr-both", "physician");
  make_user(admin, "r-query", "researcher");
  auto both = token_of(1, "dr-both"), r_query = token_of(1, "r-query");
  auto ref_two = crypto::to_hex(crypto::hmac_sha256(storage_key, "dm2 patient ref v1" + two.patient_id)).substr(0, 32);
  for (const auto& patient : {ref, ref_two})
    ASSERT_EQ(call(1, "POST", "/v1/care-teams/" + patient, json{{"user", "dr-both"}}.dump(), admin).status, 201);
  auto started = call(1, "POST", "/v1/queries", json{{"filters", {{"sex", "F"}}}}.dump(), both);
  ASSERT_EQ(started.status, 202) << started.body;
  auto query_id = json::parse(started.body)["id"].get<std::string>();
  json result;
  ASSERT_TRUE(eventually(
      [&] {
        result = json::parse(call(1, "GET", "/v1/queries/" + query_id, "", both).body, nullptr, false);
        return result.is_object() && result.value("done", false);
      },
      30s));
  ASSERT_EQ(result["hits"].size(), 1u) << result.dump();
  EXPECT_EQ(result["hits"][0].value("lfn", ""), mine);
  auto query_grant = json{{"grantee", "r-query"},
                          {"query", query_id},
                          {"classes", {"index_attributes", "deidentified_image", "key_share"}},
                          {"expires_in_s", 3600}}
                         .dump();
  // Only who ran the query grants its result, even a physician who could grant each hit by name.
  EXPECT_EQ(call(1, "POST", "/v1/grants", query_grant, house).status, 404);
  auto by_query = call(1, "POST", "/v1/grants", query_grant, both);
  ASSERT_EQ(by_query.status, 201) << by_query.body;
  EXPECT_EQ(json::parse(by_query.body)["lfns"], json::array({mine})) << by_query.body;
  EXPECT_EQ(json::parse(by_query.body).value("query", ""), query_id);
  auto by_r_query = call(1, "GET", "/v1/series/" + mine, "", r_query);
  ASSERT_EQ(by_r_query.status, 200) << by_r_query.body;
  EXPECT_TRUE(same_as_expected(by_r_query));
  EXPECT_EQ(call(1, "GET", "/v1/records?lfn=" + mine, "", r_query).status, 200);
  // His to grant, not granted; its key shares may still be on their way (never read before).
  EXPECT_TRUE(eventually([&] { return call(1, "GET", "/v1/series/" + theirs, "", both).status == 200; }, 30s));
  EXPECT_EQ(call(1, "GET", "/v1/series/" + theirs, "", r_query).status, 403);
  EXPECT_EQ(call(1, "GET", "/v1/records?lfn=" + theirs, "", r_query).status, 403);

  // Share holders decide for themselves: no assertion, an assertion vouching for a care team
  // from a site that does not own the series, or one without a grant: refused, nothing released.
  auto key1 = *crypto::read_private_file(sites->site_dir(1) / "identity" / "dht.key");
  auto key2 = *crypto::read_private_file(sites->site_dir(2) / "identity" / "dht.key");
  node::access::assertion a;
  a.site = "site-2";
  a.user = house_id;
  a.who = node::access::role::physician;
  a.why = node::access::purpose::treatment;
  a.basis = node::access::basis_care_team;
  a.lfns = {mine};
  a.classes = {node::access::data_class::key_share};
  auto ask_site3 = [&](int as_site, const std::string& wire) {
    return call(3, "GET", "/v1/key-shares/" + mine, "", "", as_site,
                wire.empty() ? std::map<std::string, std::string>{}
                             : std::map<std::string, std::string>{{"DM2-Assertion", wire}});
  };
  EXPECT_EQ(ask_site3(2, "").status, 403);
  EXPECT_EQ(ask_site3(2, *node::access::sign_assertion(a, key2, now_ms())).status, 403);
  auto researcher = a;
  researcher.site = "site-1";
  researcher.user = curie_id;
  researcher.who = node::access::role::researcher;
  researcher.why = node::access::purpose::research;
  researcher.basis.clear();
  EXPECT_EQ(ask_site3(1, *node::access::sign_assertion(researcher, key1, now_ms())).status, 403);
  // The owner streams its sealed series to another site only for what the owner itself vouches
  // for: a grant asserted by another site (grants are made at the owner, for its users) gets
  // nothing, nor does a request without an assertion.
  auto grantee = researcher;
  grantee.site = "site-2";
  grantee.grant = std::string(32, 'e');
  grantee.classes = {node::access::data_class::deidentified_image};
  auto bundle = call(1, "GET", "/v1/series/" + mine + "/sealed", "", "", 2,
                     {{"DM2-Assertion", *node::access::sign_assertion(grantee, key2, now_ms())}});
  EXPECT_EQ(bundle.status, 403) << bundle.body;
  EXPECT_NE(bundle.headers["content-type"], "application/vnd.dm2.sealed-series");
  EXPECT_EQ(call(1, "GET", "/v1/series/" + mine + "/sealed", "", "", 2).status, 403);

  // The owner's own vouching is believed, and what is released opens only for that request.
  auto vouched = a;
  vouched.site = "site-1";
  vouched.nonce = std::string(32, '7');
  auto released = ask_site3(1, *node::access::sign_assertion(vouched, key1, now_ms()));
  ASSERT_EQ(released.status, 200) << released.body;
  auto sealed = crypto::from_base64(json::parse(released.body)["shares"][0].get<std::string>());
  ASSERT_TRUE(sealed);
  auto seal1 = *crypto::read_private_file(sites->site_dir(1) / "identity" / "seal.key");
  EXPECT_TRUE(node::open_release(seal1, *sealed, mine, vouched.nonce).ok());
  EXPECT_FALSE(node::open_release(seal1, *sealed, mine, std::string(32, '8')).ok());
  auto seal3 = *crypto::read_private_file(sites->site_dir(3) / "identity" / "seal.key");
  EXPECT_FALSE(node::open_release(seal3, *sealed, mine, vouched.nonce).ok());

  // The patient sees who read her series, from every site's own audit chain; only hers.
  auto history = call(1, "GET", "/v1/me/accesses", "", pat_one);
  ASSERT_EQ(history.status, 200) << history.body;
  auto h = json::parse(history.body, nullptr, false);
  EXPECT_EQ(h.value("series", 0), 1);
  auto seen = [&](const json& j, const std::string& site, const std::string& actor,
                  const std::string& action) {
    for (const auto& e : j["entries"])
      if (e.value("site", "") == site && e.value("actor", "") == actor &&
          e.value("action", "") == action && e.value("lfn", "") == mine)
        return true;
    return false;
  };
  EXPECT_TRUE(seen(h, "site-1", "user:" + curie_id, "series_get")) << history.body;
  EXPECT_TRUE(seen(h, "site-1", "user:" + other_id, "series_get")) << history.body;
  EXPECT_TRUE(seen(h, "site-2", "user:" + house_id + "@site-1", "key_share_release"))
      << history.body;
  EXPECT_TRUE(seen(h, "site-3", "user:" + curie_id + "@site-1", "key_share_release"))
      << history.body;
  EXPECT_TRUE(seen(h, "site-3", "user:" + house_id + "@site-2", "key_share_release"))
      << history.body;
  for (const auto& e : h["entries"]) EXPECT_EQ(e.value("lfn", ""), mine);
  EXPECT_EQ(h["sites_unreachable"].size(), 0u);
  EXPECT_EQ(history.body.find(one.patient_id), std::string::npos);
  auto other_patient = call(1, "GET", "/v1/me/accesses", "", pat_two);
  ASSERT_EQ(other_patient.status, 200) << other_patient.body;
  auto their_history = json::parse(other_patient.body, nullptr, false);  // named: outlives the loop
  for (const auto& e : their_history["entries"]) EXPECT_EQ(e.value("lfn", ""), theirs);
  EXPECT_EQ(call(1, "GET", "/v1/me/accesses", "", house).status, 403);
  EXPECT_EQ(call(1, "GET", "/v1/me/accesses", "", admin).status, 403);
  EXPECT_EQ(call(2, "GET", "/v1/audit-entries", "", "", 3).status,
            403);  // a site, no patient's assertion

  // Share requests go over kept-alive connections (https_pool): the retrievals above reused some.
  EXPECT_GT(metric("dm2_peer_requests_reusing_total"), 0);
  EXPECT_LT(metric("dm2_peer_connections_opened_total"), metric("dm2_peer_requests_reusing_total"));

  // t of n: with one share holder down the owner's share and the other holder's suffice.
  sites->kill(2);
  auto partial = call(1, "GET", "/v1/me/accesses", "", pat_one);
  ASSERT_EQ(partial.status, 200) << partial.body;
  EXPECT_EQ(json::parse(partial.body, nullptr, false)["sites_unreachable"],
            json::array({"site-2"}));
  auto degraded = call(1, "GET", "/v1/series/" + mine, "", house);
  ASSERT_EQ(degraded.status, 200) << degraded.body;
  EXPECT_TRUE(same_as_expected(degraded));
  // Site 2 restarted, site 3 down: site 2's share is needed, asked over a new connection (the
  // pooled one died with the old process), and the series is whole again.
  ASSERT_TRUE(sites->start({2}));
  sites->kill(3);
  auto restarted = call(1, "GET", "/v1/series/" + mine, "", house);
  ASSERT_EQ(restarted.status, 200) << restarted.body;
  EXPECT_TRUE(same_as_expected(restarted));
  // With n - t + 1 = 2 holders down: 503, a clear message, nothing served.
  sites->kill(2);
  auto none = call(1, "GET", "/v1/series/" + mine, "", house);
  EXPECT_EQ(none.status, 503) << none.body;
  auto refusal = json::parse(none.body, nullptr, false);  // named: outlives the lookups below
  ASSERT_TRUE(refusal.is_object()) << none.body;
  EXPECT_EQ(refusal["error"].value("code", ""), "unavailable");
  auto message = refusal["error"].value("message", "");
  // How many of how many: the owner's own share is the one left (t = 2).
  EXPECT_NE(message.find("1 key share(s) reachable, 2 needed"), std::string::npos) << none.body;
  EXPECT_NE(message.find("nothing was released"), std::string::npos) << none.body;
  EXPECT_EQ(none.headers["content-type"], "application/json");
  EXPECT_EQ(none.body.find("DICM"), std::string::npos);
  EXPECT_EQ(none.headers.count("dm2-parts"), 0u);

  ASSERT_TRUE(sites->stop(1));
  auto audit1 = audit_lines(1);
  EXPECT_TRUE(any_line(audit1, "user:" + curie_id + " series_get " + mine + " allowed"));
  EXPECT_TRUE(any_line(audit1, "user:" + curie_id + " series_get " + theirs + " refused: "));
  EXPECT_TRUE(any_line(audit1, "user:" + other_id + " series_get " + mine + " refused: "));
  // The physician's four allowed retrievals are audited, the one that failed for want of shares
  // too (whole, t of n, after site 2's restart, then 503).
  auto allowed = [&](const std::string& action) {
    return std::count_if(audit1.begin(), audit1.end(), [&](const std::string& l) {
      return l.rfind("user:" + house_id + " " + action + " " + mine + " allowed", 0) == 0;
    });
  };
  EXPECT_EQ(allowed("series_get"), 4);
  EXPECT_EQ(allowed("key_share_get"), 4);
  for (int holder : {2, 3}) {
    auto audit = audit_lines(holder);
    SCOPED_TRACE(holder);
    EXPECT_TRUE(
        any_line(audit, "user:" + house_id + "@site-1 key_share_release " + mine + " allowed"));
    EXPECT_TRUE(
        any_line(audit, "user:" + curie_id + "@site-1 key_share_release " + mine + " allowed"));
  }
  auto audit3 = audit_lines(3);
  EXPECT_TRUE(
      any_line(audit3, "user:" + house_id + "@site-2 key_share_release " + mine + " refused: "));
  EXPECT_TRUE(
      any_line(audit3, "user:" + curie_id + "@site-1 key_share_release " + mine + " refused: "));
  EXPECT_TRUE(any_line(audit3, "site:site-2 key_share_release " + mine + " refused: no_assertion"));
}

// A field of /proc/<pid>/status, in KiB (VmRSS, VmHWM); -1 if absent.
long status_kib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

// Another owner's series streams through the home site, it is not held there: a researcher of
// site 2, under site 1's cross-site grant, retrieves a 21 MB series (40 CT slices of 512 x 512)
// and its 42 MB volume that site 1 owns. He gets site 1's own answer's bytes, and site 2's peak
// resident memory during each retrieval grows by a few files (its hand-off holds at most 4 MiB
// of them), not by the series: before, site 2 read the owner's whole bundle (instances and
// volume) and copied its files before sending a byte, 120 MiB at its peak.
TEST_F(retrieval_test, another_owners_series_streams_through_the_home_site_in_bounded_memory) {
  synthetic_options big;  // the default patient
  big.slices = 40;
  big.rows = big.columns = 512;
  add_series(big);
  std::vector<std::string> lfns;
  ASSERT_NO_FATAL_FAILURE(start_and_ingest(88, "", 1, lfns));
  const auto& lfn = lfns[0];
  auto admin = make_admin();
  make_user(admin, "dr-owner", "physician");
  auto physician = token_of(1, "dr-owner");
  auto storage_key = *crypto::read_private_file(sites->site_dir(1) / "identity" / "storage.key");
  auto ref = crypto::to_hex(crypto::hmac_sha256(storage_key, "dm2 patient ref v1" + big.patient_id)).substr(0, 32);
  ASSERT_EQ(call(1, "POST", "/v1/care-teams/" + ref, json{{"user", "dr-owner"}}.dump(), admin).status, 201);
  // The owner's own answers, once the key shares are placed: what site 2 must pass on.
  node::client_response at_owner;
  ASSERT_TRUE(eventually(
      [&] {
        at_owner = call(1, "GET", "/v1/series/" + lfn, "", physician);
        return at_owner.status == 200;
      },
      60s));
  auto owner_parts = parts_of(at_owner);
  ASSERT_EQ(owner_parts.size(), big.slices);
  auto owner_volume = call(1, "GET", "/v1/series/" + lfn + "?format=nifti", "", physician);
  ASSERT_EQ(owner_volume.status, 200);

  auto made = call(2, "POST", "/v1/users",
                   json{{"name", "far-reader"}, {"role", "researcher"}, {"password", "far-reader-secret-pw"}}.dump(), "", 2);
  ASSERT_EQ(made.status, 201) << made.body;
  auto far_id = json::parse(made.body).value("id", "");
  auto session = call(2, "POST", "/v1/sessions", json{{"name", "far-reader"}, {"password", "far-reader-secret-pw"}}.dump(), "");
  ASSERT_EQ(session.status, 201) << session.body;
  auto far = json::parse(session.body).value("token", "");
  auto granted = call(1, "POST", "/v1/grants",
                      json{{"grantee_id", far_id + "@site-2"},
                           {"lfns", {lfn}},
                           {"classes", {"deidentified_image", "key_share"}},
                           {"purpose", "research"},
                           {"expires_in_s", 3600}}
                          .dump(),
                      physician);
  ASSERT_EQ(granted.status, 201) << granted.body;
  ASSERT_TRUE(eventually([&] { return call(2, "GET", "/v1/records?lfn=" + lfn, "", "", 2).status == 200; }, 30s));

  // Site 2's peak resident memory during one retrieval, above what it held when it began.
  auto pid = sites->pid(2);
  auto peak_growth_mib = [&](const std::string& path, node::client_response& got) {
    std::ofstream("/proc/" + std::to_string(pid) + "/clear_refs") << "5";  // the peak back to the resident size
    auto before = status_kib(pid, "VmRSS");
    got = call(2, "GET", path, "", far);
    return (status_kib(pid, "VmHWM") - before) / 1024.0;
  };
  node::client_response series, volume;
  auto series_mib = peak_growth_mib("/v1/series/" + lfn, series);
  ASSERT_EQ(series.status, 200) << series.body;
  EXPECT_EQ(parts_of(series), owner_parts);
  EXPECT_EQ(series.headers["content-length"], std::to_string(series.body.size()));
  EXPECT_EQ(series.headers["dm2-parts"], std::to_string(big.slices));
  auto volume_mib = peak_growth_mib("/v1/series/" + lfn + "?format=nifti", volume);
  ASSERT_EQ(volume.status, 200) << volume.body;
  EXPECT_TRUE(volume.body == owner_volume.body);
  EXPECT_EQ(volume.headers["content-length"], std::to_string(volume.body.size()));
  std::printf("site 2's peak memory growth: series %.1f MiB (%.1f MB), volume %.1f MiB (%.1f MB)\n", series_mib,
              at_owner.body.size() / 1e6, volume_mib, volume.body.size() / 1e6);
  // Measured: about 8 MiB for the series, 14 MiB for the volume (the hand-off's 4 MiB, the
  // file or 1 MiB block being opened, four pieces queued for the socket, the clients' buffers);
  // 120 MiB each before.
  // Under AddressSanitizer freed blocks wait in its quarantine (256 MiB) instead of being reused,
  // so the peak follows the bytes allocated during the request, not those held: the bound is
  // asserted by the release build's run only (one ASan run: 60 and 147 MiB).
#ifndef __SANITIZE_ADDRESS__
  EXPECT_LT(series_mib, 32);
  EXPECT_LT(volume_mib, 32);
#endif
  ASSERT_TRUE(sites->stop(2));
  EXPECT_TRUE(any_line(audit_lines(2), "user:" + far_id + " series_get " + lfn + " allowed"));
}

// The object store as a cache (pacs.object_cache_bytes): a cap smaller than any series keeps
// only the series placed last; an evicted series read again is re-assembled from the PACS,
// byte for byte the same de-identified series (and the same NIfTI volume, which the
// re-assembly seals from memory on a thread of its own: write_nifti's file of the series, byte
// for byte, no plaintext volume on disk), and evicts the other; with the PACS down the
// evicted series answers 503 naming the PACS, and nothing is stored; with it back, it returns.
TEST_F(retrieval_test, an_evicted_series_is_reassembled_from_the_pacs_when_read_again) {
  synthetic_options one;
  one.patient_name = "CACHE^ONE";
  one.patient_id = "CACHE-PID-1";
  one.slices = 4;
  one.rows = one.columns = 32;
  auto two = one;
  two.patient_name = "CACHE^TWO";
  two.patient_id = "CACHE-PID-2";
  auto s1 = add_series(one);
  auto s2 = add_series(two);

  std::vector<std::string> lfns;
  ASSERT_NO_FATAL_FAILURE(start_and_ingest(86, "object_cache_bytes = 1\n", 2, lfns));
  auto placed = [&] {  // the LFNs with sealed files at site 1
    std::set<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(sites->site_dir(1) / "objects", ec))
      if (e.path().filename().string().rfind(".staging", 0) != 0) out.insert(e.path().filename().string());
    return out;
  };
  EXPECT_EQ(placed().size(), 1u);  // the first series went when the second was placed
  EXPECT_EQ(metric("dm2_objects_evicted_total"), 1);

  auto admin = make_admin();
  make_user(admin, "pat-one", "patient", one.patient_id);
  make_user(admin, "pat-two", "patient", two.patient_id);
  auto pat_one = token_of(1, "pat-one"), pat_two = token_of(1, "pat-two");
  // Each patient's LFN: the one she may read (403 for the other, decided before any file is read).
  auto mine = readable_by(pat_one, lfns);
  ASSERT_FALSE(mine.empty());
  auto theirs = mine == lfns[0] ? lfns[1] : lfns[0];
  auto deid = site_deid_options(sites->site_dir(1) / "identity");
  auto same_as = [&](const synthetic_series& s, const node::client_response& r) {
    auto expected = deidentified_reference(server->settings(), s.study_uid, s.series_uid, deid, dir.path());
    auto parts = parts_of(r);
    if (expected.empty() || parts.size() != expected.size()) return false;
    for (std::size_t k = 0; k < parts.size(); ++k)
      if (parts[k] != slurp(expected[k])) return false;
    return true;
  };

  // Whichever was evicted, reading both restores at least one from the PACS, byte for byte.
  auto own = call(1, "GET", "/v1/series/" + mine, "", pat_one);
  ASSERT_EQ(own.status, 200) << own.body;
  EXPECT_TRUE(same_as(s1, own));
  // Her key may be shared out a share round after the other (ingested later; readable_by waited
  // for one key only): until then the read is 503, nothing released.
  node::client_response hers;
  ASSERT_TRUE(eventually(
      [&] {
        hers = call(1, "GET", "/v1/series/" + theirs, "", pat_two);
        return hers.status != 503;
      },
      30s));
  ASSERT_EQ(hers.status, 200) << hers.body;
  EXPECT_TRUE(same_as(s2, hers));
  // The answer streams while the re-assembly seals: the copy is placed when complete, maybe after
  // the answer's last byte (the volume is sealed last).
  auto placed_only = [&](const std::string& lfn) {
    return eventually([&] { return placed() == std::set<std::string>{lfn}; }, 30s);
  };
  EXPECT_TRUE(placed_only(theirs));  // read last, kept; the other evicted
  EXPECT_GE(metric("dm2_objects_restored_total{result=\"done\"}"), 1);
  // Over C-GET with its manifest, the series was received, de-identified and sealed in memory.
  EXPECT_TRUE(eventually([&] { return sites->stderr_text(1).find("in_memory=true") != std::string::npos; }, 10s));
  auto volume = call(1, "GET", "/v1/series/" + theirs + "?format=nifti", "", pat_two);  // placed
  ASSERT_EQ(volume.status, 200) << volume.body;
  {
    auto got = dir.path() / "nifti-reference";
    fs::create_directories(got);
    auto fetched = pacs::fetch_series(server->settings(), s2.study_uid, s2.series_uid, got);
    ASSERT_TRUE(fetched) << fetched.err().to_string();
    auto assembled = pacs::assemble_series(std::vector<fs::path>(fetched->files.begin(), fetched->files.end()));
    ASSERT_TRUE(assembled) << assembled.err().to_string();
    ASSERT_TRUE(pacs::write_nifti(*assembled, got / "reference.nii"));
    EXPECT_TRUE(volume.body == slurp(got / "reference.nii"));
  }
  std::vector<fs::path> plaintext_volumes;
  for (const auto& e : fs::recursive_directory_iterator(sites->site_dir(1)))
    if (e.path().extension() == ".nii") plaintext_volumes.push_back(e.path());
  EXPECT_TRUE(plaintext_volumes.empty()) << plaintext_volumes.front();

  // The PACS down: the evicted series cannot come back. 503 naming the PACS; nothing stored.
  server->kill();
  auto down = call(1, "GET", "/v1/series/" + mine, "", pat_one);
  EXPECT_EQ(down.status, 503) << down.body;
  auto refusal = json::parse(down.body, nullptr, false);  // named: outlives the lookups below
  ASSERT_TRUE(refusal.is_object()) << down.body;
  EXPECT_NE(refusal["error"].value("message", "").find("PACS"), std::string::npos) << down.body;
  EXPECT_EQ(down.body.find("DICM"), std::string::npos);
  EXPECT_EQ(placed(), std::set<std::string>{theirs});
  EXPECT_EQ(metric("dm2_objects_restored_total{result=\"failed\"}"), 1);
  auto scratch = sites->site_dir(1) / "ingest-scratch";
  EXPECT_TRUE(!fs::exists(scratch) || fs::is_empty(scratch));
  for (const auto& canary : {one.patient_name, one.patient_id, s1.series_uid, s1.study_uid})
    EXPECT_EQ(sites->stderr_text(1).find(canary), std::string::npos) << canary;

  // The PACS back: it returns, the same bytes.
  ASSERT_EQ(server->start(), "");
  auto again = call(1, "GET", "/v1/series/" + mine, "", pat_one);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_TRUE(same_as(s1, again));
  EXPECT_TRUE(placed_only(mine));
  // The other one's volume, re-assembled in turn: the same bytes as before its eviction.
  auto volume_again = call(1, "GET", "/v1/series/" + theirs + "?format=nifti", "", pat_two);
  ASSERT_EQ(volume_again.status, 200) << volume_again.body;
  EXPECT_EQ(volume_again.body, volume.body);
  EXPECT_TRUE(placed_only(theirs));
}

}  // namespace
}  // namespace dm2::test
