// The similarity query's pieces inside the node: body parsing, NCC scoring, the site's plan,
// the query signer and the home node's query book.
#include <gtest/gtest.h>

#include <atomic>
#include <bit>
#include <cstdint>
#include <thread>
#include <nlohmann/json.hpp>

#include "diagnoses/diagnosis_input.hpp"
#include "query_body.hpp"
#include "query_book.hpp"
#include "query_scoring.hpp"
#include "query_signer.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/keys.hpp"
#include "dm2/dht/storage_replica_store.hpp"
#include "dm2/storage/index_record.hpp"

namespace dm2::node {
namespace {

std::string float_bytes(const std::vector<float>& v) {
  std::string out;
  for (float f : v) {
    auto bits = std::bit_cast<std::uint32_t>(f);
    for (int i = 0; i < 4; ++i) out += static_cast<char>(bits >> (8 * i) & 0xff);
  }
  return out;
}

TEST(query_body, parses_every_field_and_round_trips_canonically) {
  nlohmann::json in = {
      {"filters", {{"modality", "CT"}, {"body_part", "CHEST"}, {"manufacturer", "ACME"}, {"sex", "F"},
                   {"age_band", "040-049"}, {"study_date", {{"from", "20200101"}, {"to", "20201231"}}},
                   {"series_date", {{"from", "20200301"}}}, {"diagnosis_code", "I21"}}},
      {"signature", crypto::to_base64(float_bytes({1, 2, 3}))},
      {"measure", "ncc"}, {"top_k", 7}, {"user", "dr-x"}, {"purpose", "tumour board"}, {"timeout_ms", 1500}};
  auto s = parse_query_submission(in.dump());
  ASSERT_TRUE(s.ok()) << s.err().to_string();
  EXPECT_EQ(s->timeout.count(), 1500);
  EXPECT_EQ(*s->body.filters.modality, "CT");
  EXPECT_EQ(*s->body.filters.sex, "F");
  EXPECT_EQ(*s->body.filters.diagnosis_code, "I21");
  EXPECT_EQ(s->body.filters.study_date->to, "20201231");
  EXPECT_EQ(s->body.filters.series_date->to, "99991231");  // an open end
  EXPECT_EQ(s->body.signature, float_bytes({1, 2, 3}));
  EXPECT_EQ(s->body.top_k, 7u);
  auto canonical = canonical_json(s->body);
  EXPECT_EQ(canonical.find("timeout_ms"), std::string::npos);
  auto again = parse_query_body(canonical);
  ASSERT_TRUE(again.ok()) << again.err().to_string();
  EXPECT_EQ(canonical_json(*again), canonical);
  // Peers' bodies never carry a timeout.
  EXPECT_FALSE(parse_query_body(in.dump()).ok());
}

TEST(query_body, defaults_and_the_hex_signature) {
  auto s = parse_query_submission(R"({"signature_hex":"0000803f00000040"})");
  ASSERT_TRUE(s.ok()) << s.err().to_string();
  EXPECT_EQ(s->body.top_k, 20u);
  EXPECT_EQ(s->body.measure, "ncc");
  EXPECT_EQ(s->timeout.count(), 5000);
  EXPECT_EQ(s->body.signature, float_bytes({1, 2}));
  EXPECT_TRUE(parse_query_submission("{}").ok());
}

TEST(query_body, an_lfn_asks_the_home_node_for_its_record_signature_and_never_travels) {
  auto s = parse_query_submission(R"({"lfn":"000102030405060708090A0B0C0D0E0F","top_k":3})");
  ASSERT_TRUE(s.ok()) << s.err().to_string();
  EXPECT_EQ(s->lfn, "000102030405060708090a0b0c0d0e0f");
  EXPECT_TRUE(s->body.signature.empty());  // the route fills it from the record
  EXPECT_EQ(canonical_json(s->body).find("lfn"), std::string::npos);
  // A peer's canonical body never names an LFN.
  EXPECT_FALSE(parse_query_body(R"({"lfn":"000102030405060708090a0b0c0d0e0f"})").ok());
}

TEST(query_body, every_bad_field_is_a_400_naming_it) {
  const std::pair<const char*, const char*> cases[] = {
      {"[]", "JSON object"},
      {"{", "JSON object"},
      {R"({"measure":"mi"})", "needs a query by image"},
      {R"({"measure":"cr"})", "needs a query by image"},
      {R"({"measure":"ssd"})", "unknown measure"},
      {R"({"measure":"mi","measure_version":"9","by_series":"000102030405060708090a0b0c0d0e0f"})", "has no version"},
      {R"({"stage2_depth":5})", "needs a query by image"},
      {R"({"stage2_depth":101,"by_series":"000102030405060708090a0b0c0d0e0f"})", "stage2_depth"},
      {R"({"by_series":"000102030405060708090a0b0c0d0e0f","lfn":"000102030405060708090a0b0c0d0e0f"})", "one of"},
      {R"({"by_series":"0001"})", "by_series"},
      {R"({"nifti":"not base64!"})", "nifti"},
      {R"({"nifti":""})", "nifti"},
      {R"({"nifti":"AAAA","by_series":"000102030405060708090a0b0c0d0e0f"})", "one of"},
      {R"({"dicom":[]})", "dicom"},
      {R"({"dicom":"AAAA"})", "dicom"},
      {R"({"dicom":[5]})", "dicom"},
      {R"({"dicom":["not base64!"]})", "dicom"},
      {R"({"dicom":[""]})", "dicom"},
      {R"({"dicom":["AAAA"],"nifti":"AAAA"})", "one of"},
      {R"({"pacs_series":{"series_uid":"1.2.3"},"by_series":"000102030405060708090a0b0c0d0e0f"})", "one of"},
      {R"({"pacs_series":"1.2.3"})", "pacs_series"},
      {R"({"pacs_series":{}})", "pacs_series.series_uid"},
      {R"({"pacs_series":{"study_uid":"1.2.3"}})", "pacs_series.series_uid"},
      {R"({"pacs_series":{"series_uid":"1.2.x"}})", "pacs_series.series_uid"},
      {R"({"pacs_series":{"series_uid":""}})", "pacs_series.series_uid"},
      {R"({"pacs_series":{"series_uid":"1.2.3","study_uid":7}})", "pacs_series.study_uid"},
      {R"({"pacs_series":{"series_uid":"1.2.3","patient_id":"P1"}})", "pacs_series.patient_id"},
      {R"({"top_k":0})", "top_k"},
      {R"({"top_k":1001})", "top_k"},
      {R"({"top_k":"5"})", "top_k"},
      {R"({"top_k":2.5})", "top_k"},
      {R"({"timeout_ms":0})", "timeout_ms"},
      {R"({"timeout_ms":60001})", "timeout_ms"},
      {R"({"signature":"not base64!"})", "signature"},
      {R"({"signature":"AAA="})", "float32"},
      {R"({"signature_hex":"zz"})", "signature_hex"},
      {R"({"signature":"AAAAAA==","signature_hex":"00000000"})", "one of"},
      {R"({"signature":"AAAAAA==","lfn":"000102030405060708090a0b0c0d0e0f"})", "one of"},
      {R"({"lfn":"000102030405060708090a0b0c0d0e0fzz"})", "lfn"},
      {R"({"lfn":16})", "lfn"},
      {R"({"filters":{"modality":""}})", "filters.modality"},
      {R"({"filters":{"modality":"CTCTCTCTCTCTCTCTCT"}})", "filters.modality"},
      {R"({"filters":{"sex":"X"}})", "filters.sex"},
      {R"({"filters":{"colour":"red"}})", "filters.colour"},
      {R"({"filters":{"diagnosis_code":"heart"}})", "filters.diagnosis_code"},
      {R"({"filters":{"diagnosis_code":"I21.12345"}})", "filters.diagnosis_code"},
      {R"({"filters":{"study_date":{"from":"2020-01-01"}}})", "filters.study_date.from"},
      {R"({"filters":{"study_date":{"from":"20210101","to":"20200101"}}})", "after"},
      {R"({"filters":{"series_date":{"since":"20210101"}}})", "filters.series_date.since"},
      {R"({"filters":[]})", "filters"},
      {R"({"user":"a\u0001b"})", "user"},
      {R"({"lfn":"00"})", "lfn"},
  };
  for (const auto& [body, says] : cases) {
    auto s = parse_query_submission(body);
    ASSERT_FALSE(s.ok()) << body;
    EXPECT_EQ(http_status(s.err().code), 400) << body;
    EXPECT_NE(s.err().message.find(says), std::string::npos) << body << " -> " << s.err().message;
  }
  std::string big = R"({"user":")" + std::string(query_limits::max_body_bytes, 'a') + "\"}";
  EXPECT_EQ(parse_query_submission(big).err().code, errc::too_large);
  // A DICOM upload: at most 1,024 files, 8 MiB together.
  std::string many = R"({"dicom":[)";
  for (std::size_t i = 0; i <= query_limits::max_upload_files; ++i) many += i ? ",\"AAAA\"" : "\"AAAA\"";
  EXPECT_EQ(parse_query_submission(many + "]}").err().code, errc::too_large);
  const std::string half(query_limits::max_upload_bytes / 2 / 3 * 4, 'A');  // base64 of 1/2 of the limit
  EXPECT_TRUE(parse_query_submission(R"({"dicom":[")" + half + "\"]}").ok());
  EXPECT_EQ(parse_query_submission(R"({"dicom":[")" + half + "\",\"" + half + "\",\"AAAAAAAA\"]}").err().code,
            errc::too_large);
}

