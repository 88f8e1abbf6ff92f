// People and permissions through real dm2d processes (tests/node/process_consortium.*): the
// operator's CLI makes the first site admin, who makes the other accounts over the API and from
// the CLI with his own session; sign-in,
// cookies, revocation, disabled accounts, rate limits, care teams, grants, and signed assertions
// from another site — every answer checked at the HTTP surface, every decision in the audit log.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "access/assertion.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/keys.hpp"
#include "dm2/crypto/private_file.hpp"
#include "dm2/storage/database.hpp"
#include "process_consortium.hpp"
#include "support/temp_dir.hpp"

namespace dm2::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* fast_hashes = "[accounts]\nargon2_memory_kib = 1024\nargon2_passes = 1\n";

class access_process_test : public ::testing::Test {
 protected:
  temp_dir dir{"access-process"};
  std::unique_ptr<process_consortium> sites;
  int commands = 0;

  void start(int count, const std::string& toml, const std::vector<int>& running) {
    auto created = process_consortium::create(dir.path(), {count, 81, toml, {}});
    ASSERT_TRUE(created) << created.err().message;
    sites = std::move(*created);
    auto started = sites->start(running);
    ASSERT_TRUE(started) << started.err().message;
  }

  // `dm2 user add` as the site's operator, the password on stdin.
  int cli_add_user(int site, const std::string& name, const std::string& role, const std::string& password) {
    auto command = "printf '%s\\n' '" + password + "' | " + built_program("node/dm2").string() + " user add " + name +
                   " --role " + role + " --config " + sites->config_file(site).string();
    child_process p("/bin/sh", {"-c", command}, dir.path(), "cli-" + std::to_string(commands++));
    return p.wait(60s).value_or(-1);
  }

  std::string cli_output(const std::vector<std::string>& args) {
    child_process p(built_program("node/dm2"), args, dir.path(), "cli-" + std::to_string(commands++));
    EXPECT_EQ(p.wait(60s), 0) << p.stderr_text();
    return p.stdout_text();
  }

  node::client_response call(int site, const std::string& method, const std::string& path, const std::string& body,
                             const std::string& token, int as_site = 0) {
    std::map<std::string, std::string> headers;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    auto r = sites->request(site, method, path, body, as_site, headers);
    EXPECT_TRUE(r) << r.err().message;
    return r ? *r : node::client_response{};
  }

  node::client_response sign_in(int site, const std::string& name, const std::string& password) {
    return call(site, "POST", "/v1/sessions", json{{"name", name}, {"password", password}}.dump(), "");
  }

  std::string token_of(int site, const std::string& name, const std::string& password) {
    auto r = sign_in(site, name, password);
    EXPECT_EQ(r.status, 201) << r.body;
    auto j = json::parse(r.body, nullptr, false);
    return j.is_object() ? j.value("token", "") : "";
  }

  json make_user(int site, const std::string& admin_token, const std::string& name, const std::string& role,
                 const std::string& patient_ref = "") {
    json body = {{"name", name}, {"role", role}, {"password", name + "-secret-pw"}};
    if (!patient_ref.empty()) body["patient_ref"] = patient_ref;
    auto r = call(site, "POST", "/v1/users", body.dump(), admin_token);
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body, nullptr, false);
  }

  static std::string record_body(const std::string& lfn) {
    return json{{"lfn", lfn}, {"attributes", {{"modality", "CT"}, {"body_part", "CHEST"}}}}.dump();
  }

  // Every audit entry of a stopped site (process_consortium::audit_lines).
  std::vector<std::string> audit_lines(int site) {
    auto lines = sites->audit_lines(site);
    EXPECT_TRUE(lines) << lines.err().message;
    return lines ? *lines : std::vector<std::string>{};
  }

  static bool any_contains(const std::vector<std::string>& lines, const std::string& a, const std::string& b = "") {
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) {
      return l.find(a) != std::string::npos && l.find(b) != std::string::npos;
    });
  }
};

