#include "dm2/crypto/stream.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "dm2/crypto/aead.hpp"
#include "dm2/crypto/hash.hpp"
#include "openssl_util.hpp"
#include "output_buffer.hpp"

namespace dm2::crypto {
using namespace detail;

namespace {

constexpr std::string_view magic = "dm2s";
constexpr std::uint8_t stream_version = 1;
constexpr std::string_view stream_info = "dm2 stream v1";
constexpr std::size_t salt_size = 24;
constexpr std::size_t prefix_size = 8;
constexpr std::uint64_t max_chunks = std::uint64_t{1} << 32;

void put_u32(char* out, std::uint32_t v) {
  out[0] = static_cast<char>(v >> 24);
  out[1] = static_cast<char>(v >> 16);
  out[2] = static_cast<char>(v >> 8);
  out[3] = static_cast<char>(v);
}

std::uint32_t get_u32(const char* in) {
  auto b = [&](int i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

// The per-stream state both directions share: derived key, nonce prefix, chunk counter and the
// associated data prefix (header || final flag || caller's AD).
class chunk_cipher {
 public:
  ~chunk_cipher() { OPENSSL_cleanse(chunk_key_.data(), chunk_key_.size()); }

  // Derives the stream keys from `header` (whose last 24 bytes are the salt).
  status start(std::string_view key, std::string_view header, std::string_view user_ad,
               bool encrypt) {
    auto okm = hkdf_sha256(key, header.substr(header.size() - salt_size), stream_info,
                           aead_key_size + prefix_size);
    if (!okm) return std::move(okm).err();
    chunk_key_ = okm->substr(0, aead_key_size);
    prefix_ = okm->substr(aead_key_size);
    OPENSSL_cleanse(okm->data(), okm->size());
    ad_.assign(header).push_back('\0');
    ad_.append(user_ad);
    ctx_.reset(EVP_CIPHER_CTX_new());
    bool ok = ctx_ && (encrypt ? EVP_EncryptInit_ex(ctx_.get(), aes_256_gcm(), nullptr,
                                                    u8(chunk_key_.data()), nullptr)
                               : EVP_DecryptInit_ex(ctx_.get(), aes_256_gcm(), nullptr,
                                                    u8(chunk_key_.data()), nullptr)) == 1;
    if (!ok) return fail(errc::crypto_failure, openssl_error("AES-GCM setup failed"));
    return {};
  }

  std::uint64_t counter() const { return counter_; }

  // Seals one chunk, writing ciphertext || tag to the sink's next bytes.
  template <class Sink>
  status seal(std::string_view plain, bool final, Sink& out) {
    if (counter_ >= max_chunks) return fail(errc::too_large, "stream longer than 2^32 chunks");
    set_nonce_and_flag(final);
    char* dst = out.take(plain.size() + stream_tag_size);
    int len = 0, fin = 0;
    bool ok = EVP_EncryptInit_ex(ctx_.get(), nullptr, nullptr, nullptr, u8(nonce_)) == 1 &&
              EVP_EncryptUpdate(ctx_.get(), nullptr, &len, u8(ad_.data()),
                                static_cast<int>(ad_.size())) == 1 &&
              EVP_EncryptUpdate(ctx_.get(), u8(dst), &len, u8(plain.data()),
                                static_cast<int>(plain.size())) == 1 &&
              EVP_EncryptFinal_ex(ctx_.get(), u8(dst) + len, &fin) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_GCM_GET_TAG, stream_tag_size,
                                  u8(dst) + plain.size()) == 1;
    if (!ok) return fail(errc::crypto_failure, openssl_error("AES-GCM chunk encryption failed"));
    ++counter_;
    return {};
  }

  // Opens one chunk (ciphertext || tag), appending the plaintext to `out`.
  status open(std::string_view sealed, bool final, std::string& out) {
    if (counter_ >= max_chunks)
      return fail(errc::integrity_failure, "stream longer than 2^32 chunks");
    set_nonce_and_flag(final);
    const size_t text = sealed.size() - stream_tag_size;
    const size_t at = out.size();
    out.resize(at + text);
    char* dst = out.data() + at;
    char tag[stream_tag_size];
    std::memcpy(tag, sealed.data() + text, stream_tag_size);
    int len = 0, fin = 0;
    bool ok = EVP_DecryptInit_ex(ctx_.get(), nullptr, nullptr, nullptr, u8(nonce_)) == 1 &&
              EVP_DecryptUpdate(ctx_.get(), nullptr, &len, u8(ad_.data()),
                                static_cast<int>(ad_.size())) == 1 &&
              EVP_DecryptUpdate(ctx_.get(), u8(dst), &len, u8(sealed.data()),
                                static_cast<int>(text)) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_GCM_SET_TAG, stream_tag_size, tag) == 1;
    if (!ok) return fail(errc::crypto_failure, openssl_error("AES-GCM chunk decryption failed"));
    if (EVP_DecryptFinal_ex(ctx_.get(), u8(dst) + len, &fin) != 1) {
      ERR_clear_error();
      OPENSSL_cleanse(dst, text);
      out.resize(at);
      return fail(errc::integrity_failure,
                  "stream chunk " + std::to_string(counter_) +
                      " does not authenticate (changed, reordered, truncated or wrong key)");
    }
    ++counter_;
    return {};
  }

 private:
  void set_nonce_and_flag(bool final) {
    std::memcpy(nonce_, prefix_.data(), prefix_size);
    put_u32(nonce_ + prefix_size, static_cast<std::uint32_t>(counter_));
    ad_[stream_header_size] = final ? '\1' : '\0';
  }

  std::string chunk_key_, prefix_, ad_;
  char nonce_[aead_nonce_size] = {};
  std::uint64_t counter_ = 0;
  cipher_ctx_ptr ctx_;
};

status check_key(std::string_view key) {
  if (key.size() != aead_key_size)
    return fail(errc::invalid_argument, "AES-256 key must be 32 bytes");
  return {};
}

}  // namespace

std::uint64_t sealed_stream_size(std::uint64_t plaintext_size, std::size_t chunk_size) {
  std::uint64_t chunks = plaintext_size == 0 ? 1 : (plaintext_size + chunk_size - 1) / chunk_size;
  return stream_header_size + plaintext_size + chunks * stream_tag_size;
}

// ---------------------------------------------------------------------------------- sealer ----

namespace {

// Where the sealer writes: appended to a caller's string (zero-filled as it grows), or over a
// reused buffer from its start, which grows once to a block's size and is then overwritten
// without being zero-filled again (that fill was 10% of sealing a file block by block).
struct append_sink {
  std::string& out;
  char* take(std::size_t n) {
    const std::size_t at = out.size();
    out.resize(at + n);
    return out.data() + at;
  }
};

struct reused_sink {
  std::string& buffer;
  std::size_t used = 0;
  char* take(std::size_t n) {
    if (buffer.size() < used + n) buffer.resize(used + n);
    used += n;
    return buffer.data() + used - n;
  }
  std::string_view written() const { return {buffer.data(), used}; }
};

}  // namespace

struct stream_sealer::impl {
  std::string header, pending;
  std::size_t chunk_size = 0;
  bool header_sent = false, finished = false, started = false;
  bool final_sealed = false;  // the announced size was reached and its last chunk sealed
  std::optional<std::uint64_t> expected_size;  // announced by expect_size()
  std::uint64_t fed = 0;                       // plaintext bytes given to update()
  std::uint64_t sealed = 0;                    // plaintext bytes sealed in non-final chunks
  chunk_cipher cipher;

