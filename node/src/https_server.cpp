#include "https_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <deque>

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
    // Each response is written whole; Nagle would hold its tail (or a reply after the handshake)
    // until the client's delayed ACK, up to 40 ms.
    beast::get_lowest_layer(stream_).socket().set_option(tcp::no_delay(true), ec);
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
      return answer((*handle_)(request), keep_alive, false);
    if (in_flight_->fetch_add(1) >= options_.max_in_flight) {
      in_flight_->fetch_sub(1);
      auto busy = error_response(fail(errc::unavailable, "the node is busy; retry shortly"));
      busy.status = 503;
      busy.headers.emplace("Retry-After", "1");
      return reply(std::move(busy), keep_alive);
    }
    // One request per session is in flight (no pipelining): the next read starts after the reply.
    asio::post(*options_.workers, [self = shared_from_this(), request = std::move(request), keep_alive] {
      self->answer((*self->handle_)(request), keep_alive, true);
    });
  }

  // Sends `response` on the strand, at once or, deferred, when its producer calls back; a request
  // handed to the workers (`counted`) leaves the in-flight count then.
  void answer(http_response response, bool keep_alive, bool counted) {
    http_response::reply_function send = [self = shared_from_this(), keep_alive, counted](http_response r) {
      if (counted) self->in_flight_->fetch_sub(1);
      asio::post(self->stream_.get_executor(), [self, r = std::move(r), keep_alive]() mutable {
        self->reply(std::move(r), keep_alive);
      });
    };
    if (!response.deferred) return send(std::move(response));
    auto producer = std::move(response.deferred);
    producer(std::move(send));
  }

  template <class Body>
  static void set_fields(http::response<Body>& res, const http_response& r, bool keep_alive) {
    res.set(http::field::server, "dm2");
    res.set(http::field::content_type, r.content_type);
    res.set(http::field::cache_control, "no-store");
    res.set("X-Content-Type-Options", "nosniff");
    for (const auto& [name, value] : r.headers) res.set(name, value);
    res.keep_alive(keep_alive);
  }

  void reply(http_response r, bool keep_alive) {
    if (r.streamed) return reply_streamed(std::move(r), keep_alive);
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), 11);
    set_fields(*res, r, keep_alive);
    res->body() = std::move(r.body);
    res->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(options_.timeout);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, keep_alive](beast::error_code ec, std::size_t) {
                        if (ec) return;
                        self->after_reply(keep_alive);
                      });
  }

  void after_reply(bool keep_alive) {
    if (keep_alive) return read();
    close();
  }

  // A streamed body: the header first (Content-Length when the source knows its size, else
  // chunked), then each piece as the source produces it on a worker, at most `ahead` pieces
  // queued, so a response holds a few pieces whatever the body's size. Everything below runs on
  // the strand except the source's next(), posted to the workers one call at a time.
  static constexpr std::size_t ahead = 4;

  void reply_streamed(http_response r, bool keep_alive) {
    streamed_ = std::make_unique<streamed_state>();
    streamed_->source = std::move(r.streamed);
    streamed_->keep_alive = keep_alive;
    auto size = streamed_->source->size();
    streamed_->chunked = !size;
    auto res = std::make_shared<http::response<http::empty_body>>(static_cast<http::status>(r.status), 11);
    set_fields(*res, r, keep_alive);
    if (size) res->content_length(*size);
    else res->chunked(true);
    streamed_->remaining = size.value_or(0);
    auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*res);
    beast::get_lowest_layer(stream_).expires_after(options_.timeout);
    streamed_->writing = true;
    http::async_write_header(stream_, *sr, [self = shared_from_this(), res, sr](beast::error_code ec, std::size_t) {
      self->streamed_->writing = false;
      if (ec) return self->abandon_stream();
      self->pump();
    });
  }

  void pump() {
    auto& s = *streamed_;
    if (s.failed) return;
    if (!s.writing && !s.queue.empty()) return write_piece();
    if (!s.writing && s.queue.empty() && s.ended) return write_end();
    if (!s.producing && !s.ended && s.queue.size() < ahead) produce();
  }

  void produce() {
    streamed_->producing = true;
    auto step = [self = shared_from_this(), source = streamed_->source] {
      std::string piece;
      auto more = source->next(piece);
      asio::post(self->stream_.get_executor(), [self, more = std::move(more), piece = std::move(piece)]() mutable {
        auto& s = *self->streamed_;
        s.producing = false;
        if (s.failed) return;
        if (!more) {
          spdlog::warn("event=http_stream_failed remote={} reason=\"{}\"", self->remote_, more.err().message);
          return self->abandon_stream();
        }
        if (!*more) s.ended = true;
        else if (piece.empty()) {
          // nothing to write (an empty chunk would end a chunked body): ask again
        } else if (!s.chunked && piece.size() > s.remaining) {
          spdlog::error("event=http_stream_failed remote={} reason=\"longer than announced\"", self->remote_);
          return self->abandon_stream();
        } else {
          s.remaining -= s.chunked ? 0 : piece.size();
          s.queue.push_back(std::move(piece));
        }
        self->pump();
      });
    };
    if (options_.workers) asio::post(*options_.workers, std::move(step));
    else asio::post(stream_.get_executor(), std::move(step));
  }

  void write_piece() {
    auto& s = *streamed_;
    s.writing = true;
    beast::get_lowest_layer(stream_).expires_after(options_.timeout);
    auto done = [self = shared_from_this()](beast::error_code ec, std::size_t) {
      auto& state = *self->streamed_;
      state.writing = false;
      state.queue.pop_front();
      if (ec) return self->abandon_stream();
      self->pump();
    };
    auto piece = asio::buffer(s.queue.front());
    if (s.chunked) asio::async_write(stream_, http::make_chunk(piece), std::move(done));
    else asio::async_write(stream_, piece, std::move(done));
    pump();  // produce the next piece while this one is written
  }

  void write_end() {
    auto& s = *streamed_;
    if (!s.chunked && s.remaining != 0) {
      spdlog::error("event=http_stream_failed remote={} reason=\"shorter than announced\"", remote_);
      return abandon_stream();
    }
    bool keep_alive = s.keep_alive;
    if (!s.chunked) {
      streamed_.reset();
      return after_reply(keep_alive);
    }
    s.writing = true;
    beast::get_lowest_layer(stream_).expires_after(options_.timeout);
    asio::async_write(stream_, http::make_chunk_last(),
                      [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                        if (ec) return self->abandon_stream();
                        self->streamed_.reset();
                        self->after_reply(keep_alive);
                      });
  }

  // A failed source or socket: the body stays incomplete and the connection closes. The state
  // (the pieces a write may still point into, the source and whatever key it holds) goes with
  // the session, once the operations still under way have returned.
  void abandon_stream() {
    if (streamed_->failed) return;
    streamed_->failed = true;
    beast::error_code ec;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(stream_).close();
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

  struct streamed_state {
    std::shared_ptr<body_source> source;
    std::deque<std::string> queue;  // pieces produced, the front one being written
    std::uint64_t remaining = 0;    // of the announced Content-Length
    bool chunked = false, keep_alive = false, writing = false, producing = false, ended = false,
         failed = false;
  };
  std::unique_ptr<streamed_state> streamed_;  // while a streamed body is being sent
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
