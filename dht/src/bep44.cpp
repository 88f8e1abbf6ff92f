#include "dm2/dht/bep44.hpp"

#include "dm2/crypto/signature.hpp"

namespace dm2::dht {

std::string bep44_signing_input(std::string_view salt, std::int64_t seq, std::string_view value) {
  std::string out;
  if (!salt.empty()) out += "4:salt" + std::to_string(salt.size()) + ":" + std::string(salt);
  out += "3:seqi" + std::to_string(seq) + "e1:v";
  out += std::to_string(value.size()) + ":" + std::string(value);
  return out;
}

result<std::string> bep44_signature(std::string_view private_key_pem, std::string_view salt,
                                    std::string_view value, std::int64_t seq) {
  return crypto::sign(private_key_pem, bep44_signing_input(salt, seq, value));
}

status verify_bep44_signature(std::string_view public_key, std::string_view salt,
                              std::string_view value, std::int64_t seq, std::string_view signature) {
  return crypto::verify(public_key, bep44_signing_input(salt, seq, value), signature);
}

}  // namespace dm2::dht