TEST(query_body, a_dicom_upload_or_the_series_at_the_pacs_is_a_query_by_image_never_signed_on) {
  auto d = parse_query_submission(R"({"dicom":["AAEC","AwQF"],"measure":"mi"})");
  ASSERT_TRUE(d.ok()) << d.err().to_string();
  EXPECT_EQ(d->dicom, (std::vector<std::string>{std::string("\0\1\2", 3), std::string("\3\4\5", 3)}));
  EXPECT_TRUE(d->by_image());
  EXPECT_EQ(d->stage_two_depth, query_limits::default_stage_two_depth);
  auto p = parse_query_submission(R"({"pacs_series":{"series_uid":"1.2.840.1","study_uid":"1.2.840"},"measure":"cr"})");
  ASSERT_TRUE(p.ok()) << p.err().to_string();
  EXPECT_EQ(p->pacs_series_uid, "1.2.840.1");
  EXPECT_EQ(p->pacs_study_uid, "1.2.840");
  EXPECT_TRUE(p->by_image());
  // Neither travels: the signed body peers see has no upload and no UID.
  EXPECT_EQ(canonical_json(p->body).find("1.2.840"), std::string::npos);
  EXPECT_FALSE(parse_query_body(R"({"pacs_series":{"series_uid":"1.2.840.1"}})").ok());
  EXPECT_FALSE(parse_query_body(R"({"dicom":["AAEC"]})").ok());
}