TEST_F(access_process_test, accounts_sessions_care_teams_and_grants) {
  start(1, fast_hashes, {1});
  // The operator (site certificate) makes the first site admin from the CLI.
  ASSERT_EQ(cli_add_user(1, "root-admin", "site_admin", "root-admin-password"), 0);
  auto admin = token_of(1, "root-admin", "root-admin-password");
  ASSERT_FALSE(admin.empty());
  auto house = make_user(1, admin, "dr-house", "physician");
  auto wilson = make_user(1, admin, "dr-wilson", "physician");
  auto cuddy = make_user(1, admin, "dr-cuddy", "physician");
  auto curie = make_user(1, admin, "m-curie", "researcher");
  make_user(1, admin, "pat-one", "patient", "p-0001");
  EXPECT_EQ(call(1, "POST", "/v1/users", json{{"name", "x"}, {"role", "patient"}, {"password", "long-enough-pw"}}.dump(),
                 admin).status, 400);  // a patient needs his record's reference
  EXPECT_EQ(call(1, "POST", "/v1/users", json{{"name", "dr-house"}, {"role", "physician"}, {"password", "another-password"}}.dump(),
                 admin).status, 409);
  auto listed = cli_output({"user", "list", "--config", sites->config_file(1).string()});
  EXPECT_NE(listed.find("dr-house"), std::string::npos) << listed;
  EXPECT_NE(listed.find(house["id"].get<std::string>()), std::string::npos) << listed;
  // A site admin signed in from the CLI manages accounts with his session alone (no site key:
  // --session presents no certificate), each change audited under his pseudonym; a physician's
  // session is refused (exit 5, the node's reason).
  auto admin_session = (dir.path() / "admin.session").string();
  ASSERT_EQ(sites->dm2(1, {"sign-in", "root-admin", "--session", admin_session}, "root-admin-password").code, 0);
  auto added = sites->dm2(1, {"user", "add", "dr-foreman", "--role", "physician", "--json", "--session", admin_session},
                          "dr-foreman-secret-pw");
  ASSERT_EQ(added.code, 0) << added.err;
  auto foreman = json::parse(added.out, nullptr, false);
  ASSERT_TRUE(foreman.is_object()) << added.out;
  EXPECT_EQ(foreman.value("role", ""), "physician");
  EXPECT_EQ(sign_in(1, "dr-foreman", "dr-foreman-secret-pw").status, 201);
  EXPECT_EQ(sites->dm2(1, {"user", "disable", "dr-foreman", "--session", admin_session}).code, 0);
  EXPECT_EQ(sign_in(1, "dr-foreman", "dr-foreman-secret-pw").status, 401);
  EXPECT_EQ(sites->dm2(1, {"user", "enable", "dr-foreman", "--session", admin_session}).code, 0);
  EXPECT_EQ(sign_in(1, "dr-foreman", "dr-foreman-secret-pw").status, 201);
  auto by_admin = sites->dm2(1, {"user", "list", "--session", admin_session});
  EXPECT_EQ(by_admin.code, 0) << by_admin.err;
  EXPECT_NE(by_admin.out.find("dr-foreman"), std::string::npos) << by_admin.out;
  auto foreman_session = (dir.path() / "foreman.session").string();
  ASSERT_EQ(sites->dm2(1, {"sign-in", "dr-foreman", "--session", foreman_session}, "dr-foreman-secret-pw").code, 0);
  auto not_admin = sites->dm2(1, {"user", "add", "dr-chase", "--role", "physician", "--session", foreman_session},
                              "dr-chase-secret-pw");
  EXPECT_EQ(not_admin.code, 5);
  EXPECT_NE(not_admin.err.find("node answered 403"), std::string::npos) << not_admin.err;
  EXPECT_EQ(sites->dm2(1, {"user", "list", "--session", foreman_session}).code, 5);
  EXPECT_EQ(sign_in(1, "dr-chase", "dr-chase-secret-pw").status, 401);

  // Sign-in: a token and a Secure, HttpOnly, SameSite=Strict cookie; both authenticate.
  auto signed_in = sign_in(1, "dr-house", "dr-house-secret-pw");
  ASSERT_EQ(signed_in.status, 201) << signed_in.body;
  auto cookie = signed_in.headers["set-cookie"];
  for (const char* attribute : {"Secure", "HttpOnly", "SameSite=Strict", "dm2_session="})
    EXPECT_NE(cookie.find(attribute), std::string::npos) << cookie;
  auto house_token = json::parse(signed_in.body)["token"].get<std::string>();
  EXPECT_EQ(call(1, "GET", "/v1/sessions/current", "", house_token).status, 200);
  auto by_cookie = sites->request(1, "GET", "/v1/sessions/current", "", 0, {{"Cookie", "dm2_session=" + house_token}});
  ASSERT_TRUE(by_cookie);
  EXPECT_EQ(by_cookie->status, 200);
  EXPECT_EQ(json::parse(by_cookie->body)["role"], "physician");
  EXPECT_EQ(call(1, "GET", "/v1/sessions/current", "", "").status, 401);
  EXPECT_EQ(call(1, "GET", "/v1/sessions/current", "", std::string(64, 'a')).status, 401);

  // Only site admins manage accounts.
  auto curie_token = token_of(1, "m-curie", "m-curie-secret-pw");
  EXPECT_EQ(call(1, "GET", "/v1/users", "", curie_token).status, 403);
  EXPECT_EQ(call(1, "GET", "/v1/users", "", house_token).status, 403);
  EXPECT_EQ(call(1, "GET", "/v1/users", "", admin).status, 200);

  // The index: the operator writes a record; a physician reads it; a researcher needs a grant.
  const std::string lfn = "00112233445566778899aabbccddeeff";
  auto put = sites->request(1, "POST", "/v1/records", record_body(lfn), 1);
  ASSERT_TRUE(put);
  ASSERT_EQ(put->status, 201) << put->body;
  EXPECT_EQ(call(1, "POST", "/v1/records", record_body(lfn), house_token).status, 403);  // users do not write the index
  EXPECT_EQ(call(1, "GET", "/v1/records?lfn=" + lfn, "", house_token).status, 200);
  EXPECT_EQ(call(1, "GET", "/v1/records?lfn=" + lfn, "", curie_token).status, 403);
  EXPECT_EQ(call(1, "GET", "/v1/records?lfn=" + lfn, "", admin).status, 200);

  // A grant: scoped, expiring, listed, revocable; only physicians grant, what they may read.
  json ask = {{"grantee", "m-curie"}, {"lfns", {lfn}}, {"classes", {"index_attributes"}}, {"expires_in_s", 3600}};
  EXPECT_EQ(call(1, "POST", "/v1/grants", ask.dump(), curie_token).status, 403);
  // A site admin reads every index record; he may revoke grants, not give one (nothing kept).
  EXPECT_EQ(call(1, "POST", "/v1/grants", ask.dump(), admin).status, 403);
  EXPECT_EQ(json::parse(call(1, "GET", "/v1/grants", "", admin).body)["grants"].size(), 0u);
  auto images = ask;
  images["classes"] = {"deidentified_image"};
  EXPECT_EQ(call(1, "POST", "/v1/grants", images.dump(), house_token).status, 403);  // not in the care team
  auto granted = call(1, "POST", "/v1/grants", ask.dump(), house_token);
  ASSERT_EQ(granted.status, 201) << granted.body;
  auto grant_id = json::parse(granted.body)["id"].get<std::string>();
  EXPECT_EQ(call(1, "GET", "/v1/records?lfn=" + lfn, "", curie_token).status, 200);
  auto other_lfn = "ffeeddccbbaa99887766554433221100";
  EXPECT_EQ(call(1, "GET", std::string("/v1/records?lfn=") + other_lfn, "", curie_token).status, 403);
  auto mine = json::parse(call(1, "GET", "/v1/grants", "", curie_token).body);
  ASSERT_EQ(mine["grants"].size(), 1u);
  EXPECT_EQ(mine["grants"][0]["grantee"], curie["id"]);
  EXPECT_EQ(call(1, "DELETE", "/v1/grants/" + grant_id, "", curie_token).status, 403);  // not the grantor
  EXPECT_EQ(call(1, "DELETE", "/v1/grants/" + grant_id, "", house_token).status, 200);
  EXPECT_EQ(call(1, "GET", "/v1/records?lfn=" + lfn, "", curie_token).status, 403);

  // Care teams: the site admin puts a physician in; a member adds a colleague; an outsider cannot.
  EXPECT_EQ(call(1, "POST", "/v1/care-teams/p-0001", json{{"user", "dr-house"}}.dump(), admin).status, 201);
  EXPECT_EQ(call(1, "POST", "/v1/care-teams/p-0001", json{{"user", "dr-wilson"}}.dump(), house_token).status, 201);
  auto cuddy_token = token_of(1, "dr-cuddy", "dr-cuddy-secret-pw");
  EXPECT_EQ(call(1, "POST", "/v1/care-teams/p-0001", json{{"user", "dr-cuddy"}}.dump(), cuddy_token).status, 403);
  EXPECT_EQ(call(1, "GET", "/v1/care-teams/p-0001", "", cuddy_token).status, 403);
  auto team = json::parse(call(1, "GET", "/v1/care-teams/p-0001", "", house_token).body);
  EXPECT_EQ(team["members"].size(), 2u);
  EXPECT_EQ(call(1, "POST", "/v1/care-teams/p-0001", json{{"user", "m-curie"}}.dump(), admin).status, 400);
  EXPECT_EQ(call(1, "DELETE", "/v1/care-teams/p-0001?user=dr-wilson", "", house_token).status, 200);

  // The same by the patient's ID at this site, from the API (a header, never the URL) and the
  // CLI: the node keys the team by the ID's keyed hash, and logs and audits only that.
  auto by_id = sites->request(1, "POST", "/v1/care-teams", json{{"user", "dr-wilson"}}.dump(), 0,
                              {{"Authorization", "Bearer " + admin}, {"DM2-Patient-ID", "PID-CANARY-77"}});
  ASSERT_TRUE(by_id);
  ASSERT_EQ(by_id->status, 201) << by_id->body;
  auto ref77 = json::parse(by_id->body)["patient_ref"].get<std::string>();
  auto storage_key = *crypto::read_private_file(sites->site_dir(1) / "identity" / "storage.key");
  EXPECT_EQ(ref77, crypto::to_hex(crypto::hmac_sha256(storage_key, "dm2 patient ref v1PID-CANARY-77")).substr(0, 32));
  EXPECT_EQ(call(1, "GET", "/v1/care-teams", "", admin).status, 400);  // no patient named
  auto config = sites->config_file(1).string();
  auto team77 = cli_output({"care-team", "list", "--patient-id", "PID-CANARY-77", "--config", config});
  EXPECT_NE(team77.find("dr-wilson"), std::string::npos) << team77;
  EXPECT_EQ(team77.find("PID-CANARY-77"), std::string::npos) << team77;
  // A physician outside that team, signed in from the CLI, may not read or change it.
  auto session = (dir.path() / "house.session").string();
  auto cli_status = [&](const std::string& args) {
    child_process p("/bin/sh", {"-c", args}, dir.path(), "cli-" + std::to_string(commands++));
    return p.wait(60s).value_or(-1);
  };
  auto dm2 = built_program("node/dm2").string();
  ASSERT_EQ(cli_status("printf '%s\\n' dr-house-secret-pw | " + dm2 + " sign-in dr-house --session " + session +
                       " --config " + config),
            0);
  EXPECT_EQ(cli_status(dm2 + " care-team list --patient-id PID-CANARY-77 --session " + session + " --config " + config),
            5);
  cli_output({"care-team", "remove", "--patient-id", "PID-CANARY-77", "--user", "dr-wilson", "--config", config});

  // Revocation: a signed-out token and a disabled account's token stop working at once.
  EXPECT_EQ(call(1, "DELETE", "/v1/sessions/current", "", curie_token).status, 204);
  EXPECT_EQ(call(1, "GET", "/v1/sessions/current", "", curie_token).status, 401);
  EXPECT_EQ(call(1, "PATCH", "/v1/users/dr-house", json{{"disabled", true}}.dump(), admin).status, 200);
  EXPECT_EQ(call(1, "GET", "/v1/records?lfn=" + lfn, "", house_token).status, 401);
  EXPECT_EQ(sign_in(1, "dr-house", "dr-house-secret-pw").status, 401);
  cli_output({"user", "disable", "dr-cuddy", "--config", sites->config_file(1).string()});
  EXPECT_EQ(call(1, "GET", "/v1/sessions/current", "", cuddy_token).status, 401);
  (void)wilson;
  (void)cuddy;

  // Nothing logged names a user or holds a password; the audit trail has every decision under
  // pseudonyms.
  auto log = sites->stderr_text(1);
  for (const char* secret : {"dr-house", "m-curie", "secret-pw", "root-admin-password", "pat-one", "PID-CANARY-77"})
    EXPECT_EQ(log.find(secret), std::string::npos) << secret;
  ASSERT_TRUE(sites->stop(1));
  auto audit = audit_lines(1);
  auto h = "user:" + house["id"].get<std::string>();
  auto c = "user:" + curie["id"].get<std::string>();
  EXPECT_TRUE(any_contains(audit, h + " sign_in", "allowed"));
  EXPECT_TRUE(any_contains(audit, c + " record_get " + lfn + " refused: grant"));
  EXPECT_TRUE(any_contains(audit, c + " record_get " + lfn + " allowed"));
  EXPECT_TRUE(any_contains(audit, h + " grant_created " + grant_id));
  EXPECT_TRUE(any_contains(audit, h + " grant_revoked " + grant_id));
  EXPECT_TRUE(any_contains(audit, " grant_create grants refused: not_a_physician"));
  EXPECT_TRUE(any_contains(audit, " care_team_added p-0001"));
  EXPECT_TRUE(any_contains(audit, " care_team_added " + ref77));
  EXPECT_TRUE(any_contains(audit, " care_team_removed " + ref77));
  EXPECT_TRUE(any_contains(audit, h + " care_team_read " + ref77 + " refused: care_team"));
  EXPECT_TRUE(any_contains(audit, " user_created " + house["id"].get<std::string>()));
  EXPECT_TRUE(any_contains(audit, " user_disabled " + house["id"].get<std::string>()));
  EXPECT_TRUE(any_contains(audit, "user:", " user_created " + foreman.value("id", "") + " allowed"));
  EXPECT_TRUE(any_contains(audit, "user:", " user_disabled " + foreman.value("id", "") + " allowed"));
  EXPECT_TRUE(any_contains(audit, "user:", " user_enabled " + foreman.value("id", "") + " allowed"));
  for (const auto& line : audit)
    for (const char* secret : {"dr-house", "m-curie", "secret-pw", "pat-one", "PID-CANARY-77"})
      EXPECT_EQ(line.find(secret), std::string::npos) << line;
}

