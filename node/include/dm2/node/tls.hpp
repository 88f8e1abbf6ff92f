// TLS contexts for the node's HTTPS endpoint and its clients. TLS 1.2 minimum, certificates
// verified against the consortium CA. The server asks for a client certificate (peers present
// theirs: mutual TLS) but lets clinicians' browsers connect without one; handlers that serve
// peers require a verified fingerprint.
#pragma once

#include <memory>
#include <string>

#include "dm2/result.hpp"

namespace boost::asio::ssl {
class context;
}

namespace dm2::node {

struct tls_material {
  std::string ca_certificate_pem;
  std::string certificate_pem;  // may be empty for a client without a certificate
  std::string private_key_pem;
};

// Errors: crypto_failure (a PEM that OpenSSL refuses, a key that does not match).
result<std::shared_ptr<boost::asio::ssl::context>> make_server_tls(const tls_material& m);
result<std::shared_ptr<boost::asio::ssl::context>> make_client_tls(const tls_material& m);

}  // namespace dm2::node
