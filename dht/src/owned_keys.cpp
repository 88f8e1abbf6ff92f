#include "dm2/dht/owned_keys.hpp"

#include <openssl/crypto.h>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/shares.hpp"

namespace dm2::dht {
namespace {

constexpr char format_v1 = 1;
constexpr std::size_t seed_size = 32;

void put_u32(std::string& out, std::uint32_t v) {
  for (int b = 3; b >= 0; --b) out += static_cast<char>((v >> (8 * b)) & 0xff);
}

void put_bytes(std::string& out, std::string_view s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out += s;
}

struct reader {
  std::string_view in;
  bool ok = true;
  std::uint32_t u32() {
    if (in.size() < 4) {
      ok = false;
      return 0;
    }
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(in[static_cast<std::size_t>(i)]);
    in.remove_prefix(4);
    return v;
  }
  std::string bytes(std::size_t limit) {
    auto n = u32();
    if (!ok || n > limit || in.size() < n) {
      ok = false;
      return {};
    }
    std::string out(in.substr(0, n));
    in.remove_prefix(n);
    return out;
  }
};

}  // namespace

result<owned_key> make_owned_key(std::string key_id, std::string secret, std::uint32_t threshold,
                                 std::uint32_t count) {
  if (threshold < 2 || threshold > count || count > 255)
    return fail(errc::invalid_argument, "key shares need 2 <= t <= n <= 255");
  if (key_id.empty() || secret.empty() || secret.size() > crypto::max_shared_secret_size)
    return fail(errc::invalid_argument, "an owned key needs a key id and a secret of 1 byte..64 KiB");
  return owned_key{std::move(key_id), std::move(secret), threshold, count, crypto::random_bytes(seed_size)};
}

std::string encode_owned_key(const owned_key& k) {
  std::string out(1, format_v1);
  put_bytes(out, k.key_id);
  put_bytes(out, k.secret);
  put_u32(out, k.threshold);
  put_u32(out, k.count);
  put_bytes(out, k.seed);
  return out;
}

result<owned_key> decode_owned_key(std::string_view bytes) {
  if (bytes.empty() || bytes[0] != format_v1) return fail(errc::malformed_input, "owned key: unknown format");
  reader r{bytes.substr(1)};
  owned_key k;
  k.key_id = r.bytes(1024);
  k.secret = r.bytes(crypto::max_shared_secret_size);
  k.threshold = r.u32();
  k.count = r.u32();
  k.seed = r.bytes(seed_size);
  if (!r.ok || !r.in.empty() || k.key_id.empty() || k.secret.empty() || k.seed.size() != seed_size ||
      k.threshold < 2 || k.threshold > k.count || k.count > 255)
    return fail(errc::malformed_input, "owned key: truncated or out of range");
  return k;
}

void put_owned_key(storage::transaction& t, const owned_key& k) {
  t.put(storage::family::owned_keys, k.key_id, encode_owned_key(k));
}

void owned_key_source::add(owned_key k) {
  std::lock_guard lock(mutex_);
  auto id = k.key_id;
  keys_.insert_or_assign(std::move(id), std::move(k));
}

status owned_key_source::load(storage::database& db) {
  status bad;
  auto s = db.for_each_value(storage::family::owned_keys, "", [&](std::string_view, std::string_view value) {
    auto k = decode_owned_key(value);
    if (!k) {
      bad = std::move(k).err();
      return false;
    }
    add(std::move(*k));
    return true;
  });
  if (!s) return s;
  return bad;
}

std::optional<owned_key> owned_key_source::find(const std::string& key_id) const {
  std::lock_guard lock(mutex_);
  auto it = keys_.find(key_id);
  if (it == keys_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::pair<std::string, std::uint32_t>> owned_key_source::keys() const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::string, std::uint32_t>> out;
  for (const auto& [id, k] : keys_) out.emplace_back(id, k.count);
  return out;
}

std::optional<std::string> owned_key_source::raw_share(const std::string& key_id, std::uint32_t index) const {
  auto k = find(key_id);
  if (!k || index < 1 || index > 255) return std::nullopt;
  auto share = crypto::derive_share(k->secret, k->threshold, static_cast<std::uint8_t>(index), k->seed);
  OPENSSL_cleanse(k->secret.data(), k->secret.size());
  if (!share) return std::nullopt;
  return std::move(*share);
}

std::optional<key_share> owned_key_source::make_share(const std::string& key_id, std::uint32_t index,
                                                      const std::string& holder_site) {
  auto k = find(key_id);
  if (!k || index < 1 || index > k->count) return std::nullopt;
  auto raw = raw_share(key_id, index);
  if (!raw) return std::nullopt;
  auto sealed = seal_(holder_site, key_id, *raw);
  OPENSSL_cleanse(raw->data(), raw->size());
  if (!sealed) return std::nullopt;
  return key_share{key_id, index, owner_, holder_site, std::move(*sealed), k->count, k->threshold};
}

}  // namespace dm2::dht
