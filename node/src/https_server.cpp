#include "https_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "http_fields.hpp"
#include "tls_peer.hpp"

namespace dm2::node {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, asio::ssl::context& tls,
          std::shared_ptr<const https_server::handler> handle,
          https_server_options options, std::shared_ptr<std::atomic<std::size_t>> in_flight)
      : stream_(std::move(socket), tls),
        handle_(std::move(handle)),
        options_(std::move(options)),
        in_flight_(std::move(in_flight)) {}

  void run() {
    boost::system::error_code ec;
    auto remote = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    remote_ = ec ? std::string("unknown") : remote.address().to_string();
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->handshake(); });
  }

 private:
  void handshake() {
    beast::get_lowest_layer(stream_).expires_after(options_.timeout);
    stream_.async_handshake(asio::ssl::stream_base::server,
                            [self = shared_from_this()](beast::error_code ec) {
                              if (ec) {
                                spdlog::debug("event=tls_handshake_failed remote={} reason=\"{}\"",
                                              self->remote_, ec.message());
                                return;
                              }
                              self->fingerprint_ = peer_certificate_fingerprint(self->stream_.native_handle());
                              self->read();
                            });
  }

  void read() {
    parser_.emplace();
    parser_->body_limit(options_.body_limit);
    parser_->header_limit(16 * 1024);
    beast::get_lowest_layer(stream_).expires_after(options_.timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream) return close();
    if (ec == http::error::body_limit) {
      return reply(error_response(fail(errc::too_large, "request body exceeds the limit")), false);
    }
    if (ec) {
      if (ec != beast::error::timeout && ec != asio::ssl::error::stream_truncated)
        spdlog::debug("event=http_read_failed remote={} reason=\"{}\"", remote_, ec.message());
      if (ec == http::error::bad_target || ec == http::error::bad_method ||
          ec == http::error::bad_field || ec == http::error::bad_version ||
          ec == http::error::header_limit)
        return reply(error_response(fail(errc::malformed_input, "malformed HTTP request")), false);
      return;
    }
    auto& req = parser_->get();
    http_request request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    request.headers = lowercase_headers(req);
    request.body = std::move(req.body());
    request.remote_address = remote_;
    request.peer_certificate_fingerprint = fingerprint_;
    bool keep_alive = req.keep_alive();
    if (!options_.workers || (options_.runs_inline && options_.runs_inline(request)))
      return reply((*handle_)(request), keep_alive);
    if (in_flight_->fetch_add(1) >= options_.max_in_flight) {
      in_flight_->fetch_sub(1);
      auto busy = error_response(fail(errc::unavailable, "the node is busy; retry shortly"));
      busy.status = 503;
      busy.headers.emplace("Retry-After", "1");
      return reply(std::move(busy), keep_alive);
    }
    // One request per session is in flight (no pipelining): the next read starts after the reply.
    asio::post(*options_.workers, [self = shared_from_this(), request = std::move(request), keep_alive] {
      auto response = (*self->handle_)(request);
      self->in_flight_->fetch_sub(1);
      asio::post(self->stream_.get_executor(), [self, response = std::move(response), keep_alive]() mutable {
        self->reply(std::move(response), keep_alive);
      });
    });
  }

  void reply(http_response r, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), 11);
    res->set(http::field::server, "dm2");
    res->set(http::field::content_type, r.content_type);
    res->set(http::field::cache_control, "no-store");
    res->set("X-Content-Type-Options", "nosniff");
    for (const auto& [name, value] : r.headers) res->set(name, value);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive);
    res->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(options_.timeout);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, keep_alive](beast::error_code ec, std::size_t) {
                        if (ec) return;
                        if (keep_alive) return self->read();
                        self->close();
                      });
  }

  void close() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {});
  }

  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<const https_server::handler> handle_;
  https_server_options options_;
  std::shared_ptr<std::atomic<std::size_t>> in_flight_;
  std::string remote_;
  std::string fingerprint_;
};

}  // namespace

https_server::https_server(asio::io_context& io) : io_(io), acceptor_(io) {}

result<std::shared_ptr<https_server>> https_server::listen(asio::io_context& io, const endpoint& at) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(at.address, ec);
  if (ec) return fail(errc::invalid_config, "'" + at.address + "' is not an IP address");
  std::shared_ptr<https_server> server(new https_server(io));
  tcp::endpoint ep(address, at.port);
  auto& a = server->acceptor_;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) return server;
  return fail(errc::unavailable,
              "cannot listen on " + at.to_string() + " for HTTPS: " + ec.message());
}

std::uint16_t https_server::port() const {
  boost::system::error_code ec;
  return acceptor_.local_endpoint(ec).port();
}

void https_server::start(std::shared_ptr<asio::ssl::context> tls, handler handle,
                         https_server_options options) {
  tls_ = std::move(tls);
  handle_ = std::make_shared<const handler>(std::move(handle));
  options_ = options;
  accept();
}

void https_server::stop() {
  asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ec;
    self->acceptor_.close(ec);
  });
}

void https_server::accept() {
  acceptor_.async_accept(asio::make_strand(io_), [self = shared_from_this()](
                                                     beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
    if (!ec) std::make_shared<session>(std::move(socket), *self->tls_, self->handle_, self->options_, self->in_flight_)
                   ->run();
    self->accept();
  });
}

}  // namespace dm2::node
