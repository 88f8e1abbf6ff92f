// Chunked streaming AEAD for data too large to hold twice in memory (DICOM series, volumes).
// AES-256-GCM per fixed-size chunk; a chunk's nonce is a per-stream prefix plus its counter, and
// its associated data says whether it is the last chunk, so reordered, duplicated, dropped,
// truncated or appended chunks are all detected. Format in docs/crypto.md, "Stream format":
//
//   header (33 bytes) = "dm2s" || version 0x01 || chunk_size (u32 big-endian) || salt (24 random)
//   (chunk_key, prefix) = HKDF-SHA256(ikm = key, salt = salt, info = "dm2 stream v1", 40 bytes)
//   chunk i           = AES-256-GCM(chunk_key, nonce = prefix (8) || i (u32 BE),
//                                   ad = header || final (0x00/0x01) || associated_data)
//                       -> ciphertext || tag (16); every chunk but the last holds chunk_size
//                       plaintext bytes, the last 0..chunk_size (0 only for an empty stream).
//
// stream_sealer and stream_opener are single-use and not thread-safe (one per stream); the free
// functions are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "dm2/result.hpp"

namespace dm2::crypto {

inline constexpr std::size_t stream_header_size = 33;
inline constexpr std::size_t stream_tag_size = 16;
inline constexpr std::size_t default_stream_chunk_size = 64 * 1024;
inline constexpr std::size_t min_stream_chunk_size = 16;
inline constexpr std::size_t max_stream_chunk_size = 16 * 1024 * 1024;

// Size of the sealed stream for `plaintext_size` bytes.
std::uint64_t sealed_stream_size(std::uint64_t plaintext_size,
                                 std::size_t chunk_size = default_stream_chunk_size);

class stream_sealer {
 public:
  // Errors: invalid_argument (key not 32 bytes, chunk size outside 16 B..16 MiB), crypto_failure.
  static result<stream_sealer> create(std::string_view key, std::string_view associated_data,
                                      std::size_t chunk_size = default_stream_chunk_size);
  stream_sealer(stream_sealer&&) noexcept;
  stream_sealer& operator=(stream_sealer&&) noexcept;
  ~stream_sealer();

  // Announces the plaintext's total size when it is known before the first update (a file's):
  // each chunk is then sealed as soon as it is complete, instead of being held back (copied)
  // until a later byte proves it is not the last, and the update that reaches the size seals
  // the last chunk. Errors: invalid_argument (after an update).
  status expect_size(std::uint64_t plaintext_size);
  // Encrypts more plaintext, appending sealed bytes (the header first) to `out`.
  // Errors: invalid_argument (after finish, or beyond the announced size), too_large (more than
  // 2^32 chunks), crypto_failure.
  status update(std::string_view plaintext, std::string& out);
  // Seals the last chunk (unless an announced size's last update did) and appends it to `out`.
  // Errors: as update(), and invalid_argument when
  // the plaintext is shorter than announced.
  status finish(std::string& out);
  // As update() and finish(), but writing this call's sealed bytes over `buffer` from its start
  // and returning them. `buffer` grows when needed and never shrinks, so one buffer reused
  // across blocks and streams is neither reallocated nor zero-filled again (a block-by-block
  // writer's case). The view is valid until `buffer` changes.
  result<std::string_view> seal_block(std::string_view plaintext, std::string& buffer);
  result<std::string_view> seal_last(std::string& buffer);

 private:
  struct impl;
  explicit stream_sealer(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

class stream_opener {
 public:
  // Errors: invalid_argument (key not 32 bytes).
  static result<stream_opener> create(std::string_view key, std::string_view associated_data);
  stream_opener(stream_opener&&) noexcept;
  stream_opener& operator=(stream_opener&&) noexcept;
  ~stream_opener();

  // Feeds sealed bytes (any split), appending the plaintext of every complete chunk that is
  // known not to be the last one to `out`. That plaintext is not yet proven complete: act on
  // nothing until finish() returns ok. After any error every later call fails the same way.
  // Errors: malformed_input (not a dm2 stream, unknown version, bad chunk size),
  // integrity_failure (wrong key or associated data, changed, reordered or duplicated chunk).
  status update(std::string_view sealed, std::string& out);
  // Opens the last chunk. Errors: as update(), and integrity_failure for a truncated or
  // extended stream.
  status finish(std::string& out);

 private:
  struct impl;
  explicit stream_opener(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

// One-shot forms over buffers. Errors: as the classes above.
result<std::string> stream_seal(std::string_view key, std::string_view plaintext,
                                std::string_view associated_data,
                                std::size_t chunk_size = default_stream_chunk_size);
result<std::string> stream_open(std::string_view key, std::string_view sealed,
                                std::string_view associated_data);

// Whether a file form makes its output durable itself (fsync before the rename), or leaves that
// to the caller, who writes many files and syncs them at once (one fsync costs a journal commit,
// ~5 ms here: per small file it dominates sealing).
enum class file_sync { each_file, by_caller };

// File forms: read `in` in blocks and write `out` (mode 0600) through a temporary file that is
// renamed into place only when the whole stream succeeded, so a failed open leaves no plaintext.
// Errors: those above; not_found (no `in`), conflict (`out` exists), io_error.
status stream_seal_file(std::string_view key, const std::filesystem::path& in,
                        const std::filesystem::path& out, std::string_view associated_data,
                        std::size_t chunk_size = default_stream_chunk_size,
                        file_sync sync = file_sync::each_file);
status stream_open_file(std::string_view key, const std::filesystem::path& in,
                        const std::filesystem::path& out, std::string_view associated_data);

}  // namespace dm2::crypto
