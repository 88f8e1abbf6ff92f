#include "dm2/node/https_client.hpp"

#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <limits>
#include <map>
#include <mutex>
#include <optional>

#include "dm2/crypto/hash.hpp"
#include "http_fields.hpp"
#include "tls_peer.hpp"

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
  https_target target;
  tls_material tls;
  std::shared_ptr<asio::ssl::context> ctx;
  asio::io_context io;
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream;  // set while connected
  std::string fingerprint;  // of the connected server's certificate
  beast::flat_buffer buffer;

  // Runs the queued operations to completion (each call of request() drives its own steps).
  void run() {
    io.restart();
    io.run();
  }

  std::string where() const { return target.host + ":" + std::to_string(target.port); }

  status connect(std::chrono::milliseconds timeout) {
    if (!ctx) {
      auto made = shared_client_tls(tls);
      if (!made) return std::move(made).err();
      ctx = *made;
    }
    stream.emplace(io, *ctx);
    buffer.clear();
    boost::system::error_code address_ec;
    asio::ip::make_address(target.host, address_ec);  // SNI only for names, not addresses
    // Verify the certificate against the host we asked for: an IP SAN or a DNS SAN.
    SSL_set1_host(stream->native_handle(), target.host.c_str());
    if (address_ec && !SSL_set_tlsext_host_name(stream->native_handle(), target.host.c_str()))
      return fail(errc::invalid_argument, "bad host name '" + target.host + "'");
    beast::error_code failed;
    const char* step = nullptr;
    asio::ip::tcp::resolver resolver(io);
    beast::get_lowest_layer(*stream).expires_after(timeout);
    resolver.async_resolve(target.host, std::to_string(target.port), [&](beast::error_code ec, auto results) {
      if (ec) return void((failed = ec, step = "resolve"));
      beast::get_lowest_layer(*stream).async_connect(results, [&](beast::error_code ec2, auto) {
        if (ec2) return void((failed = ec2, step = "connect"));
        // Without it the request, written right after the handshake's Finished, waits for the
        // server's delayed ACK of that Finished (Nagle): 40 ms on every new connection.
        beast::error_code ignored;
        beast::get_lowest_layer(*stream).socket().set_option(asio::ip::tcp::no_delay(true), ignored);
        stream->async_handshake(asio::ssl::stream_base::client, [&](beast::error_code ec3) {
          if (ec3) return void((failed = ec3, step = "TLS handshake with"));
          fingerprint = peer_certificate_fingerprint(stream->native_handle());
        });
      });
    });
    run();
    if (!step) return {};
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
    const char* step = nullptr;
    beast::get_lowest_layer(*stream).expires_after(timeout);
    http::async_write(*stream, req, [&](beast::error_code ec, std::size_t) {
      if (ec) return void((failed = ec, step = "write to"));
      http::async_read(*stream, buffer, parser, [&](beast::error_code ec2, std::size_t) {
        if (ec2) return void((failed = ec2, step = "read from"));
      });
    });
    run();
    if (step) {
      stream.reset();
      return fail(failed == beast::error::timeout ? errc::timeout : errc::unavailable,
                  std::string(step) + " " + where() + ": " + failed.message());
    }
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
    const char* step = nullptr;
    auto broken = [&](const char* what) -> result<client_response> {
      stream.reset();
      return fail(failed == beast::error::timeout ? errc::timeout : errc::unavailable,
                  std::string(what) + " " + where() + ": " + failed.message());
    };
    beast::get_lowest_layer(*stream).expires_after(timeout);
    http::async_write(*stream, req, [&](beast::error_code ec, std::size_t) {
      if (ec) return void((failed = ec, step = "write to"));
      http::async_read_header(*stream, buffer, parser, [&](beast::error_code ec2, std::size_t) {
        if (ec2) return void((failed = ec2, step = "read from"));
      });
    });
    run();
    if (step) return broken(step);
    client_response head;
    head.status = parser.get().result_int();
    head.headers = lowercase_headers(parser.get());
    head.server_certificate_fingerprint = fingerprint;
    std::string block(256 * 1024, '\0');
    while (!parser.is_done()) {
      parser.get().body().data = block.data();
      parser.get().body().size = block.size();
      beast::get_lowest_layer(*stream).expires_after(timeout);
      http::async_read(*stream, buffer, parser, [&](beast::error_code ec, std::size_t) { failed = ec; });
      run();
      if (failed && failed != http::error::need_buffer) {
        bool cut = failed == http::error::partial_message || failed == http::error::end_of_stream ||
                   failed == asio::ssl::error::stream_truncated;
        if (!cut) return broken("read from");
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
  if (!body.empty()) req.set(http::field::content_type, "application/json");
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
  if (!impl_->stream || impl_->buffer.size() != 0) return false;
  // Readable with no request outstanding: a close, a reset or a TLS alert is waiting.
  pollfd p{beast::get_lowest_layer(*impl_->stream).socket().native_handle(), POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

result<client_response> https_connection::request(const std::string& method, const std::string& path,
                                                  const std::string& body, std::chrono::milliseconds timeout,
                                                  const std::map<std::string, std::string>& headers, bool repeatable) {
  auto req = make_request(impl_->target, method, path, body, headers);

  bool reused = impl_->stream.has_value();
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