TEST(ncc, is_one_for_the_same_shape_minus_one_for_the_inverse_and_undefined_otherwise) {
  std::vector<float> a{1, 2, 3, 4, 5}, scaled{10, 20, 30, 40, 50}, inverse{5, 4, 3, 2, 1};
  EXPECT_NEAR(*ncc(a, a), 1.0, 1e-12);
  EXPECT_NEAR(*ncc(a, scaled), 1.0, 1e-12);  // invariant to gain and offset
  EXPECT_NEAR(*ncc(a, inverse), -1.0, 1e-12);
  auto mid = ncc(a, {1, 3, 2, 4, 5});
  ASSERT_TRUE(mid);
  EXPECT_GT(*mid, 0.5);
  EXPECT_LT(*mid, 1.0);
  EXPECT_FALSE(ncc(a, {1, 2, 3}));             // another grid
  EXPECT_FALSE(ncc(a, {2, 2, 2, 2, 2}));       // flat
  EXPECT_FALSE(ncc({}, {}));
  EXPECT_FALSE(ncc(a, {1, 2, std::numeric_limits<float>::quiet_NaN(), 4, 5}));
  EXPECT_EQ(*signature_samples(float_bytes({1.5f, -2})), (std::vector<float>{1.5f, -2}));
  EXPECT_FALSE(signature_samples("abc"));
}

