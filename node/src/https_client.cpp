#include "dm2/node/https_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "tls_peer.hpp"

namespace dm2::node {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

result<client_response> https_request(const https_target& target, const tls_material& tls,
                                      const std::string& method, const std::string& path,
                                      const std::string& body, std::chrono::milliseconds timeout) {
  auto ctx = make_client_tls(tls);
  if (!ctx) return std::move(ctx).err();
  asio::io_context io;
  beast::ssl_stream<beast::tcp_stream> stream(io, **ctx);
  boost::system::error_code address_ec;
  asio::ip::make_address(target.host, address_ec);  // SNI only for names, not addresses
  // Verify the certificate against the host we asked for: an IP SAN or a DNS SAN.
  SSL_set1_host(stream.native_handle(), target.host.c_str());
  if (address_ec && !SSL_set_tlsext_host_name(stream.native_handle(), target.host.c_str()))
    return fail(errc::invalid_argument, "bad host name '" + target.host + "'");

  http::request<http::string_body> req{http::string_to_verb(method), path, 11};
  req.set(http::field::host, target.host);
  req.set(http::field::user_agent, "dm2");
  req.body() = body;
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.prepare_payload();

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  std::string failure, fingerprint;
  errc failure_code = errc::unavailable;
  auto on_fail = [&](const char* step, beast::error_code ec) {
    failure = std::string(step) + " " + target.host + ":" + std::to_string(target.port) + ": " + ec.message();
    if (ec == beast::error::timeout) failure_code = errc::timeout;
  };

  asio::ip::tcp::resolver resolver(io);
  beast::get_lowest_layer(stream).expires_after(timeout);
  resolver.async_resolve(target.host, std::to_string(target.port), [&](beast::error_code ec, auto results) {
    if (ec) return on_fail("resolve", ec);
    beast::get_lowest_layer(stream).async_connect(results, [&](beast::error_code ec2, auto) {
      if (ec2) return on_fail("connect", ec2);
      stream.async_handshake(asio::ssl::stream_base::client, [&](beast::error_code ec3) {
        if (ec3) return on_fail("TLS handshake with", ec3);
        fingerprint = peer_certificate_fingerprint(stream.native_handle());
        http::async_write(stream, req, [&](beast::error_code ec4, std::size_t) {
          if (ec4) return on_fail("write to", ec4);
          http::async_read(stream, buffer, parser, [&](beast::error_code ec5, std::size_t) {
            if (ec5) return on_fail("read from", ec5);
            beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
            stream.async_shutdown([](beast::error_code) {});
          });
        });
      });
    });
  });
  io.run();
  if (!failure.empty()) return fail(failure_code, failure);
  if (!parser.is_done()) return fail(errc::malformed_input, "incomplete HTTP response");
  client_response out;
  auto& res = parser.get();
  out.status = res.result_int();
  for (const auto& field : res) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(field.value());
  }
  out.body = std::move(res.body());
  out.server_certificate_fingerprint = fingerprint;
  return out;
}

}  // namespace dm2::node
