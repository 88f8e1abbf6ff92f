#include "dm2/node/tls.hpp"

#include <boost/asio/ssl.hpp>

namespace dm2::node {
namespace ssl = boost::asio::ssl;

namespace {

result<std::shared_ptr<ssl::context>> make_context(ssl::context::method method, const tls_material& m,
                                                   bool server) {
  auto ctx = std::make_shared<ssl::context>(method);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use | SSL_OP_NO_RENEGOTIATION);
  ctx->add_certificate_authority(boost::asio::buffer(m.ca_certificate_pem), ec);
  if (ec) return fail(errc::crypto_failure, "CA certificate: " + ec.message());
  if (!m.certificate_pem.empty()) {
    ctx->use_certificate_chain(boost::asio::buffer(m.certificate_pem), ec);
    if (ec) return fail(errc::crypto_failure, "certificate: " + ec.message());
    ctx->use_private_key(boost::asio::buffer(m.private_key_pem), ssl::context::pem, ec);
    if (ec) return fail(errc::crypto_failure, "private key: " + ec.message());
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
      return fail(errc::crypto_failure, "private key does not match the certificate");
  }
  // Servers request a peer certificate but do not require one; clients require the server's.
  ctx->set_verify_mode(server ? ssl::verify_peer : ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  if (server) {
    // No session resumption: OpenSSL refuses to resume a session on a server that asks for peer
    // certificates and has no session id context (a browser's second connection then fails with
    // a protocol error), and every connection should show its certificate anew anyway.
    SSL_CTX_set_session_cache_mode(ctx->native_handle(), SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx->native_handle(), SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx->native_handle(), 0);
  }
  return ctx;
}

}  // namespace

result<std::shared_ptr<ssl::context>> make_server_tls(const tls_material& m) {
  if (m.certificate_pem.empty()) return fail(errc::invalid_argument, "a server needs a certificate");
  return make_context(ssl::context::tls_server, m, true);
}

result<std::shared_ptr<ssl::context>> make_client_tls(const tls_material& m) {
  return make_context(ssl::context::tls_client, m, false);
}

}  // namespace dm2::node
