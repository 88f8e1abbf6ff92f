// The authorization matrix (docs/security.md, "The matrix through HTTP") asserted through the
// real HTTP routes of three dm2d processes: site 1 ingests one patient's series from a real PACS
// (dcmqrscp in a private network namespace); users of site 1 ("own site") and of site 2 ("other
// site": the series belongs to site 1) ask for each class of its data, with and without the
// relation their role's rule needs. The table below is written once: every cell's request is
// driven from it, its answer checked (allowed: 200/201, refused: 403), its decision found in the
// deciding site's audit chain, and docs/security.md must show the same table. Then, on the same
// processes, the refusals: assertions forged, replayed, expired and over-scoped at a share
// holder, a revoked grant, a disabled account, a site removed from the roster. And cross-site
// grants end to end: site 1's physician grants users of site 2, who retrieve from site 2; the
// grant revoked at the owner or at the grantee's site (refused at both, at the owner and at the
// holders; a third site may not revoke it), forged or signed by a site that does not own the
// series (refused), and the owner down (503); the series' thumbnail rendered by its
// owner for site 2's granted user, refused to the others at home and at the owner.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "access/assertion.hpp"
#include "access/signed_grant.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/private_file.hpp"
#include "pacs_server_fixture.hpp"
#include "png_image.hpp"
#include "process_consortium.hpp"
#include "support/temp_dir.hpp"
#include "synthetic_series.hpp"

namespace dm2::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using node::access::data_class;
using node::access::role;

constexpr const char* fast_hashes = "[accounts]\nargon2_memory_kib = 1024\nargon2_passes = 1\n";

// What the user has to do with the series besides his role: what his role's rule needs.
enum class relation { none, other_patient, own_record, care_team, grant };

struct column {
  data_class what;
  bool write;
  const char* label;
};

// The classes and actions that have a route. Write has a route for the index (POST /v1/records)
// and for diagnoses (POST /v1/series/{lfn}/diagnoses); the node has no route that writes a
// nominative record, an image, an audit entry or a key share for a user.
constexpr column columns[] = {
    {data_class::nominative, false, "nominative record, read"},
    {data_class::deidentified_image, false, "de-identified image, read"},
    {data_class::index_attributes, false, "index attributes, read"},
    {data_class::index_attributes, true, "index attributes, write"},
    {data_class::audit_entries, false, "audit entries, read"},
    {data_class::key_share, false, "key share, read"},
    {data_class::diagnoses, false, "diagnoses, read"},
    {data_class::diagnoses, true, "diagnoses, write"},
};
constexpr std::size_t column_count = std::size(columns);

struct matrix_row {
  role who;
  relation with;
  bool own_site;
  const char* cells;  // one letter per column: A allowed, R refused
};

// The expected decisions: the seeds' rules (docs/security.md, "The policy table") as they reach
// a user through the routes. Other site: a user of site 2 and site 1's series; site 2 vouches in
// its signed assertion for the relation, which site 1 and its share holders do not believe: care
// teams and own records live at the owning site alone, so they open nothing there. A grant is
// believed from the owner's store: site 1 grants site 2's users (a cross-site grant, signed and
// pushed to site 2), so a grant opens at the other site what it opens at the own site. Site admins
// get no assertions: theirs are asked at their own site; so are images (GET /v1/series at the
// home site, which asks the owner and the share holders).
constexpr matrix_row matrix[] = {
    {role::patient, relation::own_record, true, "AAARAAAR"},
    {role::patient, relation::other_patient, true, "RRRRRRRR"},
    {role::physician, relation::care_team, true, "AAARRAAA"},
    {role::physician, relation::grant, true, "RAARRAAR"},
    {role::physician, relation::none, true, "RRARRRRR"},
    {role::researcher, relation::grant, true, "RAARRAAR"},
    {role::researcher, relation::none, true, "RRRRRRRR"},
    {role::site_admin, relation::none, true, "RRAAARRR"},
    {role::patient, relation::own_record, false, "RRRRRRRR"},
    {role::patient, relation::none, false, "RRRRRRRR"},
    {role::physician, relation::care_team, false, "RRARRRRR"},
    {role::physician, relation::grant, false, "RAARRAAR"},
    {role::physician, relation::none, false, "RRARRRRR"},
    {role::researcher, relation::grant, false, "RAARRAAR"},
    {role::researcher, relation::none, false, "RRRRRRRR"},
    {role::site_admin, relation::none, false, "RRARRRRR"},
};

const char* relation_label(relation r, bool own_site) {
  switch (r) {
    case relation::none: return "none";
    case relation::other_patient: return "another patient's series";
    case relation::own_record: return own_site ? "his own series" : "says: his own series";
    case relation::care_team: return own_site ? "in the care team" : "says: in the care team";
    case relation::grant: return "grant";
  }
  return "";
}

