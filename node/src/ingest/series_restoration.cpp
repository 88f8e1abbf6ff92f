#include "series_restoration.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dm2/crypto/stream.hpp"

namespace dm2::node {

std::vector<object_store::stored_file> series_restoration::files() {
  std::vector<object_store::stored_file> out;
  auto file = [&](std::string name, std::uint64_t plain) {
    auto opener = [self = shared_from_this(), name] { return self->open_when_sealed(name); };
    out.push_back({std::move(name), {}, crypto::sealed_stream_size(plain), std::move(opener)});
  };
  for (std::size_t i = 0; i < manifest_.instances.size(); ++i)
    file(object_store::instance_name(i), manifest_.instances[i].second);
  file(object_store::volume_name, manifest_.volume_bytes);
  return out;
}

result<int> series_restoration::open_when_sealed(const std::string& name) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return failure_ || placed_ || sealed_.count(name) != 0; });
  if (failure_) return *failure_;
  if (placed_ && sealed_.count(name) == 0)
    return fail(errc::not_found, "the re-assembled series holds no file " + name);
  // Opened under the lock: placed() cannot rename the directory between the path and the open.
  auto path = dir_ / name;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(errc::io_error, "cannot open " + path.string() + ": " + std::strerror(errno));
  return fd;
}

status series_restoration::started() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return failure_ || placed_ || !sealed_.empty(); });
  if (failure_) return *failure_;
  return {};
}

result<std::uint64_t> series_restoration::finished() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return failure_ || placed_; });
  if (failure_) return *failure_;
  return version_;
}

void series_restoration::staging_at(std::filesystem::path staging) {
  std::lock_guard lock(mutex_);
  dir_ = std::move(staging);
}

void series_restoration::sealed(const std::string& name) {
  std::lock_guard lock(mutex_);
  sealed_.insert(name);
  changed_.notify_all();
}

status series_restoration::place(const std::function<result<std::filesystem::path>()>& move) {
  std::lock_guard lock(mutex_);
  auto dir = move();
  if (dir) {
    dir_ = std::move(*dir);
    placed_ = true;
  } else {
    failure_ = dir.err();
  }
  changed_.notify_all();
  if (!dir) return std::move(dir).err();
  return {};
}

void series_restoration::failed(error why) {
  std::lock_guard lock(mutex_);
  failure_ = std::move(why);
  changed_.notify_all();
}

}  // namespace dm2::node
