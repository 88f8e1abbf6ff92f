#include "dm2/crypto/shares.hpp"

extern "C" {
#include <libgfshare.h>
}
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/seal.hpp"
#include "dm2/crypto/share_repair.hpp"
#include "openssl_util.hpp"

namespace dm2::crypto {
using detail::u8;

namespace {

// libgfshare draws its polynomial coefficients through a global hook that is null by default;
// point it at OpenSSL's CSPRNG once, before the first split.
void fill_random(unsigned char* buffer, unsigned int size) {
  if (size > 0 && RAND_bytes(buffer, static_cast<int>(size)) != 1) {
    std::fputs("dm2: the random number generator failed; stopping\n", stderr);
    std::abort();
  }
}

void install_random() {
  static std::once_flag once;
  std::call_once(once, [] { gfshare_fill_rand = &fill_random; });
}

struct gfshare_free {
  void operator()(gfshare_ctx* ctx) const noexcept { gfshare_ctx_free(ctx); }
};
using gfshare_ptr = std::unique_ptr<gfshare_ctx, gfshare_free>;

// Secrets held in a std::string are wiped when the helper leaves scope.
struct wiped {
  std::string bytes;
  ~wiped() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

}  // namespace

result<share_info> inspect_share(std::string_view share) {
  if (share.size() < share_header_size + 1 + share_check_size)
    return fail(errc::malformed_input, "key share is too short");
  if (static_cast<std::uint8_t>(share[0]) != share_format_version)
    return fail(errc::malformed_input, "key share has an unknown format version");
  share_info info;
  info.threshold = static_cast<std::uint8_t>(share[1]);
  info.index = static_cast<std::uint8_t>(share[2]);
  info.secret_size = share.size() - share_header_size - share_check_size;
  if (info.threshold < 2) return fail(errc::malformed_input, "key share threshold must be at least 2");
  if (info.index == 0) return fail(errc::malformed_input, "key share index 0 is not allowed");
  if (info.secret_size > max_shared_secret_size)
    return fail(errc::malformed_input, "key share is too long");
  return info;
}

result<std::vector<std::string>> split_secret(std::string_view secret, unsigned threshold,
                                              unsigned count) {
  if (threshold < 2 || threshold > count || count > 255)
    return fail(errc::invalid_argument, "threshold shares need 1 < t <= n <= 255");
  if (secret.empty() || secret.size() > max_shared_secret_size)
    return fail(errc::invalid_argument, "a shared secret must be 1 byte to 64 KiB");
  install_random();
  wiped value{std::string(secret) + sha256(secret).substr(0, share_check_size)};
  std::vector<unsigned char> indexes(count);
  for (unsigned i = 0; i < count; ++i) indexes[i] = static_cast<unsigned char>(i + 1);
  gfshare_ptr ctx(gfshare_ctx_init_enc(indexes.data(), count, static_cast<unsigned char>(threshold),
                                       static_cast<unsigned>(value.bytes.size())));
  if (!ctx) return fail(errc::crypto_failure, "libgfshare refused to create a split context");
  gfshare_ctx_enc_setsecret(ctx.get(), u8(value.bytes));
  std::vector<std::string> shares;
  shares.reserve(count);
  for (unsigned i = 0; i < count; ++i) {
    std::string share(share_header_size + value.bytes.size(), '\0');
    share[0] = static_cast<char>(share_format_version);
    share[1] = static_cast<char>(threshold);
    share[2] = static_cast<char>(indexes[i]);
    gfshare_ctx_enc_getshare(ctx.get(), static_cast<unsigned char>(i), u8(share) + share_header_size);
    shares.push_back(std::move(share));
  }
  return shares;
}

result<std::string> derive_share(std::string_view secret, unsigned threshold, std::uint8_t index,
                                 std::string_view seed) {
  if (threshold < 2 || threshold > 255) return fail(errc::invalid_argument, "threshold shares need 2 <= t <= 255");
  if (index == 0) return fail(errc::invalid_argument, "key share index 0 is not allowed");
  if (secret.empty() || secret.size() > max_shared_secret_size)
    return fail(errc::invalid_argument, "a shared secret must be 1 byte to 64 KiB");
  if (seed.size() < 16) return fail(errc::invalid_argument, "a share seed must be at least 16 bytes");
  wiped value{std::string(secret) + sha256(secret).substr(0, share_check_size)};
  // f(x) = value + c_1 x + ... + c_{t-1} x^{t-1} bytewise; c_j is the keystream
  // HMAC(seed, "dm2 share coefficient" || j || block) — a PRF of the seed, as good as random.
  wiped body{value.bytes};
  std::uint8_t x_power = 1;
  for (unsigned j = 1; j < threshold; ++j) {
    x_power = gf256_mul(x_power, index);
    wiped stream;
    for (std::uint32_t block = 0; stream.bytes.size() < value.bytes.size(); ++block) {
      std::string label = "dm2 share coefficient";
      label += static_cast<char>(j);
      for (int b = 3; b >= 0; --b) label += static_cast<char>((block >> (8 * b)) & 0xff);
      stream.bytes += hmac_sha256(seed, label);
    }
    for (std::size_t i = 0; i < body.bytes.size(); ++i)
      body.bytes[i] = static_cast<char>(static_cast<std::uint8_t>(body.bytes[i]) ^
                                        gf256_mul(static_cast<std::uint8_t>(stream.bytes[i]), x_power));
  }
  std::string share(share_header_size, '\0');
  share[0] = static_cast<char>(share_format_version);
  share[1] = static_cast<char>(threshold);
  share[2] = static_cast<char>(index);
  share += body.bytes;
  return share;
}

result<std::string> combine_shares(const std::vector<std::string>& shares) {
  if (shares.empty()) return fail(errc::invalid_argument, "no key shares given");
  if (shares.size() > 255) return fail(errc::invalid_argument, "more than 255 key shares given");
  auto first = inspect_share(shares[0]);
  if (!first) return std::move(first).err();
  std::array<bool, 256> seen{};
  std::vector<unsigned char> indexes;
  for (const auto& share : shares) {
    auto info = inspect_share(share);
    if (!info) return std::move(info).err();
    if (info->threshold != first->threshold)
      return fail(errc::malformed_input, "key shares disagree on the threshold");
    if (info->secret_size != first->secret_size)
      return fail(errc::malformed_input, "key shares have different sizes");
    if (seen[info->index]) return fail(errc::invalid_argument, "two key shares have the same index");
    seen[info->index] = true;
    indexes.push_back(info->index);
  }
  if (shares.size() < first->threshold)
    return fail(errc::invalid_argument, "need " + std::to_string(first->threshold) +
                                            " key shares, got " + std::to_string(shares.size()));
  const unsigned size = static_cast<unsigned>(first->secret_size + share_check_size);
  // gfshare_ctx_free scrubs the context through the random hook: a process that combines
  // without ever having split (a share holder) would call a null hook.
  install_random();
  gfshare_ptr ctx(gfshare_ctx_init_dec(indexes.data(), static_cast<unsigned>(indexes.size()), size));
  if (!ctx) return fail(errc::crypto_failure, "libgfshare refused to create a combine context");
  for (size_t i = 0; i < shares.size(); ++i) {
    std::string body = shares[i].substr(share_header_size);
    gfshare_ctx_dec_giveshare(ctx.get(), static_cast<unsigned char>(i), u8(body));
    OPENSSL_cleanse(body.data(), body.size());
  }
  wiped value{std::string(size, '\0')};
  gfshare_ctx_dec_extract(ctx.get(), u8(value.bytes));
  std::string_view secret = std::string_view(value.bytes).substr(0, first->secret_size);
  std::string_view check = std::string_view(value.bytes).substr(first->secret_size);
  if (!equal_constant_time(sha256(secret).substr(0, share_check_size), check))
    return fail(errc::integrity_failure, "key shares do not recombine to a consistent secret");
  return std::string(secret);
}

result<std::vector<std::string>> split_and_seal(std::string_view secret, unsigned threshold,
                                                const std::vector<std::string>& recipients,
                                                std::string_view associated_data) {
  auto shares = split_secret(secret, threshold, static_cast<unsigned>(recipients.size()));
  if (!shares) return std::move(shares).err();
  std::vector<std::string> sealed;
  sealed.reserve(recipients.size());
  for (size_t i = 0; i < recipients.size(); ++i) {
    auto box = seal(recipients[i], (*shares)[i], associated_data);
    OPENSSL_cleanse((*shares)[i].data(), (*shares)[i].size());
    if (!box) return std::move(box).err();
    sealed.push_back(std::move(*box));
  }
  return sealed;
}

}  // namespace dm2::crypto
