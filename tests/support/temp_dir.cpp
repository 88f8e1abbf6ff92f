#include "support/temp_dir.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <map>
#include <sstream>
#include <stdexcept>

namespace dm2::test {

temp_dir::temp_dir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  // Tests may have made parts read-only; give them back before removing.
  for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    if (it->is_directory(ec)) ::chmod(it->path().c_str(), 0700);
  std::filesystem::remove_all(path_, ec);
}

std::string snapshot_tree(const std::filesystem::path& dir) {
  std::map<std::string, std::string> entries;
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return "<absent>";
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    std::ostringstream line;
    line << st.st_mode << ' ' << st.st_size << ' ' << st.st_mtim.tv_sec << '.' << st.st_mtim.tv_nsec;
    entries[std::filesystem::relative(it->path(), dir).string()] = line.str();
  }
  std::ostringstream out;
  for (const auto& [name, info] : entries) out << name << ' ' << info << '\n';
  return out.str();
}

}  // namespace dm2::test
