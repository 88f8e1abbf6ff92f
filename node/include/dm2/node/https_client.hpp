// A small blocking HTTPS client: the CLI's way to its node and the nodes' way to each other
// (with a client certificate: mutual TLS). The server certificate is always verified against
// the given CA and its address or name. https_request is thread-safe (each call has its own
// io_context); an https_connection serves one caller at a time.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
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

// A keep-alive connection to one server, reused by successive requests: one TLS handshake for
// many requests (a node's replication messages to a peer), instead of one each. Connects on the
// first request; when the server has closed an idle connection, reconnects and sends again once
// (so requests sent this way must be safe to repeat). Not thread-safe.
class https_connection {
 public:
  https_connection(https_target target, tls_material tls);
  ~https_connection();
  https_connection(const https_connection&) = delete;
  https_connection& operator=(const https_connection&) = delete;

  // Errors: as https_request.
  result<client_response> request(const std::string& method, const std::string& path,
                                  const std::string& body = {},
                                  std::chrono::milliseconds timeout = std::chrono::seconds(10),
                                  const std::map<std::string, std::string>& headers = {});
  // Like request(), for a body too large to hold (a retrieved series): `sink(head, piece)` gets
  // each piece of the body as it arrives, `head` carrying the status and headers (its body
  // empty); the response returned is that head. `timeout` bounds each step, not the whole
  // transfer. Never repeated on a fresh connection. Errors: as https_request; malformed_input
  // for a body cut short (the server stopped mid-way); whatever `sink` returns.
  using body_sink = std::function<status(const client_response& head, std::string_view piece)>;
  result<client_response> request_streamed(const std::string& method, const std::string& path,
                                           const body_sink& sink,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(30),
                                           const std::map<std::string, std::string>& headers = {});
  // Drops the connection (the next request reconnects).
  void close();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Sends one request on a connection of its own and reads the whole response; `headers` are added
// to it (Authorization, DM2-Assertion). Errors: unavailable (connection refused, TLS verification
// failed — the message says which), timeout, malformed_input (not HTTP).
result<client_response> https_request(const https_target& target, const tls_material& tls,
                                      const std::string& method, const std::string& path,
                                      const std::string& body = {},
                                      std::chrono::milliseconds timeout = std::chrono::seconds(10),
                                      const std::map<std::string, std::string>& headers = {});

}  // namespace dm2::node
