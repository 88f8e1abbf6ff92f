// A small blocking HTTPS client: the CLI's way to its node and the nodes' way to each other
// (with a client certificate: mutual TLS). The server certificate is always verified against
// the given CA and its address or name. https_request is thread-safe (each call has its own
// connection: OpenSSL on a socket of its own, node/src/tls_socket.hpp); an https_connection
// serves one caller at a time.
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

  // Errors: as https_request. `repeatable` false: never sent twice (a connection found broken
  // fails the request instead).
  result<client_response> request(const std::string& method, const std::string& path,
                                  const std::string& body = {},
                                  std::chrono::milliseconds timeout = std::chrono::seconds(10),
                                  const std::map<std::string, std::string>& headers = {},
                                  bool repeatable = true);
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
  // Connected, and the server has sent nothing since the last response (no close, no reset): a
  // request sent now finds the server listening, unless it closes meanwhile.
  bool idle_and_open() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Keep-alive connections to other sites, shared by the node's peer calls (route_context::call_peer):
// one TLS handshake for many requests to the same peer instead of one each. Keyed by endpoint
// and TLS material; at most `per_endpoint` idle connections each, dropped after `idle` (shorter
// than the servers' read timeout, so a peer rarely closes one first). A pooled connection found
// closed is replaced before sending; one that breaks during a request is retried once on a fresh
// connection for idempotent methods (GET, HEAD, PUT, DELETE) only: a POST fails instead of
// possibly acting twice. Thread-safe; a connection serves one request at a time.
class https_pool {
 public:
  struct options {
    std::size_t per_endpoint = 4;
    std::chrono::milliseconds idle = std::chrono::seconds(20);
  };
  https_pool();
  explicit https_pool(options o);
  ~https_pool();
  https_pool(const https_pool&) = delete;
  https_pool& operator=(const https_pool&) = delete;

  // Errors: as https_request.
  result<client_response> request(const https_target& target, const tls_material& tls, const std::string& method,
                                  const std::string& path, const std::string& body = {},
                                  std::chrono::milliseconds timeout = std::chrono::seconds(10),
                                  const std::map<std::string, std::string>& headers = {});
  // Connections opened, and requests sent on a pooled one (the node's /metrics).
  std::uint64_t connections_opened() const;
  std::uint64_t requests_reusing() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Sends one request on a connection of its own and reads the whole response; `headers` are added
// to it (Authorization, DM2-Assertion; a body is sent as application/json unless they name a
// Content-Type). Errors: unavailable (connection refused, TLS verification
// failed — the message says which), timeout, malformed_input (not HTTP).
result<client_response> https_request(const https_target& target, const tls_material& tls,
                                      const std::string& method, const std::string& path,
                                      const std::string& body = {},
                                      std::chrono::milliseconds timeout = std::chrono::seconds(10),
                                      const std::map<std::string, std::string>& headers = {});

}  // namespace dm2::node
