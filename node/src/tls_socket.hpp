// The HTTPS client's transport: a TLS client connection driven by OpenSSL directly on a
// non-blocking socket, each step bounded by a deadline (poll), usable as a Beast synchronous
// stream. Instead of Asio's SSL stream, whose memory BIO pair moves at most one 16 KiB record
// per socket read, two extra copies and one completion later: here OpenSSL reads ahead up to
// 256 KiB per recv and read_some() opens every record already there into the caller's buffer.
// The certificate is verified as before (the context's CA, the host's name or address).
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "dm2/result.hpp"

namespace dm2::node {

class tls_socket {
 public:
  // Connects to host:port and completes the handshake with `ctx` (a client context), the server
  // certificate checked against `host`, before `deadline`. Errors: unavailable (refused, TLS
  // verification failed: the message says which), timeout, invalid_argument (bad host name).
  static result<std::unique_ptr<tls_socket>> connect(SSL_CTX* ctx, const std::string& host, std::uint16_t port,
                                                     std::chrono::steady_clock::time_point deadline);
  ~tls_socket();
  tls_socket(const tls_socket&) = delete;
  tls_socket& operator=(const tls_socket&) = delete;

  // The deadline of the steps that follow (a read or write past it fails with beast's timeout).
  void expires_at(std::chrono::steady_clock::time_point deadline) { deadline_ = deadline; }
  SSL* native_handle() const { return ssl_; }
  // Nothing received and not yet read: no buffered record, nothing waiting on the socket.
  bool quiet() const;

  // Beast SyncReadStream / SyncWriteStream. A read returns at least one byte (waiting for it),
  // then every byte that can be opened without waiting, up to the buffers' size. End of stream:
  // asio's eof after the server's close_notify, stream_truncated without it.
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, boost::system::error_code& ec) {
    auto b = *boost::asio::buffer_sequence_begin(buffers);
    return read_into(static_cast<char*>(b.data()), b.size(), ec);
  }
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers, boost::system::error_code& ec) {
    boost::asio::const_buffer first;
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers) && !first.size(); ++it)
      first = *it;
    // A request's header is many small buffers (one per field): sent joined, as one TLS record
    // and one segment, not one each.
    if (first.size() < record_size && boost::asio::buffer_size(buffers) > first.size()) {
      char joined[record_size];
      auto n = boost::asio::buffer_copy(boost::asio::buffer(joined), buffers);
      return write_from(joined, n, ec);
    }
    return write_from(static_cast<const char*>(first.data()), first.size(), ec);
  }
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers);
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers);

 private:
  static constexpr std::size_t record_size = 16 * 1024;  // TLS's largest record
  tls_socket(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}
  std::size_t read_into(char* data, std::size_t size, boost::system::error_code& ec);
  std::size_t write_from(const char* data, std::size_t size, boost::system::error_code& ec);
  // Waits until the socket is readable (or writable) or the deadline passes.
  boost::system::error_code wait(bool for_write) const;

  int fd_;
  SSL* ssl_;
  std::chrono::steady_clock::time_point deadline_;
};

template <class MutableBuffers>
std::size_t tls_socket::read_some(const MutableBuffers& buffers) {
  boost::system::error_code ec;
  auto n = read_some(buffers, ec);
  if (ec) throw boost::system::system_error(ec);
  return n;
}

template <class ConstBuffers>
std::size_t tls_socket::write_some(const ConstBuffers& buffers) {
  boost::system::error_code ec;
  auto n = write_some(buffers, ec);
  if (ec) throw boost::system::system_error(ec);
  return n;
}

}  // namespace dm2::node