dht::record record_of(const std::string& lfn_raw, const std::string& modality, const std::string& signature) {
  storage::index_record r;
  r.lfn = lfn_raw;
  r.version = 1;
  r.owner_site = "site-a";
  r.attributes.modality = modality;
  r.attributes.study_date = "20200615";
  r.signature = signature;
  return {crypto::to_hex(r.lfn), 1, "site-a", storage::encode_index_record(r)};
}

TEST(query_plan, filters_then_scores_and_unscored_records_rank_last) {
  query_body q;
  q.filters.modality = "CT";
  q.signature = float_bytes({1, 2, 3, 4});
  q.top_k = 5;
  auto plan = plan_query(canonical_json(q));
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->top_k, 5u);
  auto same = plan->score(record_of(std::string(16, 'a'), "CT", float_bytes({2, 4, 6, 8})));
  auto other = plan->score(record_of(std::string(16, 'b'), "CT", float_bytes({4, 1, 3, 2})));
  auto no_sig = plan->score(record_of(std::string(16, 'c'), "CT", ""));
  auto other_grid = plan->score(record_of(std::string(16, 'd'), "CT", float_bytes({1, 2})));
  ASSERT_TRUE(same && other && no_sig && other_grid);
  EXPECT_NEAR(same->score, 1.0, 1e-9);
  EXPECT_LT(other->score, same->score);
  EXPECT_EQ(no_sig->score, unscored);
  EXPECT_EQ(other_grid->score, unscored);
  EXPECT_TRUE(dht::ranks_before(*other, *no_sig));
  auto summary = nlohmann::json::parse(same->summary);
  EXPECT_EQ(summary["modality"], "CT");
  EXPECT_EQ(summary["study_date"], "20200615");
  EXPECT_EQ(same->lfn, crypto::to_hex(std::string(16, 'a')));
  // Filtered out, or not an index record at all.
  EXPECT_FALSE(plan->score(record_of(std::string(16, 'e'), "MR", float_bytes({1, 2, 3, 4}))));
  EXPECT_FALSE(plan->score({"00", 1, "site-a", "garbage"}));
  // A record whose payload names another LFN than the one it is stored under.
  auto moved = record_of(std::string(16, 'f'), "CT", "");
  moved.lfn = crypto::to_hex(std::string(16, 'g'));
  EXPECT_FALSE(plan->score(moved));
  // Bodies that do not parse are refused.
  EXPECT_TRUE(same->summary.find("diagnoses") == std::string::npos);  // none recorded
  EXPECT_FALSE(plan_query(R"({"measure":"mi"})"));
  EXPECT_FALSE(plan_query("nope"));
}

TEST(query_plan, filters_by_diagnosis_code_or_category_and_carries_the_codes_never_a_text) {
  query_body q;
  q.filters.diagnosis_code = "I21";
  auto plan = plan_query(canonical_json(q));
  ASSERT_TRUE(plan);
  auto coded = record_of(std::string(16, 'a'), "MR", "");
  auto r = *dht::decode_replica(coded);
  r.diagnoses = {{"I21.4", "20261202", true}};
  auto hit = plan->score(dht::replica_of(r));
  ASSERT_TRUE(hit);
  auto summary = nlohmann::json::parse(hit->summary);
  EXPECT_EQ(summary["diagnoses"][0]["code"], "I21.4");
  EXPECT_EQ(summary["diagnoses"][0]["has_text"], true);
  EXPECT_FALSE(summary["diagnoses"][0].contains("text"));
  EXPECT_FALSE(plan->score(record_of(std::string(16, 'b'), "MR", "")));  // no diagnosis
  r.diagnoses = {{"I25.2", "20261202", false}};
  EXPECT_FALSE(plan->score(dht::replica_of(r)));
}

