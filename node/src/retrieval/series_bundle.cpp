#include "series_bundle.hpp"

#include <cstdint>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>

namespace dm2::node {
namespace {

constexpr std::string_view magic{"dm2b\x02", 5};
constexpr std::size_t max_files = 100'000;
constexpr std::size_t max_name = 255;

error bad(const char* why) { return fail(errc::malformed_input, std::string("series bundle: ") + why); }

void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

bool get_be(std::string_view& in, int bytes, std::uint64_t& v) {
  if (in.size() < static_cast<std::size_t>(bytes)) return false;
  v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  in.remove_prefix(bytes);
  return true;
}

bool good_name(std::string_view n) {
  return !n.empty() && n.size() <= max_name && n.front() != '.' &&
         n.find_first_not_of("0123456789abcdefghijklmnopqrstuvwxyz._") == std::string_view::npos;
}

}  // namespace

bundle_stream::bundle_stream(std::vector<object_store::stored_file> files) : files_(std::move(files)) {
  size_ = magic.size() + 4;
  for (const auto& f : files_) size_ += 2 + f.name.size() + 8 + f.size;
}

result<bool> bundle_stream::next(std::string& piece) {
  piece.clear();
  if (!started_) {
    // The directory alone: the requesting site can answer its user before the first file is
    // read (or, being re-assembled, sealed).
    started_ = true;
    piece += magic;
    put_be(piece, files_.size(), 4);
    for (const auto& f : files_) {
      put_be(piece, f.name.size(), 2);
      piece += f.name;
      put_be(piece, f.size, 8);
    }
    return true;
  }
  if (next_ == files_.size()) return false;
  const auto& f = files_[next_++];
  piece.resize(f.size);
  auto fd = object_store::open_stored(f);
  if (!fd) return std::move(fd).err();
  // Exactly its listed size: a file that changed does not go out short or long.
  std::size_t done = 0;
  char extra = 0;
  while (done < f.size) {
    auto n = ::pread(*fd, piece.data() + done, f.size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  bool whole = done == f.size && ::pread(*fd, &extra, 1, static_cast<off_t>(done)) == 0;
  ::close(*fd);
  if (!whole) return fail(errc::io_error, "cannot read " + f.name + " whole");
  return true;
}

bundle_decoder::bundle_decoder(directory_sink on_directory, bytes_sink on_bytes)
    : on_directory_(std::move(on_directory)), on_bytes_(std::move(on_bytes)) {}

status bundle_decoder::feed(std::string_view in) {
  if (listed_) return read_files(in);
  head_.append(in);
  if (auto s = read_directory(); !s || !listed_) return s;
  // What followed the directory in head_ is the files' first bytes.
  std::string rest = head_.substr(parsed_);
  std::string().swap(head_);
  if (auto s = on_directory_(files_); !s) return s;
  return read_files(rest);
}

// Parses what head_ holds of the directory, from where the last call stopped; sets listed_ once
// it is complete.
status bundle_decoder::read_directory() {
  std::string_view in(head_);
  in.remove_prefix(parsed_);
  if (!counted_) {
    if (in.size() < magic.size() + 4) return {};
    if (in.substr(0, magic.size()) != magic) return bad("not a dm2 bundle (version 2)");
    in.remove_prefix(magic.size());
    get_be(in, 4, count_);
    if (count_ > max_files) return bad("bad file count");
    counted_ = true;
    parsed_ += magic.size() + 4;
  }
  while (files_.size() < count_) {
    auto entry = in;
    std::uint64_t name_size = 0, size = 0;
    if (!get_be(entry, 2, name_size)) return {};
    if (name_size == 0 || name_size > max_name) return bad("bad file name");
    if (entry.size() < name_size) return {};
    std::string name(entry.substr(0, name_size));
    entry.remove_prefix(name_size);
    if (!good_name(name)) return bad("bad file name");
    if (!get_be(entry, 8, size)) return {};
    if (size > std::numeric_limits<std::uint64_t>::max() - remaining_) return bad("file sizes overflow");
    remaining_ += size;
    files_.push_back({std::move(name), size});
    parsed_ += in.size() - entry.size();
    in = entry;
  }
  listed_ = true;
  left_ = files_.empty() ? 0 : files_.front().size;
  return {};
}

status bundle_decoder::read_files(std::string_view in) {
  while (!in.empty()) {
    if (remaining_ == 0) return bad("trailing bytes");
    while (left_ == 0) left_ = files_[++file_].size;  // past empty files: bytes remain, so a file does
    auto take = static_cast<std::size_t>(std::min<std::uint64_t>(left_, in.size()));
    if (auto s = on_bytes_(file_, in.substr(0, take)); !s) return s;
    in.remove_prefix(take);
    left_ -= take;
    remaining_ -= take;
  }
  return {};
}

status bundle_decoder::finish() const {
  if (!listed_) return bad("truncated directory");
  if (remaining_ != 0) return bad("truncated file");
  return {};
}

}  // namespace dm2::node
