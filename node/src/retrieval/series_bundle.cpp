#include "series_bundle.hpp"

#include <cstdint>
#include <unistd.h>

#include <cerrno>

namespace dm2::node {
namespace {

constexpr std::string_view magic{"dm2b\x01", 5};
constexpr std::size_t max_files = 100'000;

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
  return !n.empty() && n.size() <= 255 && n.front() != '.' &&
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
    started_ = true;
    piece += magic;
    put_be(piece, files_.size(), 4);
  }
  if (next_ == files_.size()) return !piece.empty();
  const auto& f = files_[next_++];
  put_be(piece, f.name.size(), 2);
  piece += f.name;
  put_be(piece, f.size, 8);
  auto start = piece.size();
  piece.resize(start + f.size);
  auto fd = object_store::open_stored(f);
  if (!fd) return std::move(fd).err();
  // Exactly its listed size: a file that changed does not go out short or long.
  std::size_t done = 0;
  char extra = 0;
  while (done < f.size) {
    auto n = ::pread(*fd, piece.data() + start + done, f.size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  bool whole = done == f.size && ::pread(*fd, &extra, 1, static_cast<off_t>(done)) == 0;
  ::close(*fd);
  if (!whole) return fail(errc::io_error, "cannot read " + f.name + " whole");
  return true;
}

result<bundle_files> decode_bundle(std::string_view in) {
  auto bad = [](const char* why) {
    return fail(errc::malformed_input, std::string("series bundle: ") + why);
  };
  if (in.substr(0, magic.size()) != magic) return bad("not a dm2 bundle (version 1)");
  in.remove_prefix(magic.size());
  std::uint64_t count = 0;
  if (!get_be(in, 4, count) || count > max_files) return bad("bad file count");
  bundle_files out;
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t name_size = 0, size = 0;
    if (!get_be(in, 2, name_size) || in.size() < name_size) return bad("truncated name");
    std::string name(in.substr(0, name_size));
    in.remove_prefix(name_size);
    if (!good_name(name)) return bad("bad file name");
    if (!get_be(in, 8, size) || in.size() < size) return bad("truncated file");
    out.emplace_back(std::move(name), std::string(in.substr(0, size)));
    in.remove_prefix(size);
  }
  if (!in.empty()) return bad("trailing bytes");
  return out;
}

}  // namespace dm2::node
