#include "dm2/node/router.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <stdexcept>

namespace dm2::node {
namespace {

http_request get(const std::string& target, const std::string& method = "GET") {
  http_request r;
  r.method = method;
  r.target = target;
  return r;
}

router make_router() {
  router r;
  r.add("GET", "/health", [](const http_request&) { return http_response{200, "text/plain", {}, "ok"}; });
  r.add("POST", "/health", [](const http_request&) { return http_response{201, "text/plain", {}, "made"}; });
  r.add("GET", "/boom", [](const http_request&) -> http_response { throw std::runtime_error("secret detail"); });
  return r;
}

TEST(router, routes_by_path_and_method_ignoring_the_query) {
  auto r = make_router();
  EXPECT_EQ(r.handle(get("/health")).body, "ok");
  EXPECT_EQ(r.handle(get("/health?verbose=1")).body, "ok");
  EXPECT_EQ(r.handle(get("/health", "POST")).status, 201);
}

TEST(router, unknown_path_is_a_json_404) {
  auto res = make_router().handle(get("/nothing"));
  EXPECT_EQ(res.status, 404);
  auto body = nlohmann::json::parse(res.body);
  EXPECT_EQ(body["error"]["code"], "not_found");
}

TEST(router, wrong_method_is_405_with_allow) {
  auto res = make_router().handle(get("/health", "DELETE"));
  EXPECT_EQ(res.status, 405);
  EXPECT_EQ(res.headers.at("Allow"), "GET, POST");
}

TEST(router, malformed_target_is_400) {
  auto res = make_router().handle(get("health"));
  EXPECT_EQ(res.status, 400);
  EXPECT_EQ(nlohmann::json::parse(res.body)["error"]["code"], "malformed_input");
}

TEST(router, a_throwing_handler_gives_500_without_its_detail) {
  auto res = make_router().handle(get("/boom"));
  EXPECT_EQ(res.status, 500);
  EXPECT_EQ(res.body.find("secret detail"), std::string::npos);
}

TEST(router, route_labels_stay_bounded) {
  auto r = make_router();
  EXPECT_EQ(r.route_label(get("/health?x")), "/health");
  EXPECT_EQ(r.route_label(get("/random/path/123")), "other");
}

TEST(router, prefix_routes_serve_one_segment_and_label_it_bounded) {
  router r;
  r.add("POST", "/v1/queries", [](const http_request&) { return http_response{202, "text/plain", {}, "new"}; });
  r.add_prefix("GET", "/v1/queries/", [](const http_request& q) {
    return http_response{200, "text/plain", {}, last_segment(q.target)};
  });
  EXPECT_EQ(r.handle(get("/v1/queries/abc?x=1")).body, "abc");
  EXPECT_EQ(r.route_label(get("/v1/queries/abc")), "/v1/queries/{name}");
  EXPECT_EQ(r.handle(get("/v1/queries", "POST")).body, "new");  // the exact route still wins
  EXPECT_EQ(r.handle(get("/v1/queries/")).status, 404);         // no name
  EXPECT_EQ(r.handle(get("/v1/queries/a/b")).status, 404);      // more than one segment
  EXPECT_EQ(r.handle(get("/v1/queries/abc", "DELETE")).status, 405);
  EXPECT_EQ(r.route_label(get("/v1/queries/a/b")), "other");
}

TEST(router, a_prefix_route_with_a_suffix_serves_its_own_second_segment) {
  router r;
  r.add_prefix("GET", "/v1/series/", [](const http_request&) { return http_response{200, "text/plain", {}, "series"}; });
  r.add_prefix("GET", "/v1/series/", [](const http_request&) { return http_response{200, "text/plain", {}, "sealed"}; },
               "/sealed");
  EXPECT_EQ(r.handle(get("/v1/series/abc")).body, "series");
  EXPECT_EQ(r.handle(get("/v1/series/abc/sealed?x=1")).body, "sealed");
  EXPECT_EQ(r.route_label(get("/v1/series/abc/sealed")), "/v1/series/{name}/sealed");
  EXPECT_EQ(r.handle(get("/v1/series//sealed")).status, 404);       // no name
  EXPECT_EQ(r.handle(get("/v1/series/a/b/sealed")).status, 404);    // more than one segment
  EXPECT_EQ(r.handle(get("/v1/series/abc/other")).status, 404);
}

TEST(router, a_tree_route_serves_every_nested_path_after_exact_and_prefix_routes) {
  router r;
  r.add("GET", "/dicom-web/studies", [](const http_request&) { return http_response{200, "text/plain", {}, "search"}; });
  r.add_tree("GET", "/dicom-web/studies/", [](const http_request& q) { return http_response{200, "text/plain", {}, path_of(q.target)}; });
  EXPECT_EQ(r.handle(get("/dicom-web/studies")).body, "search");
  EXPECT_EQ(r.handle(get("/dicom-web/studies/1.2/series/3.4/metadata?x=1")).body, "/dicom-web/studies/1.2/series/3.4/metadata");
  EXPECT_EQ(r.handle(get("/dicom-web/studies/")).status, 404);  // the tree's root itself is not under it
  EXPECT_EQ(r.handle(get("/dicom-web/studies/1.2", "POST")).status, 405);
  EXPECT_EQ(r.route_label(get("/dicom-web/studies/1.2/series/3.4")), "/dicom-web/studies/{path}");
}

TEST(error_table, every_code_has_a_name_text_and_status) {
  for (int i = 0; i <= static_cast<int>(errc::cancelled); ++i) {
    auto code = static_cast<errc>(i);
    EXPECT_FALSE(name_of(code).empty());
    EXPECT_FALSE(describe(code).empty());
    EXPECT_GE(http_status(code), 400);
    EXPECT_LT(http_status(code), 600);
  }
}

}  // namespace
}  // namespace dm2::node
