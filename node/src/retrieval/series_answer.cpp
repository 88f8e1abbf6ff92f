#include "series_answer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "../ingest/object_store.hpp"
#include "dm2/crypto/stream.hpp"

namespace dm2::node {
namespace {

constexpr std::size_t volume_block = 1 << 20;  // sealed bytes read per volume piece

void wipe(std::string& s) {
  std::fill(s.begin(), s.end(), '\0');
  s.clear();
}

class file_descriptor {
 public:
  explicit file_descriptor(int fd) : fd_(fd) {}
  file_descriptor(const file_descriptor&) = delete;
  file_descriptor& operator=(const file_descriptor&) = delete;
  ~file_descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads exactly out.size() bytes at `offset`.
status read_at(int fd, std::string& out, std::uint64_t offset, const std::filesystem::path& path) {
  std::size_t done = 0;
  while (done < out.size()) {
    auto n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(errc::io_error, "cannot read " + path.string() + (n < 0 ? ": " + std::string(std::strerror(errno)) : ": short file"));
    done += static_cast<std::size_t>(n);
  }
  return {};
}

// Opens a file on disk, or waits for one being re-assembled and opens it.
result<int> open_file(const sealed_file& f) {
  if (f.open_when_sealed) return f.open_when_sealed();
  int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(errc::io_error, "cannot open " + f.path.string() + ": " + std::strerror(errno));
  return fd;
}

// The chunk size of a sealed stream, from its header: the object store's for a file not on disk
// yet (a file that opens to another size then ends the answer short).
result<std::uint64_t> chunk_size_of(const sealed_file& f) {
  if (f.open_when_sealed || f.arriving) return crypto::default_stream_chunk_size;
  std::string header(crypto::stream_header_size, '\0');
  file_descriptor fd(::open(f.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return fail(errc::io_error, "cannot open " + f.path.string() + ": " + std::strerror(errno));
  if (auto s = read_at(fd.get(), header, 0, f.path); !s) return std::move(s).err();
  std::uint64_t chunk = 0;
  for (int i = 5; i < 9; ++i) chunk = chunk << 8 | static_cast<unsigned char>(header[i]);
  if (header.compare(0, 4, "dm2s") != 0) return 0;
  return chunk;
}

// The plaintext size of a sealed stream of `sealed` bytes whose header is `header`: every chunk
// but the last holds chunk_size bytes, each adds a 16-byte tag (docs/crypto.md, "Stream format").
result<std::uint64_t> plaintext_size(const sealed_file& f) {
  if (f.size < crypto::stream_header_size + crypto::stream_tag_size)
    return fail(errc::integrity_failure, "stored file " + f.name + " is too short to be sealed");
  auto chunk = chunk_size_of(f);
  if (!chunk) return std::move(chunk).err();
  auto not_sealed = fail(errc::integrity_failure, "stored file " + f.name + " is not a sealed stream");
  if (*chunk < crypto::min_stream_chunk_size || *chunk > crypto::max_stream_chunk_size) return not_sealed;
  auto body = f.size - crypto::stream_header_size;
  auto chunks = (body + *chunk + crypto::stream_tag_size - 1) / (*chunk + crypto::stream_tag_size);
  auto plain = body - chunks * crypto::stream_tag_size;
  if (crypto::sealed_stream_size(plain, *chunk) != f.size) return not_sealed;
  return plain;
}

}  // namespace

bool in_form(std::string_view name, series_form form) { return (form == series_form::nifti) == (name == object_store::volume_name); }

// The volume being opened: where its sealed bytes come from and the opener over them.
struct series_answer::volume_reader {
  crypto::stream_opener opener;
  std::unique_ptr<file_descriptor> fd;  // null when the bytes are arriving
  std::uint64_t offset = 0;
};

result<std::shared_ptr<series_answer>> series_answer::open(std::string key, std::string lfn, std::uint64_t version,
                                                           std::vector<sealed_file> files, series_form form,
                                                           std::function<void(std::size_t, std::uint64_t)> on_end) {
  std::shared_ptr<series_answer> a(new series_answer());
  a->key_ = std::move(key);
  if (files.empty()) return fail(errc::not_found, "the stored series holds no such file");
  if (form == series_form::nifti && files.size() != 1)
    return fail(errc::invalid_argument, "a volume answer is one file");
  a->lfn_ = std::move(lfn);
  a->version_ = version;
  a->files_ = std::move(files);
  a->form_ = form;
  a->on_end_ = std::move(on_end);
  a->framing_ = multipart_framing::random("application/dicom");
  for (const auto& f : a->files_) {
    auto plain = plaintext_size(f);
    if (!plain) return std::move(plain).err();
    a->plain_sizes_.push_back(*plain);
    a->total_ += *plain;
    if (form == series_form::dicom) a->total_ += a->framing_.part_start(*plain).size() + multipart_framing::part_end.size();
  }
  if (form == series_form::dicom) a->total_ += a->framing_.closing().size();
  return a;
}

series_answer::~series_answer() { wipe_key(); }

void series_answer::wipe_key() { wipe(key_); }

std::string series_answer::content_type() const {
  return form_ == series_form::dicom       ? framing_.content_type()
         : form_ == series_form::instances ? "application/dicom"
                                           : "application/octet-stream";
}

status series_answer::read_sealed(const sealed_file& f, std::string& out) const {
  if (f.arriving) return f.arriving->take(out, f.size);
  auto fd = open_file(f);
  if (!fd) return std::move(fd).err();
  file_descriptor owned(*fd);
  out.resize(f.size);
  return read_at(owned.get(), out, 0, f.path);
}

result<bool> series_answer::next(std::string& piece) {
  piece.clear();
  if (next_file_ == files_.size()) return false;
  auto more = form_ == series_form::nifti ? next_volume_block(piece) : next_instance(piece);
  if (!more) {
    wipe(piece);
    wipe_key();
    return more;
  }
  sent_ += piece.size();
  if (next_file_ == files_.size()) {
    wipe_key();
    if (on_end_) on_end_(files_.size(), sent_);
  }
  return true;
}

result<bool> series_answer::next_instance(std::string& piece) {
  auto& f = files_[next_file_];
  auto plain = plain_sizes_[next_file_];
  auto last = next_file_ + 1 == files_.size();
  const bool framed = form_ == series_form::dicom;
  if (auto s = read_sealed(f, sealed_); !s) return std::move(s).err();
  if (framed) {
    piece.reserve(framing_.part_start(plain).size() + plain + 2 + (last ? framing_.closing().size() : 0));
    piece += framing_.part_start(plain);
  }
  auto start = piece.size();
  auto opener = crypto::stream_opener::create(key_, object_store::associated_data(lfn_, version_, f.name));
  if (!opener) return std::move(opener).err();
  auto opened = opener->update(sealed_, piece);
  if (opened) opened = opener->finish(piece);
  if (!opened || piece.size() - start != plain)
    return fail(errc::integrity_failure, "a stored file of the series does not open" +
                                             (opened ? std::string(": unexpected size") : ": " + opened.err().message));
  if (framed) piece += multipart_framing::part_end;
  if (framed && last) piece += framing_.closing();
  ++next_file_;
  return true;
}

result<bool> series_answer::next_volume_block(std::string& piece) {
  auto& f = files_.front();
  if (!volume_) {
    auto opener = crypto::stream_opener::create(key_, object_store::associated_data(lfn_, version_, f.name));
    if (!opener) return std::move(opener).err();
    volume_ = std::make_unique<volume_reader>(volume_reader{std::move(*opener), nullptr, 0});
    if (!f.arriving) {
      auto fd = open_file(f);
      if (!fd) return std::move(fd).err();
      volume_->fd = std::make_unique<file_descriptor>(*fd);
    }
  }
  auto& v = *volume_;
  auto take = std::min<std::uint64_t>(volume_block, f.size - v.offset);
  if (v.fd) {
    sealed_.resize(take);
    if (auto s = read_at(v.fd->get(), sealed_, v.offset, f.path); !s) return std::move(s).err();
  } else if (auto s = f.arriving->take(sealed_, take); !s) {
    return std::move(s).err();
  }
  v.offset += take;
  auto opened = v.opener.update(sealed_, piece);
  bool end = v.offset == f.size;
  if (opened && end) opened = v.opener.finish(piece);
  if (!opened) return fail(errc::integrity_failure, "the stored volume does not open: " + opened.err().message);
  if (end) {
    if (sent_ + piece.size() != total_) return fail(errc::integrity_failure, "the stored volume does not open: unexpected size");
    ++next_file_;
    volume_.reset();
  }
  return true;
}

}  // namespace dm2::node