  // Whether the next chunk_size bytes of `available` make a chunk known not to be the last.
  bool seal_next_chunk(std::size_t available) const {
    if (available > chunk_size) return true;
    return available == chunk_size && expected_size && sealed + chunk_size < *expected_size;
  }

  template <class Sink>
  status update(std::string_view plaintext, Sink& out);
  template <class Sink>
  status finish(Sink& out);

  // Seals the held-back bytes as one chunk and wipes them.
  template <class Sink>
  status seal_pending(bool final, Sink& out) {
    auto r = cipher.seal(pending, final, out);
    OPENSSL_cleanse(pending.data(), pending.size());
    pending.clear();
    return r;
  }

  template <class Sink>
  void emit_header(Sink& out) {
    if (!header_sent) std::memcpy(out.take(header.size()), header.data(), header.size());
    header_sent = true;
  }
};

stream_sealer::stream_sealer(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
stream_sealer::stream_sealer(stream_sealer&&) noexcept = default;
stream_sealer& stream_sealer::operator=(stream_sealer&&) noexcept = default;
stream_sealer::~stream_sealer() = default;

result<stream_sealer> stream_sealer::create(std::string_view key, std::string_view associated_data,
                                            std::size_t chunk_size) {
  if (auto s = check_key(key); !s) return std::move(s).err();
  if (chunk_size < min_stream_chunk_size || chunk_size > max_stream_chunk_size)
    return fail(errc::invalid_argument, "stream chunk size must be 16 bytes to 16 MiB");
  auto p = std::make_unique<impl>();
  p->chunk_size = chunk_size;
  p->header.assign(magic);
  p->header.push_back(static_cast<char>(stream_version));
  p->header.resize(p->header.size() + 4);
  put_u32(p->header.data() + magic.size() + 1, static_cast<std::uint32_t>(chunk_size));
  p->header += random_bytes(salt_size);
  if (auto s = p->cipher.start(key, p->header, associated_data, true); !s)
    return std::move(s).err();
  p->pending.reserve(chunk_size);
  return stream_sealer(std::move(p));
}

status stream_sealer::expect_size(std::uint64_t plaintext_size) {
  if (impl_->started) return fail(errc::invalid_argument, "stream size announced after an update");
  impl_->expected_size = plaintext_size;
  return {};
}

template <class Sink>
status stream_sealer::impl::update(std::string_view plaintext, Sink& out) {
  impl& s = *this;
  if (s.finished) return fail(errc::invalid_argument, "stream already finished");
  if (s.expected_size && plaintext.size() > *s.expected_size - s.fed)
    return fail(errc::invalid_argument, "stream longer than announced");
  if (s.final_sealed) return {};
  s.started = true;
  s.fed += plaintext.size();
  s.emit_header(out);
  // A chunk is sealed as "not final" only once a byte after it is known to exist (or the
  // announced size says one will).
  while (s.seal_next_chunk(s.pending.size() + plaintext.size())) {
    s.sealed += s.chunk_size;
    if (s.pending.empty()) {
      if (auto r = s.cipher.seal(plaintext.substr(0, s.chunk_size), false, out); !r) return r;
      plaintext.remove_prefix(s.chunk_size);
    } else {
      size_t take = s.chunk_size - s.pending.size();
      s.pending.append(plaintext.substr(0, take));
      plaintext.remove_prefix(take);
      if (auto r = s.seal_pending(false, out); !r) return r;
    }
  }
  // The announced size reached: what is left is the last chunk, sealed now rather than copied
  // for finish() (a 1 MiB file's last 64 KiB copy cost 6% of its sealing).
  if (s.expected_size && s.fed == *s.expected_size) {
    s.final_sealed = true;
    if (s.pending.empty()) return s.cipher.seal(plaintext, true, out);
  }
  s.pending.append(plaintext);
  return s.final_sealed ? s.seal_pending(true, out) : status{};
}

template <class Sink>
status stream_sealer::impl::finish(Sink& out) {
  impl& s = *this;
  if (s.finished) return fail(errc::invalid_argument, "stream already finished");
  if (s.expected_size && s.fed != *s.expected_size)
    return fail(errc::invalid_argument, "stream shorter than announced");
  s.emit_header(out);
  s.finished = true;
  if (s.final_sealed) return {};
  return s.seal_pending(true, out);
}

status stream_sealer::update(std::string_view plaintext, std::string& out) {
  append_sink sink{out};
  return impl_->update(plaintext, sink);
}

status stream_sealer::finish(std::string& out) {
  append_sink sink{out};
  return impl_->finish(sink);
}

result<std::string_view> stream_sealer::seal_block(std::string_view plaintext,
                                                   std::string& buffer) {
  reused_sink sink{buffer};
  if (auto r = impl_->update(plaintext, sink); !r) return std::move(r).err();
  return sink.written();
}

result<std::string_view> stream_sealer::seal_last(std::string& buffer) {
  reused_sink sink{buffer};
  if (auto r = impl_->finish(sink); !r) return std::move(r).err();
  return sink.written();
}

// ---------------------------------------------------------------------------------- opener ----

struct stream_opener::impl {
  std::string key, user_ad, pending;
  std::size_t chunk_size = 0;  // known once the header arrived
  bool finished = false;
  std::optional<error> failed;
  chunk_cipher cipher;

  ~impl() { OPENSSL_cleanse(key.data(), key.size()); }

  status fail_with(error e) {
    failed = e;
    return e;
  }

  status read_header() {
    std::string_view h(pending.data(), stream_header_size);
    if (h.substr(0, magic.size()) != magic)
      return fail_with(fail(errc::malformed_input, "not a dm2 stream"));
    if (static_cast<std::uint8_t>(h[magic.size()]) != stream_version)
      return fail_with(fail(errc::malformed_input, "unknown dm2 stream version"));
    std::size_t size = get_u32(h.data() + magic.size() + 1);
    if (size < min_stream_chunk_size || size > max_stream_chunk_size)
      return fail_with(fail(errc::malformed_input, "stream chunk size out of range"));
    if (auto s = cipher.start(key, h, user_ad, false); !s) return fail_with(std::move(s).err());
    chunk_size = size;
    pending.erase(0, stream_header_size);
    return {};
  }
};

stream_opener::stream_opener(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
stream_opener::stream_opener(stream_opener&&) noexcept = default;
stream_opener& stream_opener::operator=(stream_opener&&) noexcept = default;
stream_opener::~stream_opener() = default;

result<stream_opener> stream_opener::create(std::string_view key,
                                            std::string_view associated_data) {
  if (auto s = check_key(key); !s) return std::move(s).err();
  auto p = std::make_unique<impl>();
  p->key.assign(key);
  p->user_ad.assign(associated_data);
  return stream_opener(std::move(p));
}

status stream_opener::update(std::string_view sealed, std::string& out) {
  impl& s = *impl_;
  if (s.failed) return *s.failed;
  if (s.finished) return fail(errc::invalid_argument, "stream already finished");
  if (s.chunk_size == 0) {
    size_t take = std::min(stream_header_size - s.pending.size(), sealed.size());
    s.pending.append(sealed.substr(0, take));
    sealed.remove_prefix(take);
    if (s.pending.size() < stream_header_size) return {};
    if (auto r = s.read_header(); !r) return r;
  }
  const size_t chunk = s.chunk_size + stream_tag_size;
  // Only a chunk followed by at least one more byte is certainly not the final one. Whole
  // chunks are opened straight from the input; only a partial tail is buffered.
  if (!s.pending.empty() && s.pending.size() + sealed.size() > chunk) {
    size_t take = chunk - s.pending.size();
    s.pending.append(sealed.substr(0, take));
    sealed.remove_prefix(take);
    if (auto r = s.cipher.open(s.pending, false, out); !r) return s.fail_with(std::move(r).err());
    s.pending.clear();
  }
  if (s.pending.empty()) {
    while (sealed.size() > chunk) {
      if (auto r = s.cipher.open(sealed.substr(0, chunk), false, out); !r)
        return s.fail_with(std::move(r).err());
      sealed.remove_prefix(chunk);
    }
  }
  s.pending.append(sealed);
  return {};
}

status stream_opener::finish(std::string& out) {
  impl& s = *impl_;
  if (s.failed) return *s.failed;
  if (s.finished) return fail(errc::invalid_argument, "stream already finished");
  s.finished = true;
  if (s.chunk_size == 0) {
    if (s.pending.size() < stream_header_size)
      return s.fail_with(fail(errc::integrity_failure, "stream truncated inside its header"));
    if (auto r = s.read_header(); !r) return r;
  }
  if (s.pending.size() < stream_tag_size)
    return s.fail_with(fail(errc::integrity_failure, "stream truncated: no final chunk"));
  if (auto r = s.cipher.open(s.pending, true, out); !r) return s.fail_with(std::move(r).err());
  s.pending.clear();
  return {};
}

// ------------------------------------------------------------------------------- one-shot ----

result<std::string> stream_seal(std::string_view key, std::string_view plaintext,
                                std::string_view associated_data, std::size_t chunk_size) {
  auto sealer = stream_sealer::create(key, associated_data, chunk_size);
  if (!sealer) return std::move(sealer).err();
  if (auto r = sealer->expect_size(plaintext.size()); !r) return std::move(r).err();
  std::string out;
  reserve_output(out, sealed_stream_size(plaintext.size(), chunk_size));
  if (auto r = sealer->update(plaintext, out); !r) return std::move(r).err();
  if (auto r = sealer->finish(out); !r) return std::move(r).err();
  return out;
}

result<std::string> stream_open(std::string_view key, std::string_view sealed,
                                std::string_view associated_data) {
  auto opener = stream_opener::create(key, associated_data);
  if (!opener) return std::move(opener).err();
  std::string out;
  reserve_output(out, sealed.size());
  auto fail_clean = [&](error e) -> result<std::string> {
    OPENSSL_cleanse(out.data(), out.size());
    return e;
  };
  if (auto r = opener->update(sealed, out); !r) return fail_clean(std::move(r).err());
  if (auto r = opener->finish(out); !r) return fail_clean(std::move(r).err());
  return out;
}

// ---------------------------------------------------------------------------------- files ----

namespace {

class fd_guard {
 public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_;
};

status write_all(int fd, std::string_view data, const std::filesystem::path& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return fail(errc::io_error, "cannot write " + path.string() + ": " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  return {};
}

// Runs `step(block, scratch)` over `in` in 1 MiB blocks and `finish(scratch)` at the end, each
// returning the bytes to write (in `scratch` or a buffer of its own), to a temporary file renamed
// onto `out_path` only on success. `scratch` is wiped after each write (it may hold plaintext).
template <class Step, class Finish>
status transform_file(const std::filesystem::path& in_path, const std::filesystem::path& out_path,
                      Step step, Finish finish, file_sync sync = file_sync::each_file) {
  std::error_code ec;
  if (std::filesystem::exists(out_path, ec))
    return fail(errc::conflict, out_path.string() + " already exists");
  fd_guard in(::open(in_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0)
    return fail(errno == ENOENT ? errc::not_found : errc::io_error,
                "cannot open " + in_path.string() + ": " + std::strerror(errno));
  std::filesystem::path tmp = out_path;
  tmp += ".partial";
  fd_guard out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (out.get() < 0)
    return fail(errno == EEXIST ? errc::conflict : errc::io_error,
                "cannot create " + tmp.string() + ": " + std::strerror(errno));
  auto run = [&]() -> status {
    std::string block(1 << 20, '\0'), scratch;
    auto write_out = [&](result<std::string_view> produced) -> status {
      if (!produced) return std::move(produced).err();
      auto r = write_all(out.get(), *produced, tmp);
      OPENSSL_cleanse(scratch.data(), scratch.size());
      scratch.clear();
      return r;
    };
    for (;;) {
      ssize_t n = ::read(in.get(), block.data(), block.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0)
        return fail(errc::io_error,
                    "cannot read " + in_path.string() + ": " + std::strerror(errno));
      if (n == 0) break;
      if (auto r = write_out(step(std::string_view(block.data(), static_cast<size_t>(n)), scratch));
          !r)
        return r;
    }
    if (auto r = write_out(finish(scratch)); !r) return r;
    if (sync == file_sync::each_file && ::fsync(out.get()) != 0)
      return fail(errc::io_error, "cannot sync " + tmp.string());
    if (::close(out.release()) != 0) return fail(errc::io_error, "cannot close " + tmp.string());
    if (::rename(tmp.c_str(), out_path.c_str()) != 0)
      return fail(errc::io_error,
                  "cannot rename onto " + out_path.string() + ": " + std::strerror(errno));
    return {};
  };
  status r = run();
  if (!r) {
    if (out.get() >= 0) ::close(out.release());
    std::filesystem::remove(tmp, ec);
  }
  return r;
}

}  // namespace

status stream_seal_file(std::string_view key, const std::filesystem::path& in,
                        const std::filesystem::path& out, std::string_view associated_data,
                        std::size_t chunk_size, file_sync sync) {
  auto sealer = stream_sealer::create(key, associated_data, chunk_size);
  if (!sealer) return std::move(sealer).err();
  // The size spares the sealer its copy of each block's last chunk; a file that changes size
  // meanwhile fails cleanly (longer or shorter than announced). No size: transform_file reports.
  std::error_code ec;
  if (auto size = std::filesystem::file_size(in, ec); !ec) (void)sealer->expect_size(size);
  // Sealed bytes only (nothing secret), kept per thread across files: no zero-fill per block.
  thread_local std::string sealed;
  return transform_file(
      in, out, [&](std::string_view b, std::string&) { return sealer->seal_block(b, sealed); },
      [&](std::string&) { return sealer->seal_last(sealed); }, sync);
}

status stream_open_file(std::string_view key, const std::filesystem::path& in,
                        const std::filesystem::path& out, std::string_view associated_data) {
  auto opener = stream_opener::create(key, associated_data);
  if (!opener) return std::move(opener).err();
  auto opened = [](std::string& o, status r) -> result<std::string_view> {
    if (!r) return std::move(r).err();
    return std::string_view(o);
  };
  return transform_file(
      in, out, [&](std::string_view b, std::string& o) { return opened(o, opener->update(b, o)); },
      [&](std::string& o) { return opened(o, opener->finish(o)); });
}

}  // namespace dm2::crypto
