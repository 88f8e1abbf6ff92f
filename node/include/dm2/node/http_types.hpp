// Plain HTTP request and response values. The TLS server converts Beast's messages to these, so
// routing and handlers are pure functions, testable without sockets.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "dm2/error.hpp"
#include "dm2/result.hpp"

namespace dm2::node {

struct http_request {
  std::string method;                          // "GET", "POST", ...
  std::string target;                          // path and query, as received
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string remote_address;                  // "127.0.0.1"
  std::string peer_certificate_fingerprint;    // SHA-256 hex of a verified client certificate, or ""
};

// A response body produced piece by piece (a retrieved series), so that the whole body is never
// held at once. The server calls next() on a request worker, one call at a time, at most a couple
// of pieces ahead of the socket. Not thread-safe (one response).
class body_source {
 public:
  virtual ~body_source() = default;
  // The body's length when known before the first piece (sent as Content-Length); nullopt sends
  // it chunked.
  virtual std::optional<std::uint64_t> size() const = 0;
  // Replaces `piece` with the next piece (empty ones are skipped); false at the end. An error ends the
  // response where it stands: the connection closes short of Content-Length, or without the
  // last chunk, so the client sees an incomplete body.
  virtual result<bool> next(std::string& piece) = 0;
};

struct http_response {
  int status = 200;
  std::string content_type = "application/json";
  std::map<std::string, std::string> headers;
  std::string body;
  std::shared_ptr<body_source> streamed = nullptr;  // when set, the body (`body` is unused)
  // When set, the answer comes later (work on a pool of its own: stage 2's scoring): the server
  // calls it once with `reply`, which sends the response it is given; the producer calls `reply`
  // exactly once, from any thread. The other fields are unused.
  using reply_function = std::function<void(http_response)>;
  std::function<void(reply_function reply)> deferred = nullptr;
};

// The JSON error body every surface answers with:
// {"error":{"code":"not_found","message":"..."}} and the code's HTTP status.
http_response error_response(const error& e);

}  // namespace dm2::node
