// A fresh directory under $TMPDIR for one test, removed with everything in it at scope exit.
#pragma once

#include <filesystem>
#include <string>

namespace dm2::test {

class temp_dir {
 public:
  explicit temp_dir(const std::string& prefix = "dm2-test");
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Every regular file below `dir` with its size and modification time, for "nothing changed" checks.
std::string snapshot_tree(const std::filesystem::path& dir);

}  // namespace dm2::test
