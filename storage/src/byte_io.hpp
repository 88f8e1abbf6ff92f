// Big-endian writer and bounds-checked reader for dm2's compact binary encodings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dm2::storage::detail {

class byte_writer {
 public:
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(std::uint16_t v) { be(v, 2); }
  void u32(std::uint32_t v) { be(v, 4); }
  void u64(std::uint64_t v) { be(v, 8); }
  void raw(std::string_view bytes) { out_.append(bytes); }
  // Callers check the size against their limit first; the prefix width is the caller's choice.
  void str8(std::string_view s) { u8(static_cast<std::uint8_t>(s.size())); raw(s); }
  void str16(std::string_view s) { u16(static_cast<std::uint16_t>(s.size())); raw(s); }
  void str32(std::string_view s) { u32(static_cast<std::uint32_t>(s.size())); raw(s); }
  std::string take() && { return std::move(out_); }
  const std::string& bytes() const { return out_; }

 private:
  void be(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string out_;
};

// Every read returns nullopt once the input is exhausted; the caller turns that into one error.
class byte_reader {
 public:
  explicit byte_reader(std::string_view in) : in_(in) {}
  std::optional<std::uint64_t> be(std::size_t n) {
    if (in_.size() < n) return std::nullopt;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(in_[i]);
    in_.remove_prefix(n);
    return v;
  }
  std::optional<std::string_view> raw(std::size_t n) {
    if (in_.size() < n) return std::nullopt;
    auto s = in_.substr(0, n);
    in_.remove_prefix(n);
    return s;
  }
  // A length-prefixed string whose length must not exceed `limit`.
  std::optional<std::string_view> str(std::size_t prefix_bytes, std::size_t limit) {
    auto n = be(prefix_bytes);
    if (!n || *n > limit) return std::nullopt;
    return raw(static_cast<std::size_t>(*n));
  }
  bool at_end() const { return in_.empty(); }

 private:
  std::string_view in_;
};

inline std::string be64(std::uint64_t v) {
  byte_writer w;
  w.u64(v);
  return std::move(w).take();
}

}  // namespace dm2::storage::detail
