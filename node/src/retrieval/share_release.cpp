#include "share_release.hpp"

#include <algorithm>
#include <map>

#include "dm2/crypto/seal.hpp"
#include "dm2/crypto/shares.hpp"

namespace dm2::node {

std::string release_associated_data(std::string_view lfn, std::string_view nonce) {
  std::string ad("dm2 share release v1");
  ad.push_back('\0');
  ad += lfn;
  ad.push_back('\0');
  ad += nonce;
  return ad;
}

result<std::string> seal_release(std::string_view recipient_public, std::string_view raw_share,
                                 std::string_view lfn, std::string_view nonce) {
  return crypto::seal(recipient_public, raw_share, release_associated_data(lfn, nonce));
}

result<std::string> open_release(std::string_view private_key_pem, std::string_view sealed,
                                 std::string_view lfn, std::string_view nonce) {
  return crypto::open_sealed(private_key_pem, sealed, release_associated_data(lfn, nonce));
}

std::optional<std::string> owner_share(const dht::owned_key& k) {
  if (k.count >= 255) return std::nullopt;
  auto s =
      crypto::derive_share(k.secret, k.threshold, static_cast<std::uint8_t>(k.count + 1), k.seed);
  if (!s) return std::nullopt;
  return std::move(*s);
}

result<std::string> combine_gathered(const std::vector<std::string>& raw_shares) {
  std::map<std::uint8_t, std::string> by_index;
  unsigned threshold = 0;
  for (const auto& s : raw_shares) {
    auto info = crypto::inspect_share(s);
    if (!info) continue;
    threshold = std::max<unsigned>(threshold, info->threshold);
    by_index.emplace(info->index, s);
  }
  if (threshold == 0 || by_index.size() < threshold)
    return fail(errc::unavailable,
                std::to_string(by_index.size()) + " key share(s) reachable, " +
                    (threshold ? std::to_string(threshold) : std::string("at least 2")) +
                    " needed: the series cannot be decrypted now; nothing was released");
  std::vector<std::string> chosen;
  for (const auto& [index, s] : by_index) {
    if (chosen.size() == threshold) break;
    chosen.push_back(s);
  }
  return crypto::combine_shares(chosen);
}

}  // namespace dm2::node