TEST(diagnosis_input, takes_a_code_a_text_or_both_and_refuses_the_rest_naming_the_field) {
  auto both = parse_diagnosis_input(R"({"code":"I21.4","text":"inferior STEMI\nfollow-up in 6 weeks"})");
  ASSERT_TRUE(both.ok()) << both.err().to_string();
  EXPECT_EQ(both->code, "I21.4");
  EXPECT_TRUE(parse_diagnosis_input(R"({"code":"I21"})").ok());
  EXPECT_TRUE(parse_diagnosis_input(R"({"text":"suspected myocarditis"})").ok());
  const std::pair<std::string, const char*> cases[] = {
      {"[]", "JSON object"},
      {"{}", "code"},
      {R"({"code":"heart attack"})", "code"},
      {R"({"code":12})", "code"},
      {R"({"text":""})", "text"},
      {R"({"text":"a\u0007b"})", "text"},
      {R"({"code":"I21","author":"me"})", "author"},
      {"{\"text\":\"\xff\"}", "JSON object"},  // not UTF-8
      {R"({"text":")" + std::string(1025, 'a') + "\"}", "text"},
  };
  for (const auto& [body, says] : cases) {
    auto s = parse_diagnosis_input(body);
    ASSERT_FALSE(s.ok()) << body;
    EXPECT_EQ(http_status(s.err().code), 400) << body;
    EXPECT_NE(s.err().message.find(says), std::string::npos) << body << " -> " << s.err().message;
  }
  EXPECT_EQ(parse_diagnosis_input(std::string(4097, ' ')).err().code, errc::too_large);
}

struct signer_pair {
  signer_pair() {
    for (auto* k : {&a_key, &b_key}) *k = *crypto::generate_private_key(crypto::key_type::ed25519);
    keys = [this](std::string_view site) -> result<std::string> {
      if (site == "site-a") return *crypto::raw_public_key(a_key);
      if (site == "site-b") return *crypto::raw_public_key(b_key);
      return fail(errc::permission_denied, "not on the roster");
    };
  }
  std::string a_key, b_key;
  query_signer::key_lookup keys;
  std::int64_t now = 1'700'000'000'000;
  query_signer::wall_clock clock() {
    return [this] { return now; };
  }
};

TEST(query_signer, accepts_a_signed_query_once_and_refuses_forgeries_replays_and_stale_ones) {
  signer_pair p;
  query_signer a("site-a", p.a_key, p.keys, {}, p.clock());
  query_signer b("site-b", p.b_key, p.keys, {}, p.clock());
  dht::query_request q{"q1", R"({"top_k":3})", {}, 12345, {}, {}};
  q.signature = a.sign(q.query_id, q.body, q.deadline_ms);
  EXPECT_TRUE(b.verify("site-a", q));
  EXPECT_FALSE(b.verify("site-a", q));  // replayed
  EXPECT_EQ(b.refused(), 1u);

  auto changed = [&](auto edit) {
    dht::query_request c{"q2", q.body, {}, q.deadline_ms, {}, {}};
    c.signature = a.sign(c.query_id, c.body, c.deadline_ms);
    edit(c);
    return c;
  };
  EXPECT_FALSE(b.verify("site-a", changed([](auto& c) { c.body = R"({"top_k":4})"; })));
  EXPECT_FALSE(b.verify("site-a", changed([](auto& c) { c.deadline_ms += 1; })));
  EXPECT_FALSE(b.verify("site-a", changed([](auto& c) { c.signature.back() ^= 1; })));
  EXPECT_FALSE(b.verify("site-a", changed([](auto& c) { c.signature[7] ^= 1; })));  // issued_at
  EXPECT_FALSE(b.verify("site-a", changed([](auto& c) { c.signature.resize(10); })));
  EXPECT_FALSE(b.verify("site-b", changed([](auto&) {})));     // another site's name
  EXPECT_FALSE(b.verify("site-z", changed([](auto&) {})));     // not a member
  EXPECT_TRUE(b.verify("site-a", changed([](auto&) {})));      // q2 untouched, still fresh
  // Stale: issued more than max_age ago.
  auto old = changed([](auto&) {});
  old.query_id = "q3";
  old.signature = a.sign(old.query_id, old.body, old.deadline_ms);
  p.now += query_signer_settings{}.max_age_ms + 1;
  EXPECT_FALSE(b.verify("site-a", old));
  EXPECT_EQ(b.refused(), 9u);
}

