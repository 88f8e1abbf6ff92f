#include "dm2/storage/database.hpp"

#include <gtest/gtest.h>

#include "support/temp_dir.hpp"

namespace dm2::storage {
namespace {

TEST(database, values_survive_reopen_in_every_family) {
  test::temp_dir dir;
  {
    auto db = database::open(dir / "db");
    ASSERT_TRUE(db.ok()) << db.err().to_string();
    for (family f : all_families())
      ASSERT_TRUE((*db)->put(f, "key", std::string(name_of(f))).ok());
  }
  auto db = database::open(dir / "db");
  ASSERT_TRUE(db.ok());
  for (family f : all_families()) {
    auto v = (*db)->get(f, "key");
    ASSERT_TRUE(v.ok());
    ASSERT_TRUE(v->has_value());
    EXPECT_EQ(**v, name_of(f));
  }
  auto absent = (*db)->get(family::audit, "nothing");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
}

TEST(database, second_open_of_a_locked_database_fails_clearly) {
  test::temp_dir dir;
  auto first = database::open(dir / "db");
  ASSERT_TRUE(first.ok());
  auto second = database::open(dir / "db");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.err().code, errc::storage_failure);
  EXPECT_NE(second.err().message.find("lock"), std::string::npos) << second.err().message;
}

TEST(database, missing_database_is_not_created_when_asked_not_to) {
  test::temp_dir dir;
  auto db = database::open(dir / "db", database_options{.create_if_missing = false});
  EXPECT_FALSE(db.ok());
}

}  // namespace
}  // namespace dm2::storage
