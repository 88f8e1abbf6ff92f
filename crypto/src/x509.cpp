#include "dm2/crypto/x509.hpp"

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>

#include "openssl_util.hpp"

namespace dm2::crypto {
using namespace detail;

namespace {

using name_ptr = std::unique_ptr<X509_NAME, deleter<X509_NAME_free>>;
using store_ptr = std::unique_ptr<X509_STORE, deleter<X509_STORE_free>>;
using store_ctx_ptr = std::unique_ptr<X509_STORE_CTX, deleter<X509_STORE_CTX_free>>;

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == '_' || c == ' ';
  });
}

result<pkey_ptr> read_key(std::string_view pem) {
  auto bio = memory_bio(pem);
  pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return fail(errc::malformed_input, openssl_error("not a PEM private key"));
  return key;
}

result<x509_ptr> read_certificate(std::string_view pem) {
  auto bio = memory_bio(pem);
  x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return fail(errc::malformed_input, openssl_error("not a PEM certificate"));
  return cert;
}

std::string to_pem(X509* cert) {
  bio_ptr out(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(out.get(), cert);
  return bio_to_string(out.get());
}

std::string key_to_pem(EVP_PKEY* key) {
  bio_ptr out(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(out.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_to_string(out.get());
}

bool add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// A certificate with a random 159-bit serial, validity [now - 1 h, now + days], subject CN.
result<x509_ptr> new_certificate(EVP_PKEY* key, std::string_view common_name, int valid_days) {
  if (valid_days < 1 || valid_days > 36500)
    return fail(errc::invalid_argument, "validity must be 1..36500 days");
  x509_ptr cert(X509_new());
  unsigned char serial_bytes[20];
  if (!cert || RAND_bytes(serial_bytes, sizeof serial_bytes) != 1)
    return fail(errc::crypto_failure, openssl_error("cannot create certificate"));
  serial_bytes[0] &= 0x7f;  // positive
  BIGNUM* serial = BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr);
  BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get()));
  BN_free(serial);
  X509_set_version(cert.get(), 2);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);  // tolerate small clock skew
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(valid_days) * 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("dm2 consortium"), -1, -1, 0);
  std::string cn(common_name);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return cert;
}