TEST_F(access_process_test, sign_in_is_rate_limited_per_account_and_per_address) {
  start(1, std::string(fast_hashes) + "signin_failures_per_account = 3\nsignin_failures_per_address = 6\n", {1});
  ASSERT_EQ(cli_add_user(1, "admin", "site_admin", "admin-password"), 0);
  auto admin = token_of(1, "admin", "admin-password");
  make_user(1, admin, "dr-a", "physician");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(sign_in(1, "dr-a", "wrong-password").status, 401);
  auto limited = sign_in(1, "dr-a", "dr-a-secret-pw");  // even the right password, while locked
  EXPECT_EQ(limited.status, 429) << limited.body;
  auto wait = std::stoi(limited.headers["retry-after"]);
  EXPECT_GE(wait, 1);
  EXPECT_LE(wait, 900);
  // Other accounts from this address still sign in until the address's own limit.
  EXPECT_EQ(sign_in(1, "admin", "admin-password").status, 201);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(sign_in(1, "nobody-" + std::to_string(i), "whatever-pw").status, 401);
  EXPECT_EQ(sign_in(1, "admin", "admin-password").status, 429);
  // Neither the passwords tried nor the names are in the node's log; each refusal is audited
  // under the remote address only.
  auto log = sites->stderr_text(1);
  for (const char* secret : {"wrong-password", "whatever-pw", "admin-password", "dr-a-secret-pw", "nobody-"})
    EXPECT_EQ(log.find(secret), std::string::npos) << secret;
  ASSERT_TRUE(sites->stop(1));
  auto audit = audit_lines(1);
  EXPECT_TRUE(any_contains(audit, "sign_in  refused: rate_limited"));
  EXPECT_TRUE(any_contains(audit, "sign_in  refused: bad_credentials"));
  for (const auto& line : audit) EXPECT_EQ(line.find("password"), std::string::npos) << line;
}

