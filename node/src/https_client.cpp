#include "dm2/node/https_client.hpp"

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <limits>
#include <map>
#include <mutex>

#include "dm2/crypto/hash.hpp"
#include "http_fields.hpp"
#include "tls_peer.hpp"
#include "tls_socket.hpp"

namespace dm2::node {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// OpenSSL 3 spends about a millisecond of CPU building a context (provider look-ups, PEM
// decoders), more than the rest of a short request on loopback: one context per TLS material,
// shared by every connection made with it (an SSL_CTX is safe to share once set up; each
// connection gets its own SSL, host check and SNI).
result<std::shared_ptr<asio::ssl::context>> shared_client_tls(const tls_material& m) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<asio::ssl::context>> made;  // by hash of the material
  auto id = crypto::sha256(m.ca_certificate_pem + '\0' + m.certificate_pem + '\0' + m.private_key_pem);
  std::lock_guard lock(mutex);
  if (auto it = made.find(id); it != made.end()) return it->second;
  auto ctx = make_client_tls(m);
  if (!ctx) return ctx;
  if (made.size() >= 16) made.clear();  // a node uses one or two materials; a test, a few more
  made.emplace(id, *ctx);
  return ctx;
}

}  // namespace

struct https_connection::impl {
  using clock = std::chrono::steady_clock;
  https_target target;
  tls_material tls;
  std::shared_ptr<asio::ssl::context> ctx;
  std::unique_ptr<tls_socket> stream;  // set while connected
  std::string fingerprint;  // of the connected server's certificate
  beast::flat_buffer buffer;

  std::string where() const { return target.host + ":" + std::to_string(target.port); }

  status connect(std::chrono::milliseconds timeout) {
    if (!ctx) {
      auto made = shared_client_tls(tls);
      if (!made) return std::move(made).err();
      ctx = *made;
    }
    buffer.clear();
    auto s = tls_socket::connect(ctx->native_handle(), target.host, target.port, clock::now() + timeout);
    if (!s) return std::move(s).err();
    stream = std::move(*s);
    fingerprint = peer_certificate_fingerprint(stream->native_handle());
    return {};
  }

  result<client_response> broken(const char* step, beast::error_code failed) {
    stream.reset();
    return fail(failed == beast::error::timeout ? errc::timeout : errc::unavailable,
                std::string(step) + " " + where() + ": " + failed.message());
  }

  // One exchange on the open connection.
  result<client_response> exchange(http::request<http::string_body>& req, std::chrono::milliseconds timeout) {
    http::response_parser<http::string_body> parser;
    // Large enough for a retrieved series (GET /v1/series/{lfn}, a sealed series between sites).
    parser.body_limit(std::uint64_t{1} << 30);
    beast::error_code failed;
    stream->expires_at(clock::now() + timeout);
    http::write(*stream, req, failed);
    if (failed) return broken("write to", failed);
    http::read(*stream, buffer, parser, failed);
    if (failed) return broken("read from", failed);
    if (!parser.is_done()) {
      stream.reset();
      return fail(errc::malformed_input, "incomplete HTTP response");
    }
    auto& res = parser.get();
    if (!res.keep_alive()) stream.reset();
    client_response out;
    out.status = res.result_int();
    out.headers = lowercase_headers(res);
    out.body = std::move(res.body());
    out.server_certificate_fingerprint = fingerprint;
    return out;
  }

  // One exchange whose body goes to `sink` piece by piece (request_streamed).
  result<client_response> exchange_streamed(http::request<http::string_body>& req, std::chrono::milliseconds timeout,
                                            const body_sink& sink) {
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // (boost::none trips a Beast 1.74 bug)
    beast::error_code failed;
    stream->expires_at(clock::now() + timeout);
    http::write(*stream, req, failed);
    if (failed) return broken("write to", failed);
    http::read_header(*stream, buffer, parser, failed);
    if (failed) return broken("read from", failed);
    client_response head;
    head.status = parser.get().result_int();
    head.headers = lowercase_headers(parser.get());
    head.server_certificate_fingerprint = fingerprint;
    std::string block(256 * 1024, '\0');
    while (!parser.is_done()) {
      parser.get().body().data = block.data();
      parser.get().body().size = block.size();
      stream->expires_at(clock::now() + timeout);
      http::read(*stream, buffer, parser, failed);
      if (failed && failed != http::error::need_buffer) {
        bool cut = failed == http::error::partial_message || failed == http::error::end_of_stream ||
                   failed == asio::ssl::error::stream_truncated;
        if (!cut) return broken("read from", failed);
        stream.reset();
        return fail(errc::malformed_input, "incomplete HTTP response from " + where() + ": the body stopped short");
      }
      failed = {};
      auto got = block.size() - parser.get().body().size;
      if (got == 0) continue;
      if (auto s = sink(head, std::string_view(block.data(), got)); !s) {
        stream.reset();
        return std::move(s).err();
      }
    }
    if (!parser.get().keep_alive()) stream.reset();
    return head;
  }
};

namespace {

http::request<http::string_body> make_request(const https_target& target, const std::string& method,
                                              const std::string& path, const std::string& body,
                                              const std::map<std::string, std::string>& headers) {
  http::request<http::string_body> req{http::string_to_verb(method), path, 11};
  req.set(http::field::host, target.host);
  req.set(http::field::user_agent, "dm2");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  // JSON unless the caller said otherwise (Beast's header lookup ignores case).
  if (!body.empty() && req.find(http::field::content_type) == req.end()) req.set(http::field::content_type, "application/json");
  req.prepare_payload();
  return req;
}

}  // namespace

https_connection::https_connection(https_target target, tls_material tls) : impl_(std::make_unique<impl>()) {
  impl_->target = std::move(target);
  impl_->tls = std::move(tls);
}

https_connection::~https_connection() = default;

void https_connection::close() { impl_->stream.reset(); }

bool https_connection::idle_and_open() const {
  // Readable with no request outstanding: a close, a reset or a TLS alert is waiting.
  return impl_->stream && impl_->buffer.size() == 0 && impl_->stream->quiet();
}

result<client_response> https_connection::request(const std::string& method, const std::string& path,
                                                  const std::string& body, std::chrono::milliseconds timeout,
                                                  const std::map<std::string, std::string>& headers, bool repeatable) {
  auto req = make_request(impl_->target, method, path, body, headers);

  bool reused = impl_->stream != nullptr;
  if (!reused)
    if (auto s = impl_->connect(timeout); !s) return std::move(s).err();
  auto r = impl_->exchange(req, timeout);
  // An idle connection the server closed fails at once; a fresh one is worth one more try.
  if (!r && reused && repeatable && r.err().code == errc::unavailable) {
    if (auto s = impl_->connect(timeout); !s) return std::move(s).err();
    r = impl_->exchange(req, timeout);
  }
  return r;
}

result<client_response> https_connection::request_streamed(const std::string& method, const std::string& path,
                                                           const body_sink& sink, std::chrono::milliseconds timeout,
                                                           const std::map<std::string, std::string>& headers) {
  auto req = make_request(impl_->target, method, path, {}, headers);
  if (!impl_->stream)
    if (auto s = impl_->connect(timeout); !s) return std::move(s).err();
  return impl_->exchange_streamed(req, timeout, sink);
}

result<client_response> https_request(const https_target& target, const tls_material& tls,
                                      const std::string& method, const std::string& path,
                                      const std::string& body, std::chrono::milliseconds timeout,
                                      const std::map<std::string, std::string>& headers) {
  https_connection connection(target, tls);
  return connection.request(method, path, body, timeout, headers);
}

}  // namespace dm2::node