TEST(query_signer, remembers_ids_only_as_long_as_they_could_be_replayed) {
  signer_pair p;
  query_signer_settings s;
  s.max_remembered = 2;
  query_signer a("site-a", p.a_key, p.keys, s, p.clock());
  query_signer b("site-b", p.b_key, p.keys, s, p.clock());
  auto fresh = [&](const std::string& id) {
    dht::query_request q{id, "{}", {}, 1, {}, {}};
    q.signature = a.sign(q.query_id, q.body, q.deadline_ms);
    return q;
  };
  EXPECT_TRUE(b.verify("site-a", fresh("1")));
  EXPECT_TRUE(b.verify("site-a", fresh("2")));
  EXPECT_FALSE(b.verify("site-a", fresh("3")));  // full: refuse rather than forget too early
  p.now += s.max_age_ms + 1;
  EXPECT_TRUE(b.verify("site-a", fresh("3")));  // 1 and 2 are stale now, forgotten
}

// A hit relayed through the tree fan-out keeps its answering site's signature: a forwarder
// changing any field, or claiming another signer, is refused.
TEST(query_signer, a_relayed_hit_verifies_only_as_its_signer_signed_it) {
  signer_pair p;
  query_signer a("site-a", p.a_key, p.keys, {}, p.clock());
  query_signer b("site-b", p.b_key, p.keys, {}, p.clock());
  dht::query_hit h{std::string(32, 'c'), "site-c", 0.75, R"({"modality":"MR"})"};
  h.signer = "site-a";
  h.signature = a.sign_hit("q1", h);
  EXPECT_TRUE(b.verify_hit("q1", h));
  EXPECT_FALSE(b.verify_hit("q2", h));  // another query's
  auto changed = [&](auto edit) {
    auto c = h;
    edit(c);
    return b.verify_hit("q1", c);
  };
  EXPECT_FALSE(changed([](auto& c) { c.score = 0.76; }));
  EXPECT_FALSE(changed([](auto& c) { c.lfn[0] = 'd'; }));
  EXPECT_FALSE(changed([](auto& c) { c.owner = "site-a"; }));
  EXPECT_FALSE(changed([](auto& c) { c.summary = "{}"; }));
  EXPECT_FALSE(changed([](auto& c) { c.signer = "site-b"; }));
  EXPECT_FALSE(changed([](auto& c) { c.signer = "site-z"; }));  // not a member
  EXPECT_FALSE(changed([](auto& c) { c.signature.resize(63); }));
  EXPECT_FALSE(changed([](auto& c) { c.signature.clear(); }));
  EXPECT_EQ(b.refused(), 9u);
}

// A hit on LFN "<c> x 32".
dht::query_hit hit(char c, double score) { return {std::string(32, c), "site-a", score, "{}"}; }