// A bad name, a bad password and a disabled account: the same status and the same body (and the
// same work, one Argon2id verification each: access_signin_test counts them).
TEST_F(access_process_test, a_bad_user_a_bad_password_and_a_disabled_account_answer_alike) {
  start(1, std::string(fast_hashes) + "signin_failures_per_account = 1000\nsignin_failures_per_address = 1000\n", {1});
  ASSERT_EQ(cli_add_user(1, "admin", "site_admin", "admin-password"), 0);
  auto admin = token_of(1, "admin", "admin-password");
  make_user(1, admin, "dr-gone", "physician");
  EXPECT_EQ(call(1, "PATCH", "/v1/users/dr-gone", json{{"disabled", true}}.dump(), admin).status, 200);
  auto bad_user = sign_in(1, "ghost", "admin-password");
  auto bad_password = sign_in(1, "admin", "wrong-password");
  auto disabled = sign_in(1, "dr-gone", "dr-gone-secret-pw");
  EXPECT_EQ(bad_user.status, 401);
  for (const auto* r : {&bad_password, &disabled}) {
    EXPECT_EQ(r->status, bad_user.status);
    EXPECT_EQ(r->body, bad_user.body);
    EXPECT_EQ(r->headers.count("set-cookie"), 0u);
  }
}