// The table as docs/security.md shows it.
std::string matrix_markdown() {
  std::ostringstream out;
  out << "| role | relation | site |";
  for (const auto& c : columns) out << ' ' << c.label << " |";
  out << "\n|---|---|---|";
  for (std::size_t i = 0; i < column_count; ++i) out << "---|";
  out << '\n';
  for (const auto& r : matrix) {
    out << "| " << node::access::name_of(r.who) << " | " << relation_label(r.with, r.own_site) << " | "
        << (r.own_site ? "own" : "other") << " |";
    for (std::size_t i = 0; i < column_count; ++i) out << ' ' << (r.cells[i] == 'A' ? "allowed" : "refused") << " |";
    out << '\n';
  }
  return out.str();
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string slurp_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(access_matrix_docs, security_md_shows_the_table_the_test_asserts) {
  auto doc = slurp_text(fs::path(DM2_SOURCE_DIR) / "docs" / "security.md");
  auto table = matrix_markdown();
  EXPECT_NE(doc.find(table), std::string::npos) << "docs/security.md should show, verbatim:\n" << table;
}

// One user of the matrix: an account at his home site (site 1: own, site 2: other).
struct matrix_user {
  std::string name, id, token;
  int home = 1;
};

class access_matrix_test : public ::testing::Test {
 protected:
  void SetUp() override {
    DM2_REQUIRE_PRIVATE_NETWORK();
    fs::create_directories(dir.path() / "pacs" / "series");
    server = std::make_unique<dcmqrscp_server>(dir.path() / "pacs");
    ASSERT_EQ(server->start(), "");
  }

  node::client_response call(int site, const std::string& method, const std::string& path, const std::string& body,
                             const std::string& token, int as_site = 0,
                             std::map<std::string, std::string> headers = {}) {
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    auto r = sites->request(site, method, path, body, as_site, headers);
    EXPECT_TRUE(r) << r.err().message;
    return r ? *r : node::client_response{};
  }

  // An account made at `site` with its own certificate (the operator, a site admin), signed in.
  matrix_user make_user(int site, const std::string& name, role who, const std::string& patient_id = "") {
    json body = {{"name", name}, {"role", node::access::name_of(who)}, {"password", name + "-secret-pw"}};
    if (who == role::patient) body["patient_id"] = patient_id.empty() ? "NOBODY-" + name : patient_id;
    auto made = call(site, "POST", "/v1/users", body.dump(), "", site);
    EXPECT_EQ(made.status, 201) << made.body;
    auto signed_in = call(site, "POST", "/v1/sessions", json{{"name", name}, {"password", name + "-secret-pw"}}.dump(), "");
    EXPECT_EQ(signed_in.status, 201) << signed_in.body;
    auto m = json::parse(made.body, nullptr, false), s = json::parse(signed_in.body, nullptr, false);
    return {name, m.is_object() ? m.value("id", "") : "", s.is_object() ? s.value("token", "") : "", site};
  }

  temp_dir dir{"dm2-access-matrix"};
  std::unique_ptr<pacs_server> server;
  std::unique_ptr<process_consortium> sites;
};

// What one cell asks, and where its decision is audited.
struct cell_request {
  int site = 1;  // the site asked (and deciding)
  std::string method = "GET", path, body;
  int as_site = 0;  // the client certificate presented (a site forwarding its user's request)
  std::map<std::string, std::string> headers;
  std::string actor, action, object;
};

TEST_F(access_matrix_test, every_cell_is_enforced_at_the_http_routes_and_audited) {
  synthetic_options o;
  o.patient_name = "MATRIX^CANARY";
  o.patient_id = "MATRIX-PID-0001";
  o.slices = 3;
  o.rows = o.columns = 32;
  auto series = write_synthetic_series(dir.path() / "pacs" / "series", o);
  ASSERT_EQ(server->upload(series.files), "");

  consortium_options options;
  options.address_octet = 86;
  options.extra_toml = std::string(fast_hashes) + "[overlay]\nrepair_period_s = 2\n";
  options.site_toml[1] = "[pacs]\nhost = \"" + server->settings().host + "\"\nport = " +
                         std::to_string(server->settings().port) + "\ncalled_ae_title = \"" +
                         server->settings().called_ae_title + "\"\ncalling_ae_title = \"" +
                         server->settings().calling_ae_title + "\"\nstore_port = " +
                         std::to_string(server->settings().store_port) + "\n";
  auto created = process_consortium::create(dir.path() / "consortium", options);
  ASSERT_TRUE(created) << created.err().message;
  sites = std::move(*created);
  ASSERT_TRUE(sites->start_all());
  std::string lfn;
  ASSERT_TRUE(eventually(
      [&] {
        auto r = call(1, "GET", "/v1/overlay/records?limit=10", "", "", 1);
        auto j = json::parse(r.body, nullptr, false);
        if (r.status != 200 || !j.is_object() || j["records"].size() != 1) return false;
        lfn = j["records"][0].value("lfn", "");
        return true;
      },
      90s));
  // Every site holds the record (site 2 answers its own users from its replica).
  ASSERT_TRUE(eventually([&] { return call(2, "GET", "/v1/records?lfn=" + lfn, "", "", 2).status == 200; }, 30s));

  // Site 1's users, each with the relation of his row; site 2's users (other site).
  std::map<std::size_t, matrix_user> users;
  for (std::size_t i = 0; i < std::size(matrix); ++i) {
    const auto& r = matrix[i];
    int home = r.own_site ? 1 : 2;
    auto name = std::string(node::access::name_of(r.who)) + "-" + std::to_string(i);
    users[i] = make_user(home, name, r.who, r.with == relation::own_record && r.own_site ? o.patient_id : "");
  }
  auto user_of = [&](role who, relation with, bool own) -> matrix_user& {
    for (std::size_t i = 0; i < std::size(matrix); ++i)
      if (matrix[i].who == who && matrix[i].with == with && matrix[i].own_site == own) return users[i];
    throw std::logic_error("no such row");
  };
  auto storage_key = *crypto::read_private_file(sites->site_dir(1) / "identity" / "storage.key");
  auto ref = crypto::to_hex(crypto::hmac_sha256(storage_key, "dm2 patient ref v1" + o.patient_id)).substr(0, 32);
  auto& team = user_of(role::physician, relation::care_team, true);
  ASSERT_EQ(call(1, "POST", "/v1/care-teams/" + ref, json{{"user", team.name}}.dump(), "", 1).status, 201);
  // A site admin cannot be given a relation: care teams are physicians, grants go to
  // researchers and physicians.
  auto& admin = user_of(role::site_admin, relation::none, true);
  EXPECT_EQ(call(1, "POST", "/v1/care-teams/" + ref, json{{"user", admin.name}}.dump(), "", 1).status, 400);
  json grant = {{"lfns", {lfn}},
                {"classes", {"index_attributes", "diagnoses", "deidentified_image", "key_share"}},
                {"expires_in_s", 3600}};
  std::map<role, std::string> grant_ids;
  for (auto [grantee, purpose] : {std::pair{role::researcher, "research"}, std::pair{role::physician, "treatment"}}) {
    auto ask = grant;
    ask["grantee"] = user_of(grantee, relation::grant, true).name;
    ask["purpose"] = purpose;
    auto made = call(1, "POST", "/v1/grants", ask.dump(), team.token);
    ASSERT_EQ(made.status, 201) << made.body;
    grant_ids[grantee] = json::parse(made.body)["id"].get<std::string>();
  }
  // Site 2's users are granted by site 1's physician by their consortium id (pseudonym@site),
  // which their own site shows them.
  auto cross_grant = [&](const matrix_user& u, const char* purpose) {
    auto me = call(2, "GET", "/v1/sessions/current", "", u.token);
    EXPECT_EQ(json::parse(me.body).value("consortium_id", ""), u.id + "@site-2") << me.body;
    auto ask = grant;
    ask["grantee_id"] = u.id + "@site-2";
    ask["purpose"] = purpose;
    auto made = call(1, "POST", "/v1/grants", ask.dump(), team.token);
    EXPECT_EQ(made.status, 201) << made.body;
    auto j = json::parse(made.body, nullptr, false);
    return j.is_object() ? j.value("id", "") : "";
  };
  std::map<role, std::string> cross_grant_ids;
  for (auto [grantee, purpose] : {std::pair{role::researcher, "research"}, std::pair{role::physician, "treatment"}})
    cross_grant_ids[grantee] = cross_grant(user_of(grantee, relation::grant, false), purpose);
  // Not to an unknown user of site 2, nor to a site off the roster (nothing kept).
  auto unknown = grant;
  unknown["grantee_id"] = std::string(32, 'a') + "@site-2";
  EXPECT_EQ(call(1, "POST", "/v1/grants", unknown.dump(), team.token).status, 404);
  unknown["grantee_id"] = std::string(32, 'a') + "@site-9";
  EXPECT_EQ(call(1, "POST", "/v1/grants", unknown.dump(), team.token).status, 404);
  auto admin_grant = grant;
  admin_grant["grantee"] = admin.name;
  EXPECT_EQ(call(1, "POST", "/v1/grants", admin_grant.dump(), team.token).status, 400);

  // Site 3 must hold the record before any share request of the patient's (her retrieval below
  // asks site 3 too): without it site 3 does not know the owner and refuses (audited), which the
  // audit check at the end would read as the opposite of that cell's decision. Asked with site
  // 3's own certificate: no user, so no cell's audit entry.
  ASSERT_TRUE(eventually([&] { return call(3, "GET", "/v1/records?lfn=" + lfn, "", "", 3).status == 200; }, 60s));
  // Wait until the key shares are placed: the patient retrieves her series, and site 3 releases
  // its share to site 1 for her (both are cells of the table, allowed).
  auto& patient = user_of(role::patient, relation::own_record, true);
  ASSERT_TRUE(eventually([&] { return call(1, "GET", "/v1/series/" + lfn, "", patient.token).status == 200; }, 60s));
  ASSERT_TRUE(eventually(
      [&] {
        node::access::assertion a;
        a.site = "site-1";
        a.user = patient.id;
        a.who = role::patient;
        a.basis = node::access::basis_own_record;
        a.lfns = {lfn};
        a.classes = {data_class::key_share};
        auto key = *crypto::read_private_file(sites->site_dir(1) / "identity" / "dht.key");
        auto wire = *node::access::sign_assertion(a, key, now_ms());
        return call(3, "GET", "/v1/key-shares/" + lfn, "", "", 1, {{node::access::assertion_header, wire}}).status == 200;
      },
      60s));

  // The request of each cell. A user of this site presents his session; a user of another site
  // reaches site 1 (or the share holder, site 3) through his home site, which signs what it
  // vouches for (here: the test, with that site's key, as that site does).
  const std::map<int, std::string> dht_keys = {
      {1, *crypto::read_private_file(sites->site_dir(1) / "identity" / "dht.key")},
      {2, *crypto::read_private_file(sites->site_dir(2) / "identity" / "dht.key")}};
  const std::string admin_lfn = "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f";  // a new series of site 1's index
  auto record_body = [](const std::string& l) {
    return json{{"lfn", l}, {"attributes", {{"modality", "CT"}, {"body_part", "CHEST"}}}}.dump();
  };
  auto request_of = [&](const matrix_row& r, const matrix_user& u, const column& c) {
    cell_request q;
    q.object = lfn;
    bool session = r.who == role::site_admin || c.what == data_class::deidentified_image ||
                   (r.own_site && c.what != data_class::key_share);
    if (session) {
      q.site = u.home;
      q.headers["Authorization"] = "Bearer " + u.token;
      q.actor = "user:" + u.id;
    } else {
      // Key shares are released by the holders (site 3 here) to the user's home site; the rest
      // of site 1's data is served by site 1 to site 2.
      q.site = c.what == data_class::key_share ? 3 : 1;
      q.as_site = u.home;
      node::access::assertion a;
      a.site = sites->site_id(u.home);
      a.user = u.id;
      a.who = r.who;
      a.why = r.who == role::physician ? node::access::purpose::treatment
              : r.who == role::researcher ? node::access::purpose::research
                                           : node::access::purpose::none;
      if (r.with == relation::care_team) a.basis = node::access::basis_care_team;
      if (r.with == relation::own_record) a.basis = node::access::basis_own_record;
      if (r.with == relation::grant) a.grant = (r.own_site ? grant_ids : cross_grant_ids).at(r.who);
      a.lfns = {lfn};
      a.classes = {c.what};
      auto wire = node::access::sign_assertion(a, dht_keys.at(u.home), now_ms());
      EXPECT_TRUE(wire) << wire.err().message;
      q.headers[node::access::assertion_header] = wire ? *wire : "";
      q.actor = "user:" + u.id + "@" + sites->site_id(u.home);
    }
    switch (c.what) {
      case data_class::nominative:
        q.path = "/v1/nominative/" + lfn;
        q.action = "nominative_read";
        break;
      case data_class::deidentified_image:
        q.path = "/v1/series/" + lfn;
        q.action = "series_get";
        break;
      case data_class::index_attributes:
        q.method = c.write ? "POST" : "GET";
        if (c.write && r.who == role::site_admin && r.own_site) q.object = admin_lfn;
        q.path = c.write ? "/v1/records" : "/v1/records?lfn=" + lfn;
        q.body = c.write ? record_body(q.object) : "";
        q.action = c.write ? "record_put" : "record_get";
        break;
      case data_class::audit_entries:
        q.path = "/v1/audit-entries" + (session ? "?lfn=" + lfn : std::string());
        q.action = "audit_entries_read";
        break;
      case data_class::key_share:
        q.path = "/v1/key-shares/" + lfn;
        q.action = "key_share_release";
        break;
      case data_class::diagnoses:
        q.method = c.write ? "POST" : "GET";
        q.path = "/v1/series/" + lfn + "/diagnoses";
        q.body = c.write ? json{{"code", "I21.4"}, {"text", "matrix cell"}}.dump() : "";
        q.action = c.write ? "diagnosis_add" : "diagnosis_list";
        break;
      default: break;
    }
    return q;
  };

  struct asked {
    std::string cell, actor, action, object;
    int site;
    bool allowed;
  };
  std::vector<asked> decisions;
  for (std::size_t i = 0; i < std::size(matrix); ++i) {
    const auto& r = matrix[i];
    for (std::size_t k = 0; k < column_count; ++k) {
      auto q = request_of(r, users[i], columns[k]);
      bool allowed = r.cells[k] == 'A';
      auto cell = std::string(node::access::name_of(r.who)) + " / " + relation_label(r.with, r.own_site) + " / " +
                  (r.own_site ? "own" : "other") + " site / " + columns[k].label;
      auto got = call(q.site, q.method, q.path, q.body, "", q.as_site, q.headers);
      int expected = allowed ? (q.method == "POST" ? 201 : 200) : 403;
      EXPECT_EQ(got.status, expected) << cell << ": " << q.method << " " << q.path << " -> " << got.body;
      decisions.push_back({cell, q.actor, q.action, q.object, q.site, allowed});
    }
  }

  // Refusals (403) at a share holder, nothing released: the owner's physician under a grant
  // (which site 3 allows), his assertion forged, replayed, expired or beyond its scope, and
  // another site vouching for a grant on the owner's series. (The same four on the index:
  // access_process_test.)
  auto far = make_user(1, "physician-refusals", role::physician);
  node::access::assertion a;
  a.site = "site-1";
  a.user = far.id;
  a.who = role::physician;
  a.why = node::access::purpose::treatment;
  a.grant = "g-site-1";
  a.lfns = {lfn};
  a.classes = {data_class::key_share};
  auto ask_share = [&](const std::string& wire, int as_site = 1) {
    return call(3, "GET", "/v1/key-shares/" + lfn, "", "", as_site, {{node::access::assertion_header, wire}});
  };
  auto nothing_released = [](const node::client_response& r) {
    return r.status == 403 && r.body.find("shares") == std::string::npos;
  };
  auto good = *node::access::sign_assertion(a, dht_keys.at(1), now_ms());
  EXPECT_EQ(ask_share(good).status, 200);
  EXPECT_TRUE(nothing_released(ask_share(good)));                                                  // replayed
  EXPECT_TRUE(nothing_released(ask_share(*node::access::sign_assertion(a, dht_keys.at(2), now_ms()))));  // forged
  auto foreign = a;  // site 2 vouching for a grant it cannot have made
  foreign.site = "site-2";
  foreign.user = make_user(2, "physician-foreign-grant", role::physician).id;
  EXPECT_TRUE(nothing_released(ask_share(*node::access::sign_assertion(foreign, dht_keys.at(2), now_ms()), 2)));
  auto expiring = *node::access::sign_assertion(a, dht_keys.at(1), now_ms(), 1);
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(nothing_released(ask_share(expiring)));  // expired
  auto images_only = a;
  images_only.classes = {data_class::deidentified_image};
  EXPECT_TRUE(nothing_released(ask_share(*node::access::sign_assertion(images_only, dht_keys.at(1), now_ms()))));

  // A revoked grant opens nothing: a researcher retrieves under a grant, then not once revoked.
  auto revoked = make_user(1, "researcher-revoked", role::researcher);
  auto ask = grant;
  ask["grantee"] = revoked.name;
  auto made = call(1, "POST", "/v1/grants", ask.dump(), team.token);
  ASSERT_EQ(made.status, 201) << made.body;
  EXPECT_EQ(call(1, "GET", "/v1/series/" + lfn, "", revoked.token).status, 200);
  auto grant_id = json::parse(made.body)["id"].get<std::string>();
  EXPECT_EQ(call(1, "DELETE", "/v1/grants/" + grant_id, "", team.token).status, 200);
  auto after_revocation = call(1, "GET", "/v1/series/" + lfn, "", revoked.token);
  EXPECT_EQ(after_revocation.status, 403) << after_revocation.body;
  EXPECT_EQ(after_revocation.body.find("DICM"), std::string::npos);

  // Cross-site grants end to end. Site 2's researcher sees the grant site 1 made in his list and
  // retrieves site 1's series from site 2: the same de-identified instances as site 1's
  // researcher under a local grant (only the random multipart boundary differs).
  auto& far_researcher = user_of(role::researcher, relation::grant, false);
  auto listed = json::parse(call(2, "GET", "/v1/grants", "", far_researcher.token).body, nullptr, false);
  ASSERT_TRUE(listed.is_object() && listed["grants"].size() == 1) << listed.dump();
  EXPECT_EQ(listed["grants"][0].value("id", ""), cross_grant_ids.at(role::researcher));
  EXPECT_EQ(listed["grants"][0].value("site", ""), "site-1");
  EXPECT_TRUE(listed["grants"][0].value("live", false));
  auto unframed = [](const node::client_response& r) {
    auto ct = r.headers.count("content-type") ? r.headers.at("content-type") : "";
    auto at = ct.find("boundary=");
    auto body = r.body;
    if (at == std::string::npos) return body;
    auto boundary = ct.substr(at + 9);
    for (auto pos = body.find(boundary); pos != std::string::npos; pos = body.find(boundary, pos))
      body.replace(pos, boundary.size(), "BOUNDARY");
    return body;
  };
  auto from_site_2 = call(2, "GET", "/v1/series/" + lfn, "", far_researcher.token);
  auto from_site_1 = call(1, "GET", "/v1/series/" + lfn, "", user_of(role::researcher, relation::grant, true).token);
  ASSERT_EQ(from_site_2.status, 200) << from_site_2.body;
  ASSERT_EQ(from_site_1.status, 200) << from_site_1.body;
  EXPECT_NE(from_site_2.body.find("DICM"), std::string::npos);
  EXPECT_EQ(unframed(from_site_2), unframed(from_site_1));

  // A grant signed with another key than its maker's, or by a site that does not own the series,
  // is refused by the grantee's site (403, audited) and opens nothing there.
  auto far_none = user_of(role::researcher, relation::none, false);
  node::access::grant fake;
  fake.id = crypto::to_hex(crypto::random_bytes(16));
  fake.grantor = team.id;
  fake.grantee = far_none.id;
  fake.grantee_site = "site-2";
  fake.lfns = {lfn};
  fake.classes = {data_class::deidentified_image, data_class::key_share};
  fake.expires_at = now_ms() / 1000 + 3600;
  auto site_3_key = *crypto::read_private_file(sites->site_dir(3) / "identity" / "dht.key");
  auto push = [&](int as_site, const std::string& wire) {
    return call(2, "POST", "/v1/grants/received", json{{"grant", wire}}.dump(), "", as_site).status;
  };
  EXPECT_EQ(push(1, *node::access::sign_grant(fake, "site-1", site_3_key)), 403);  // forged
  EXPECT_EQ(push(3, *node::access::sign_grant(fake, "site-3", site_3_key)), 403);  // not the owner
  EXPECT_EQ(call(2, "GET", "/v1/series/" + lfn, "", far_none.token).status, 403);

  // Thumbnails are rendered by the owner: site 2 decides, asks site 1 under one assertion, and
  // passes on the PNG alone, the series' middle 32 x 32 slice (never enlarged). Site 2's user
  // without a grant is refused at home; site 2 asserting for him anyway is refused at the owner.
  auto thumbnail = call(2, "GET", "/v1/series/" + lfn + "/thumbnail", "", far_researcher.token);
  ASSERT_EQ(thumbnail.status, 200) << thumbnail.body;
  EXPECT_EQ(thumbnail.headers["content-type"], "image/png");
  auto png = decode_png(thumbnail.body);
  ASSERT_TRUE(png) << "not a whole PNG (" << thumbnail.body.size() << " bytes)";
  EXPECT_EQ(std::pair(png->width, png->height), std::pair(32U, 32U));
  EXPECT_EQ(call(2, "GET", "/v1/series/" + lfn + "/thumbnail", "", far_none.token).status, 403);
  node::access::assertion ungranted;
  ungranted.site = "site-2";
  ungranted.user = far_none.id;
  ungranted.who = role::researcher;
  ungranted.why = node::access::purpose::research;
  ungranted.lfns = {lfn};
  ungranted.classes = {data_class::deidentified_image};
  auto at_owner = call(1, "GET", "/v1/series/" + lfn + "/thumbnail", "", "", 2,
                       {{node::access::assertion_header, *node::access::sign_assertion(ungranted, dht_keys.at(2), now_ms())}});
  EXPECT_EQ(at_owner.status, 403) << at_owner.body;
  EXPECT_NE(at_owner.headers["content-type"], "image/png");

  // Revoked at the owner: site 2 is told (its list shows it, it refuses at home), and a site 2
  // that had not heard, asserting the grant anyway, is refused at the owner and at the holders.
  auto far_revoked = make_user(2, "researcher-cross-revoked", role::researcher);
  auto revoked_id = cross_grant(far_revoked, "research");
  EXPECT_EQ(call(2, "GET", "/v1/series/" + lfn, "", far_revoked.token).status, 200);
  EXPECT_EQ(call(1, "DELETE", "/v1/grants/" + revoked_id, "", team.token).status, 200);
  listed = json::parse(call(2, "GET", "/v1/grants", "", far_revoked.token).body, nullptr, false);
  ASSERT_TRUE(listed.is_object() && listed["grants"].size() == 1) << listed.dump();
  EXPECT_TRUE(listed["grants"][0].value("revoked", false));
  EXPECT_EQ(call(2, "GET", "/v1/series/" + lfn, "", far_revoked.token).status, 403);
  node::access::assertion stale;
  stale.site = "site-2";
  stale.user = far_revoked.id;
  stale.who = role::researcher;
  stale.why = node::access::purpose::research;
  stale.grant = revoked_id;
  stale.lfns = {lfn};
  stale.classes = {data_class::deidentified_image, data_class::key_share};
  auto sealed_after = call(1, "GET", "/v1/series/" + lfn + "/sealed", "", "", 2,
                           {{node::access::assertion_header, *node::access::sign_assertion(stale, dht_keys.at(2), now_ms())}});
  EXPECT_EQ(sealed_after.status, 403) << sealed_after.body;
  EXPECT_TRUE(nothing_released(ask_share(*node::access::sign_assertion(stale, dht_keys.at(2), now_ms()), 2)));

  // The owner and a holder refuse a live grant asserted for another user or by another site,
  // an expired one, and one that does not cover the class (each a 403, nothing released).
  auto refused_everywhere = [&](const node::access::assertion& asserted, int as_site, const std::string& key) {
    auto sealed = call(1, "GET", "/v1/series/" + lfn + "/sealed", "", "", as_site,
                       {{node::access::assertion_header, *node::access::sign_assertion(asserted, key, now_ms())}});
    return sealed.status == 403 && nothing_released(ask_share(*node::access::sign_assertion(asserted, key, now_ms()), as_site));
  };
  auto misused = stale;
  misused.grant = cross_grant_ids.at(role::researcher);
  misused.user = far_none.id;  // another user of site 2
  EXPECT_TRUE(refused_everywhere(misused, 2, dht_keys.at(2)));
  misused.user = far_researcher.id;
  misused.site = "site-3";  // the right user's id, asserted by another site
  EXPECT_TRUE(refused_everywhere(misused, 3, site_3_key));
  auto far_expired = make_user(2, "researcher-cross-expired", role::researcher);
  auto brief = grant;
  brief["grantee_id"] = far_expired.id + "@site-2";
  brief["expires_in_s"] = 2;
  auto brief_made = call(1, "POST", "/v1/grants", brief.dump(), team.token);
  ASSERT_EQ(brief_made.status, 201) << brief_made.body;
  std::this_thread::sleep_for(3100ms);  // grants expire by the second
  auto expired = stale;
  expired.user = far_expired.id;
  expired.grant = json::parse(brief_made.body)["id"].get<std::string>();
  EXPECT_TRUE(refused_everywhere(expired, 2, dht_keys.at(2)));
  auto far_index = make_user(2, "researcher-cross-index-only", role::researcher);
  auto index_only = grant;
  index_only["grantee_id"] = far_index.id + "@site-2";
  index_only["classes"] = {"index_attributes"};
  auto index_made = call(1, "POST", "/v1/grants", index_only.dump(), team.token);
  ASSERT_EQ(index_made.status, 201) << index_made.body;
  auto over = stale;
  over.user = far_index.id;
  over.grant = json::parse(index_made.body)["id"].get<std::string>();
  EXPECT_TRUE(refused_everywhere(over, 2, dht_keys.at(2)));
  EXPECT_EQ(call(2, "GET", "/v1/series/" + lfn, "", far_index.token).status, 403);

  // Revoked at the grantee's site by its site admin (not by the grantee, who has no grants to
  // give): site 2 refuses at home at once and tells the owner (DELETE /v1/grants/{id}, mutual
  // TLS), whose store then refuses the grant at its sealed leg and to the holders, even asserted
  // by site 2 anyway. Only the other party may tell: site 3, no party to it, is refused at the
  // owner and at site 2 (403, audited not_a_party), and the grant stays live meanwhile.
  auto far_given_up = make_user(2, "researcher-cross-given-up", role::researcher);
  auto far_admin = make_user(2, "admin-cross-revoker", role::site_admin);
  auto given_up_id = cross_grant(far_given_up, "research");
  EXPECT_EQ(call(2, "GET", "/v1/series/" + lfn, "", far_given_up.token).status, 200);
  auto by_third_site = call(1, "DELETE", "/v1/grants/" + given_up_id, "", "", 3);
  EXPECT_EQ(by_third_site.status, 403) << by_third_site.body;
  EXPECT_EQ(call(2, "DELETE", "/v1/grants/" + given_up_id, "", "", 3).status, 403);
  EXPECT_EQ(call(1, "DELETE", "/v1/grants/" + std::string(32, 'c'), "", "", 3).status, 403);  // unknown: the same
  EXPECT_EQ(call(2, "DELETE", "/v1/grants/" + given_up_id, "", far_given_up.token).status, 403);
  EXPECT_EQ(call(2, "GET", "/v1/series/" + lfn, "", far_given_up.token).status, 200);
  auto given_up = stale;
  given_up.user = far_given_up.id;
  given_up.grant = given_up_id;
  auto sealed_before = call(1, "GET", "/v1/series/" + lfn + "/sealed", "", "", 2,
                            {{node::access::assertion_header, *node::access::sign_assertion(given_up, dht_keys.at(2), now_ms())}});
  EXPECT_EQ(sealed_before.status, 200);
  auto ended = call(2, "DELETE", "/v1/grants/" + given_up_id, "", far_admin.token);
  ASSERT_EQ(ended.status, 200) << ended.body;
  EXPECT_TRUE(json::parse(ended.body).value("revoked", false)) << ended.body;
  EXPECT_EQ(call(2, "GET", "/v1/series/" + lfn, "", far_given_up.token).status, 403);
  auto at_owner_list = json::parse(call(1, "GET", "/v1/grants", "", team.token).body, nullptr, false);
  ASSERT_TRUE(at_owner_list.is_object()) << at_owner_list.dump();
  bool owner_says_revoked = false;
  for (const auto& g : at_owner_list["grants"])
    if (g.value("id", "") == given_up_id) owner_says_revoked = g.value("revoked", false);
  EXPECT_TRUE(owner_says_revoked) << at_owner_list.dump();
  EXPECT_TRUE(refused_everywhere(given_up, 2, dht_keys.at(2)));

  // The owner down: the images stay at their hospital (503), whatever the grant.
  auto far_down = make_user(2, "physician-cross-down", role::physician);
  cross_grant(far_down, "treatment");
  ASSERT_TRUE(sites->stop(1));
  auto down = call(2, "GET", "/v1/series/" + lfn, "", far_down.token);
  EXPECT_EQ(down.status, 503) << down.body;
  EXPECT_NE(down.body.find("images stay at their hospital"), std::string::npos) << down.body;
  auto no_thumbnail = call(2, "GET", "/v1/series/" + lfn + "/thumbnail", "", far_down.token);
  EXPECT_EQ(no_thumbnail.status, 503) << no_thumbnail.body;
  EXPECT_NE(no_thumbnail.body.find("owner unreachable (site-1)"), std::string::npos) << no_thumbnail.body;
  ASSERT_TRUE(sites->start({1}));

  // A disabled account: its live session stops at once (401: the credentials are dead), audited.
  EXPECT_EQ(call(1, "PATCH", "/v1/users/" + team.name, json{{"disabled", true}}.dump(), "", 1).status, 200);
  auto disabled = call(1, "GET", "/v1/series/" + lfn, "", team.token);
  EXPECT_EQ(disabled.status, 401) << disabled.body;
  EXPECT_EQ(disabled.body.find("DICM"), std::string::npos);

  // A site removed from the roster: its share requests are refused unread (not_a_member), with
  // a valid assertion (refused before too, by the policy: the reason shows which refusal it was).
  auto ca_dir = (sites->dir() / "consortium").string(), roster = sites->roster_file().string();
  for (std::vector<std::string> args : {std::vector<std::string>{"roster", "remove", "site-2", "--roster", roster},
                                        {"roster", "sign", "--roster", roster, "--ca-dir", ca_dir},
                                        {"roster", "publish", "--roster", roster, "--node",
                                         sites->address(1) + ":" + std::to_string(process_consortium::https_port),
                                         "--ca", ca_dir + "/ca.crt", "--ca-dir", ca_dir}}) {
    child_process p(built_program("node/dm2"), args, dir.path(), "dm2-" + args[1]);
    ASSERT_EQ(p.wait(60s), 0) << p.stderr_text();
  }
  node::client_response cut_off;
  EXPECT_TRUE(eventually(
      [&] {
        cut_off = ask_share(*node::access::sign_assertion(foreign, dht_keys.at(2), now_ms()), 2);
        return cut_off.status == 403 && cut_off.body.find("presented by other consortium sites") != std::string::npos;
      },
      30s))
      << "site 3 still releases shares to a removed site";
  EXPECT_TRUE(nothing_released(cut_off)) << cut_off.status << " " << cut_off.body;

  // Every decision is in the deciding site's audit chain, and never the opposite one.
  for (int site : {1, 2, 3}) ASSERT_TRUE(sites->stop(site));
  std::map<int, std::vector<std::string>> audit;
  for (int site : {1, 2, 3}) {
    auto lines = sites->audit_lines(site);
    ASSERT_TRUE(lines) << lines.err().message;
    audit[site] = *lines;
  }
  for (const auto& d : decisions) {
    auto head = d.actor + " " + d.action + " " + d.object + " ";
    bool as_expected = false, opposite = false;
    for (const auto& line : audit[d.site]) {
      if (line.rfind(head, 0) != 0) continue;
      bool allowed = line.compare(head.size(), 7, "allowed") == 0;
      (allowed == d.allowed ? as_expected : opposite) = true;
    }
    EXPECT_TRUE(as_expected) << d.cell << ": no audit entry '" << head << (d.allowed ? "allowed" : "refused") << "' at site-"
                             << d.site;
    EXPECT_FALSE(opposite) << d.cell << ": an audit entry with the opposite decision at site-" << d.site;
  }
  EXPECT_EQ(decisions.size(), std::size(matrix) * column_count);
  auto audited = [&](int site, const std::string& text) {
    return std::any_of(audit[site].begin(), audit[site].end(),
                       [&](const std::string& l) { return l.find(text) != std::string::npos; });
  };
  auto shares_path = " /v1/key-shares/" + lfn + " refused: ";
  for (const char* reason : {"replayed", "forged", "expired"})
    EXPECT_TRUE(audited(3, "site:site-1 assertion" + shares_path + reason)) << reason;
  EXPECT_TRUE(audited(3, "user:" + foreign.user + "@site-2 key_share_release " + lfn + " refused: "));
  EXPECT_TRUE(audited(3, "user:" + far.id + "@site-1 key_share_release " + lfn + " refused: over_scoped"));
  EXPECT_TRUE(audited(3, " assertion" + shares_path + "not_a_member")) << "the cut-off answer: " << cut_off.body << "\n"
                                                                       << [&] {
                                                                            std::string lines;
                                                                            for (const auto& l : audit[3])
                                                                              if (l.find("key") != std::string::npos) lines += l + "\n";
                                                                            return lines;
                                                                          }();
  EXPECT_TRUE(audited(1, "user:" + revoked.id + " series_get " + lfn + " allowed"));
  EXPECT_TRUE(audited(1, "user:" + revoked.id + " series_get " + lfn + " refused: grant"));
  EXPECT_TRUE(audited(1, "user:" + team.id + " session /v1/series/" + lfn + " refused: account_disabled"));
  // The cross-site grants, audited at each site under the user's pseudonym.
  auto far_actor = "user:" + far_researcher.id + "@site-2 ";
  EXPECT_TRUE(audited(2, "user:" + far_researcher.id + " series_get " + lfn + " allowed"));
  EXPECT_TRUE(audited(1, far_actor + "series_serve " + lfn + " allowed"));
  EXPECT_TRUE(audited(3, far_actor + "key_share_release " + lfn + " allowed"));
  EXPECT_TRUE(audited(2, "site:site-1 grant_received " + cross_grant_ids.at(role::researcher) + " allowed"));
  EXPECT_TRUE(audited(1, "site:site-3 grant_check " + cross_grant_ids.at(role::researcher) + " allowed"));
  EXPECT_TRUE(audited(2, "site:site-1 grant_receive grants refused: forged"));
  EXPECT_TRUE(audited(2, "site:site-3 grant_receive grants refused: not_owner"));
  EXPECT_TRUE(audited(2, "user:" + far_none.id + " series_get " + lfn + " refused: "));
  EXPECT_TRUE(audited(2, "user:" + far_researcher.id + " thumbnail_get " + lfn + " allowed"));
  EXPECT_TRUE(audited(1, far_actor + "thumbnail_serve " + lfn + " allowed"));
  EXPECT_TRUE(audited(2, "user:" + far_none.id + " thumbnail_get " + lfn + " refused: "));
  EXPECT_TRUE(audited(1, "user:" + far_none.id + "@site-2 thumbnail_serve " + lfn + " refused: "));
  auto stale_actor = "user:" + far_revoked.id + "@site-2 ";
  EXPECT_TRUE(audited(2, "site:site-1 grant_revoked " + revoked_id + " allowed"));
  EXPECT_TRUE(audited(2, "user:" + far_revoked.id + " series_get " + lfn + " refused: "));
  EXPECT_TRUE(audited(1, stale_actor + "series_serve " + lfn + " refused: "));
  EXPECT_TRUE(audited(3, stale_actor + "key_share_release " + lfn + " refused: "));
  EXPECT_TRUE(audited(1, "site:site-3 grant_check " + revoked_id + " refused: revoked"));
  EXPECT_TRUE(audited(1, "site:site-3 grant_check " + expired.grant + " refused: expired"));
  EXPECT_TRUE(audited(1, "site:site-3 grant_check " + over.grant + " refused: not_covered"));
  EXPECT_TRUE(audited(1, "user:" + far_researcher.id + "@site-3 series_serve " + lfn + " refused: "));
  // The revocation by the grantee's site, audited at both; the third site's refused at both.
  EXPECT_TRUE(audited(2, "user:" + far_admin.id + " grant_revoked " + given_up_id + " allowed"));
  EXPECT_TRUE(audited(1, "site:site-2 grant_revoked " + given_up_id + " allowed"));
  EXPECT_TRUE(audited(1, "site:site-3 grant_revoke " + given_up_id + " refused: not_a_party"));
  EXPECT_TRUE(audited(2, "site:site-3 grant_revoke " + given_up_id + " refused: not_a_party"));
  EXPECT_TRUE(audited(2, "user:" + far_given_up.id + " grant_revoke " + given_up_id + " refused: "));
  EXPECT_TRUE(audited(1, "site:site-3 grant_check " + given_up_id + " refused: revoked"));
}

}  // namespace
}  // namespace dm2::test