// What an event stream (GET /v1/queries/{id}/events) waits on: every change raises the revision
// and wakes a watcher; an unchanged query comes back unchanged after the wait; a cancelled one is
// gone; the deadline is the book's clock's.
TEST(query_book, wakes_watchers_on_each_change_and_knows_the_deadline) {
  using namespace std::chrono_literals;
  std::atomic<std::int64_t> now_ms{0};
  query_book book({}, [&now_ms] { return std::chrono::milliseconds(now_ms.load()); });
  auto id = book.open({5, "", 0, 1000ms});
  ASSERT_TRUE(id);
  auto first = book.view(*id);
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->deadline_reached);
  auto same = book.wait_for_change(*id, first->revision, 1ms);
  ASSERT_TRUE(same);
  EXPECT_EQ(same->revision, first->revision);

  dht::query_progress p;
  p.asked = 3;
  p.answered = 1;
  p.asked_sites = {"site-1", "site-2", "site-3"};
  p.answered_sites = {"site-1"};
  std::thread answering([&] { book.record(*id, {hit('a', 0.5)}, p); });
  auto changed = book.wait_for_change(*id, first->revision, 60s);  // woken, or the change came first
  answering.join();
  ASSERT_TRUE(changed);
  EXPECT_GT(changed->revision, first->revision);
  EXPECT_EQ(changed->progress.answered_sites, std::vector<std::string>{"site-1"});
  ASSERT_EQ(changed->hits.size(), 1u);

  now_ms = 1000;
  EXPECT_TRUE(book.view(*id)->deadline_reached);
  book.cancel(*id);
  EXPECT_FALSE(book.wait_for_change(*id, changed->revision, 60s));
}

TEST(query_book, merges_ranks_bounds_and_forgets) {
  std::chrono::milliseconds now{0};
  query_book_settings s;
  s.max_running = 2;
  s.keep_finished = std::chrono::milliseconds(1000);
  query_book book(s, [&now] { return now; });
  auto one = book.open({2, "", 0});
  auto two = book.open({5, "", 0});
  ASSERT_TRUE(one && two);
  EXPECT_EQ(one->size(), 32u);
  EXPECT_NE(*one, *two);
  auto third = book.open({5, "", 0});
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.err().code, errc::unavailable);

  dht::query_progress p;
  p.asked = 3;
  p.answered = 1;
  book.record(*one, {hit('c', 0.2), hit('a', 0.9), hit('b', unscored)}, p);
  p.answered = 2;
  book.record(*one, {hit('c', 0.95), hit('d', 0.5)}, p);  // c improved by a replica's answer
  auto v = book.view(*one);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->progress.answered, 2u);
  ASSERT_EQ(v->hits.size(), 2u);  // top_k
  EXPECT_EQ(v->hits[0].hit.lfn, std::string(32, 'c'));
  EXPECT_EQ(v->hits[1].hit.lfn, std::string(32, 'a'));
  // What no site of ours would send is dropped: a short LFN, a long owner, huge attributes.
  auto odd = hit('e', 2.0);
  odd.lfn = "e";
  auto long_owner = hit('f', 2.0);
  long_owner.owner = std::string(65, 's');
  auto huge = hit('g', 2.0);
  huge.summary = std::string(5000, ' ');
  book.record(*one, {odd, long_owner, huge}, p);
  EXPECT_EQ(book.view(*one)->hits[0].hit.lfn, std::string(32, 'c'));

  p.answered = 3;
  p.done = true;
  book.record(*one, {}, p);
  EXPECT_TRUE(book.view(*one)->progress.done);
  EXPECT_EQ(book.running(), 1u);
  EXPECT_TRUE(book.open({1, "", 0}).ok());  // a slot freed
  now += std::chrono::milliseconds(1000);
  EXPECT_FALSE(book.view(*one));  // forgotten
  EXPECT_FALSE(book.view("unknown"));
  book.cancel(*two);
  EXPECT_FALSE(book.view(*two));
  EXPECT_EQ(book.running(), 1u);
}

}  // namespace
}  // namespace dm2::node
