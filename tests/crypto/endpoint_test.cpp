#include "dm2/crypto/endpoint.hpp"

#include <gtest/gtest.h>

namespace dm2::crypto {
namespace {

TEST(endpoint, parses_ipv4_and_bracketed_ipv6_to_canonical_text) {
  auto v4 = parse_endpoint("127.0.0.2:6881");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->address, "127.0.0.2");
  EXPECT_EQ(v4->port, 6881);
  EXPECT_EQ(v4->to_string(), "127.0.0.2:6881");
  auto v6 = parse_endpoint("[FD00:0::1]:7");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->address, "fd00::1");
  EXPECT_EQ(v6->to_string(), "[fd00::1]:7");
  EXPECT_EQ(parse_endpoint(v6->to_string())->to_string(), v6->to_string());
}

TEST(endpoint, port_zero_only_where_allowed) {
  EXPECT_FALSE(parse_endpoint("127.0.0.2:0").ok());
  auto any = parse_endpoint("127.0.0.2:0", port_zero::allowed);
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->port, 0);
}

TEST(endpoint, refuses_names_wildcards_and_malformed_text_with_a_reason) {
  for (const char* bad : {"", ":5", "127.0.0.1", "127.0.0.1:", "127.0.0.1:-1", "127.0.0.1:+1",
                          "127.0.0.1:70000", "127.0.0.1:08443", "127.0.0.1:1x", "127.0.0.256:1",
                          "host.example:1", "localhost:8443", "0.0.0.0:1", "[::]:1", "::1:80",
                          "[::1:80", "[]:80", "127.0.0.1 :1"}) {
    auto r = parse_endpoint(bad, port_zero::allowed);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.err().code, errc::invalid_argument) << bad;
    EXPECT_FALSE(r.err().message.empty()) << bad;
  }
}

}  // namespace
}  // namespace dm2::crypto
