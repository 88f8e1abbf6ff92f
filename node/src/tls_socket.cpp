#include "tls_socket.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace dm2::node {
namespace {

using clock = std::chrono::steady_clock;
namespace asio = boost::asio;

// OpenSSL reads this much ahead per recv (records are at most 16 KiB each).
constexpr std::size_t read_ahead_bytes = 256 * 1024;

// A socket BIO that sends with MSG_NOSIGNAL: a server gone mid-request is an error, never a
// SIGPIPE for the calling program (OpenSSL's own socket BIO uses write()).
int bio_write(BIO* b, const char* data, int size) {
  BIO_clear_retry_flags(b);
  auto n = ::send(static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(b))), data,
                  static_cast<std::size_t>(size), MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_write(b);
  return static_cast<int>(n);
}

int bio_read(BIO* b, char* data, int size) {
  BIO_clear_retry_flags(b);
  auto n = ::recv(static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(b))), data,
                  static_cast<std::size_t>(size), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_read(b);
  return static_cast<int>(n);
}

long bio_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

int bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

const BIO_METHOD* socket_method() {
  static BIO_METHOD* method = [] {
    auto* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "dm2 socket");
    if (m && (BIO_meth_set_write(m, bio_write) != 1 || BIO_meth_set_read(m, bio_read) != 1 ||
              BIO_meth_set_ctrl(m, bio_ctrl) != 1 || BIO_meth_set_create(m, bio_create) != 1)) {
      BIO_meth_free(m);
      m = nullptr;
    }
    return m;
  }();
  return method;
}

// The error of a failed SSL call whose SSL_get_error was not WANT_READ/WANT_WRITE.
boost::system::error_code ssl_failure(int code) {
  auto e = ERR_get_error();
  ERR_clear_error();
  if (code == SSL_ERROR_ZERO_RETURN) return asio::error::eof;
  if (e) {
    if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) return asio::ssl::error::stream_truncated;
    return {static_cast<int>(e), asio::error::get_ssl_category()};
  }
  if (code == SSL_ERROR_SYSCALL && errno) return {errno, boost::system::system_category()};
  return asio::ssl::error::stream_truncated;
}

int open_connected(const std::string& host, std::uint16_t port, clock::time_point deadline,
                   boost::system::error_code& ec) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int r = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); r != 0) {
    ec = asio::error::host_not_found;
    return -1;
  }
  int fd = -1;
  ec = asio::error::host_not_found;
  for (auto* a = found; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int r = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (r != 0 && errno == EINPROGRESS) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
      pollfd p{fd, POLLOUT, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) == 0) {
        ec = boost::beast::error::timeout;
      } else {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        r = err ? -1 : 0;
        errno = err;
      }
    }
    if (r == 0) {
      ec = {};
      break;
    }
    if (ec != boost::beast::error::timeout) ec = {errno, boost::system::system_category()};
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  return fd;
}

}  // namespace

result<std::unique_ptr<tls_socket>> tls_socket::connect(SSL_CTX* ctx, const std::string& host, std::uint16_t port,
                                                        clock::time_point deadline) {
  auto where = host + ":" + std::to_string(port);
  auto broken = [&](const char* step, boost::system::error_code ec) {
    return fail(ec == boost::beast::error::timeout ? errc::timeout : errc::unavailable,
                std::string(step) + " " + where + ": " + ec.message());
  };
  boost::system::error_code ec;
  int fd = open_connected(host, port, deadline, ec);
  if (fd < 0) return broken(ec == asio::error::host_not_found ? "resolve" : "connect", ec);
  // Without it the request, written right after the handshake's Finished, waits for the
  // server's delayed ACK of that Finished (Nagle): 40 ms on every new connection.
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  SSL* ssl = SSL_new(ctx);
  BIO* bio = socket_method() ? BIO_new(socket_method()) : nullptr;
  if (!ssl || !bio) {
    if (ssl) SSL_free(ssl);
    if (bio) BIO_free(bio);
    ::close(fd);
    return fail(errc::crypto_failure, "cannot make a TLS connection");
  }
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<std::intptr_t>(fd)));
  SSL_set_bio(ssl, bio, bio);
  std::unique_ptr<tls_socket> s(new tls_socket(fd, ssl));
  s->deadline_ = deadline;
  SSL_set_read_ahead(ssl, 1);
  SSL_set_default_read_buffer_len(ssl, read_ahead_bytes);
  boost::system::error_code address_ec;
  asio::ip::make_address(host, address_ec);  // SNI only for names, not addresses
  // Verify the certificate against the host we asked for: an IP SAN or a DNS SAN.
  SSL_set1_host(ssl, host.c_str());
  if (address_ec && !SSL_set_tlsext_host_name(ssl, host.c_str()))
    return fail(errc::invalid_argument, "bad host name '" + host + "'");
  SSL_set_connect_state(ssl);
  ERR_clear_error();
  for (;;) {
    int r = SSL_do_handshake(ssl);
    if (r == 1) break;
    int code = SSL_get_error(ssl, r);
    if (code != SSL_ERROR_WANT_READ && code != SSL_ERROR_WANT_WRITE)
      return broken("TLS handshake with", ssl_failure(code));
    if (auto w = s->wait(code == SSL_ERROR_WANT_WRITE)) return broken("TLS handshake with", w);
  }
  return s;
}

tls_socket::~tls_socket() {
  SSL_free(ssl_);  // frees the BIO too
  ::close(fd_);
}

bool tls_socket::quiet() const {
  if (SSL_has_pending(ssl_)) return false;
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

boost::system::error_code tls_socket::wait(bool for_write) const {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - clock::now()).count();
    if (left <= 0) return boost::beast::error::timeout;
    pollfd p{fd_, static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1 << 30)));
    if (r > 0) return {};
    if (r < 0 && errno != EINTR) return {errno, boost::system::system_category()};
  }
}

std::size_t tls_socket::read_into(char* data, std::size_t size, boost::system::error_code& ec) {
  ec = {};
  std::size_t done = 0;
  ERR_clear_error();  // once per call: a successful or retried SSL call leaves the queue empty
  while (done < size) {
    std::size_t n = 0;
    int r = SSL_read_ex(ssl_, data + done, size - done, &n);
    if (r == 1) {
      done += n;
      continue;
    }
    int code = SSL_get_error(ssl_, r);
    if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
      if (done) break;  // what arrived so far; the caller asks again
      if ((ec = wait(code == SSL_ERROR_WANT_WRITE))) return 0;
      continue;
    }
    if (!done) ec = ssl_failure(code);
    else ERR_clear_error();  // the end (or the error) shows at the next call
    break;
  }
  return done;
}

std::size_t tls_socket::write_from(const char* data, std::size_t size, boost::system::error_code& ec) {
  ec = {};
  if (size == 0) return 0;
  ERR_clear_error();
  for (;;) {
    std::size_t n = 0;
    int r = SSL_write_ex(ssl_, data, size, &n);
    if (r == 1) return n;
    int code = SSL_get_error(ssl_, r);
    if (code != SSL_ERROR_WANT_READ && code != SSL_ERROR_WANT_WRITE) {
      ec = ssl_failure(code);
      return 0;
    }
    // Not partial-write mode: the same call is repeated until the whole buffer is sent.
    if ((ec = wait(code == SSL_ERROR_WANT_WRITE))) return 0;
  }
}

}  // namespace dm2::node
