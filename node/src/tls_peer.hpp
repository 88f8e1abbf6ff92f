// What a finished TLS handshake says about the other end.
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <string>

#include "dm2/crypto/hash.hpp"

namespace dm2::node {

// SHA-256 (hex) of the peer's certificate if it presented one and it verified; "" otherwise.
inline std::string peer_certificate_fingerprint(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return {};
  std::string out;
  if (SSL_get_verify_result(ssl) == X509_V_OK) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(cert, EVP_sha256(), digest, &len) == 1)
      out = crypto::to_hex(std::string_view(reinterpret_cast<char*>(digest), len));
  }
  X509_free(cert);
  return out;
}

}  // namespace dm2::node
