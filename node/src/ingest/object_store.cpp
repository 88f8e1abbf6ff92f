#include "object_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/stream.hpp"

namespace dm2::node {
namespace fs = std::filesystem;

namespace {

// Opens `dir` and applies `sync_call` to it: fsync makes the directory's entries durable;
// syncfs(2) makes everything on its file system durable — every file written under `dir` with
// one journal commit for a whole series instead of one fsync per sealed file.
status sync_through(const fs::path& dir, int (*sync_call)(int)) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return fail(errc::io_error, "cannot open " + dir.string() + " to sync it");
  int rc = sync_call(fd);
  ::close(fd);
  if (rc != 0) return fail(errc::io_error, "cannot sync " + dir.string());
  return {};
}

status sync_dir(const fs::path& dir) { return sync_through(dir, ::fsync); }

// Inside a <version> directory placed without a sync (place_unsynced); not a sealed file.
constexpr const char* unsynced_marker = ".unsynced";

// Moves a staging directory to `target` (a <version> directory), replacing a leftover there.
status rename_into(const fs::path& staged, const fs::path& target) {
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec) return fail(errc::io_error, "cannot create " + target.parent_path().string() + ": " + ec.message());
  fs::remove_all(target, ec);  // a leftover of an attempt that never committed
  fs::rename(staged, target, ec);
  if (ec) return fail(errc::io_error, "cannot move the series into " + target.string() + ": " + ec.message());
  return {};
}

// A <version> directory's name.
bool is_version(const std::string& name) {
  return !name.empty() && name.size() <= 19 && name.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

result<int> object_store::open_stored(const stored_file& f) {
  if (f.open_when_sealed) return f.open_when_sealed();
  int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(errc::io_error, "cannot open " + f.path.string() + ": " + std::strerror(errno));
  return fd;
}

std::string object_store::instance_name(std::size_t slice) {
  char name[32];
  std::snprintf(name, sizeof name, "%06zu.dcm.dm2s", slice);
  return name;
}

result<object_store> object_store::open(fs::path dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(errc::io_error, "cannot create the object store " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, ec);
  return object_store(std::move(dir));
}

result<object_store::staging> object_store::stage() const {
  staging s{dir_ / (".staging-" + crypto::to_hex(crypto::random_bytes(8))), 0};
  std::error_code ec;
  fs::create_directory(s.dir, ec);
  if (ec) return fail(errc::io_error, "cannot create " + s.dir.string() + ": " + ec.message());
  return s;
}

result<std::vector<object_store::stored_file>> object_store::list_series(const std::string& lfn_hex,
                                                                        std::uint64_t version) const {
  auto dir = series_dir(lfn_hex, version);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return fail(errc::not_found, "no stored series " + lfn_hex + " version " + std::to_string(version));
  std::vector<stored_file> out;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.is_regular_file(ec) && entry.path().filename() != unsynced_marker) out.push_back({entry.path().filename().string(), entry.path(), entry.file_size(ec), {}});
  if (ec) return fail(errc::io_error, "cannot list " + dir.string() + ": " + ec.message());
  std::sort(out.begin(), out.end(), [](const stored_file& a, const stored_file& b) { return a.name < b.name; });
  return out;
}

std::string object_store::associated_data(const std::string& lfn_hex, std::uint64_t version, const std::string& name) {
  return lfn_hex + "/" + std::to_string(version) + "/" + name;
}

status object_store::seal_into(staging& s, const std::string& name, const std::string& key, const std::string& lfn_hex,
                               std::uint64_t version, const fs::path& plaintext_file) const {
  auto out = s.dir / name;
  // Not synced here: place() syncs the whole staging directory at once.
  if (auto st = crypto::stream_seal_file(key, plaintext_file, out, associated_data(lfn_hex, version, name),
                                         crypto::default_stream_chunk_size, crypto::file_sync::by_caller);
      !st)
    return st;
  std::error_code ec;
  s.bytes += fs::file_size(out, ec);
  return {};
}

