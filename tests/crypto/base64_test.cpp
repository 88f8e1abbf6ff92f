#include <gtest/gtest.h>

#include "dm2/crypto/hash.hpp"

namespace dm2::crypto {
namespace {

TEST(base64, rfc4648_vectors_round_trip) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}, {std::string("\xff\x00\xfe", 3), "/wD+"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(to_base64(plain), encoded);
    auto back = from_base64(encoded);
    ASSERT_TRUE(back.ok()) << encoded;
    EXPECT_EQ(*back, plain);
  }
}

TEST(base64, strict_decoding_refuses_anything_else) {
  for (const char* bad : {"Zg", "Zg=", "Zm9v\n", "Zm9-", "Zm9_", "Z===", "Zh==", "Zm9=Zm9v", "Zm=v", " Zm9v"}) {
    auto r = from_base64(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.err().code, errc::malformed_input) << bad;
  }
}

}  // namespace
}  // namespace dm2::crypto
