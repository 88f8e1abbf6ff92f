// The node's HTTPS listener (Boost.Beast over Asio): accepts on one endpoint, one session per
// connection on its own strand, with a handshake/read/write timeout, a body limit and
// keep-alive. Requests go to a plain handler (router). Thread-safe; runs on the node's io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <functional>
#include <memory>

#include "dm2/node/config.hpp"
#include "dm2/node/http_types.hpp"

namespace dm2::node {

struct https_server_options {
  std::size_t body_limit = 1 << 20;
  std::chrono::seconds timeout{30};
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
};

}  // namespace dm2::node
