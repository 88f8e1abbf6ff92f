#include "dm2/node/metrics.hpp"

#include <gtest/gtest.h>

namespace dm2::node {
namespace {

TEST(metrics, renders_prometheus_text_format) {
  metrics m;
  m.describe("dm2_requests_total", "counter", "Requests.");
  m.increment("dm2_requests_total", "code=\"200\"");
  m.increment("dm2_requests_total", "code=\"200\"");
  m.increment("dm2_requests_total", "code=\"404\"");
  m.describe("dm2_peers", "gauge", "Peers.");
  m.gauge_callback("dm2_peers", [] { return 7.0; });
  auto text = m.render();
  EXPECT_NE(text.find("# HELP dm2_requests_total Requests.\n# TYPE dm2_requests_total counter\n"),
            std::string::npos);
  EXPECT_NE(text.find("dm2_requests_total{code=\"200\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("dm2_requests_total{code=\"404\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE dm2_peers gauge\ndm2_peers 7\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace dm2::node
