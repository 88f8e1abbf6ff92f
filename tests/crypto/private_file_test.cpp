#include "dm2/crypto/private_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "support/temp_dir.hpp"

namespace dm2::crypto {
namespace {

TEST(private_file, written_with_mode_0600_and_read_back) {
  test::temp_dir dir;
  auto path = dir / "site.key";
  ASSERT_TRUE(write_private_file(path, "secret").ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto back = read_private_file(path);
  ASSERT_TRUE(back.ok()) << back.err().to_string();
  EXPECT_EQ(*back, "secret");
}

TEST(private_file, never_replaces_an_existing_key) {
  test::temp_dir dir;
  auto path = dir / "site.key";
  ASSERT_TRUE(write_private_file(path, "first").ok());
  auto second = write_private_file(path, "second");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.err().code, errc::conflict);
  EXPECT_EQ(*read_private_file(path), "first");
}

TEST(private_file, group_or_world_readable_key_is_refused) {
  test::temp_dir dir;
  auto path = dir / "site.key";
  ASSERT_TRUE(write_private_file(path, "secret").ok());
  for (mode_t mode : {0640, 0604, 0660, 0601}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    auto r = read_private_file(path);
    ASSERT_FALSE(r.ok()) << std::oct << mode;
    EXPECT_EQ(r.err().code, errc::insecure_file);
    EXPECT_NE(r.err().message.find("chmod 600"), std::string::npos);
  }
}

TEST(private_file, missing_file_is_not_found) {
  test::temp_dir dir;
  auto r = read_private_file(dir / "absent.key");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::not_found);
}

TEST(private_file, public_file_is_replaced_atomically_with_mode_0644) {
  test::temp_dir dir;
  auto path = dir / "ca.crt";
  ASSERT_TRUE(write_public_file(path, "one").ok());
  ASSERT_TRUE(write_public_file(path, "two").ok());
  EXPECT_EQ(*read_file(path), "two");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_FALSE(std::filesystem::exists(dir / "ca.crt.tmp"));
}

}  // namespace
}  // namespace dm2::crypto