// Another site's user, vouched for by his site's signed assertion over mutual TLS.
TEST_F(access_process_test, assertions_from_another_site_are_verified_scoped_and_audited) {
  start(2, fast_hashes, {1, 2});
  // Site 1 owns `lfn` (site 2 holds its replica); site 2 owns `theirs`.
  const std::string lfn = "0123456789abcdef0123456789abcdef", theirs = "fedcba9876543210fedcba9876543210";
  for (auto [site, which] : {std::pair{1, lfn}, std::pair{2, theirs}}) {
    auto put = sites->request(site, "POST", "/v1/records", record_body(which), site);
    ASSERT_TRUE(put);
    ASSERT_EQ(put->status, 201) << put->body;
  }
  ASSERT_TRUE(eventually(
      [&] {
        auto r = sites->request(2, "GET", "/v1/records?lfn=" + lfn, "", 2);
        return r && r->status == 200;
      },
      30s))
      << "site 2 never held site 1's record";
  auto key1 = *crypto::read_private_file(sites->site_dir(1) / "identity" / "dht.key");
  auto key2 = *crypto::read_private_file(sites->site_dir(2) / "identity" / "dht.key");
  auto now = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  };
  node::access::assertion a;
  a.site = "site-1";
  a.user = std::string(32, 'c');
  a.who = node::access::role::researcher;
  a.why = node::access::purpose::research;
  a.grant = "g-1";
  a.lfns = {lfn};
  a.classes = {node::access::data_class::index_attributes};
  auto ask = [&](const std::string& wire, int as_site = 1, const std::string& which = "") {
    auto r = sites->request(2, "GET", "/v1/records?lfn=" + (which.empty() ? lfn : which), "", as_site,
                            {{"DM2-Assertion", wire}});
    EXPECT_TRUE(r);
    return r ? r->status : -1;
  };
  auto wire = *node::access::sign_assertion(a, key1, now());
  EXPECT_EQ(ask(wire), 200);
  EXPECT_EQ(ask(wire), 403);  // replayed
  EXPECT_EQ(ask(*node::access::sign_assertion(a, key2, now())), 403);  // forged: site-2's key for site-1
  EXPECT_EQ(ask(*node::access::sign_assertion(a, key1, now()), 2), 403);  // presented by the receiving site itself
  EXPECT_EQ(ask(*node::access::sign_assertion(a, key1, now()), 0), 403);  // no certificate at all
  auto expiring = *node::access::sign_assertion(a, key1, now(), 1);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(ask(expiring), 403);  // expired
  EXPECT_EQ(ask(*node::access::sign_assertion(a, key1, now()), 1, std::string(32, 'e')), 403);  // over-scoped LFN
  auto no_grant = a;
  no_grant.grant.clear();
  EXPECT_EQ(ask(*node::access::sign_assertion(no_grant, key1, now())), 403);  // the policy: no grant
  auto physician = no_grant;
  physician.who = node::access::role::physician;
  physician.why = node::access::purpose::treatment;
  EXPECT_EQ(ask(*node::access::sign_assertion(physician, key1, now())), 200);
  // A grant is believed from the owner only: site 1 cannot have made one for site 2's series.
  auto foreign = a;
  foreign.lfns = {theirs};
  EXPECT_EQ(ask(*node::access::sign_assertion(foreign, key1, now()), 1, theirs), 403);

  ASSERT_TRUE(sites->stop(2));
  auto audit = audit_lines(2);
  auto user = "user:" + std::string(32, 'c') + "@site-1";
  EXPECT_TRUE(any_contains(audit, user + " record_get " + lfn + " allowed"));
  EXPECT_TRUE(any_contains(audit, user + " record_get " + lfn + " refused: grant"));
  EXPECT_TRUE(any_contains(audit, user + " record_get " + theirs + " refused: grant"));
  EXPECT_TRUE(any_contains(audit, user + " record_get " + std::string(32, 'e') + " refused: over_scoped"));
  EXPECT_TRUE(any_contains(audit, "site:site-1 assertion /v1/records refused: replayed"));
  EXPECT_TRUE(any_contains(audit, "site:site-1 assertion /v1/records refused: forged"));
  EXPECT_TRUE(any_contains(audit, "site:site-1 assertion /v1/records refused: expired"));
}

}  // namespace
}  // namespace dm2::test
