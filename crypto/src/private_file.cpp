#include "dm2/crypto/private_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace dm2::crypto {
namespace {

std::string errno_text(const std::filesystem::path& path, int err) {
  return path.string() + ": " + std::strerror(err);
}

status fsync_directory(const std::filesystem::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(errc::io_error, errno_text(dir, errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return fail(errc::io_error, errno_text(dir, err));
  return {};
}

// Writes to "<path>.tmp" with `mode`, fsyncs, renames over `path`, fsyncs the directory.
status write_atomically(const std::filesystem::path& path, std::string_view data, mode_t mode) {
  auto tmp = path;
  tmp += ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return fail(errc::io_error, errno_text(tmp, errno));
  ::fchmod(fd, mode);  // the umask may have narrowed it; never widened beyond `mode`
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return fail(errc::io_error, errno_text(tmp, err));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return fail(errc::io_error, errno_text(tmp, err));
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fail(errc::io_error, errno_text(path, err));
  }
  return fsync_directory(path.parent_path());
}

}  // namespace

status write_private_file(const std::filesystem::path& path, std::string_view data) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec))
    return fail(errc::conflict, path.string() + " already exists; refusing to replace a key");
  return write_atomically(path, data, 0600);
}

result<std::string> read_private_file(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return fail(errc::not_found, path.string() + " does not exist");
    return fail(errc::io_error, errno_text(path, errno));
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return fail(errc::insecure_file, path.string() + " has mode " + mode +
                                         "; a key file must not be readable by group or others "
                                         "(chmod 600)");
  }
  return read_file(path);
}

status write_public_file(const std::filesystem::path& path, std::string_view data) {
  return write_atomically(path, data, 0644);
}

result<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return fail(errc::not_found, path.string() + " does not exist");
    return fail(errc::io_error, errno_text(path, errno));
  }
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return fail(errc::io_error, path.string() + ": read failed");
  return out.str();
}

}  // namespace dm2::crypto
