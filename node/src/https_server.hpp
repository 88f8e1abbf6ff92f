// The node's HTTPS listener (Boost.Beast over Asio): accepts on one endpoint, one session per
// connection on its own strand, with a handshake/read/write timeout, a body limit and
// keep-alive. Requests go to a plain handler (router), run on a worker pool so that a handler
// that waits (a synced commit, the overlay thread, a peer) never holds an I/O thread; the reply
// is written back on the session's strand. Handlers the caller marks inline (cheap, never
// blocking: /health) run on the I/O thread, so they answer even when every worker is busy.
// Thread-safe; runs on the node's io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>

#include "dm2/node/config.hpp"
#include "dm2/node/http_types.hpp"

namespace dm2::node {

struct https_server_options {
  std::size_t body_limit = 1 << 20;
  std::chrono::seconds timeout{30};
  // Where handlers run; null = on the I/O thread (tests of the socket layer). Must outlive the server.
  boost::asio::thread_pool* workers = nullptr;
  // Requests handed to the workers and not yet answered, all sessions together; beyond it a
  // request gets 503 at once rather than an unbounded queue.
  std::size_t max_in_flight = 1024;
  // Requests that run on the I/O thread even when there are workers.
  std::function<bool(const http_request&)> runs_inline;
};

class https_server : public std::enable_shared_from_this<https_server> {
 public:
  using handler = std::function<http_response(const http_request&)>;

  // Binds and listens now, so a busy port fails before the node writes anything.
  // Errors: unavailable (address in use, not local), invalid_config.
  static result<std::shared_ptr<https_server>> listen(boost::asio::io_context& io, const endpoint& at);

  std::uint16_t port() const;
  // Starts accepting; sessions share `tls` and `handle`.
  void start(std::shared_ptr<boost::asio::ssl::context> tls, handler handle, https_server_options options);
  // Stops accepting; open sessions end at their next timeout or request.
  void stop();

 private:
  explicit https_server(boost::asio::io_context& io);
  void accept();

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::shared_ptr<const handler> handle_;
  https_server_options options_;
  std::shared_ptr<std::atomic<std::size_t>> in_flight_ = std::make_shared<std::atomic<std::size_t>>(0);
};

}  // namespace dm2::node
