#include "password_hasher.hpp"

#include <argon2.h>

#include "dm2/crypto/hash.hpp"

namespace dm2::node::access {
namespace {

constexpr std::size_t salt_bytes = 16;
constexpr std::size_t hash_bytes = 32;

result<std::string> encode(const argon2_parameters& p, std::string_view password) {
  auto salt = crypto::random_bytes(salt_bytes);
  auto length = argon2_encodedlen(p.passes, p.memory_kib, p.lanes, salt_bytes, hash_bytes, Argon2_id);
  std::string out(length, '\0');
  int rc = argon2id_hash_encoded(p.passes, p.memory_kib, p.lanes, password.data(), password.size(), salt.data(),
                                 salt.size(), hash_bytes, out.data(), out.size());
  if (rc != ARGON2_OK) return fail(errc::crypto_failure, std::string("argon2id: ") + argon2_error_message(rc));
  out.resize(out.find('\0'));
  return out;
}

}  // namespace

password_hasher::password_hasher(argon2_parameters p) : params_(p) {
  auto dummy = encode(params_, crypto::to_hex(crypto::random_bytes(16)));
  if (dummy) dummy_ = std::move(*dummy);
}

result<std::string> password_hasher::hash(std::string_view password) const {
  if (password.size() < min_password_bytes || password.size() > max_password_bytes)
    return fail(errc::invalid_argument, "a password has " + std::to_string(min_password_bytes) + " to " +
                                            std::to_string(max_password_bytes) + " bytes");
  return encode(params_, password);
}

bool password_hasher::verify(std::string_view encoded, std::string_view password) const {
  if (password.size() > max_password_bytes) return false;
  ++verifications_;
  std::string hash(encoded);  // argon2id_verify wants a NUL-terminated string
  return argon2id_verify(hash.c_str(), password.data(), password.size()) == ARGON2_OK;
}

bool password_hasher::verify_dummy(std::string_view password) const {
  (void)verify(dummy_, password);
  return false;
}

}  // namespace dm2::node::access