std::string common_name_of(X509_NAME* name) {
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return {};
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

std::int64_t to_epoch(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

}  // namespace

result<key_and_certificate> create_ca(std::string_view consortium_name, int valid_days) {
  if (!valid_name(consortium_name))
    return fail(errc::invalid_argument, "consortium name must be 1..64 of [A-Za-z0-9 ._-]");
  pkey_ptr key(EVP_EC_gen("P-256"));
  if (!key) return fail(errc::crypto_failure, openssl_error("CA key generation failed"));
  auto cert = new_certificate(key.get(), std::string(consortium_name) + " CA", valid_days);
  if (!cert) return std::move(cert).err();
  X509* c = cert->get();
  X509_set_issuer_name(c, X509_get_subject_name(c));
  if (!add_extension(c, c, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
      !add_extension(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") ||
      !add_extension(c, c, NID_subject_key_identifier, "hash") ||
      X509_sign(c, key.get(), EVP_sha256()) == 0)
    return fail(errc::crypto_failure, openssl_error("cannot sign CA certificate"));
  return key_and_certificate{key_to_pem(key.get()), to_pem(c)};
}

result<key_and_certificate> issue_site_certificate(const key_and_certificate& ca,
                                                   const site_certificate_request& request) {
  if (!valid_name(request.site_name))
    return fail(errc::invalid_argument, "site name must be 1..64 of [A-Za-z0-9 ._-]");
  auto ca_key = read_key(ca.key_pem);
  if (!ca_key) return std::move(ca_key).err();
  auto ca_cert = read_certificate(ca.certificate_pem);
  if (!ca_cert) return std::move(ca_cert).err();
  if (X509_check_private_key(ca_cert->get(), ca_key->get()) != 1)
    return fail(errc::invalid_argument, "CA key does not match CA certificate");

  std::string san;
  for (const auto& dns : request.dns_names) {
    if (!valid_name(dns) || dns.find(' ') != std::string::npos)
      return fail(errc::invalid_argument, "bad DNS name '" + dns + "'");
    san += (san.empty() ? "DNS:" : ",DNS:") + dns;
  }
  for (const auto& ip : request.ip_addresses) {
    ASN1_OCTET_STRING* parsed = a2i_IPADDRESS(ip.c_str());
    if (!parsed) return fail(errc::invalid_argument, "bad IP address '" + ip + "'");
    ASN1_OCTET_STRING_free(parsed);
    san += (san.empty() ? "IP:" : ",IP:") + ip;
  }

  pkey_ptr key(EVP_EC_gen("P-256"));
  if (!key) return fail(errc::crypto_failure, openssl_error("site key generation failed"));
  auto cert = new_certificate(key.get(), request.site_name, request.valid_days);
  if (!cert) return std::move(cert).err();
  X509* c = cert->get();
  X509_set_issuer_name(c, X509_get_subject_name(ca_cert->get()));
  bool ok = add_extension(c, ca_cert->get(), NID_basic_constraints, "critical,CA:FALSE") &&
            add_extension(c, ca_cert->get(), NID_key_usage, "critical,digitalSignature") &&
            add_extension(c, ca_cert->get(), NID_ext_key_usage, "serverAuth,clientAuth") &&
            add_extension(c, ca_cert->get(), NID_subject_key_identifier, "hash") &&
            add_extension(c, ca_cert->get(), NID_authority_key_identifier, "keyid:always") &&
            (san.empty() || add_extension(c, ca_cert->get(), NID_subject_alt_name, san));
  if (!ok || X509_sign(c, ca_key->get(), EVP_sha256()) == 0)
    return fail(errc::crypto_failure, openssl_error("cannot sign site certificate"));
  return key_and_certificate{key_to_pem(key.get()), to_pem(c)};
}

result<certificate_info> inspect_certificate(std::string_view certificate_pem) {
  auto cert = read_certificate(certificate_pem);
  if (!cert) return std::move(cert).err();
  certificate_info info;
  info.subject_common_name = common_name_of(X509_get_subject_name(cert->get()));
  info.issuer_common_name = common_name_of(X509_get_issuer_name(cert->get()));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert->get(), EVP_sha256(), digest, &len);
  static const char* hex = "0123456789abcdef";
  for (unsigned i = 0; i < len; ++i) {
    info.sha256_fingerprint += hex[digest[i] >> 4];
    info.sha256_fingerprint += hex[digest[i] & 15];
  }
  info.not_before = to_epoch(X509_get0_notBefore(cert->get()));
  info.not_after = to_epoch(X509_get0_notAfter(cert->get()));
  info.is_ca = X509_check_ca(cert->get()) != 0;
  return info;
}

status verify_site_certificate(std::string_view certificate_pem,
                               std::string_view ca_certificate_pem, std::int64_t at_time) {
  auto cert = read_certificate(certificate_pem);
  if (!cert) return std::move(cert).err();
  auto ca = read_certificate(ca_certificate_pem);
  if (!ca) return std::move(ca).err();

  store_ptr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca->get());
  store_ctx_ptr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert->get(), nullptr);
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  if (at_time != 0) X509_STORE_CTX_set_time(ctx.get(), 0, static_cast<time_t>(at_time));
  if (X509_verify_cert(ctx.get()) != 1) {
    int code = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return fail(errc::permission_denied,
                std::string("certificate rejected: ") + X509_verify_cert_error_string(code));
  }
  if (X509_check_ca(cert->get()) != 0)
    return fail(errc::permission_denied, "certificate rejected: a CA is not a site");
  if (X509_check_purpose(cert->get(), X509_PURPOSE_SSL_CLIENT, 0) != 1)
    return fail(errc::permission_denied, "certificate rejected: not valid for TLS clients");
  return {};
}

status check_key_matches_certificate(std::string_view key_pem, std::string_view certificate_pem) {
  auto key = read_key(key_pem);
  if (!key) return std::move(key).err();
  auto cert = read_certificate(certificate_pem);
  if (!cert) return std::move(cert).err();
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    ERR_clear_error();
    return fail(errc::integrity_failure, "private key does not match certificate");
  }
  return {};
}

}  // namespace dm2::crypto
