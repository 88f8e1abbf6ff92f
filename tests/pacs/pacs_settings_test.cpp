#include "dm2/pacs/pacs_settings.hpp"

#include <gtest/gtest.h>

namespace dm2::pacs {
namespace {

TEST(pacs_settings, defaults_are_valid) { EXPECT_TRUE(validate(pacs_settings{}).ok()); }

TEST(pacs_settings, bad_fields_are_named) {
  auto s = pacs_settings{};
  s.called_ae_title = "THIS_TITLE_IS_TOO_LONG";
  auto r = validate(s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::invalid_config);
  EXPECT_NE(r.err().message.find("called_ae_title"), std::string::npos);

  s = pacs_settings{};
  s.calling_ae_title = "BAD\\AE";
  EXPECT_FALSE(validate(s).ok());
  s = pacs_settings{};
  s.calling_ae_title = "    ";
  EXPECT_FALSE(validate(s).ok());
  s = pacs_settings{};
  s.associations = 0;
  EXPECT_FALSE(validate(s).ok());
  s = pacs_settings{};
  s.port = 0;
  EXPECT_FALSE(validate(s).ok());
  for (const char* bad : {"", "localhost", "127.0.0.256", "::1", "127.0.0.1 "}) {
    s = pacs_settings{};
    s.store_address = bad;
    r = validate(s);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.err().message.find("store_address"), std::string::npos);
  }
}

TEST(pacs_settings, store_address_defaults_to_loopback) {
  EXPECT_EQ(pacs_settings{}.store_address, "127.0.0.1");
  auto s = pacs_settings{};
  s.store_address = "10.1.2.3";
  EXPECT_TRUE(validate(s).ok());
}

}  // namespace
}  // namespace dm2::pacs