status object_store::seal_bytes_into(staging& s, const std::string& name, const std::string& key,
                                     const std::string& lfn_hex, std::uint64_t version,
                                     std::initializer_list<std::string_view> parts) const {
  auto sealer = crypto::stream_sealer::create(key, associated_data(lfn_hex, version, name));
  if (!sealer) return std::move(sealer).err();
  std::uint64_t size = 0;
  for (auto p : parts) size += p.size();
  // The size known: each chunk is sealed as soon as it is complete, never held back (copied).
  if (auto st = sealer->expect_size(size); !st) return st;
  // Written straight under its name: nothing reads a staged file before its sealing is announced
  // (series_restoration::sealed), and a failed series' staging directory is discarded whole.
  auto out = s.dir / name;
  int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return fail(errc::io_error, "cannot create " + out.string() + ": " + std::strerror(errno));
  auto write_out = [&](result<std::string_view> sealed) -> status {
    if (!sealed) return std::move(sealed).err();
    for (std::string_view left = *sealed; !left.empty();) {
      auto n = ::write(fd, left.data(), left.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        return fail(errc::io_error, "cannot write " + out.string() + ": " + (n < 0 ? std::strerror(errno) : "short write"));
      left.remove_prefix(static_cast<std::size_t>(n));
    }
    s.bytes += sealed->size();
    return {};
  };
  // Sealed bytes only (nothing secret), kept per thread across files: no zero-fill per block.
  thread_local std::string block;
  constexpr std::size_t block_size = std::size_t{1} << 20;
  status written;
  for (auto part = parts.begin(); written && part != parts.end(); ++part)
    for (std::size_t at = 0; written && at < part->size(); at += block_size)
      written = write_out(sealer->seal_block(part->substr(at, block_size), block));
  if (written) written = write_out(sealer->seal_last(block));
  if (::close(fd) != 0 && written)
    written = fail(errc::io_error, "cannot write " + out.string() + ": " + std::strerror(errno));
  return written;
}

fs::path object_store::series_dir(const std::string& lfn_hex, std::uint64_t version) const {
  return dir_ / lfn_hex / std::to_string(version);
}

status object_store::place(const staging& s, const std::string& lfn_hex, std::uint64_t version) const {
  if (auto st = sync_through(s.dir, ::syncfs); !st) return st;
  auto target = series_dir(lfn_hex, version);
  if (auto st = rename_into(s.dir, target); !st) return st;
  if (auto st = sync_dir(target.parent_path()); !st) return st;
  return sync_dir(dir_);
}

status object_store::place_unsynced(const staging& s, const std::string& lfn_hex, std::uint64_t version) const {
  // The marker is created before the rename (ext4 journals both in order): whenever the rename
  // reaches the disk, so does the marker.
  int fd = ::open((s.dir / unsynced_marker).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return fail(errc::io_error, "cannot mark " + s.dir.string() + " unsynced");
  ::close(fd);
  return rename_into(s.dir, series_dir(lfn_hex, version));
}

void object_store::discard(const staging& s) const noexcept {
  std::error_code ec;
  fs::remove_all(s.dir, ec);
}

void object_store::remove(const std::string& lfn_hex, std::uint64_t version) const noexcept {
  std::error_code ec;
  fs::remove_all(series_dir(lfn_hex, version), ec);
  fs::remove(dir_ / lfn_hex, ec);  // only when empty
}

std::optional<std::uint64_t> object_store::newest_version(const std::string& lfn_hex, std::uint64_t at_most) const {
  std::optional<std::uint64_t> newest;
  std::error_code ec;
  for (const auto& version : fs::directory_iterator(dir_ / lfn_hex, ec)) {
    auto v = version.path().filename().string();
    if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos) continue;
    auto n = std::stoull(v);
    if (n <= at_most && (!newest || n > *newest)) newest = n;
  }
  return newest;
}

std::size_t object_store::sweep(const std::function<bool(const std::string&, std::uint64_t)>& committed) const {
  std::size_t removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    auto name = entry.path().filename().string();
    if (name.rfind(".staging-", 0) == 0) {
      fs::remove_all(entry.path(), ec);
      ++removed;
      continue;
    }
    if (!entry.is_directory(ec)) continue;
    for (const auto& version : fs::directory_iterator(entry.path(), ec)) {
      auto v = version.path().filename().string();
      if (is_version(v) && !fs::exists(version.path() / unsynced_marker, ec) && committed(name, std::stoull(v)))
        continue;
      fs::remove_all(version.path(), ec);
      ++removed;
    }
    fs::remove(entry.path(), ec);  // only when empty
  }
  return removed;
}

std::uint64_t object_store::series_bytes(const std::string& lfn_hex, std::uint64_t version) const {
  std::uint64_t bytes = 0;
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(series_dir(lfn_hex, version), ec)) {
    auto n = f.file_size(ec);
    if (!ec) bytes += n;
  }
  return bytes;
}

std::vector<object_store::placed_series> object_store::placed() const {
  std::vector<placed_series> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    auto lfn = entry.path().filename().string();
    if (lfn.rfind(".staging-", 0) == 0 || !entry.is_directory(ec)) continue;
    for (const auto& version : fs::directory_iterator(entry.path(), ec)) {
      auto v = version.path().filename().string();
      if (!is_version(v)) continue;
      auto when = fs::last_write_time(version.path(), ec);
      out.push_back({lfn, std::stoull(v), series_bytes(lfn, std::stoull(v)), ec ? fs::file_time_type{} : when});
    }
  }
  return out;
}

void object_store::touch(const std::string& lfn_hex, std::uint64_t version) const noexcept {
  std::error_code ec;
  fs::last_write_time(series_dir(lfn_hex, version), fs::file_time_type::clock::now(), ec);
}

}  // namespace dm2::node
