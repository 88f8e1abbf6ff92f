// A small blocking HTTPS client: the CLI's way to its node and the nodes' way to each other
// (with a client certificate: mutual TLS). The server certificate is always verified against
// the given CA and its address or name. Thread-safe (each call has its own io_context).
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "dm2/node/tls.hpp"
#include "dm2/result.hpp"

namespace dm2::node {

struct https_target {
  std::string host = "127.0.0.1";  // checked against the certificate's subjectAltName
  std::uint16_t port = 8443;
};

struct client_response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string server_certificate_fingerprint;  // SHA-256 hex of the (verified) server certificate
};

// Sends one request and reads the whole response. Errors: unavailable (connection refused,
// TLS verification failed — the message says which), timeout, malformed_input (not HTTP).
result<client_response> https_request(const https_target& target, const tls_material& tls,
                                      const std::string& method, const std::string& path,
                                      const std::string& body = {},
                                      std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace dm2::node
