#include "dm2/crypto/share_repair.hpp"

#include <openssl/crypto.h>

#include <array>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/shares.hpp"

namespace dm2::crypto {

namespace {

// A share body never exceeds the largest secret plus its check.
constexpr std::size_t max_body_size = max_shared_secret_size + share_check_size;

status check_indexes(const std::vector<std::uint8_t>& helper_indexes, std::uint8_t target_index) {
  if (target_index == 0) return fail(errc::invalid_argument, "share index 0 cannot be repaired");
  std::array<bool, 256> seen{};
  for (auto x : helper_indexes) {
    if (x == 0) return fail(errc::invalid_argument, "a helper share index is 0");
    if (seen[x]) return fail(errc::invalid_argument, "two helpers have the same share index");
    seen[x] = true;
  }
  if (seen[target_index])
    return fail(errc::invalid_argument, "the index to repair is one of the helpers' indexes");
  return {};
}

}  // namespace

// Shift-and-add multiplication modulo 0x11d, the polynomial libgfshare's tables are built from
// (gfshare_maketable mixes in 0x1d). Branch-free so timing does not depend on share bytes.
std::uint8_t gf256_mul(std::uint8_t a, std::uint8_t b) {
  unsigned x = a, y = b, product = 0;
  for (int bit = 0; bit < 8; ++bit) {
    product ^= x & (0u - (y & 1u));
    y >>= 1;
    x = (x << 1) ^ (0x11du & (0u - ((x >> 7) & 1u)));
  }
  return static_cast<std::uint8_t>(product);
}

// a^254 = a^-1 in GF(2^8) (the multiplicative group has order 255).
std::uint8_t gf256_inverse(std::uint8_t a) {
  std::uint8_t result = 1, power = a;
  for (unsigned e = 254; e != 0; e >>= 1) {
    if (e & 1u) result = gf256_mul(result, power);
    power = gf256_mul(power, power);
  }
  return result;
}

result<std::uint8_t> lagrange_at(const std::vector<std::uint8_t>& helper_indexes,
                                 std::uint8_t helper, std::uint8_t target_index) {
  if (auto s = check_indexes(helper_indexes, target_index); !s) return std::move(s).err();
  bool found = false;
  std::uint8_t numerator = 1, denominator = 1;
  for (auto x : helper_indexes) {
    if (x == helper) {
      found = true;
      continue;
    }
    // Subtraction is XOR in characteristic 2.
    numerator = gf256_mul(numerator, static_cast<std::uint8_t>(target_index ^ x));
    denominator = gf256_mul(denominator, static_cast<std::uint8_t>(helper ^ x));
  }
  if (!found) return fail(errc::invalid_argument, "the share's index is not among the helpers'");
  return gf256_mul(numerator, gf256_inverse(denominator));
}

result<std::vector<std::string>> repair_contribution(std::string_view share,
                                                     const std::vector<std::uint8_t>& helper_indexes,
                                                     std::uint8_t target_index) {
  auto info = inspect_share(share);
  if (!info) return std::move(info).err();
  if (helper_indexes.size() != info->threshold)
    return fail(errc::invalid_argument, "a repair needs exactly t = " +
                                            std::to_string(info->threshold) + " helpers, got " +
                                            std::to_string(helper_indexes.size()));
  auto lambda = lagrange_at(helper_indexes, info->index, target_index);
  if (!lambda) return std::move(lambda).err();
  auto body = share.substr(share_header_size);
  const auto t = helper_indexes.size();
  // Pieces 0..t-2 are fresh random bytes; the last makes their XOR λ·s_i. Any t-1 of them are
  // uniformly random, so the helper receiving one learns nothing about s_i.
  std::vector<std::string> pieces;
  pieces.reserve(t);
  std::string last(body.size(), '\0');
  for (std::size_t i = 0; i < body.size(); ++i)
    last[i] = static_cast<char>(gf256_mul(*lambda, static_cast<std::uint8_t>(body[i])));
  for (std::size_t k = 0; k + 1 < t; ++k) {
    auto piece = random_bytes(body.size());
    for (std::size_t i = 0; i < body.size(); ++i) last[i] ^= piece[i];
    pieces.push_back(std::move(piece));
  }
  pieces.push_back(std::move(last));
  return pieces;
}

result<std::string> add_pieces(const std::vector<std::string>& pieces) {
  if (pieces.empty()) return fail(errc::invalid_argument, "no repair pieces given");
  const auto size = pieces.front().size();
  if (size == 0 || size > max_body_size)
    return fail(errc::invalid_argument, "a repair piece is empty or too long");
  std::string sum(size, '\0');
  for (const auto& piece : pieces) {
    if (piece.size() != size) return fail(errc::invalid_argument, "repair pieces differ in size");
    for (std::size_t i = 0; i < size; ++i) sum[i] ^= piece[i];
  }
  return sum;
}

result<std::string> assemble_repaired_share(const std::vector<std::string>& sums,
                                            unsigned threshold, std::uint8_t target_index) {
  if (threshold < 2 || threshold > 255)
    return fail(errc::invalid_argument, "a share threshold must be 2..255");
  if (target_index == 0) return fail(errc::invalid_argument, "share index 0 cannot be repaired");
  if (sums.size() != threshold)
    return fail(errc::invalid_argument, "a repair needs exactly t = " + std::to_string(threshold) +
                                            " sums, got " + std::to_string(sums.size()));
  auto body = add_pieces(sums);
  if (!body) return std::move(body).err();
  if (body->size() < 1 + share_check_size)
    return fail(errc::invalid_argument, "repair sums are too short to be a share");
  std::string share;
  share.reserve(share_header_size + body->size());
  share += static_cast<char>(share_format_version);
  share += static_cast<char>(threshold);
  share += static_cast<char>(target_index);
  share += *body;
  OPENSSL_cleanse(body->data(), body->size());
  return share;
}

}  // namespace dm2::crypto
